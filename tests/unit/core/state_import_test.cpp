// Issue 10: state imports off the core loop. StateImporter in-process with a FakeClock and a
// hand-run task queue, and once wired to a real ControlServer as the daemon wires it.
#include "gateway/core/state_import.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "config/config.h"
#include "gateway/base/event_loop.h"
#include "gateway/control/control_client.h"
#include "gateway/control/control_server.h"

namespace lintel::core {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr auto kWait = std::chrono::seconds(120);  // only so that a bug fails instead of hanging

json Records(int people = 1) {
  json r = json::parse(R"({
    "leases": [{"id": "l1", "unit": "1", "members": ["p0"], "groups": ["default"],
                "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}],
    "credentials": [{"id": "c1", "person": "p0", "type": "pin", "status": "active", "pin": "2468"}]
  })");
  r["people"] = json::array();
  for (int i = 0; i < people; ++i) {
    r["people"].push_back({{"id", "p" + std::to_string(i)}, {"name", "P"}, {"role", "tenant"}});
  }
  return r;
}

// Tasks the importer posts, run by the test thread (the "loop").
class TaskQueue {
 public:
  StateImporter::Poster Poster() {
    return [this](std::function<void()> f) {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(f));
      cv_.notify_all();
    };
  }
  // Waits for the next posted task and runs it here.
  bool RunNext() {
    std::function<void()> f;
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, kWait, [&] { return !tasks_.empty(); })) return false;
      f = std::move(tasks_.front());
      tasks_.pop_front();
    }
    f();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
};

// Holds the worker at one stage until released.
class Gate {
 public:
  explicit Gate(std::string stage) : stage_(std::move(stage)) {}
  StateImporter::StageHook Hook() {
    return [this](std::string_view stage) {
      if (stage != stage_) return;
      std::unique_lock lock(mu_);
      reached_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
    };
  }
  bool AwaitReached() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return reached_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::string stage_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool reached_ = false;
  bool open_ = false;
};

class StateImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lintel-import-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string yaml = "site: {id: s, time_zone: Europe/Berlin}\ngateway: {id: g}\nstore: {path: " +
                       (dir_ / "l.db").string() +
                       "}\ndoors:\n  - {id: front, common: true}\n  - {id: unit-1}\n";
    auto c = config::LoadConfigText(yaml, "test.yaml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    auto g = Gateway::Open(*c, clock_);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    gw_ = std::move(*g);
  }
  void TearDown() override {
    gw_.reset();
    fs::remove_all(dir_);
  }

  std::string WriteFile(const std::string& name, const std::string& text, mode_t mode = 0644) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }

  // Starts an import and runs posted tasks until its answer comes.
  Result<json> Import(StateImporter& importer, json request, ImportCaller caller = Me()) {
    std::optional<Result<json>> answer;
    importer.Start(std::move(request), caller, [&](Result<json> r) { answer = std::move(r); });
    while (!answer) {
      if (!queue_.RunNext()) return Status::Internal("no answer from the importer");
    }
    return std::move(*answer);
  }

  static ImportCaller Me() { return {getuid(), getgid()}; }
  size_t People() const { return gw_->engine().index()->people().size(); }

  FakeClock clock_{ParseRfc3339("2026-06-01T10:00:00Z").value()};
  fs::path dir_;
  std::unique_ptr<Gateway> gw_;
  TaskQueue queue_;
};

TEST_F(StateImportTest, ImportByPathReplacesTheStateAndJournalsIt) {
  std::string path = WriteFile("state.json", json{{"records", Records(3)}}.dump());
  StateImporter importer(*gw_, queue_.Poster());
  Result<json> r = Import(importer, {{"cmd", "import"}, {"path", path}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["imported"]["people"], 3);
  EXPECT_EQ((*r)["imported"]["credentials"], 1);
  EXPECT_EQ(People(), 3u);
  Result<json> tail = gw_->Handle({{"cmd", "events.tail"}, {"n", 1}});
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ((*tail)["events"][0]["type"], "sync.applied");
  EXPECT_EQ((*tail)["events"][0]["source"], "local");
  // Stored: a restart has it.
  gw_.reset();
  auto c = config::LoadConfigText(
      "site: {id: s, time_zone: Europe/Berlin}\ngateway: {id: g}\n"
      "store: {path: " +
          (dir_ / "l.db").string() + "}\ndoors:\n  - {id: front, common: true}\n  - {id: unit-1}\n",
      "test.yaml");
  auto g = Gateway::Open(*c, clock_);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)->engine().index()->people().size(), 3u);
}

