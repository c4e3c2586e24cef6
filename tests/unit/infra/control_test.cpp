#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/event_loop.h"
#include "gateway/control/control_client.h"
#include "gateway/control/control_server.h"

namespace lintel {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Generous: only there so that a broken build fails instead of hanging.
constexpr milliseconds kCallTimeout = seconds(120);

sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  return addr;
}

// A client that speaks raw bytes, for what ControlClient never sends.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = Address(path);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
  }
  ~RawConnection() { close(fd_); }
  void Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << strerror(errno);
      sent += static_cast<size_t>(n);
    }
  }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }
  // The next line without its '\n', or "<eof>".
  std::string ReadLine() {
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, 30'000) != 1) return "<timeout>";
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return "<eof>";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

// Echoes the request back; "fail" returns a Status; "throw" throws.
Result<json> EchoHandler(const json& request) {
  const std::string cmd = request.at("cmd").get<std::string>();
  if (cmd == "fail") return Status::NotFound("no door named 'lobby'");
  if (cmd == "throw") throw std::runtime_error("handler bug");
  if (cmd == "size")
    return json{{"bytes", request.at("blob").get_ref<const std::string&>().size()}};
  return json{{"echo", request}};
}

class ControlTest : public testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/lintel-control-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/lintel.sock";
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status().ToString();
    loop_ = std::move(loop).value();
  }

  void TearDown() override {
    StopLoop();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartServer(ControlHandler handler = EchoHandler, ControlServerOptions options = {}) {
    auto server = ControlServer::Create(*loop_, path_, std::move(handler), options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    loop_thread_ = std::thread([this] { ASSERT_TRUE(loop_->Run().ok()); });
  }

  void StopLoop() {
    if (!loop_thread_.joinable()) return;
    loop_->Stop();
    loop_thread_.join();
  }

  ControlClient Connect() {
    auto client = ControlClient::Connect(path_);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(client).value();
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ControlServer> server_;
  std::thread loop_thread_;
};

TEST_F(ControlTest, RoundTripReturnsTheHandlersResult) {
  StartServer();
  ControlClient client = Connect();
  auto result = client.Call({{"cmd", "status"}, {"door", "lobby"}}, kCallTimeout);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(*result, (json{{"echo", {{"cmd", "status"}, {"door", "lobby"}}}}));
  auto second = client.Call({{"cmd", "again"}}, kCallTimeout);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ((*second)["echo"]["cmd"], "again");
}

TEST_F(ControlTest, HandlerErrorReachesTheClientWithItsCodeAndMessage) {
  StartServer();
  ControlClient client = Connect();
  auto result = client.Call({{"cmd", "fail"}}, kCallTimeout);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(), "no door named 'lobby'");
  EXPECT_TRUE(client.usable());
  EXPECT_TRUE(client.Call({{"cmd", "status"}}, kCallTimeout).ok());
}

TEST_F(ControlTest, ErrorResponseLineHasTheDocumentedShape) {
  StartServer();
  RawConnection raw(path_);
  raw.Send("{\"cmd\":\"fail\"}\n");
  EXPECT_EQ(json::parse(raw.ReadLine()),
            (json{{"ok", false}, {"error", "no door named 'lobby'"}, {"code", "NotFound"}}));
}

TEST_F(ControlTest, ThrowingHandlerIsAnsweredAsInternalAndTheServerKeepsServing) {
  StartServer();
  ControlClient client = Connect();
  testing::internal::CaptureStderr();
  auto result = client.Call({{"cmd", "throw"}}, kCallTimeout);
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInternal);
  EXPECT_EQ(result.status().message(), "command 'throw' failed: internal error: handler bug");
  EXPECT_NE(log.find("command 'throw' threw: handler bug"), std::string::npos) << log;
  EXPECT_TRUE(client.Call({{"cmd", "status"}}, kCallTimeout).ok());
}

