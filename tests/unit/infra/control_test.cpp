#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.h"
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
  // True when a byte (or the end of the stream) is ready to read now.
  bool Readable() {
    if (!buffer_.empty()) return true;
    pollfd pfd{fd_, POLLIN, 0};
    return poll(&pfd, 1, 0) == 1;
  }
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

TEST_F(ControlTest, TwentyMegabyteRequestAndResponseLinesWorkWhenTheCapAllows) {
  ControlServerOptions options;
  options.max_request_bytes = size_t{32} << 20;
  // Under ASan on a loaded CI machine, parsing the 20 MB answer took the client over the default
  // idle timeout (10 s), and the server closed the connection before the second call.
  options.idle_timeout = kCallTimeout;
  StartServer(EchoHandler, options);
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

// Issue 10: a line may no longer be 512 MiB; the default cap is 4 MiB.
TEST_F(ControlTest, DefaultCapRefusesAFiveMegabyteLineAndClosesThatConnection) {
  StartServer();
  ControlClient client = Connect();
  auto result = client.Call({{"cmd", "size"}, {"blob", std::string(5 << 20, 'x')}}, kCallTimeout);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), "request too large: a line may hold at most 4194304 bytes");
  EXPECT_FALSE(client.usable());
  ControlClient next = Connect();
  auto ok = next.Call({{"cmd", "size"}, {"blob", std::string(3 << 20, 'x')}}, kCallTimeout);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)["bytes"], 3 << 20);
}

// Pipelined requests beyond the cap in total are fine: the cap is per line, and the server reads
// no further ahead than one line over it.
TEST_F(ControlTest, PipelinedLinesTotallingMoreThanTheCapAreAllAnswered) {
  ControlServerOptions options;
  options.max_request_bytes = 4096;
  StartServer(EchoHandler, options);
  RawConnection raw(path_);
  std::string batch;
  for (int i = 0; i < 100; ++i) {
    batch += json{{"cmd", "size"}, {"blob", std::string(1000, 'x')}, {"i", i}}.dump() + "\n";
  }
  std::thread sender([&] { raw.Send(batch); });
  for (int i = 0; i < 100; ++i) {
    json response = json::parse(raw.ReadLine());
    ASSERT_EQ(response["result"]["bytes"], 1000) << response;
  }
  sender.join();
}

// A deferred command ("slow"): the handler keeps the reply; the test answers it on the loop.
class DeferredControlTest : public ControlTest {
 protected:
  struct Pending {
    json request;
    ControlPeer peer;
    ControlReply reply;
  };

  void StartDeferredServer(ControlServerOptions options = {}) {
    auto server = ControlServer::Create(*loop_, path_, EchoHandler, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    server_->SetDeferredHandler("slow",
                                [this](json request, const ControlPeer& peer, ControlReply reply) {
                                  std::lock_guard lock(mu_);
                                  pending_.push_back({std::move(request), peer, std::move(reply)});
                                  cv_.notify_all();
                                });
    loop_thread_ = std::thread([this] { ASSERT_TRUE(loop_->Run().ok()); });
  }

  // Waits until the handler has been called `n` times in all.
  void AwaitHandlerCalls(size_t n) {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, kCallTimeout, [&] { return pending_.size() >= n; }));
  }

  // Answers the i-th deferred request from the loop thread.
  void AnswerOnLoop(size_t i, Result<json> result) {
    loop_->Post([this, i, result = std::move(result)]() mutable {
      ControlReply reply;
      {
        std::lock_guard lock(mu_);
        reply = pending_[i].reply;
      }
      reply(std::move(result));
    });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> pending_;
};

TEST_F(DeferredControlTest, DeferredAnswerComesLaterAndOtherClientsAreServedMeanwhile) {
  StartDeferredServer();
  RawConnection slow(path_);
  slow.Send("{\"cmd\":\"slow\",\"n\":1}\n{\"cmd\":\"after\"}\n");
  AwaitHandlerCalls(1);
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(pending_[0].request, (json{{"cmd", "slow"}, {"n", 1}}));
    EXPECT_EQ(pending_[0].peer.uid, getuid());
    EXPECT_EQ(pending_[0].peer.gid, getgid());
    EXPECT_EQ(pending_[0].peer.pid, getpid());
  }
  // The loop answers another client while the slow request is outstanding.
  ControlClient other = Connect();
  auto r = other.Call({{"cmd", "status"}}, kCallTimeout);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  AnswerOnLoop(0, json{{"done", true}});
  // The pipelined request after it is answered after it, in order.
  EXPECT_EQ(json::parse(slow.ReadLine()), (json{{"ok", true}, {"result", {{"done", true}}}}));
  EXPECT_EQ(json::parse(slow.ReadLine())["result"]["echo"]["cmd"], "after");
}

