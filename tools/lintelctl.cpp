// lintelctl: talks to a running lintel over its control socket, or decides offline from a config
// and a state file (`decide`), for support and tests; `wiegand decode` needs no gateway. Prints
// for people (lintelctl_format.h: problems first, in red on a terminal without NO_COLOR), or with
// --json the answers as JSON for scripts; exits 0 when it printed an answer, 1 when the gateway
// refused the command (or `wiegand decode` was given a value that is not a frame of that length),
// 2 on usage or connection errors. `watch`, `events tail --follow` and `door test` run until
// Ctrl-C (`watch` and `door test` then exit 0).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "drivers/wiegand/wiegand.h"
#include "gateway/codec/json_text.h"
#include "gateway/control/control_client.h"
#include "gateway/control/protocol.h"
#include "gateway/core/decision_json.h"
#include "gateway/core/gateway.h"
#include "rules/engine.h"
#include "tools/lintelctl_format.h"

namespace {

using nlohmann::json;

struct CredentialArgs {
  std::string door, reader, card, uid, pin, at;

  void AddTo(CLI::App* cmd, bool at_required) {
    cmd->add_option("--door", door, "door id")->required();
    cmd->add_option("--reader", reader, "reader id (keypad lockout is per reader)");
    auto* c = cmd->add_option("--card", card, "FORMAT:FACILITY:NUMBER, e.g. h10301:101:251");
    auto* u = cmd->add_option("--uid", uid, "card UID, 1-16 hex digits");
    auto* p = cmd->add_option("--pin", pin, "PIN digits");
    c->excludes(u)->excludes(p);
    u->excludes(p);
    auto* a =
        cmd->add_option("--at", at, "RFC 3339 time to decide at (a what-if: nothing recorded)");
    if (at_required) a->required();
  }
  json ToJson() const {
    json j = {{"door", door}};
    if (!reader.empty()) j["reader"] = reader;
    if (!card.empty()) j["card"] = card;
    if (!uid.empty()) j["uid"] = uid;
    if (!pin.empty()) j["pin"] = pin;
    if (!at.empty()) j["at"] = at;
    return j;
  }
};

int Fail(const std::string& message, int code) {
  std::cerr << "lintelctl: " << message << "\n";
  return code;
}

// Reads a JSON file strictly (duplicate fields rejected); errors say path:line:column.
lintel::Result<json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return lintel::Status::IoError("cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return lintel::codec::ParseJsonText(text, path);
}

int Call(const std::string& socket, json request, json* out) {
  auto client = lintel::ControlClient::Connect(socket);
  if (!client.ok()) return Fail(client.status().message(), 2);
  auto reply = client->Call(request, std::chrono::seconds(120));
  if (!reply.ok())
    return Fail(reply.status().message(),
                reply.status().code() == lintel::StatusCode::kUnavailable ? 2 : 1);
  *out = std::move(*reply);
  return 0;
}

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// `state import FILE`: the daemon reads the file itself ({"cmd":"import","path":...}), so neither
// lintelctl nor a request line holds the state. When the daemon cannot read it (a private /tmp, a
// file only this user may read), a file small enough for one request line is sent inline instead
// (state.import); a bigger one gets an error saying where to put it.
void PrintImport(const json& answer, bool as_json) {
  std::cout << (as_json ? answer.dump() + "\n" : lintel::ctl::FormatImport(answer));
}

int Import(const std::string& socket, const std::string& file, bool as_json) {
  std::error_code ec;
  std::filesystem::path path = std::filesystem::absolute(file, ec);
  if (ec) return Fail("cannot read " + file + ": " + ec.message(), 2);
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) return Fail("cannot read " + file + ": " + strerror(errno), 2);
  }
  auto client = lintel::ControlClient::Connect(socket);
  if (!client.ok()) return Fail(client.status().message(), 2);
  constexpr auto kImportTimeout = std::chrono::minutes(30);
  auto reply = client->Call({{"cmd", "import"}, {"path", path.string()}}, kImportTimeout);
  if (reply.ok()) {
    PrintImport(*reply, as_json);
    return 0;
  }
  const lintel::Status& st = reply.status();
  bool daemon_cannot_read = StartsWith(st.message(), "cannot read ");
  bool older_daemon = StartsWith(st.message(), "unknown command \"import\"");
  if (!client->usable() || (!daemon_cannot_read && !older_daemon)) {
    return Fail(st.message(), st.code() == lintel::StatusCode::kUnavailable ? 2 : 1);
  }
  // Inline: the file is parsed here, so only when it can fit in one request line.
  std::string too_big = "; it is too large to send inline (one request holds at most " +
                        std::to_string(lintel::control::kMaxRequestBytes) +
                        " bytes): put it where the daemon (user lintel) can read it, e.g. "
                        "/var/lib/lintel, and run this again";
  uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size > 4 * lintel::control::kMaxRequestBytes) return Fail(st.message() + too_big, 1);
  auto j = ReadJsonFile(path.string());
  if (!j.ok()) return Fail(j.status().message(), 2);
  json request = {{"cmd", "state.import"},
                  {"records", j->contains("records") ? std::move((*j)["records"]) : std::move(*j)}};
  if (lintel::control::EncodeLine(request).size() - 1 > lintel::control::kMaxRequestBytes) {
    return Fail(st.message() + too_big, 1);
  }
  std::cerr << "lintelctl: " << st.message() << "; sending the file inline\n";
  auto inline_reply = client->Call(request, kImportTimeout);
  if (!inline_reply.ok()) {
    return Fail(inline_reply.status().message(),
                inline_reply.status().code() == lintel::StatusCode::kUnavailable ? 2 : 1);
  }
  PrintImport(*inline_reply, as_json);
  return 0;
}

