// lintelctl's human output: what the daemon's control answers (JSON) look like to a person at a
// terminal. `lintelctl --json` prints the answers themselves; everything here only reads them.
//
// Pure functions over nlohmann::json: no I/O, no clock, no globals, thread-safe. A field that is
// missing or has an unexpected type is shown as "-" or left out, never thrown on: an older or
// newer daemon's answer still prints.
//
// Secrets: nothing here prints more than the answer holds; the daemon keeps PIN digits out of its
// answers (a keypad frame in `reader.last` has no value).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lintel::ctl {

// Whether to colour output written to `fd`: only a terminal, and only without NO_COLOR set to
// anything (https://no-color.org). `no_color_env` is getenv("NO_COLOR").
bool UseColor(bool fd_is_tty, const char* no_color_env);

// One line of `lintelctl status`: a subsystem and what it says.
struct StatusLine {
  std::string subsystem;  // "cloud", "readers", "door I/O", "locks", "panels", "store", "clock"
  bool problem = false;   // something an installer should look at
  std::string text;
};

// The `status` answer as one line per subsystem (cloud, readers, door I/O, locks, panels, store,
// clock, in that order), then stably sorted so that problems come first.
std::vector<StatusLine> SummarizeStatus(const nlohmann::json& status);

// The whole `lintelctl status` text: a heading (site / gateway, how many problems), then the lines
// of SummarizeStatus, problems marked "!" and, with `color`, in bold red (ANSI).
std::string FormatStatus(const nlohmann::json& status, bool color);

// `present` / `decide` without checks: "granted  door front  person p-alice ..." on one line.
std::string FormatDecision(const nlohmann::json& decision);

// `explain` / `decide`: the door and time, each check numbered (ok / FAIL, the last marked
// "<- decides"), then the result and reason.
std::string FormatExplain(const nlohmann::json& explained);

// One journal event on one line: time, seq, type, then the other fields as key=value (the event
// id and clock_synced left out; "clock not synced" when it was not).
std::string FormatEvent(const nlohmann::json& event);

// `state import`: "imported: 3 people, 4 leases, ...".
std::string FormatImport(const nlohmann::json& answer);

// `wiegand decode`: the frame, each candidate decoding, and the keypad readings.
std::string FormatWiegandDecode(const nlohmann::json& decoded);

// `reader last`: the reader, its formats, then per frame (oldest first) its time, length, value
// and what the reader made of it, and under a card frame every candidate decoding, the one the
// reader's formats chose marked "<- chosen". Keypad frames show only "pin/keypad" and their length.
std::string FormatReaderLast(const nlohmann::json& answer);

// `lintelctl watch --door D --reader R`: whether the live stream shows `event`. An event naming
// a door (reader) other than a non-empty `door` (`reader`) is hidden; an event naming none (an I/O
// module, the fire release, the cloud, the gateway) is always shown: it concerns every door.
bool WatchShows(const nlohmann::json& event, std::string_view door, std::string_view reader);

// One line of `lintelctl watch`: the time of day from "ts" (milliseconds kept, date and zone
// dropped), the type, "door D", "reader R", then for a decision its result and (reason), then the
// other fields as key=value (id, seq, at and clock_synced left out; "(clock not synced)" when not).
std::string FormatWatchLine(const nlohmann::json& event);

// `lintelctl door test`: what changed between two readings of one door of the status's door_io
// section (`before` null: the first reading, every field reported), as "lock locked -> released",
// "door closed -> open", "REX not pressed -> pressed"; in the order lock, door, REX. A field
// missing from `now` is left out.
std::vector<std::string> DoorTestChanges(const nlohmann::json& before, const nlohmann::json& now);

// Parses `--since`: an RFC 3339 time, or a duration back from `now_unix` ("90s", "10m", "2h",
// "1d"). Returns Unix seconds, or nullopt when `text` is neither.
std::optional<int64_t> ParseSince(std::string_view text, int64_t now_unix);

}  // namespace lintel::ctl
