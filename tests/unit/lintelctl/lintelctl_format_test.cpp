// lintelctl's human output: answers shaped as gateway/core (status), gateway/devices (readers,
// door_io, locks, panels) and gateway/cloud (cloud) build them; problems come first.
#include "tools/lintelctl_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace lintel::ctl {
namespace {

using nlohmann::json;

// A healthy gateway's `status` (Gateway::StatusCmd plus the SetStatusExtra sections).
json HealthyStatus() {
  return json::parse(R"({
    "site": "maple-court", "gateway": "gw-1", "time_zone": "Europe/Prague",
    "now": "2026-11-23T10:00:00Z", "time_floor": "2026-11-23T09:00:00Z",
    "clock_synced": true, "clock_suspect": false, "uptime_s": 3725,
    "applied": {"epoch": 1, "version": 12},
    "state": {"schedules": 1, "groups": 2, "people": 3, "leases": 4, "credentials": 10},
    "index_bytes": 4096,
    "events": {"queued": 7, "last_seq": 42, "unwritten": 0, "unwritten_max": 100000, "lost": 0},
    "store": {"writable": true, "read_only": false},
    "doors": ["front", "garage"],
    "cloud": {"connected": true, "session": 2, "epoch": 1, "version": 12, "pending_jobs": 0,
              "outbox": 7, "staff_only": false,
              "head": {"epoch": 1, "version": 12, "expires_at": "2026-11-23T11:00:00Z"},
              "counters": {"rejected": 0},
              "components": {"parser": {"ok": true, "faults": 0},
                             "worker": {"ok": true, "faults": 0},
                             "link": {"ok": true, "faults": 0}},
              "index_failed": false, "in_memory_revocations": 0},
    "readers": {"front-card": {"type": "wiegand", "door": "front", "source": "replay /tmp/r",
                               "state": "running", "granted": 3, "denied": 1}},
    "door_io": {"modules": {"io-1": {"type": "modbus", "address": "tcp 127.0.0.1:1502",
                                     "online": true}},
                "doors": {"front": {"lock": "locked", "wanted": "locked", "lock_fault": false,
                                    "open": false, "mode": "normal", "held_open": false}},
                "fire_release": false, "events": 0, "automation_runs": 0},
    "locks": [{"lock": "nuki-201", "door": "unit-201", "paired": true, "reachable": true,
               "state": "locked", "battery_percent": 80, "battery_critical": false,
               "jammed": false, "sync": {"failures": 0}}],
    "panels": {"lobby": {"type": "2n", "door": "front", "state": "running", "online": true}},
    "intercom": null
  })");
}

std::vector<std::string> Subsystems(const std::vector<StatusLine>& lines) {
  std::vector<std::string> out;
  for (const StatusLine& l : lines) out.push_back(l.subsystem);
  return out;
}

const StatusLine& Line(const std::vector<StatusLine>& lines, const std::string& subsystem) {
  auto it = std::find_if(lines.begin(), lines.end(),
                         [&](const StatusLine& l) { return l.subsystem == subsystem; });
  EXPECT_NE(it, lines.end()) << subsystem;
  return *it;
}

TEST(StatusSummary, HealthyGatewayHasOneLinePerSubsystemInOrderAndNoProblem) {
  std::vector<StatusLine> lines = SummarizeStatus(HealthyStatus());
  EXPECT_EQ(Subsystems(lines), (std::vector<std::string>{"cloud", "readers", "door I/O", "locks",
                                                         "panels", "store", "clock"}));
  for (const StatusLine& l : lines) EXPECT_FALSE(l.problem) << l.subsystem << ": " << l.text;
  EXPECT_NE(Line(lines, "cloud").text.find("connected (session 2), applied 1.12, outbox 7 events"),
            std::string::npos)
      << Line(lines, "cloud").text;
  EXPECT_NE(Line(lines, "readers").text.find("1 of 1 running, 3 granted, 1 denied"),
            std::string::npos);
  EXPECT_NE(Line(lines, "locks").text.find("unit-201/nuki-201 locked 80%"), std::string::npos);
  EXPECT_NE(Line(lines, "clock").text.find("synchronized, Europe/Prague, up 1h 2min"),
            std::string::npos)
      << Line(lines, "clock").text;
}

