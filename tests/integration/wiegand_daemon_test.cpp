// Wiegand readers in the running daemon: tools/wiegand-sim plays the reader hardware on the replay
// sockets of a real `lintel`; lintelctl reads the journal and the status. Card and keypad
// decisions, the keypad lockout per reader, noise, a reader whose source is missing, SIGHUP.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/subprocess.h"

namespace lintel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BinaryDir;
using testing::Child;
using testing::RunProgram;
using testing::RunResult;

class WiegandDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("lintel-wiegand-it");
    config_ = (dir_ / "lintel.yaml").string();
    socket_ = (dir_ / "lintel.sock").string();
    WriteConfig("[h10301]");
    std::ofstream(dir_ / "state.json") << R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "1", "members": ["p1"], "groups": ["default"],
                  "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}],
      "credentials": [
        {"id": "pin1", "person": "p1", "type": "pin", "status": "active", "pin": "2468"},
        {"id": "card1", "person": "p1", "type": "card", "status": "active",
         "card": {"format": "h10301", "facility": 101, "number": 251}},
        {"id": "card2", "person": "p1", "type": "card", "status": "active",
         "card": {"format": "c1k35", "facility": 1234, "number": 56789}}]})";
  }
  void TearDown() override {
    daemon_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::string Sock(const std::string& name) const { return (dir_ / name).string(); }

  void WriteConfig(const std::string& card_formats) {
    std::ofstream(config_) << "site: {id: s, time_zone: UTC}\n"
                              "gateway: {id: g}\n"
                              "store: {path: "
                           << (dir_ / "lintel.db").string()
                           << "}\n"
                              "control: {socket: "
                           << socket_
                           << "}\n"
                              "policy:\n"
                              "  keypad_lockout: {failures: 3, within_s: 60, lockout_s: 300}\n"
                              "doors:\n"
                              "  - {id: front, common: true}\n"
                              "readers:\n"
                              "  - id: front-card\n"
                              "    door: front\n"
                              "    type: wiegand\n"
                              "    wiegand: {formats: "
                           << card_formats << ", replay: {socket: " << Sock("card.sock")
                           << "}}\n"
                              "  - id: front-keypad\n"
                              "    door: front\n"
                              "    keypad: true\n"
                              "    type: wiegand\n"
                              "    wiegand: {replay: {socket: "
                           << Sock("keypad.sock")
                           << "}}\n"
                              "  - id: side-card\n"
                              "    door: front\n"
                              "    type: wiegand\n"
                              "    wiegand: {replay: {socket: "
                           << Sock("missing/side.sock") << "}}\n";
  }

  void Start() {
    daemon_ = std::make_unique<Child>(
        std::vector<std::string>{BinaryDir() + "/gateway/lintel", "--config", config_},
        (dir_ / "lintel.log").string());
    ASSERT_TRUE(
        testing::WaitFor([&] { return Ctl({"status"}).exit_code == 0 || !daemon_->running(); },
                         std::chrono::seconds(10)));
    ASSERT_TRUE(daemon_->running()) << Log();
    RunResult imported = Ctl({"state", "import", (dir_ / "state.json").string()});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  RunResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BinaryDir() + "/tools/lintelctl", "--socket", socket_});
    return RunProgram(args);
  }

  void Sim(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryDir() + "/tools/wiegand-sim");
    RunResult r = RunProgram(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::vector<json> Events() {
    RunResult r = Ctl({"events", "tail", "-n", "200", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<json> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      json e = json::parse(line);
      if (e["type"] != "sync.applied" && e["type"] != "gateway.started") out.push_back(e);
    }
    return out;
  }

  // Waits until the journal holds `n` decision events (access.*, keypad.*) and returns them.
  std::vector<json> WaitForEvents(size_t n) {
    std::vector<json> events;
    testing::WaitFor(
        [&] {
          events = Events();
          return events.size() >= n;
        },
        std::chrono::seconds(10));
    EXPECT_EQ(events.size(), n) << json(events).dump();
    return events;
  }

  json Status() {
    RunResult r = Ctl({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }

  std::string Log() const { return testing::ReadFile(dir_ / "lintel.log"); }

  fs::path dir_;
  std::string config_, socket_;
  std::unique_ptr<Child> daemon_;
};

TEST_F(WiegandDaemon, CardsAndPinsFromSimulatedReadersAreDecidedAndJournaled) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Sim({"card", "--socket", Sock("card.sock"), "--format", "h10301", "--facility", "101", "--number",
       "251"});
  std::vector<json> ev = WaitForEvents(1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "access.granted");
  EXPECT_EQ(ev[0]["reader"], "front-card");
  EXPECT_EQ(ev[0]["credential"], "card1");
  EXPECT_EQ(ev[0]["source"], "wiegand");
  EXPECT_EQ(ev[0]["lock"], "none") << "no door I/O configured yet";

  Sim({"keys", "--socket", Sock("keypad.sock"), "--key-gap-ms", "60", "2468#"});
  ev = WaitForEvents(2);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1]["type"], "access.granted");
  EXPECT_EQ(ev[1]["reader"], "front-keypad");
  EXPECT_EQ(ev[1]["credential"], "pin1");

  // Three wrong PINs lock this keypad; the right PIN is then refused, a card still works.
  for (int i = 0; i < 3; ++i) {
    Sim({"keys", "--socket", Sock("keypad.sock"), "--key-gap-ms", "60", "1357#"});
  }
  ev = WaitForEvents(6);
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_EQ(ev[5]["type"], "keypad.locked_out");
  EXPECT_EQ(ev[5]["reader"], "front-keypad");
  Sim({"keys", "--socket", Sock("keypad.sock"), "--key-gap-ms", "60", "2468#"});
  ev = WaitForEvents(7);
  ASSERT_EQ(ev.size(), 7u);
  EXPECT_EQ(ev[6]["reason"], "keypad_locked_out");
  Sim({"card", "--socket", Sock("card.sock"), "--format", "h10301", "--facility", "101", "--number",
       "251"});
  ev = WaitForEvents(8);
  ASSERT_EQ(ev.size(), 8u);
  EXPECT_EQ(ev[7]["type"], "access.granted");

  // Noise: counted in the status, never a decision.
  Sim({"noise", "--socket", Sock("card.sock"), "--kind", "bad_parity"});
  Sim({"noise", "--socket", Sock("card.sock"), "--kind", "glitch"});
  json st;
  testing::WaitFor(
      [&] {
        st = Status()["readers"]["front-card"];
        return st["noise"]["bad_parity"] == 1 && st["noise"]["glitch"] == 1;
      },
      std::chrono::seconds(5));
  EXPECT_EQ(st["noise"]["bad_parity"], 1) << st.dump();
  EXPECT_EQ(st["noise"]["glitch"], 1) << st.dump();
  EXPECT_EQ(st["granted"], 2);
  EXPECT_EQ(st["state"], "running");
  EXPECT_EQ(Events().size(), 8u);

  // A reader whose source cannot be opened is reported; the others carry on.
  json side = Status()["readers"]["side-card"];
  EXPECT_EQ(side["state"], "failed");
  EXPECT_NE(side["error"].get<std::string>().find("missing/side.sock"), std::string::npos);

  std::string log = Log();
  EXPECT_EQ(log.find("2468"), std::string::npos) << "no PIN digits in the log";
  EXPECT_EQ(log.find("1357"), std::string::npos);
  EXPECT_NE(log.find("reader side-card: cannot open its source"), std::string::npos) << log;
  EXPECT_NE(log.find("reader front-card: bad_parity"), std::string::npos) << log;
}