int Decide(const std::string& config_path, const std::string& state_path, const CredentialArgs& a,
           bool as_json) {
  auto config = lintel::config::LoadConfigFile(config_path);
  if (!config.ok()) return Fail(config.status().message(), 2);
  auto state = ReadJsonFile(state_path);
  if (!state.ok()) return Fail(state.status().message(), 2);
  const json& records_json = state->contains("records") ? (*state)["records"] : *state;
  lintel::rules::Site site = lintel::config::MakeSite(*config);
  auto records = lintel::core::ParseValidState(site, records_json);
  if (!records.ok()) return Fail(state_path + ": " + records.status().message(), 2);
  auto req = lintel::core::ParsePresentRequest(a.ToJson());
  if (!req.ok()) return Fail(req.status().message(), 2);
  auto index = lintel::rules::BuildIndex(site, *records);
  if (index->FindDoor(req->door) == lintel::rules::kNone) {
    return Fail("door \"" + req->door + "\" is not a door of this site", 2);
  }
  lintel::rules::Trace trace;
  lintel::rules::Decision d = lintel::rules::DecideWith(
      *index, {req->door, req->reader, req->credential}, *req->at, INT64_MIN, &trace);
  json out = lintel::core::DecisionToJson(d, req->door);
  out["checks"] = lintel::core::TraceToJson(trace);
  std::cout << (as_json ? out.dump() + "\n" : lintel::ctl::FormatExplain(out));
  return 0;
}

// Every reading of one Wiegand frame, for installers: card candidates and keypad meanings.
// Exit 1 when the value is not a frame of that length.
int WiegandDecode(int bits, const std::string& text, bool as_json) {
  namespace wg = lintel::wiegand;
  auto frame = wg::ParseFrame(bits, text);
  if (!frame.ok()) return Fail(frame.status().message(), 1);
  json candidates = json::array();
  for (const wg::CardRead& c : wg::Candidates(*frame)) {
    candidates.push_back({{"format", wg::CardFormatName(c.format)},
                          {"facility", c.facility ? json(*c.facility) : json(nullptr)},
                          {"number", c.number},
                          {"parity_ok", c.parity_ok}});
  }
  json out = {{"bits", frame->bits},
              {"value", wg::FrameHex(*frame)},
              {"binary", wg::FrameBinary(*frame)},
              {"candidates", candidates}};
  if (bits == 4 || bits == 8) {
    auto key = wg::DecodeKey(*frame, wg::KeyMap::Default());
    auto swapped = wg::DecodeKey(*frame, wg::KeyMap::StarHashSwapped());
    out["keypad"] = {
        {"key", key ? json(std::string(1, *key)) : json(nullptr)},
        {"key_star_hash_swapped", swapped ? json(std::string(1, *swapped)) : json(nullptr)}};
  } else if (bits == 26) {
    auto pin = wg::DecodePinBurst(*frame);
    out["keypad"] = {{"pin_burst", pin ? json(*pin) : json(nullptr)}};
  }
  std::cout << (as_json ? out.dump() + "\n" : lintel::ctl::FormatWiegandDecode(out));
  return 0;
}