TEST_F(StateImportTest, InlineRecordsAreImportedOnTheWorkerToo) {
  StateImporter importer(*gw_, queue_.Poster());
  Result<json> r = Import(importer, {{"cmd", "state.import"}, {"records", Records(2)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(People(), 2u);
}

TEST_F(StateImportTest, PathProblemsAreNamedAndChangeNothing) {
  StateImporter importer(*gw_, queue_.Poster());
  Result<json> relative = Import(importer, {{"cmd", "import"}, {"path", "state.json"}});
  EXPECT_EQ(relative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(relative.status().message(), "import path must be absolute: state.json");

  std::string missing = (dir_ / "missing.json").string();
  Result<json> r = Import(importer, {{"cmd", "import"}, {"path", missing}});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message().rfind("cannot read " + missing + ": No such file or directory", 0),
            0u)
      << r.status().message();

  Result<json> dir = Import(importer, {{"cmd", "import"}, {"path", dir_.string()}});
  EXPECT_EQ(dir.status().message(), dir_.string() + " is not a regular file");

  std::string broken = WriteFile("broken.json", "{\"people\": [}");
  Result<json> syntax = Import(importer, {{"cmd", "import"}, {"path", broken}});
  EXPECT_EQ(syntax.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(syntax.status().message().rfind(broken + ":1:", 0), 0u) << syntax.status().message();

  json bad = Records();
  bad["credentials"][0]["person"] = "nobody";
  std::string invalid = WriteFile("invalid.json", bad.dump());
  Result<json> rejected = Import(importer, {{"cmd", "import"}, {"path", invalid}});
  EXPECT_EQ(rejected.status().message().rfind("state rejected, nothing changed:", 0), 0u)
      << rejected.status().message();

  Result<json> no_path = Import(importer, {{"cmd", "import"}});
  EXPECT_EQ(no_path.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(People(), 0u);
}

// The daemon (user lintel) must not read for a caller what the caller may not read.
TEST_F(StateImportTest, FileTheCallerMayNotReadIsRefused) {
  std::string path = WriteFile("private.json", Records().dump(), 0600);
  const ImportCaller stranger{54321, 54321};  // neither the owner, nor root, nor the daemon
  StateImporter importer(*gw_, queue_.Poster());
  Result<json> r = Import(importer, {{"cmd", "import"}, {"path", path}}, stranger);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "cannot read " + path + ": uid 54321 (gid 54321) may not read it");
  EXPECT_EQ(People(), 0u);

  chmod(path.c_str(), 0644);  // world-readable: the stranger could read it too
  Result<json> ok = Import(importer, {{"cmd", "import"}, {"path", path}}, stranger);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(People(), 1u);
}

TEST_F(StateImportTest, SecondImportWhileOneRunsIsRefused) {
  std::string path = WriteFile("state.json", Records(2).dump());
  Gate gate("validated");
  StateImporter importer(*gw_, queue_.Poster(), gate.Hook());
  std::optional<Result<json>> first;
  importer.Start({{"cmd", "import"}, {"path", path}}, Me(),
                 [&](Result<json> r) { first = std::move(r); });
  ASSERT_TRUE(gate.AwaitReached());
  EXPECT_TRUE(importer.running());
  Result<json> second = Import(importer, {{"cmd", "import"}, {"path", path}});
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(),
            "a state import is already running; try again when it has finished");
  EXPECT_FALSE(first.has_value());
  gate.Open();
  while (!first) ASSERT_TRUE(queue_.RunNext());
  ASSERT_TRUE(first->ok()) << first->status().ToString();
  EXPECT_FALSE(importer.running());
  EXPECT_EQ(People(), 2u);
}

TEST_F(StateImportTest, DestroyingTheImporterMidwayDropsTheAnswer) {
  std::string path = WriteFile("state.json", Records(2).dump());
  Gate gate("read");
  bool answered = false;
  {
    StateImporter importer(*gw_, queue_.Poster(), gate.Hook());
    importer.Start({{"cmd", "import"}, {"path", path}}, Me(),
                   [&](Result<json>) { answered = true; });
    ASSERT_TRUE(gate.AwaitReached());
    gate.Open();
  }  // joins: the worker stops at the stage boundary
  EXPECT_FALSE(answered);
  EXPECT_EQ(People(), 0u);
}

// The daemon's wiring: while the worker holds a large import, the loop answers other clients;
// the import's answer comes after. Before issue 10 the import ran inside the loop's callback.
TEST_F(StateImportTest, LoopAnswersOtherRequestsWhileAnImportIsInProgress) {
  std::string path = WriteFile("big.json", Records(20000).dump());
  auto loop_or = EventLoop::Create();
  ASSERT_TRUE(loop_or.ok());
  EventLoop& loop = **loop_or;
  std::string socket = (dir_ / "lintel.sock").string();
  Gateway& gw = *gw_;
  auto server = ControlServer::Create(loop, socket,
                                      [&gw](const json& request) { return gw.Handle(request); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  Gate gate("validated");
  StateImporter importer(
      gw, [&loop](std::function<void()> f) { loop.Post(std::move(f)); }, gate.Hook());
  auto import = [&importer](json request, const ControlPeer& peer, ControlReply reply) {
    importer.Start(std::move(request), ImportCaller{peer.uid, peer.gid}, std::move(reply));
  };
  (*server)->SetDeferredHandler("import", import);
  std::thread loop_thread([&] { ASSERT_TRUE(loop.Run().ok()); });

  std::optional<Result<json>> imported;
  std::thread importing([&] {
    auto client = ControlClient::Connect(socket);
    ASSERT_TRUE(client.ok());
    imported = client->Call({{"cmd", "import"}, {"path", path}}, kWait);
  });
  ASSERT_TRUE(gate.AwaitReached());  // parsed and validated, held before the store write
  auto client = ControlClient::Connect(socket);
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 3; ++i) {
    Result<json> status = client->Call({{"cmd", "status"}}, kWait);
    ASSERT_TRUE(status.ok()) << status.status().ToString();
    EXPECT_EQ((*status)["state"]["people"], 0) << "the old state serves until the swap";
  }
  gate.Open();
  importing.join();
  ASSERT_TRUE(imported.has_value());
  ASSERT_TRUE(imported->ok()) << imported->status().ToString();
  EXPECT_EQ((**imported)["imported"]["people"], 20000);
  Result<json> status = client->Call({{"cmd", "status"}}, kWait);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["state"]["people"], 20000);
  loop.Stop();
  loop_thread.join();
}

}  // namespace
}  // namespace lintel::core