TEST(StatusSummary, FailedReaderAndDisconnectedCloudSortFirst) {
  json s = HealthyStatus();
  s["readers"]["front-keypad"] = {{"type", "wiegand"}, {"door", "front"},
                                  {"state", "failed"}, {"error", "no such file /dev/ttyUSB0"},
                                  {"granted", 0},      {"denied", 0}};
  s["cloud"]["connected"] = false;
  std::vector<StatusLine> lines = SummarizeStatus(s);
  // Problems first, each group in the usual order.
  EXPECT_EQ(Subsystems(lines), (std::vector<std::string>{"cloud", "readers", "door I/O", "locks",
                                                         "panels", "store", "clock"}));
  ASSERT_TRUE(lines[0].problem);
  ASSERT_TRUE(lines[1].problem);
  EXPECT_FALSE(lines[2].problem);
  EXPECT_NE(lines[0].text.find("disconnected"), std::string::npos) << lines[0].text;
  EXPECT_NE(lines[1].text.find("front-keypad failed: no such file /dev/ttyUSB0"), std::string::npos)
      << lines[1].text;
  EXPECT_NE(lines[1].text.find("1 of 2 running"), std::string::npos) << lines[1].text;
}

TEST(StatusSummary, ProblemsLowInTheListMoveAboveHealthyOnes) {
  json s = HealthyStatus();
  s["clock_synced"] = false;
  s["store"] = {{"writable", false}, {"read_only", false}, {"error", "IO error: disk full"}};
  s["events"]["unwritten"] = 20;
  s["locks"][0]["reachable"] = false;
  std::vector<StatusLine> lines = SummarizeStatus(s);
  EXPECT_EQ(Subsystems(lines), (std::vector<std::string>{"locks", "store", "clock", "cloud",
                                                         "readers", "door I/O", "panels"}));
  EXPECT_NE(Line(lines, "store")
                .text.find("cannot write: IO error: disk full; 20 events not "
                           "written"),
            std::string::npos)
      << Line(lines, "store").text;
  EXPECT_NE(Line(lines, "locks").text.find("unit-201/nuki-201 unreachable"), std::string::npos);
  EXPECT_NE(Line(lines, "clock").text.find("not synchronized"), std::string::npos);
}

TEST(StatusSummary, DoorIoFaultsAndOfflinePanelsAreProblems) {
  json s = HealthyStatus();
  s["door_io"]["modules"]["io-1"] = {{"online", false}, {"last_error", "connection refused"}};
  s["door_io"]["doors"]["front"]["lock_fault"] = true;
  s["door_io"]["fire_release"] = true;
  s["panels"]["lobby"]["online"] = false;
  s["panels"]["lobby"]["fault"] = "unreachable";
  s["panels"]["lobby"]["reason"] = "timed out";
  std::vector<StatusLine> lines = SummarizeStatus(s);
  const StatusLine& io = Line(lines, "door I/O");
  EXPECT_TRUE(io.problem);
  EXPECT_NE(io.text.find("FIRE RELEASE"), std::string::npos) << io.text;
  EXPECT_NE(io.text.find("module io-1 offline: connection refused"), std::string::npos);
  EXPECT_NE(io.text.find("door front lock fault"), std::string::npos);
  const StatusLine& panels = Line(lines, "panels");
  EXPECT_TRUE(panels.problem);
  EXPECT_NE(panels.text.find("lobby offline (unreachable): timed out"), std::string::npos);
}

TEST(StatusSummary, MissingSectionsReadAsNotConfigured) {
  json s = HealthyStatus();
  for (const char* k : {"cloud", "readers", "door_io", "locks", "panels", "intercom"}) s.erase(k);
  std::vector<StatusLine> lines = SummarizeStatus(s);
  EXPECT_EQ(lines.size(), 7u);
  for (const StatusLine& l : lines) EXPECT_FALSE(l.problem) << l.subsystem << ": " << l.text;
  EXPECT_NE(Line(lines, "cloud").text.find("not configured"), std::string::npos);
  EXPECT_EQ(Line(lines, "readers").text, "no reader drivers");
}