TEST_F(WiegandDaemon, ReloadChangesAReadersFormats) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Sim({"card", "--socket", Sock("card.sock"), "--format", "c1k35", "--facility", "1234", "--number",
       "56789"});
  testing::WaitFor(
      [&] { return Status()["readers"]["front-card"]["noise"]["unknown_length"] == 1; },
      std::chrono::seconds(5));
  EXPECT_EQ(Status()["readers"]["front-card"]["noise"]["unknown_length"], 1)
      << "35 bits is not a format this reader is set up for";
  EXPECT_TRUE(Events().empty());

  WriteConfig("[c1k35, h10301]");
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(testing::WaitFor([&] { return Log().find("config reloaded") != std::string::npos; },
                               std::chrono::seconds(5)))
      << Log();
  Sim({"card", "--socket", Sock("card.sock"), "--format", "c1k35", "--facility", "1234", "--number",
       "56789"});
  std::vector<json> ev = WaitForEvents(1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "access.granted");
  EXPECT_EQ(ev[0]["credential"], "card2");
  EXPECT_EQ(Status()["readers"]["front-keypad"]["state"], "running");
}

// Issue 14 point 4: an installer presents one card and sees what the reader got and every way to
// read it; keypad frames never show their digits.
TEST_F(WiegandDaemon, ReaderLastShowsEveryDecodingAndTheChosenOneWithoutPinDigits) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Sim({"card", "--socket", Sock("card.sock"), "--format", "h10301", "--facility", "101", "--number",
       "251"});
  Sim({"noise", "--socket", Sock("card.sock"), "--kind", "bad_parity"});
  Sim({"keys", "--socket", Sock("keypad.sock"), "--key-gap-ms", "60", "2468#"});
  WaitForEvents(2);  // the card's and the PIN's decisions: every frame was read by then

  RunResult r = Ctl({"reader", "last", "front-card", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json last = json::parse(r.out);
  EXPECT_EQ(last["reader"], "front-card");
  EXPECT_EQ(last["formats"], json::array({"h10301"}));
  ASSERT_EQ(last["frames"].size(), 2u) << last.dump();
  const json& card = last["frames"][0];
  EXPECT_EQ(card["bits"], 26);
  EXPECT_EQ(card["what"], "card");
  EXPECT_EQ(card["keypad"], false);
  EXPECT_EQ(card["chosen"]["format"], "h10301");
  EXPECT_EQ(card["chosen"]["facility"], 101);
  EXPECT_EQ(card["chosen"]["number"], 251);
  ASSERT_EQ(card["candidates"].size(), 2u) << card.dump();  // h10301 and raw
  EXPECT_EQ(card["candidates"][0]["format"], "h10301");
  EXPECT_EQ(card["candidates"][0]["parity_ok"], true);
  EXPECT_EQ(card["candidates"][1]["format"], "raw");
  const json& noise = last["frames"][1];
  EXPECT_EQ(noise["what"], "bad_parity");
  EXPECT_TRUE(noise["chosen"].is_null());
  bool some_bad_parity = false;
  for (const json& c : noise["candidates"]) some_bad_parity |= c["parity_ok"] == false;
  EXPECT_TRUE(some_bad_parity) << noise.dump();

  RunResult one = Ctl({"reader", "last", "front-card", "-n", "1", "--json"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(json::parse(one.out)["frames"].size(), 1u);
  EXPECT_EQ(json::parse(one.out)["frames"][0]["what"], "bad_parity") << "the newest";

  RunResult human = Ctl({"reader", "last", "front-card"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("card -> h10301"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("facility 101    number 251  parity ok   <- chosen"), std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("bad_parity"), std::string::npos) << human.out;

  // Five keys (2, 4, 6, 8, #): lengths and "key", never a digit or a value.
  RunResult keys = Ctl({"reader", "last", "front-keypad", "--json"});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  json kl = json::parse(keys.out);
  ASSERT_EQ(kl["frames"].size(), 5u) << kl.dump();
  for (const json& f : kl["frames"]) {
    EXPECT_EQ(f["keypad"], true) << f.dump();
    EXPECT_EQ(f["what"], "key");
    EXPECT_FALSE(f.contains("value")) << f.dump();
    EXPECT_FALSE(f.contains("candidates")) << f.dump();
  }
  RunResult keys_human = Ctl({"reader", "last", "front-keypad"});
  EXPECT_NE(keys_human.out.find("pin/keypad (key)"), std::string::npos) << keys_human.out;
  for (const std::string& out : {keys.out, keys_human.out}) {
    EXPECT_EQ(out.find("2468"), std::string::npos) << out;
    EXPECT_EQ(out.find("0x"), std::string::npos) << out;
  }

  RunResult unknown = Ctl({"reader", "last", "no-such-reader"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("front-card"), std::string::npos) << "names the readers it has";
}

// Issue 14 point 4: `events tail --follow` prints events as they are journaled; --since picks the
// journal's events from a time on.
TEST_F(WiegandDaemon, EventsTailFollowPrintsNewEventsAndSinceSelectsByTime) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::string out_path = Sock("follow.out");
  Child follow({BinaryDir() + "/tools/lintelctl", "--socket", socket_, "events", "tail", "-n", "0",
                "--follow", "--json"},
               Sock("follow.err"), out_path);
  auto followed = [&] {
    std::vector<json> out;
    std::istringstream lines(testing::ReadFile(out_path));
    for (std::string line; std::getline(lines, line);) out.push_back(json::parse(line));
    return out;
  };
  // Nothing old (-n 0), then the card's decision once it is made.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(followed().empty()) << testing::ReadFile(out_path);
  Sim({"card", "--socket", Sock("card.sock"), "--format", "h10301", "--facility", "101", "--number",
       "251"});
  ASSERT_TRUE(testing::WaitFor([&] { return !followed().empty(); }, std::chrono::seconds(5)))
      << testing::ReadFile(Sock("follow.err"));
  Sim({"keys", "--socket", Sock("keypad.sock"), "--key-gap-ms", "60", "1357#"});
  ASSERT_TRUE(testing::WaitFor([&] { return followed().size() >= 2; }, std::chrono::seconds(5)));
  std::vector<json> ev = followed();
  ASSERT_EQ(ev.size(), 2u) << testing::ReadFile(out_path);
  EXPECT_EQ(ev[0]["type"], "access.granted");
  EXPECT_EQ(ev[0]["credential"], "card1");
  EXPECT_EQ(ev[1]["type"], "access.denied");
  EXPECT_LT(ev[0]["seq"].get<uint64_t>(), ev[1]["seq"].get<uint64_t>());
  EXPECT_TRUE(follow.running()) << "follows until interrupted";
  follow.Signal(SIGINT);
  EXPECT_NE(follow.Wait(std::chrono::seconds(5)), -1) << "Ctrl-C stops it";

  // --since: everything journaled in the last 10 minutes (the import, both decisions); nothing
  // from a time to come.
  RunResult recent = Ctl({"events", "tail", "--since", "10m", "--json"});
  ASSERT_EQ(recent.exit_code, 0) << recent.err;
  std::vector<std::string> types;
  std::istringstream lines(recent.out);
  for (std::string line; std::getline(lines, line);) types.push_back(json::parse(line)["type"]);
  EXPECT_NE(std::find(types.begin(), types.end(), "sync.applied"), types.end()) << recent.out;
  EXPECT_EQ(types.back(), "access.denied") << recent.out;
  RunResult future = Ctl({"events", "tail", "--since", "2999-01-01T00:00:00Z"});
  ASSERT_EQ(future.exit_code, 0) << future.err;
  EXPECT_EQ(future.out, "");
  RunResult human = Ctl({"events", "tail", "--since", "1h"});
  EXPECT_NE(human.out.find("access.granted  "), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("credential=card1"), std::string::npos) << human.out;
  RunResult bad = Ctl({"events", "tail", "--since", "yesterday"});
  EXPECT_EQ(bad.exit_code, 2);
}

// Issue 14 point 4: `lintelctl watch --door D` streams the decisions made from its start on at
// door D only, one line each, until Ctrl-C (exit 0); without a filter it streams every door's.
TEST_F(WiegandDaemon, WatchStreamsOnlyTheChosenDoorsNewDecisionsUntilCtrlC) {
  std::ofstream(config_) << "site: {id: s, time_zone: UTC}\n"
                            "gateway: {id: g}\n"
                            "store: {path: "
                         << (dir_ / "lintel.db").string() << "}\ncontrol: {socket: " << socket_
                         << "}\n"
                            "doors:\n"
                            "  - {id: front, common: true}\n"
                            "  - {id: back, common: true}\n"
                            "readers:\n"
                            "  - {id: front-card, door: front, type: wiegand,\n"
                            "     wiegand: {replay: {socket: "
                         << Sock("card.sock")
                         << "}}}\n"
                            "  - {id: back-card, door: back, type: wiegand,\n"
                            "     wiegand: {replay: {socket: "
                         << Sock("back.sock") << "}}}\n";
  ASSERT_NO_FATAL_FAILURE(Start());
  // A decision made before the watchers start: not theirs to show.
  Sim({"card", "--socket", Sock("back.sock"), "--format", "h10301", "--facility", "101", "--number",
       "251"});
  ASSERT_TRUE(testing::WaitFor([&] { return Events().size() == 1; }, std::chrono::seconds(5)));
  auto watcher = [&](const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), {BinaryDir() + "/tools/lintelctl", "--socket", socket_, "watch"});
    return std::make_unique<Child>(args, Sock(name + ".err"), Sock(name + ".out"));
  };
  std::unique_ptr<Child> back = watcher("back", {"--door", "back"});
  std::unique_ptr<Child> all = watcher("all", {"--json"});
  // Each says on stderr once it knows where the journal ends: from then on, every event is new.
  for (const char* name : {"back", "all"}) {
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          return testing::ReadFile(Sock(std::string(name) + ".err")).find("watching") !=
                 std::string::npos;
        },
        std::chrono::seconds(5)))
        << name << ": " << testing::ReadFile(Sock(std::string(name) + ".err"));
  }
  Sim({"card", "--socket", Sock("card.sock"), "--format", "h10301", "--facility", "101", "--number",
       "251"});
  Sim({"card", "--socket", Sock("back.sock"), "--format", "h10301", "--facility", "101", "--number",
       "999"});
  auto lines = [&](const std::string& name) {
    std::vector<std::string> out;
    std::istringstream in(testing::ReadFile(Sock(name + ".out")));
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return lines("all").size() >= 2; }, std::chrono::seconds(5)))
      << testing::ReadFile(Sock("all.out")) << testing::ReadFile(Sock("all.err"));
  ASSERT_TRUE(testing::WaitFor([&] { return !lines("back").empty(); }, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a late line would show now

  std::vector<std::string> unfiltered = lines("all");
  ASSERT_EQ(unfiltered.size(), 2u) << testing::ReadFile(Sock("all.out"));
  json first = json::parse(unfiltered[0]), second = json::parse(unfiltered[1]);
  EXPECT_EQ(first["type"], "access.granted");
  EXPECT_EQ(first["door"], "front");
  EXPECT_EQ(second["type"], "access.denied");
  EXPECT_EQ(second["door"], "back");
  EXPECT_EQ(second["reader"], "back-card");

  std::vector<std::string> at_back = lines("back");
  ASSERT_EQ(at_back.size(), 1u) << testing::ReadFile(Sock("back.out"));
  EXPECT_NE(at_back[0].find("access.denied"), std::string::npos) << at_back[0];
  EXPECT_NE(at_back[0].find("door back  reader back-card  denied ("), std::string::npos)
      << at_back[0];
  EXPECT_EQ(at_back[0].find("front"), std::string::npos) << at_back[0];

  EXPECT_TRUE(back->running() && all->running()) << "they watch until interrupted";
  back->Signal(SIGINT);
  all->Signal(SIGINT);
  EXPECT_EQ(back->Wait(std::chrono::seconds(5)), 0) << "Ctrl-C ends it cleanly";
  EXPECT_EQ(all->Wait(std::chrono::seconds(5)), 0);
}

// Issue 14 point 5: `lintelctl status` for people: a failed reader is a problem and comes first.
TEST_F(WiegandDaemon, HumanStatusPutsTheFailedReaderFirst) {
  ASSERT_NO_FATAL_FAILURE(Start());
  RunResult r = Ctl({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The heading, then the readers' line first (an unsynchronized clock on this machine would be
  // a second problem, after it).
  EXPECT_EQ(r.out.rfind("lintel s/g: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("attention\n! readers   side-card failed: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 of 3 running"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos) << "no colour into a pipe";
  for (const char* line : {"\n  cloud     not configured", "\n  store     writable;", "clock     ",
                           "\n  door I/O  ", "\n  locks     ", "\n  panels    "}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << " in\n" << r.out;
  }
}

}  // namespace
}  // namespace lintel