std::string Cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// `lock status`: one line per lock, then the codes not pushed and why.
void PrintLockStatus(const json& locks) {
  std::vector<std::vector<std::string>> rows = {{"DOOR", "LOCK", "PAIRED", "REACHABLE", "STATE",
                                                 "BATTERY", "LAST SYNC", "PENDING", "NOT PUSHED"}};
  for (const json& l : locks) {
    const json& sync = l.value("sync", json::object());
    std::string battery = Cell(l.value("battery_percent", json(nullptr)));
    if (battery != "-") battery += "%";
    if (l.value("battery_critical", false)) battery += " LOW";
    std::string last = Cell(sync.value("last_success", json(nullptr)));
    if (sync.value("failures", 0) > 0) {
      last += " (" + std::to_string(sync.value("failures", 0)) + " failed)";
    }
    rows.push_back({Cell(l.value("door", json(nullptr))), Cell(l.value("lock", json(nullptr))),
                    Cell(l.value("paired", json(nullptr))),
                    Cell(l.value("reachable", json(nullptr))),
                    Cell(l.value("state", json(nullptr))), battery, last,
                    Cell(sync.value("pending_changes", json(nullptr))),
                    std::to_string(sync.value("not_pushed", json::array()).size())});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
  for (const json& l : locks) {
    const json& sync = l.value("sync", json::object());
    std::string door = l.value("door", "");
    for (const char* key : {"credentials_error", "pin_error", "last_error", "adapter_error",
                            "scan_error", "timezone_warning"}) {
      if (l.contains(key)) std::cout << door << ": " << key << ": " << Cell(l[key]) << "\n";
    }
    if (sync.contains("last_error"))
      std::cout << door << ": sync: " << Cell(sync["last_error"]) << "\n";
    if (sync.contains("error")) std::cout << door << ": sync: " << Cell(sync["error"]) << "\n";
    for (const json& s : sync.value("not_pushed", json::array())) {
      std::cout << door << ": not pushed: credential " << s.value("credential", "") << " (person "
                << s.value("person", "") << "): " << s.value("why", "") << ": "
                << s.value("reason", "") << "\n";
    }
  }
}

// `lock pair DOOR`: the daemon runs the pairing (the lock must be in pairing mode) and answers
// once done; progress is printed before and the steps after.
int LockPair(const std::string& socket, const std::string& door) {
  std::cout << "pairing the lock of door " << door
            << ": the lock must be in pairing mode (hold its button for about 5 s until the ring "
               "lights up)...\n"
            << std::flush;
  auto client = lintel::ControlClient::Connect(socket);
  if (!client.ok()) return Fail(client.status().message(), 2);
  auto reply = client->Call({{"cmd", "lock.pair"}, {"door", door}}, std::chrono::minutes(2));
  if (!reply.ok()) {
    return Fail("pairing failed: " + reply.status().message(),
                reply.status().code() == lintel::StatusCode::kUnavailable ? 2 : 1);
  }
  for (const json& step : reply->value("steps", json::array())) {
    std::cout << "  " << step.get<std::string>() << "\n";
  }
  std::cout << "paired: lock " << reply->value("lock", "") << " of door " << door
            << " (authorization id " << Cell(reply->value("authorization_id", json(nullptr)))
            << ")\n";
  return 0;
}

void PrintEvent(const json& e, bool as_json) {
  std::cout << (as_json ? e.dump() + "\n" : lintel::ctl::FormatEvent(e));
}

// `events tail [-n N] [--since TIME] [--follow]`: the last N events, or every event since TIME;
// with --follow, then every new one as it is journaled (polled every 200 ms on one connection)
// until interrupted. Events the cloud acknowledged are gone from the journal.
int EventsTail(const std::string& socket, size_t n, const std::string& since_text, bool follow,
               bool as_json) {
  std::optional<int64_t> since;
  if (!since_text.empty()) {
    since = lintel::ctl::ParseSince(since_text, static_cast<int64_t>(std::time(nullptr)));
    if (!since) {
      return Fail(
          "--since " + since_text + ": not an RFC 3339 time nor a duration like 90s, 10m, 2h, 1d",
          2);
    }
  }
  auto client = lintel::ControlClient::Connect(socket);
  if (!client.ok()) return Fail(client.status().message(), 2);
  auto call = [&](const json& request, json* out) {
    auto reply = client->Call(request, std::chrono::seconds(120));
    if (!reply.ok()) {
      return Fail(reply.status().message(),
                  reply.status().code() == lintel::StatusCode::kUnavailable ? 2 : 1);
    }
    *out = std::move(*reply);
    return 0;
  };
  json out;
  int rc = 0;
  uint64_t after = 0;
  if (since) {
    // Every event since then, page by page.
    json request = {{"cmd", "events.since"},
                    {"after", 0},
                    {"since", lintel::FormatRfc3339(lintel::FromUnix(*since))}};
    do {
      request["after"] = after;
      if ((rc = call(request, &out)) != 0) return rc;
      for (const json& e : out["events"]) PrintEvent(e, as_json);
      after = out["next_after"].get<uint64_t>();
    } while (out["more"].get<bool>());
  } else {
    if ((rc = call({{"cmd", "events.tail"}, {"n", n}}, &out)) != 0) return rc;
    for (const json& e : out["events"]) PrintEvent(e, as_json);
    if (follow) {
      if (!out["events"].empty()) {
        after = out["events"].back()["seq"].get<uint64_t>();
      } else {
        if ((rc = call({{"cmd", "events.since"}, {"limit", 0}}, &out)) != 0) return rc;
        after = out["last_seq"].get<uint64_t>();
      }
    }
  }
  std::cout << std::flush;
  while (follow) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    do {
      if ((rc = call({{"cmd", "events.since"}, {"after", after}}, &out)) != 0) return rc;
      for (const json& e : out["events"]) PrintEvent(e, as_json);
      after = out["next_after"].get<uint64_t>();
    } while (out["more"].get<bool>());
    std::cout << std::flush;
  }
  return 0;
}