TEST(StatusFormat, ColoursOnlyProblemLinesAndOnlyWhenAsked) {
  json s = HealthyStatus();
  s["readers"]["front-card"]["state"] = "failed";
  s["readers"]["front-card"]["error"] = "gone";
  std::string plain = FormatStatus(s, false);
  EXPECT_EQ(plain.find("\x1b["), std::string::npos) << plain;
  EXPECT_EQ(plain.rfind("lintel maple-court/gw-1: 1 subsystem needs attention\n", 0), 0u) << plain;
  EXPECT_NE(plain.find("\n! readers   front-card failed: gone"), std::string::npos) << plain;
  EXPECT_NE(plain.find("\n  cloud     connected"), std::string::npos) << plain;
  std::string coloured = FormatStatus(s, true);
  EXPECT_NE(coloured.find("\x1b[1;31m! readers"), std::string::npos) << coloured;
  EXPECT_EQ(coloured.find("\x1b[1;31m  cloud"), std::string::npos) << coloured;
  EXPECT_NE(FormatStatus(HealthyStatus(), true).find("running, no problems"), std::string::npos);
  EXPECT_EQ(FormatStatus(HealthyStatus(), true).find("\x1b["), std::string::npos);
}

TEST(UseColor, OnlyOnATerminalWithoutNoColor) {
  EXPECT_TRUE(UseColor(true, nullptr));
  EXPECT_TRUE(UseColor(true, ""));
  EXPECT_FALSE(UseColor(true, "1"));
  EXPECT_FALSE(UseColor(false, nullptr));
}

TEST(EventFormat, OneLineWithTimeSeqTypeAndFieldsWithoutTheId) {
  json e = {{"seq", 17},
            {"id", "0b9a7c1e-uuid"},
            {"ts", "2026-11-23T10:00:00Z"},
            {"clock_synced", false},
            {"type", "access.denied"},
            {"door", "front"},
            {"reason", "unknown_credential"}};
  std::string line = FormatEvent(e);
  EXPECT_EQ(line,
            "2026-11-23T10:00:00Z  #17  access.denied  door=front  reason=unknown_credential  "
            "(clock not synced)\n");
}

TEST(EventFormat, ShowsTheMillisecondsTheJournalKept) {
  json e = {{"seq", 18},
            {"ts", "2026-11-23T10:00:00Z"},
            {"ts_millis", 1795428000123},
            {"type", "access.granted"},
            {"door", "front"},
            {"clock_synced", true}};
  EXPECT_EQ(FormatEvent(e), "2026-11-23T10:00:00.123Z  #18  access.granted  door=front\n");
  // Milliseconds of another second than `ts` (a clamped clock) are not shown.
  e["ts_millis"] = 1795428061123;
  EXPECT_EQ(FormatEvent(e), "2026-11-23T10:00:00Z  #18  access.granted  door=front\n");
}

TEST(WatchFilter, HidesOtherDoorsAndReadersAndKeepsSiteWideEvents) {
  json at_front = {{"type", "access.granted"}, {"door", "front"}, {"reader", "front-card"}};
  json at_back = {{"type", "access.denied"}, {"door", "back"}, {"reader", "back-card"}};
  json back_contact = {{"type", "door.opened"}, {"door", "back"}};
  json module = {{"type", "device.offline"}, {"device", "io1"}};
  EXPECT_TRUE(WatchShows(at_front, "", ""));
  EXPECT_TRUE(WatchShows(at_back, "", ""));
  EXPECT_TRUE(WatchShows(at_front, "front", ""));
  EXPECT_FALSE(WatchShows(at_back, "front", ""));
  EXPECT_FALSE(WatchShows(back_contact, "front", ""));
  EXPECT_TRUE(WatchShows(module, "front", "")) << "a module concerns every door";
  EXPECT_TRUE(WatchShows(at_front, "", "front-card"));
  EXPECT_FALSE(WatchShows(at_back, "", "front-card"));
  EXPECT_TRUE(WatchShows(back_contact, "", "front-card")) << "names no reader";
  EXPECT_FALSE(WatchShows(at_front, "front", "back-card"));
}

TEST(WatchFormat, TimeOfDayTypeDoorReaderResultThenTheRest) {
  json e = {{"seq", 9},
            {"id", "uuid"},
            {"ts", "2026-11-23T10:00:01.250Z"},
            {"clock_synced", true},
            {"type", "access.denied"},
            {"door", "back"},
            {"reader", "back-card"},
            {"result", "denied"},
            {"reason", "unknown_credential"},
            {"at", "2026-11-23T10:00:01Z"},
            {"source", "reader"}};
  EXPECT_EQ(FormatWatchLine(e),
            "10:00:01.250  access.denied         door back  reader back-card  denied "
            "(unknown_credential)  source=reader\n");
  json offline = {{"ts", "2026-11-23T10:00:02+01:00"},
                  {"type", "device.offline"},
                  {"device", "io1"},
                  {"clock_synced", false}};
  EXPECT_EQ(FormatWatchLine(offline),
            "10:00:02      device.offline        device=io1  (clock not synced)\n");
}