TEST_F(ControlTest, SocketModeIs0660WhateverTheUmask) {
  mode_t old_umask = umask(0077);
  StartServer();
  umask(old_umask);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(ControlTest, MalformedRequestsGetErrorResponsesAndTheConnectionKeepsServing) {
  StartServer();
  RawConnection raw(path_);
  raw.Send("{not json\n");
  raw.Send("[1,2]\n");
  raw.Send("{\"cmd\":5}\n");
  raw.Send("\n");
  raw.Send("{\"cmd\":\"status\"}\n");
  for (int i = 0; i < 4; ++i) {
    json response = json::parse(raw.ReadLine());
    EXPECT_EQ(response["ok"], false) << response;
    EXPECT_EQ(response["code"], "InvalidArgument");
    EXPECT_EQ(response["error"].get<std::string>().rfind("malformed request: ", 0), 0u) << response;
  }
  json ok = json::parse(raw.ReadLine());
  EXPECT_EQ(ok["ok"], true);
  EXPECT_EQ(ok["result"]["echo"]["cmd"], "status");
}

TEST_F(ControlTest, MalformedJsonErrorNamesThePosition) {
  StartServer();
  RawConnection raw(path_);
  raw.Send("{\"cmd\":\"status\",}\n");
  json response = json::parse(raw.ReadLine());
  EXPECT_NE(response["error"].get<std::string>().find("malformed request: malformed JSON: "
                                                      "parse error at line 1, column 17"),
            std::string::npos)
      << response;
}

TEST_F(ControlTest, DeeplyNestedRequestIsRefused) {
  StartServer();
  RawConnection raw(path_);
  raw.Send("{\"cmd\":\"status\",\"x\":" + std::string(10'000, '[') + std::string(10'000, ']') +
           "}\n");
  json response = json::parse(raw.ReadLine());
  EXPECT_EQ(response["ok"], false);
  EXPECT_NE(response["error"].get<std::string>().find("nest deeper than 64"), std::string::npos)
      << response;
}

TEST_F(ControlTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  RawConnection raw(path_);
  std::string batch;
  for (int i = 0; i < 50; ++i) batch += json{{"cmd", "n"}, {"i", i}}.dump() + "\n";
  raw.Send(batch);
  for (int i = 0; i < 50; ++i) {
    json response = json::parse(raw.ReadLine());
    ASSERT_EQ(response["result"]["echo"]["i"], i);
  }
}

TEST_F(ControlTest, LastRequestWithoutNewlineIsAnsweredAfterTheClientShutsDownItsSide) {
  StartServer();
  RawConnection raw(path_);
  raw.Send("{\"cmd\":\"status\"}");
  raw.ShutdownWrite();
  EXPECT_EQ(json::parse(raw.ReadLine())["ok"], true);
  EXPECT_EQ(raw.ReadLine(), "<eof>");
}

TEST_F(ControlTest, TwentyMegabyteRequestAndResponseLinesWork) {
  StartServer();
  ControlClient client = Connect();
  std::string blob(20 << 20, 'a');
  for (size_t i = 0; i < blob.size(); i += 4099) blob[i] = static_cast<char>('a' + i % 26);
  // One call carries 20 MB each way: the request line in, the echoed request line out.
  auto echo = client.Call({{"cmd", "echo"}, {"blob", blob}}, kCallTimeout);
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_TRUE((*echo)["echo"]["blob"] == blob);
  EXPECT_TRUE(client.Call({{"cmd", "status"}}, kCallTimeout).ok());
}

TEST_F(ControlTest, RequestOverTheLimitIsAnsweredAndThatConnectionClosed) {
  ControlServerOptions options;
  options.max_request_bytes = 1024;
  StartServer(EchoHandler, options);
  ControlClient client = Connect();
  auto result = client.Call({{"cmd", "size"}, {"blob", std::string(1 << 20, 'x')}}, kCallTimeout);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), "request too large: a line may hold at most 1024 bytes");
  EXPECT_FALSE(client.usable());

  ControlClient next = Connect();
  auto ok = next.Call({{"cmd", "size"}, {"blob", std::string(900, 'x')}}, kCallTimeout);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST_F(ControlTest, TwoClientsCallConcurrently) {
  StartServer();
  auto run_client = [this](int who, int* failures) {
    ControlClient client = Connect();
    for (int i = 0; i < 300; ++i) {
      auto r = client.Call({{"cmd", "n"}, {"who", who}, {"i", i}}, kCallTimeout);
      if (!r.ok() || (*r)["echo"]["who"] != who || (*r)["echo"]["i"] != i) ++*failures;
    }
  };
  int failures_a = 0, failures_b = 0;
  std::thread a(run_client, 1, &failures_a);
  std::thread b(run_client, 2, &failures_b);
  a.join();
  b.join();
  EXPECT_EQ(failures_a, 0);
  EXPECT_EQ(failures_b, 0);
}

TEST_F(ControlTest, HalfSentRequestFromOneClientDoesNotHoldUpAnother) {
  StartServer();
  RawConnection slow(path_);
  slow.Send("{\"cmd\":\"sl");
  ControlClient fast = Connect();
  auto r = fast.Call({{"cmd", "status"}}, kCallTimeout);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  slow.Send("ow\"}\n");
  EXPECT_EQ(json::parse(slow.ReadLine())["result"]["echo"]["cmd"], "slow");
}

TEST_F(ControlTest, ConnectionsBeyondTheLimitAreToldWhy) {
  ControlServerOptions options;
  options.max_connections = 1;
  StartServer(EchoHandler, options);
  ControlClient first = Connect();
  ASSERT_TRUE(first.Call({{"cmd", "status"}}, kCallTimeout).ok());
  RawConnection second(path_);
  EXPECT_EQ(json::parse(second.ReadLine())["error"], "too many control connections (1)");
}

TEST_F(ControlTest, ConnectingToAMissingSocketGivesTheClearError) {
  auto client = ControlClient::Connect(dir_ + "/lintel.sock");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(client.status().message(), "cannot connect to " + dir_ +
                                           "/lintel.sock: No such file or directory (is lintel "
                                           "running?)");
}

TEST_F(ControlTest, CallWithoutAnAnswerTimesOutAndTheClientRefusesFurtherCalls) {
  // A socket that accepts connections (the kernel's backlog) but never answers.
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = Address(path_);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ControlClient client = Connect();
  auto r = client.Call({{"cmd", "status"}}, milliseconds(50));
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "no answer from lintel on " + path_ + " within 50 ms");
  EXPECT_FALSE(client.usable());
  EXPECT_EQ(client.Call({{"cmd", "status"}}, kCallTimeout).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(ControlTest, SecondServerOnALiveSocketIsRefused) {
  StartServer();
  auto second = ControlServer::Create(*loop_, path_, EchoHandler);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(second.status().message(),
            "another process is listening on " + path_ + " (is lintel already running?)");
  // The first server is unharmed.
  ControlClient client = Connect();
  EXPECT_TRUE(client.Call({{"cmd", "status"}}, kCallTimeout).ok());
}

TEST_F(ControlTest, StaleSocketFileIsReplaced) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = Address(path_);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);  // the file stays behind, as after a crash
  ASSERT_TRUE(std::filesystem::exists(path_));

  StartServer();
  ControlClient client = Connect();
  EXPECT_TRUE(client.Call({{"cmd", "status"}}, kCallTimeout).ok());
}

TEST_F(ControlTest, FileThatIsNotASocketIsLeftAlone) {
  std::ofstream(path_) << "precious";
  auto server = ControlServer::Create(*loop_, path_, EchoHandler);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(server.status().message(),
            path_ + " exists and is not a socket; refusing to replace it");
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(ControlTest, MissingDirectoryIsNamedInTheError) {
  auto server = ControlServer::Create(*loop_, dir_ + "/missing/lintel.sock", EchoHandler);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kIoError);
  EXPECT_EQ(server.status().message(), "cannot bind control socket " + dir_ +
                                           "/missing/lintel.sock: No such file or directory "
                                           "(does " +
                                           dir_ + "/missing exist?)");
}

TEST_F(ControlTest, DestroyingTheServerRemovesItsSocketFile) {
  StartServer();
  StopLoop();
  server_.reset();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
}  // namespace lintel