TEST_F(DeferredControlTest, DeferredErrorReachesTheClientWithItsCode) {
  StartDeferredServer();
  ControlClient client = Connect();
  std::thread answer([this] {
    AwaitHandlerCalls(1);
    AnswerOnLoop(0, Status::FailedPrecondition("refused"));
  });
  auto r = client.Call({{"cmd", "slow"}}, kCallTimeout);
  answer.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "refused");
  EXPECT_TRUE(client.Call({{"cmd", "status"}}, kCallTimeout).ok());
}

TEST_F(DeferredControlTest, HandlerThatAnswersAtOnceIsAnswered) {
  auto server = ControlServer::Create(*loop_, path_, EchoHandler);
  ASSERT_TRUE(server.ok());
  server_ = std::move(server).value();
  server_->SetDeferredHandler("quick", [](json, const ControlPeer&, ControlReply reply) {
    reply(json{{"quick", 1}});
  });
  loop_thread_ = std::thread([this] { ASSERT_TRUE(loop_->Run().ok()); });
  ControlClient client = Connect();
  auto r = client.Call({{"cmd", "quick"}}, kCallTimeout);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (json{{"quick", 1}}));
  EXPECT_TRUE(client.Call({{"cmd", "status"}}, kCallTimeout).ok());
}

TEST_F(DeferredControlTest, ReplyAfterTheClientLeftOrTheServerIsGoneIsDropped) {
  StartDeferredServer();
  {
    RawConnection gone(path_);
    gone.Send("{\"cmd\":\"slow\"}\n");
    AwaitHandlerCalls(1);
  }  // hangs up before the answer
  ControlClient client = Connect();
  std::thread answer([this] {
    AwaitHandlerCalls(2);
    AnswerOnLoop(0, json{{"to", "nobody"}});
    AnswerOnLoop(1, json{{"to", "client"}});
  });
  auto r = client.Call({{"cmd", "slow"}}, kCallTimeout);
  answer.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (json{{"to", "client"}}));
  // A third request is left unanswered; the server goes away; the late reply does nothing.
  RawConnection last(path_);
  last.Send("{\"cmd\":\"slow\"}\n");
  AwaitHandlerCalls(3);
  StopLoop();
  server_.reset();
  pending_[2].reply(json{{"late", true}});
  EXPECT_EQ(last.ReadLine(), "<eof>");
}