TEST(DoorTestChanges, FirstReadingNamesEverythingThenOnlyWhatChanged) {
  json locked = {{"lock", "locked"}, {"open", false}, {"rex", false}, {"mode", "normal"}};
  EXPECT_EQ(DoorTestChanges(nullptr, locked),
            (std::vector<std::string>{"lock locked", "door closed", "REX not pressed"}));
  EXPECT_TRUE(DoorTestChanges(locked, locked).empty());
  json released = locked;
  released["lock"] = "released";
  released["open"] = true;
  EXPECT_EQ(DoorTestChanges(locked, released),
            (std::vector<std::string>{"lock locked -> released", "door closed -> open"}));
  json no_rex = {{"lock", "unknown"}, {"open", false}, {"rex", nullptr}};
  EXPECT_EQ(DoorTestChanges(nullptr, no_rex),
            (std::vector<std::string>{"lock unknown", "door closed", "REX unknown"}));
  json old_daemon = {{"lock", "locked"}, {"open", false}};  // no "rex" in its status
  EXPECT_EQ(DoorTestChanges(nullptr, old_daemon),
            (std::vector<std::string>{"lock locked", "door closed"}));
}

TEST(DecisionFormat, NamesResultDoorPersonAndReason) {
  json d = {{"result", "granted"},          {"reason", "granted"}, {"door", "front"},
            {"at", "2026-12-01T08:00:00Z"}, {"person", "p-alice"}, {"lease", "lease-101"}};
  EXPECT_EQ(FormatDecision(d),
            "granted  door front  person p-alice  lease lease-101  (granted) at "
            "2026-12-01T08:00:00Z\n");
}

TEST(ReaderLastFormat, MarksTheChosenCandidateAndHidesKeypadFrames) {
  json a = json::parse(R"({
    "reader": "front-card", "door": "front", "formats": ["h10301", "raw"],
    "frames": [
      {"at": "2026-11-23T10:00:00Z", "ago_ms": 2500.0, "bits": 26, "keypad": false,
       "what": "card", "value": "0x0CA01F6",
       "candidates": [{"format": "h10301", "facility": 101, "number": 251, "parity_ok": true},
                      {"format": "raw", "facility": null, "number": 13238774,
                       "parity_ok": true}],
       "chosen": {"format": "h10301", "facility": 101, "number": 251, "parity_ok": true}},
      {"at": "2026-11-23T10:00:01Z", "ago_ms": 1500.0, "bits": 4, "keypad": true,
       "what": "key", "chosen": null}
    ]})");
  std::string text = FormatReaderLast(a);
  EXPECT_NE(text.find("reader front-card (door front, formats h10301, raw): 2 frames"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("26 bits  0x0CA01F6  card -> h10301\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h10301  facility 101    number 251  parity ok   <- chosen\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("raw     number 13238774\n"), std::string::npos) << text;
  EXPECT_NE(text.find("4 bits  pin/keypad (key)\n"), std::string::npos) << text;
}

TEST(ParseSince, TakesRfc3339AndDurationsBackFromNow) {
  EXPECT_EQ(ParseSince("10m", 10'000), 10'000 - 600);
  EXPECT_EQ(ParseSince("90s", 10'000), 10'000 - 90);
  EXPECT_EQ(ParseSince("2h", 10'000), 10'000 - 7200);
  EXPECT_EQ(ParseSince("1d", 100'000), 100'000 - 86'400);
  EXPECT_EQ(ParseSince("1970-01-01T01:00:00+01:00", 5), 0);
  EXPECT_EQ(ParseSince("2026-11-23T10:00:00Z", 5), 1'795'428'000);
  EXPECT_EQ(ParseSince("10x", 5), std::nullopt);
  EXPECT_EQ(ParseSince("m", 5), std::nullopt);
  EXPECT_EQ(ParseSince("yesterday", 5), std::nullopt);
}

}  // namespace
}  // namespace lintel::ctl