// Set by SIGINT / SIGTERM while `watch` or `door test` runs: they stop and exit 0.
volatile std::sig_atomic_t g_interrupted = 0;

void OnInterrupt(int) { g_interrupted = 1; }

void CatchInterrupts() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Sleeps `ms`, or less when interrupted; returns false when interrupted.
bool Pause(int ms) {
  for (int slept = 0; slept < ms && !g_interrupted; slept += 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(20, ms - slept)));
  }
  return !g_interrupted;
}

// A call on a connection kept for a whole loop (watch, door test): 0, else Fail's exit code.
int CallOn(lintel::ControlClient& client, const json& request, json* out) {
  auto reply = client.Call(request, std::chrono::seconds(120));
  if (!reply.ok()) {
    return Fail(reply.status().message(),
                reply.status().code() == lintel::StatusCode::kUnavailable ? 2 : 1);
  }
  *out = std::move(*reply);
  return 0;
}

// `watch [--door D] [--reader R]`: every event journaled from now on (decisions, doors, devices,
// cloud), filtered here (lintelctl_format.h WatchShows), polled with events.since every 200 ms on
// one connection until SIGINT / SIGTERM (exit 0).
int Watch(const std::string& socket, const std::string& door, const std::string& reader,
          bool as_json) {
  CatchInterrupts();
  auto client = lintel::ControlClient::Connect(socket);
  if (!client.ok()) return Fail(client.status().message(), 2);
  json out;
  int rc = 0;
  if ((rc = CallOn(*client, {{"cmd", "events.since"}, {"limit", 0}}, &out)) != 0) return rc;
  uint64_t after = out["last_seq"].get<uint64_t>();
  std::string what = door.empty() ? "every door" : "door " + door;
  if (!reader.empty()) what += ", reader " + reader;
  std::cerr << "lintelctl: watching " << what << " from event " << after + 1
            << " on (Ctrl-C to stop)" << std::endl;
  while (Pause(200)) {
    do {
      if ((rc = CallOn(*client, {{"cmd", "events.since"}, {"after", after}}, &out)) != 0) {
        return rc;
      }
      for (const json& e : out["events"]) {
        if (!lintel::ctl::WatchShows(e, door, reader)) continue;
        std::cout << (as_json ? e.dump() + "\n" : lintel::ctl::FormatWatchLine(e));
      }
      after = out["next_after"].get<uint64_t>();
    } while (out["more"].get<bool>() && !g_interrupted);
    std::cout << std::flush;
  }
  return 0;
}

