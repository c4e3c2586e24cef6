// The daemon and lintelctl as a user runs them: real processes, a real Unix socket, a real SQLite
// file, signals. Uses the demo building (config/examples/demo.yaml + demo-state.json).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/subprocess.h"
#include "tests/integration/tiny_tmpfs.h"

namespace lintel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BinaryDir;
using testing::Child;
using testing::RunProgram;
using testing::RunResult;
using testing::SourceDir;

class Daemon : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("lintel-it");
    config_ = (dir_ / "lintel.yaml").string();
    // The demo building, with its Wiegand readers' replay sockets in this test's directory (tests
    // run in parallel; /run/lintel is the installed daemon's).
    std::string yaml = testing::ReadFile(Example("demo.yaml"));
    for (size_t at; (at = yaml.find("/run/lintel/front-")) != std::string::npos;) {
      yaml.replace(at, std::string("/run/lintel/").size(), dir_.string() + "/");
    }
    // Without its door I/O (the doors' io lines and the sections from io_modules on): no Modbus
    // module answers here, and its device.offline events would interleave with the journal these
    // tests read. tests/integration/door_io_test.cpp runs the I/O against modbus-sim.
    std::string kept;
    std::istringstream lines(yaml.substr(0, yaml.find("\nio_modules:")));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("    io: {", 0) != 0) kept += line + "\n";
    }
    std::ofstream(config_) << kept;
    socket_ = (dir_ / "lintel.sock").string();
    store_ = (dir_ / "lintel.db").string();
  }
  void TearDown() override {
    daemon_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  static std::string Example(const char* name) { return SourceDir() + "/config/examples/" + name; }
  std::string Lintel() const { return BinaryDir() + "/gateway/lintel"; }
  std::string Ctl() const { return BinaryDir() + "/tools/lintelctl"; }

  void Start() {
    daemon_ =
        std::make_unique<Child>(std::vector<std::string>{Lintel(), "--config", config_, "--store",
                                                         store_, "--socket", socket_},
                                (dir_ / "lintel.log").string());
    // Wait until the control socket answers (startup is milliseconds; allow a slow CI machine).
    for (int i = 0; i < 500; ++i) {
      if (Ctl({"status"}).exit_code == 0) return;
      ASSERT_TRUE(daemon_->running()) << "daemon exited during startup:\n" << Log();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "daemon never answered on " << socket_ << "\n" << Log();
  }

  RunResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {Ctl(), "--socket", socket_});
    return RunProgram(args);
  }
  json CtlJson(std::vector<std::string> args) {
    args.push_back("--json");
    RunResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }
  std::string Log() const {
    std::ifstream in(dir_ / "lintel.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  std::string config_, socket_, store_;
  std::unique_ptr<Child> daemon_;
};

TEST_F(Daemon, ImportsStateAndAnswersPresentExplainAndEvents) {
  ASSERT_NO_FATAL_FAILURE(Start());
  RunResult imported = Ctl({"state", "import", Example("demo-state.json"), "--json"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(json::parse(imported.out)["imported"]["credentials"], 10);

  json d = CtlJson({"present", "--door", "front", "--card", "h10301:101:251", "--at",
                    "2026-12-01T09:00:00+01:00"});
  EXPECT_EQ(d["result"], "granted");
  EXPECT_EQ(d["person"], "p-alice");
  EXPECT_EQ(d["lease"], "lease-101-2026");

  d = CtlJson({"present", "--door", "unit-101", "--card", "h10301:101:251", "--at",
               "2027-01-07T09:00:00+01:00"});
  EXPECT_EQ(d["result"], "denied");
  EXPECT_EQ(d["reason"], "rent_overdue");

  RunResult explained = Ctl({"explain", "--door", "unit-101", "--card", "h10301:101:251", "--at",
                             "2027-01-07T09:00:00+01:00"});
  ASSERT_EQ(explained.exit_code, 0) << explained.err;
  EXPECT_NE(explained.out.find("rent_overdue"), std::string::npos) << explained.out;
  EXPECT_NE(explained.out.find("<- decides"), std::string::npos) << explained.out;

  // A live presentation (no --at) is journaled; what-ifs are not.
  d = CtlJson({"present", "--door", "front", "--card", "h10301:101:9999"});
  EXPECT_EQ(d["reason"], "unknown_credential");
  RunResult tail = Ctl({"events", "tail", "-n", "2", "--json"});
  ASSERT_EQ(tail.exit_code, 0) << tail.err;
  std::vector<json> events;
  std::istringstream lines(tail.out);
  for (std::string line; std::getline(lines, line);) events.push_back(json::parse(line));
  ASSERT_EQ(events.size(), 2u) << tail.out;
  EXPECT_EQ(events[0]["type"], "sync.applied");
  EXPECT_EQ(events[1]["type"], "access.denied");
  EXPECT_EQ(events[1]["reason"], "unknown_credential");
  EXPECT_LT(events[0]["seq"].get<uint64_t>(), events[1]["seq"].get<uint64_t>());

  json status = CtlJson({"status"});
  EXPECT_EQ(status["site"], "maple-court");
  EXPECT_EQ(status["state"]["credentials"], 10);

  struct stat st;
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ASSERT_EQ(stat(store_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the store holds PIN material";
}

TEST_F(Daemon, RejectsABadStateAndKeepsTheOldOne) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_EQ(Ctl({"state", "import", Example("demo-state.json")}).exit_code, 0);
  json bad = json::parse(std::ifstream(Example("demo-state.json")));
  bad["credentials"].push_back({{"id", "c-bad"},
                                {"person", "p-alice"},
                                {"type", "pin"},
                                {"status", "active"},
                                {"pin", "9876"}});
  std::string bad_path = (dir_ / "bad-state.json").string();
  std::ofstream(bad_path) << bad.dump();
  RunResult r = Ctl({"state", "import", bad_path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("credential c-bad: pin must not start with 9"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("9876"), std::string::npos) << "PIN digits leaked into an error";
  EXPECT_EQ(CtlJson({"status"})["state"]["credentials"], 10) << "nothing of the bad batch applied";
}

// Issue 10: `state import` sends the file's path and the daemon reads it, so a state bigger than
// one request line (4 MiB) imports; the daemon parses it on a worker.
TEST_F(Daemon, ImportsAStateFileLargerThanARequestLineByPath) {
  ASSERT_NO_FATAL_FAILURE(Start());
  json big = json::parse(std::ifstream(Example("demo-state.json")));
  for (int i = 0; i < 80000; ++i) {
    big["people"].push_back(
        {{"id", "p-extra-" + std::to_string(i)}, {"name", "Extra Tenant"}, {"role", "tenant"}});
  }
  std::string text = big.dump();
  ASSERT_GT(text.size(), size_t{4} << 20);
  std::string path = (dir_ / "big-state.json").string();
  std::ofstream(path) << text;
  RunResult imported = Ctl({"state", "import", path, "--json"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(json::parse(imported.out)["imported"]["people"], big["people"].size());
  EXPECT_EQ(imported.err, "") << "no inline fallback was needed";
  EXPECT_EQ(CtlJson({"status"})["state"]["people"], big["people"].size());
}

TEST_F(Daemon, KeypadLocksOutAfterRepeatedWrongPins) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_EQ(Ctl({"state", "import", Example("demo-state.json")}).exit_code, 0);
  for (int i = 0; i < 5; ++i) {
    json d = CtlJson({"present", "--door", "front", "--reader", "front-keypad", "--pin", "0000"});
    EXPECT_EQ(d["reason"], "unknown_credential") << i;
  }
  json d = CtlJson({"present", "--door", "front", "--reader", "front-keypad", "--pin", "1357"});
  EXPECT_EQ(d["reason"], "keypad_locked_out");
  d = CtlJson(
      {"present", "--door", "front", "--reader", "front-keypad", "--card", "h10301:200:4242"});
  EXPECT_EQ(d["result"], "granted") << "cards keep working at a locked keypad";
  d = CtlJson({"present", "--door", "front", "--reader", "front-card", "--pin", "1357"});
  EXPECT_EQ(d["result"], "granted") << "other readers are not locked";
  EXPECT_EQ(Log().find("0000"), std::string::npos) << "PIN digits must never be logged";
}

TEST_F(Daemon, StopsOnSigtermAndKeepsStateAcrossRestart) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_EQ(Ctl({"state", "import", Example("demo-state.json")}).exit_code, 0);
  CtlJson({"present", "--door", "front", "--card", "h10301:101:9999"});
  uint64_t last_seq = CtlJson({"status"})["events"]["last_seq"];
  daemon_->Signal(SIGTERM);
  EXPECT_EQ(daemon_->Wait(std::chrono::seconds(10)), 0) << Log();
  EXPECT_NE(Log().find("stopping on SIGTERM"), std::string::npos);

  ASSERT_NO_FATAL_FAILURE(Start());
  json status = CtlJson({"status"});
  EXPECT_EQ(status["state"]["credentials"], 10);
  EXPECT_GT(status["events"]["last_seq"].get<uint64_t>(), last_seq) << "gateway.started appended";
  json d = CtlJson({"present", "--door", "front", "--card", "h10301:101:251", "--at",
                    "2026-12-01T09:00:00+01:00"});
  EXPECT_EQ(d["result"], "granted");
}

// Issue 13, point 4: a clean stop leaves an index image next to the store; the next start maps it
// instead of rebuilding from SQLite and decides the same; a damaged image is never used.
TEST_F(Daemon, SecondStartUsesTheIndexImageAndDecidesTheSame) {
  const std::string image = store_ + ".index";
  auto decisions = [&] {
    std::string out;
    for (const char* card : {"h10301:101:251", "h10301:101:9999"}) {
      for (const char* door : {"front", "unit-101"}) {
        for (const char* at : {"2026-12-01T09:00:00+01:00", "2027-01-07T09:00:00+01:00"}) {
          json d = CtlJson({"present", "--door", door, "--card", card, "--at", at});
          out += d["result"].get<std::string>() + " " + d.value("reason", "") + " " +
                 d.value("credential", "") + "\n";
        }
      }
    }
    return out;
  };
  auto stop = [&] {
    daemon_->Signal(SIGTERM);
    EXPECT_EQ(daemon_->Wait(std::chrono::seconds(20)), 0) << Log();
  };

  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(CtlJson({"status"})["index_source"], "store");
  ASSERT_EQ(Ctl({"state", "import", Example("demo-state.json")}).exit_code, 0);
  const std::string first = decisions();
  EXPECT_NE(first.find("granted"), std::string::npos) << first;
  EXPECT_NE(first.find("rent_overdue"), std::string::npos) << first;
  stop();
  EXPECT_NE(Log().find("index image written"), std::string::npos) << Log();
  struct stat st;
  ASSERT_EQ(stat(image.c_str(), &st), 0) << "no image after a clean stop";
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the image holds PIN material";

  ASSERT_NO_FATAL_FAILURE(Start());
  json status = CtlJson({"status"});
  EXPECT_EQ(status["index_source"], "image") << Log();
  EXPECT_EQ(status["state"]["credentials"], 10);
  EXPECT_NE(Log().find("index from the index image"), std::string::npos) << Log();
  EXPECT_EQ(decisions(), first);
  // Then the index is copied out of the mapping (huge pages instead of the file's 4 KiB pages) on
  // a housekeeping tick, and decides the same.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (CtlJson({"status"})["index_maps_image"] != false &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(CtlJson({"status"})["index_maps_image"], false) << Log();
  EXPECT_NE(Log().find("index copied out of the image mapping"), std::string::npos) << Log();
  EXPECT_EQ(decisions(), first);
  stop();

  // One flipped byte: the next start rebuilds from the store, says why, and decides the same.
  {
    std::fstream f(image, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(st.st_size / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(st.st_size / 2));
    c = static_cast<char>(c ^ 0x20);
    f.write(&c, 1);
  }
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(CtlJson({"status"})["index_source"], "store");
  EXPECT_NE(Log().find("checksum"), std::string::npos) << Log();
  EXPECT_EQ(decisions(), first);
}

TEST_F(Daemon, SighupRefusesABadConfigAndAppliesAGoodOne) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::ifstream in(config_);
  std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(config_) << good << "\nbogus_key: 1\n";
  daemon_->Signal(SIGHUP);
  for (int i = 0; i < 500 && Log().find("reload refused") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(Log().find("reload refused"), std::string::npos) << Log();
  EXPECT_NE(Log().find("bogus_key"), std::string::npos) << "the problem is named";
  EXPECT_TRUE(daemon_->running());
  EXPECT_EQ(CtlJson({"status"})["site"], "maple-court") << "old config keeps running";

  std::string renamed = good;
  renamed.replace(renamed.find("maple-court"), 11, "maple-yard");
  std::ofstream(config_) << renamed;
  daemon_->Signal(SIGHUP);
  json status;
  for (int i = 0; i < 500; ++i) {
    status = CtlJson({"status"});
    if (status["site"] == "maple-yard") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status["site"], "maple-yard") << Log();
}

// Issue 10, point 2: the store on a tiny tmpfs filled to the last byte. Before: every control
// command failed ("database or disk is full"), the decisions made while full were lost at
// SIGTERM, and the daemon refused to start ("advance last-known-good time: database or disk is
// full").
class FullDisk : public Daemon {
 protected:
  void SetUp() override {
    Daemon::SetUp();
    disk_ = std::make_unique<testing::TinyTmpfs>(dir_ / "disk", 4 << 20);
    if (!disk_->error().empty()) GTEST_SKIP() << "needs root for a tmpfs: " << disk_->error();
    store_ = (disk_->dir() / "lintel.db").string();
  }
  void TearDown() override {
    daemon_.reset();  // the daemon stops before the tmpfs goes, and that before the directory
    disk_.reset();
    Daemon::TearDown();
  }
  // `n` live presentations (journaled); each must be answered.
  void Decide(int n) {
    for (int i = 0; i < n; ++i) {
      json d = CtlJson({"present", "--door", "front", "--card", "h10301:101:251"});
      EXPECT_TRUE(d.contains("result")) << d.dump();
    }
  }
  std::vector<json> Tail(int n) {
    RunResult tail = Ctl({"events", "tail", "-n", std::to_string(n), "--json"});
    EXPECT_EQ(tail.exit_code, 0) << tail.err;
    std::vector<json> events;
    std::istringstream lines(tail.out);
    for (std::string line; std::getline(lines, line);) events.push_back(json::parse(line));
    return events;
  }
  void Stop() {
    daemon_->Signal(SIGTERM);
    ASSERT_EQ(daemon_->Wait(std::chrono::seconds(10)), 0) << Log();
  }
  std::unique_ptr<testing::TinyTmpfs> disk_;
};

TEST_F(FullDisk, DecidesAnswersRestartsAndWritesTheQueuedEventsWhenSpaceReturns) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_EQ(Ctl({"state", "import", Example("demo-state.json")}).exit_code, 0);
  uint64_t last_seq = CtlJson({"status"})["events"]["last_seq"];
  ASSERT_GT(disk_->Fill(), 0u);

  Decide(20);
  json status = CtlJson({"status"});
  EXPECT_EQ(status["events"]["unwritten"], 20) << status.dump();
  EXPECT_EQ(status["events"]["last_seq"], last_seq);
  EXPECT_EQ(status["store"]["writable"], false);
  EXPECT_EQ(Tail(1).back()["seq"], last_seq) << "the journal is still readable";
  RunResult explained = Ctl({"explain", "--door", "front", "--card", "h10301:101:251"});
  EXPECT_EQ(explained.exit_code, 0) << explained.err;

  // SIGTERM while full: a last write is tried; what cannot be written is logged with its count.
  ASSERT_NO_FATAL_FAILURE(Stop());
  EXPECT_NE(Log().find("stopping with 20 journal events the store could not write; they are "
                       "lost (20 access."),
            std::string::npos)
      << Log();

  // Restart while still full: it starts, decides, answers.
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(CtlJson({"status"})["state"]["credentials"], 10);
  Decide(5);
  status = CtlJson({"status"});
  EXPECT_EQ(status["events"]["unwritten"], 6) << "gateway.started and 5 decisions: " << Log();

  disk_->Free();  // space returns: housekeeping (every 5 s) writes the queue
  EXPECT_TRUE(testing::WaitFor([&] { return CtlJson({"status"})["events"]["unwritten"] == 0; },
                               std::chrono::seconds(20)))
      << Log();
  std::vector<json> events = Tail(6);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0]["type"], "gateway.started");
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["door"], "front") << events[i].dump();
    EXPECT_EQ(events[i]["credential"], events[1]["credential"]);
  }
  EXPECT_EQ(CtlJson({"status"})["store"]["writable"], true);
}

TEST_F(FullDisk, StartsAndDecidesOnAReadOnlyStore) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_EQ(Ctl({"state", "import", Example("demo-state.json")}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(Stop());  // a clean stop: no -wal or -shm left beside the store
  ASSERT_TRUE(disk_->SetReadOnly(true));

  ASSERT_NO_FATAL_FAILURE(Start());
  json status = CtlJson({"status"});
  EXPECT_EQ(status["state"]["credentials"], 10);
  EXPECT_EQ(status["store"]["read_only"], true);
  Decide(3);
  EXPECT_EQ(CtlJson({"status"})["events"]["unwritten"], 4);

  ASSERT_TRUE(disk_->SetReadOnly(false));  // reopened for writing by housekeeping
  EXPECT_TRUE(testing::WaitFor([&] { return CtlJson({"status"})["events"]["unwritten"] == 0; },
                               std::chrono::seconds(20)))
      << Log();
  EXPECT_EQ(CtlJson({"status"})["store"]["read_only"], false);
  EXPECT_EQ(Tail(1).back()["type"], "access.granted");
}

TEST_F(Daemon, RefusesToStartOnACorruptStore) {
  std::ofstream(store_) << std::string(8192, 'x');
  RunResult r = RunProgram({Lintel(), "--config", config_, "--store", store_, "--socket", socket_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a Lintel database"), std::string::npos) << r.err;
}

TEST(Lintelctl, DecidesOfflineFromConfigAndStateFiles) {
  std::string ex = SourceDir() + "/config/examples/";
  RunResult r =
      RunProgram({BinaryDir() + "/tools/lintelctl", "decide", "--config", ex + "demo.yaml",
                  "--state", ex + "demo-state.json", "--door", "unit-101", "--uid",
                  "04a1b2c3d4e5f6", "--at", "2026-12-02T08:00:00Z", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json d = json::parse(r.out);
  EXPECT_EQ(d["result"], "granted");
  EXPECT_EQ(d["person"], "p-ben");
  EXPECT_EQ(d["via"], "p-alice");
}

TEST(Lintelctl, ExplainsConnectionFailures) {
  RunResult r = RunProgram(
      {BinaryDir() + "/tools/lintelctl", "--socket", "/nonexistent/lintel.sock", "status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/lintel.sock"), std::string::npos) << r.err;
}

TEST(CheckConfig, PrintsEveryProblemWithPositionAndFails) {
  char path[] = "/tmp/lintel-bad-XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  std::string text =
      "site:\n  id: s\n  time_zone: Mars/Olympus\ngateway:\n  id: g\nstore:\n  path: /tmp/x.db\n"
      "doors:\n  - id: front\n    unlock_ms: fast\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  RunResult r = RunProgram({BinaryDir() + "/gateway/lintel", "--check-config", path});
  unlink(path);
  EXPECT_NE(r.exit_code, 0);
  std::string p(path);
  EXPECT_NE(r.err.find(p + ":3:14:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(p + ":10:16:"), std::string::npos) << r.err;
  RunResult ok = RunProgram({BinaryDir() + "/gateway/lintel", "--check-config",
                             SourceDir() + "/config/examples/demo.yaml"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("maple-court"), std::string::npos);
}

}  // namespace
}  // namespace lintel