// The server's side driven by hand on a FakeClock: idle timeouts and slots without sleeping.
class ControlClockTest : public ControlTest {
 protected:
  void SetUp() override {
    ControlTest::SetUp();
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok()) << loop.status().ToString();
    loop_ = std::move(loop).value();
  }

  void CreateServer(ControlServerOptions options) {
    auto server = ControlServer::Create(*loop_, path_, EchoHandler, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  // Runs loop rounds on this thread until `done` holds (bounded, so a bug fails instead of hangs).
  template <typename F>
  void PumpUntil(F done) {
    for (int i = 0; i < 3000 && !done(); ++i) ASSERT_TRUE(loop_->RunOnce(milliseconds(10)).ok());
    ASSERT_TRUE(done());
  }
  // Fires the timers that are due at the fake time and handles what is ready now.
  void RunDue() {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(loop_->RunOnce(milliseconds(0)).ok());
  }

  FakeClock clock_{FromUnix(1'700'000'000)};
};

// Issue 10: half-open connections were never closed.
TEST_F(ControlClockTest, ConnectionWithAnIncompleteLineIsClosedAfterTheIdleTimeout) {
  ControlServerOptions options;
  options.idle_timeout = seconds(10);
  CreateServer(options);
  RawConnection raw(path_);
  raw.Send("{\"cmd\":\"sta");
  PumpUntil([&] { return server_->connection_count() == 1; });
  clock_.Advance(milliseconds(9'999));
  RunDue();
  EXPECT_EQ(server_->connection_count(), 1u);
  raw.Send("tus\"");  // bytes of an incomplete line do not count as activity
  RunDue();
  clock_.Advance(milliseconds(1));
  RunDue();
  EXPECT_EQ(server_->connection_count(), 0u);
  json goodbye = json::parse(raw.ReadLine());
  EXPECT_EQ(goodbye, (json{{"ok", false},
                           {"error",
                            "closing an idle control connection (no complete request within "
                            "10000 ms)"},
                           {"code", "Unavailable"}}));
  EXPECT_EQ(raw.ReadLine(), "<eof>");
}

TEST_F(ControlClockTest, EachCompleteRequestRestartsTheIdleTimeout) {
  ControlServerOptions options;
  options.idle_timeout = seconds(10);
  CreateServer(options);
  RawConnection raw(path_);
  for (int i = 0; i < 3; ++i) {
    raw.Send("{\"cmd\":\"status\"}\n");
    PumpUntil([&] { return raw.Readable(); });
    EXPECT_EQ(json::parse(raw.ReadLine())["ok"], true);
    clock_.Advance(seconds(9));
    RunDue();
    EXPECT_EQ(server_->connection_count(), 1u) << "after request " << i;
  }
  clock_.Advance(seconds(1));
  RunDue();
  EXPECT_EQ(server_->connection_count(), 0u);
}

TEST_F(ControlClockTest, NoIdleTimeoutWhileADeferredAnswerIsOutstanding) {
  ControlServerOptions options;
  options.idle_timeout = seconds(10);
  CreateServer(options);
  ControlReply kept;
  server_->SetDeferredHandler(
      "slow", [&](json, const ControlPeer&, ControlReply reply) { kept = std::move(reply); });
  RawConnection raw(path_);
  raw.Send("{\"cmd\":\"slow\"}\n");
  PumpUntil([&] { return kept != nullptr; });
  clock_.Advance(seconds(60));
  RunDue();
  EXPECT_EQ(server_->connection_count(), 1u);
  kept(json{{"imported", 1}});
  PumpUntil([&] { return raw.Readable(); });
  EXPECT_EQ(json::parse(raw.ReadLine())["result"]["imported"], 1);
  // Idle again from the answer on.
  clock_.Advance(seconds(10));
  RunDue();
  EXPECT_EQ(server_->connection_count(), 0u);
}

// Issue 10: 31 half-open connections (32 slots) locked lintelctl out. Now a new connection evicts
// the connection idle longest.
TEST_F(ControlClockTest, WhenEverySlotIsTakenTheIdlestConnectionMakesRoom) {
  CreateServer(ControlServerOptions{});  // 32 slots
  std::vector<std::unique_ptr<RawConnection>> half_open;
  for (size_t i = 0; i < 32; ++i) {
    half_open.push_back(std::make_unique<RawConnection>(path_));
    half_open.back()->Send("{\"cmd\":");
    PumpUntil([&] { return server_->connection_count() == i + 1; });
  }
  // The first one does something, so the second is now the idlest.
  half_open[0]->Send("\"status\"}\n");
  PumpUntil([&] { return half_open[0]->Readable(); });
  EXPECT_EQ(json::parse(half_open[0]->ReadLine())["ok"], true);

  RawConnection lintelctl(path_);
  lintelctl.Send("{\"cmd\":\"status\"}\n");
  PumpUntil([&] { return lintelctl.Readable(); });
  json answer = json::parse(lintelctl.ReadLine());
  EXPECT_EQ(answer["ok"], true) << answer;
  EXPECT_EQ(server_->connection_count(), 32u);
  EXPECT_EQ(json::parse(half_open[1]->ReadLine()),
            (json{{"ok", false},
                  {"error", "closing an idle control connection: all 32 connections are in use"},
                  {"code", "Unavailable"}}));
  EXPECT_EQ(half_open[1]->ReadLine(), "<eof>");
  EXPECT_FALSE(half_open[2]->Readable());
}

TEST_F(ControlClockTest, WhenEveryConnectionAwaitsADeferredAnswerANewOneIsRefused) {
  ControlServerOptions options;
  options.max_connections = 1;
  CreateServer(options);
  ControlReply kept;
  server_->SetDeferredHandler(
      "slow", [&](json, const ControlPeer&, ControlReply reply) { kept = std::move(reply); });
  RawConnection first(path_);
  first.Send("{\"cmd\":\"slow\"}\n");
  PumpUntil([&] { return kept != nullptr; });
  RawConnection second(path_);
  PumpUntil([&] { return second.Readable(); });
  EXPECT_EQ(json::parse(second.ReadLine())["error"], "too many control connections (1)");
  EXPECT_EQ(second.ReadLine(), "<eof>");
  kept(json{{"done", true}});
  PumpUntil([&] { return first.Readable(); });
  EXPECT_EQ(json::parse(first.ReadLine())["result"]["done"], true);
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