// The door's entry in a status answer's door_io section, or null.
json DoorIoOf(const json& status, const std::string& door) {
  const json* j = &status;
  for (const std::string& key : {std::string("door_io"), std::string("doors"), door}) {
    if (!j->is_object() || !j->contains(key)) return nullptr;
    j = &(*j)[key];
  }
  return j->is_object() ? *j : json(nullptr);
}

// `door test DOOR [--yes] [--watch-s N]`: asks (on a terminal) before the daemon pulses the lock
// (door.test: refused while the door is locked down or the fire release is active); shows the
// door's lock, contact and REX from the status's door_io section before, then every change,
// polled every 200 ms for N seconds (or until SIGINT / SIGTERM).
int DoorTest(const std::string& socket, const std::string& door, bool yes, int watch_s,
             bool as_json) {
  if (!yes) {
    if (isatty(STDIN_FILENO) != 1) {
      return Fail("door test pulses the lock of door " + door +
                      ": run it on a terminal to confirm, or pass --yes",
                  2);
    }
    std::cout << "Pulse the lock of door " << door << " once? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") return Fail("not confirmed", 1);
  }
  CatchInterrupts();
  auto client = lintel::ControlClient::Connect(socket);
  if (!client.ok()) return Fail(client.status().message(), 2);
  json out;
  int rc = 0;
  auto start = std::chrono::steady_clock::now();
  // One line (human: one per field) for each reading that differs from the one before.
  json before;  // null: nothing shown yet
  auto show = [&](json now) {
    std::vector<std::string> changes = lintel::ctl::DoorTestChanges(before, now);
    auto t_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    if (changes.empty()) return;
    if (as_json) {
      std::cout << json{{"t_ms", t_ms},
                        {"lock", now.value("lock", json(nullptr))},
                        {"open", now.value("open", json(nullptr))},
                        {"rex", now.value("rex", json(nullptr))}}
                       .dump()
                << "\n";
    } else if (before.is_null()) {
      std::cout << "door " << door << ": " << changes[0];
      for (size_t i = 1; i < changes.size(); ++i) std::cout << ", " << changes[i];
      std::cout << "\n";
    } else {
      char t[32];
      std::snprintf(t, sizeof t, "%+7.2f s", static_cast<double>(t_ms) / 1000.0);
      for (const std::string& c : changes) std::cout << t << "  " << c << "\n";
    }
    std::cout << std::flush;
    before = std::move(now);
  };
  if ((rc = CallOn(*client, {{"cmd", "status"}}, &out)) != 0) return rc;
  json now = DoorIoOf(out, door);
  if (now.is_null()) {
    return Fail("door " + door + " has no door I/O (doors[].io) in the gateway's status", 1);
  }
  show(std::move(now));
  if ((rc = CallOn(*client, {{"cmd", "door.test"}, {"door", door}}, &out)) != 0) return rc;
  start = std::chrono::steady_clock::now();
  if (as_json) {
    std::cout << json{{"pulsed", out}}.dump() << "\n";
  } else {
    std::cout << "door " << door << ": lock pulsed for " << Cell(out.value("ms", json(nullptr)))
              << " ms; watching lock, door contact and REX for " << watch_s
              << " s (Ctrl-C to stop)\n";
  }
  std::cout << std::flush;
  auto deadline = start + std::chrono::seconds(watch_s);
  while (std::chrono::steady_clock::now() < deadline && Pause(200)) {
    if ((rc = CallOn(*client, {{"cmd", "status"}}, &out)) != 0) return rc;
    now = DoorIoOf(out, door);
    if (now.is_null()) return Fail("the gateway's status has no door I/O for door " + door, 1);
    show(std::move(now));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lintelctl: ask a lintel gateway what it knows and what its doors decide"};
  app.require_subcommand(1);
  const char* env_socket = std::getenv("LINTEL_SOCKET");
  std::string socket = env_socket ? env_socket : "/run/lintel/lintel.sock";
  app.add_option("-s,--socket", socket, "the daemon's control socket (env LINTEL_SOCKET)")
      ->capture_default_str();

  // --json on every command that answers: the daemon's answer as JSON, for scripts.
  bool as_json = false;
  auto add_json = [&as_json](CLI::App* cmd) {
    cmd->add_flag("--json", as_json, "print JSON (for scripts) instead of lines for people");
  };
  auto* status = app.add_subcommand(
      "status",
      "one line per subsystem (cloud, readers, door I/O, locks, panels, store, clock), "
      "problems first");
  add_json(status);
  auto* state = app.add_subcommand("state", "the gateway's people, leases, credentials, groups");
  state->require_subcommand(1);
  std::string import_file;
  auto* import = state->add_subcommand(
      "import", "replace the state with a records JSON file (the daemon reads the file itself)");
  import->add_option("FILE", import_file, "JSON object shaped like a snapshot's records")
      ->required();
  add_json(import);

  CredentialArgs present_args, explain_args, decide_args;
  auto* present =
      app.add_subcommand("present", "present a credential at a door; prints the decision");
  present_args.AddTo(present, false);
  add_json(present);
  auto* explain = app.add_subcommand("explain", "like present, printing each check in order");
  explain_args.AddTo(explain, false);
  add_json(explain);

  auto* events = app.add_subcommand("events", "the event journal");
  events->require_subcommand(1);
  size_t tail_n = 20;
  std::string tail_since;
  bool tail_follow = false;
  auto* tail = events->add_subcommand(
      "tail", "the last events, one per line; --follow keeps printing new ones until Ctrl-C");
  tail->add_option("-n", tail_n, "how many (without --since)")->capture_default_str();
  tail->add_option("--since", tail_since,
                   "every event since TIME: RFC 3339 (2026-11-23T10:00:00+01:00) or a duration "
                   "back from now (90s, 10m, 2h, 1d)");
  tail->add_flag("-f,--follow", tail_follow, "then print new events as they come, until Ctrl-C");
  add_json(tail);

  std::string decide_config, decide_state;
  auto* decide = app.add_subcommand("decide", "decide offline from a config and a state file");
  decide->add_option("--config", decide_config, "the site's YAML")->required();
  decide->add_option("--state", decide_state, "records JSON")->required();
  decide_args.AddTo(decide, true);
  add_json(decide);

  auto* wiegand = app.add_subcommand("wiegand", "Wiegand tools for installers (no gateway needed)");
  wiegand->require_subcommand(1);
  int wiegand_bits = 0;
  std::string wiegand_value;
  auto* wiegand_decode =
      wiegand->add_subcommand("decode", "every card format and keypad reading of one frame");
  wiegand_decode->add_option("--bits", wiegand_bits, "frame length, 1-64")->required();
  wiegand_decode
      ->add_option("VALUE", wiegand_value,
                   "0x<hex> or a binary string of exactly --bits digits, first bit first")
      ->required();
  add_json(wiegand_decode);

  auto* reader = app.add_subcommand("reader", "reader drivers: what they see");
  reader->require_subcommand(1);
  std::string last_reader;
  size_t last_n = 16;
  auto* reader_last = reader->add_subcommand(
      "last",
      "the last raw frames READER saw, every candidate decoding and the one its formats chose "
      "(keypad frames without digits)");
  reader_last->add_option("READER", last_reader, "the reader's id")->required();
  reader_last->add_option("-n", last_n, "how many (the daemon keeps 16)")->capture_default_str();
  add_json(reader_last);

  std::string watch_door, watch_reader;
  auto* watch = app.add_subcommand(
      "watch",
      "live: every decision, door, device and cloud event from now on, one line each, until "
      "Ctrl-C");
  watch->add_option("--door", watch_door, "only this door's events (and those of no door)");
  watch->add_option("--reader", watch_reader, "only this reader's events (and those of no reader)");
  add_json(watch);

  auto* door = app.add_subcommand("door", "door I/O tools for installers");
  door->require_subcommand(1);
  std::string test_door;
  bool test_yes = false;
  int test_watch_s = 10;
  auto* door_test = door->add_subcommand(
      "test",
      "pulse DOOR's lock once (refused while locked down or in fire release), then show its "
      "lock, contact and REX as they change");
  door_test->add_option("DOOR", test_door, "the door whose lock to pulse")->required();
  door_test->add_flag("-y,--yes", test_yes, "do not ask for confirmation (needed without a TTY)");
  door_test->add_option("--watch-s", test_watch_s, "how long to show changes, seconds")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  add_json(door_test);

  auto* lock = app.add_subcommand("lock", "BLE locks: pair, status, sync");
  lock->require_subcommand(1);
  std::string pair_door;
  auto* lock_pair = lock->add_subcommand(
      "pair",
      "pair with the lock of DOOR (hold the lock's button first); the daemon keeps the key");
  lock_pair->add_option("DOOR", pair_door, "the door whose lock to pair")->required();
  auto* lock_status = lock->add_subcommand(
      "status",
      "per lock: paired, reachable, battery, last sync, pending changes, codes not pushed");
  add_json(lock_status);
  auto* lock_sync = lock->add_subcommand("sync", "sync every lock now; prints lock status");
  add_json(lock_sync);

  CLI11_PARSE(app, argc, argv);

  json out;
  int rc = 0;
  auto print = [&as_json](const json& answer, auto human) {
    std::cout << (as_json ? answer.dump() + "\n" : human(answer));
  };
  if (*status) {
    if ((rc = Call(socket, {{"cmd", "status"}}, &out)) != 0) return rc;
    if (as_json) {
      std::cout << out.dump(2) << "\n";
    } else {
      bool color = lintel::ctl::UseColor(isatty(STDOUT_FILENO) == 1, std::getenv("NO_COLOR"));
      std::cout << lintel::ctl::FormatStatus(out, color);
    }
  } else if (*import) {
    return Import(socket, import_file, as_json);
  } else if (*present) {
    json req = present_args.ToJson();
    req["cmd"] = "present";
    if ((rc = Call(socket, req, &out)) != 0) return rc;
    print(out, lintel::ctl::FormatDecision);
  } else if (*explain) {
    json req = explain_args.ToJson();
    req["cmd"] = "explain";
    if ((rc = Call(socket, req, &out)) != 0) return rc;
    print(out, lintel::ctl::FormatExplain);
  } else if (*tail) {
    return EventsTail(socket, tail_n, tail_since, tail_follow, as_json);
  } else if (*reader_last) {
    if ((rc = Call(socket, {{"cmd", "reader.last"}, {"reader", last_reader}, {"n", last_n}},
                   &out)) != 0) {
      return rc;
    }
    print(out, lintel::ctl::FormatReaderLast);
  } else if (*watch) {
    return Watch(socket, watch_door, watch_reader, as_json);
  } else if (*door_test) {
    return DoorTest(socket, test_door, test_yes, test_watch_s, as_json);
  } else if (*lock_pair) {
    return LockPair(socket, pair_door);
  } else if (*lock_status || *lock_sync) {
    if ((rc = Call(socket, {{"cmd", *lock_sync ? "lock.sync" : "lock.status"}}, &out)) != 0) {
      return rc;
    }
    if (as_json) {
      std::cout << out.dump() << "\n";
    } else {
      PrintLockStatus(out["locks"]);
    }
  } else if (*decide) {
    return Decide(decide_config, decide_state, decide_args, as_json);
  } else if (*wiegand_decode) {
    return WiegandDecode(wiegand_bits, wiegand_value, as_json);
  }
  return 0;
}
