#include "gateway/base/systemd.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace lintel::systemd {
namespace {

// A stand-in for systemd's notification socket: a datagram socket whose path goes in NOTIFY_SOCKET.
class FakeNotifySocket {
 public:
  FakeNotifySocket() {
    char dir_template[] = "/tmp/lintel-notify-XXXXXX";
    dir_ = mkdtemp(dir_template);
    path_ = dir_ + "/notify";
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~FakeNotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  std::string Receive() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

TEST(Systemd, EveryNotificationIsANoOpWithoutNotifySocket) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(NotifyReady().ok());
  EXPECT_TRUE(NotifyReloading().ok());
  EXPECT_TRUE(NotifyStopping().ok());
  EXPECT_TRUE(NotifyStatus("idle").ok());
  EXPECT_TRUE(NotifyWatchdog().ok());
}

TEST(Systemd, NotificationsReachTheNotifySocket) {
  FakeNotifySocket sock;
  ASSERT_TRUE(NotifyReady().ok());
  EXPECT_EQ(sock.Receive(), "READY=1");
  ASSERT_TRUE(NotifyStopping().ok());
  EXPECT_EQ(sock.Receive(), "STOPPING=1");
  ASSERT_TRUE(NotifyWatchdog().ok());
  EXPECT_EQ(sock.Receive(), "WATCHDOG=1");
}

TEST(Systemd, StatusTextIsKeptOnOneLine) {
  FakeNotifySocket sock;
  ASSERT_TRUE(NotifyStatus("3 doors up\n1 door failed").ok());
  EXPECT_EQ(sock.Receive(), "STATUS=3 doors up 1 door failed");
}

TEST(Systemd, ReloadingCarriesTheMonotonicTimestamp) {
  FakeNotifySocket sock;
  timespec before{};
  clock_gettime(CLOCK_MONOTONIC, &before);
  ASSERT_TRUE(NotifyReloading().ok());
  std::string msg = sock.Receive();
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  ASSERT_EQ(msg.rfind(prefix, 0), 0u) << msg;
  uint64_t usec = std::stoull(msg.substr(prefix.size()));
  EXPECT_GE(usec, static_cast<uint64_t>(before.tv_sec) * 1'000'000u);
}

TEST(Systemd, UnreachableNotifySocketIsAnIoError) {
  setenv("NOTIFY_SOCKET", "/nonexistent-lintel-dir/notify", 1);
  Status st = NotifyReady();
  unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_NE(st.message().find("READY=1"), std::string::npos) << st.message();
}

TEST(Systemd, WatchdogIntervalComesFromTheEnvironmentForThisProcess) {
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  EXPECT_FALSE(WatchdogInterval().has_value());

  setenv("WATCHDOG_USEC", "30000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  auto interval = WatchdogInterval();
  ASSERT_TRUE(interval.has_value());
  EXPECT_EQ(*interval, std::chrono::seconds(30));

  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);  // meant for another process
  EXPECT_FALSE(WatchdogInterval().has_value());
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  setenv("WATCHDOG_USEC", "soon", 1);
  EXPECT_FALSE(WatchdogInterval().has_value());
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

}  // namespace
}  // namespace lintel::systemd
