#include "tools/lintelctl_format.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

#include "gateway/base/time.h"

namespace lintel::ctl {

namespace {

using nlohmann::json;

// A member of an object, or null (missing, or `j` not an object).
const json& Get(const json& j, std::string_view key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// `v` when it is an object (an array), else an empty one: safe to iterate.
const json& Obj(const json& v) {
  static const json kEmpty = json::object();
  return v.is_object() ? v : kEmpty;
}
const json& Arr(const json& v) {
  static const json kEmpty = json::array();
  return v.is_array() ? v : kEmpty;
}

std::string Text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

bool True(const json& v) { return v.is_boolean() && v.get<bool>(); }
bool False(const json& v) { return v.is_boolean() && !v.get<bool>(); }
uint64_t Count(const json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)
             ? v.get<uint64_t>()
             : 0;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string Plural(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string Duration(int64_t s) {
  if (s < 0) s = 0;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "min " + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h " + std::to_string(s / 60 % 60) + "min";
  return std::to_string(s / 86400) + "d " + std::to_string(s / 3600 % 24) + "h";
}

StatusLine Cloud(const json& status) {
  const json& c = Get(status, "cloud");
  if (!c.is_object()) return {"cloud", false, "not configured (state from local imports)"};
  std::vector<std::string> problems;
  if (!True(Get(c, "connected"))) problems.push_back("disconnected");
  for (const auto& [name, comp] : Obj(Get(c, "components")).items()) {
    if (False(Get(comp, "ok"))) {
      problems.push_back(name + " failed: " + Text(Get(comp, "error")));
    }
  }
  if (True(Get(c, "index_failed"))) problems.push_back("index build failed");
  std::string text = Join(problems, "; ");
  if (problems.empty()) text = "connected (session " + Text(Get(c, "session")) + ")";
  text += ", applied " + Text(Get(c, "epoch")) + "." + Text(Get(c, "version"));
  const json& head = Get(c, "head");
  if (head.is_object() &&
      (Get(head, "epoch") != Get(c, "epoch") || Get(head, "version") != Get(c, "version"))) {
    text += " (cloud head " + Text(Get(head, "epoch")) + "." + Text(Get(head, "version")) + ")";
  }
  text += ", outbox " + Plural(Count(Get(c, "outbox")), "event", "events");
  uint64_t rejected = Count(Get(Get(c, "counters"), "rejected"));
  if (rejected > 0) text += ", " + std::to_string(rejected) + " messages rejected";
  if (True(Get(c, "staff_only"))) {
    problems.push_back("staff only");
    text += ", STAFF ONLY";
  }
  return {"cloud", !problems.empty(), text};
}

StatusLine Readers(const json& status) {
  const json& r = Get(status, "readers");
  if (!r.is_object() || r.empty()) return {"readers", false, "no reader drivers"};
  std::vector<std::string> failed, running;
  uint64_t granted = 0, denied = 0;
  for (const auto& [id, s] : r.items()) {
    granted += Count(Get(s, "granted"));
    denied += Count(Get(s, "denied"));
    if (Get(s, "state") == "running") {
      std::string fb = Get(s, "feedback").is_string() && Get(s, "feedback") != "ok"
                           ? " (feedback: " + Text(Get(s, "feedback")) + ")"
                           : "";
      running.push_back(id + fb);
      if (!fb.empty()) failed.push_back(id + " feedback: " + Text(Get(s, "feedback")));
    } else {
      failed.push_back(id + " " + Text(Get(s, "state")) + ": " + Text(Get(s, "error")));
    }
  }
  std::string text;
  if (!failed.empty()) text = Join(failed, "; ") + "; ";
  text += std::to_string(running.size()) + " of " + std::to_string(r.size()) + " running";
  text += ", " + std::to_string(granted) + " granted, " + std::to_string(denied) + " denied";
  return {"readers", !failed.empty(), text};
}

StatusLine DoorIo(const json& status) {
  const json& d = Get(status, "door_io");
  const json& modules = Get(d, "modules");
  const json& doors = Get(d, "doors");
  if ((!modules.is_object() || modules.empty()) && (!doors.is_object() || doors.empty())) {
    return {"door I/O", false, "no I/O modules"};
  }
  std::vector<std::string> problems, fine;
  if (True(Get(d, "fire_release"))) problems.push_back("FIRE RELEASE: doors released");
  size_t online = 0;
  for (const auto& [id, m] : Obj(modules).items()) {
    if (True(Get(m, "online"))) {
      ++online;
    } else {
      std::string why =
          Get(m, "last_error").is_string() ? Text(Get(m, "last_error")) : Text(Get(m, "error"));
      problems.push_back("module " + id + " offline: " + why);
    }
  }
  for (const auto& [id, s] : Obj(doors).items()) {
    std::string state = Text(Get(s, "lock")) + (True(Get(s, "open")) ? " open" : " closed");
    if (Get(s, "mode").is_string() && Get(s, "mode") != "normal")
      state += " " + Text(Get(s, "mode"));
    if (True(Get(s, "lock_fault"))) {
      problems.push_back("door " + id + " lock fault (wanted " + Text(Get(s, "wanted")) + ", is " +
                         Text(Get(s, "lock")) + ")");
    } else if (True(Get(s, "held_open"))) {
      problems.push_back("door " + id + " held open");
    }
    fine.push_back(id + " " + state);
  }
  std::string text;
  if (!problems.empty()) text = Join(problems, "; ") + "; ";
  text += std::to_string(online) + " of " + std::to_string(modules.size()) + " modules online";
  if (!fine.empty()) text += "; " + Join(fine, ", ");
  return {"door I/O", !problems.empty(), text};
}

StatusLine Locks(const json& status) {
  const json& l = Get(status, "locks");
  if (!l.is_array() || l.empty()) return {"locks", false, "no BLE locks"};
  std::vector<std::string> problems, fine;
  for (const json& lock : l) {
    std::string id = Text(Get(lock, "door")) + "/" + Text(Get(lock, "lock"));
    std::vector<std::string> wrong;
    if (False(Get(lock, "paired"))) wrong.push_back("not paired");
    if (False(Get(lock, "reachable"))) wrong.push_back("unreachable");
    if (True(Get(lock, "jammed"))) wrong.push_back("jammed");
    if (True(Get(lock, "battery_critical"))) wrong.push_back("battery low");
    const json& sync = Get(lock, "sync");
    if (Count(Get(sync, "failures")) > 0) {
      wrong.push_back("sync failing (" + Text(Get(sync, "failures")) + ")");
    }
    for (const char* key : {"credentials_error", "pin_error", "adapter_error"}) {
      if (Get(lock, key).is_string()) wrong.push_back(Text(Get(lock, key)));
    }
    if (!wrong.empty()) {
      problems.push_back(id + " " + Join(wrong, ", "));
      continue;
    }
    std::string s = id + " " + Text(Get(lock, "state"));
    if (Get(lock, "battery_percent").is_number())
      s += " " + Text(Get(lock, "battery_percent")) + "%";
    fine.push_back(s);
  }
  std::string text;
  if (!problems.empty()) text = Join(problems, "; ") + "; ";
  text += std::to_string(fine.size()) + " of " + std::to_string(l.size()) + " fine";
  if (!fine.empty()) text += ": " + Join(fine, ", ");
  return {"locks", !problems.empty(), text};
}

StatusLine Panels(const json& status) {
  const json& p = Get(status, "panels");
  const json& listener = Get(status, "intercom");
  std::vector<std::string> problems, fine;
  if (listener.is_object() && Get(listener, "state") != "listening") {
    problems.push_back("Action URL listener " + Text(Get(listener, "listen")) + " " +
                       Text(Get(listener, "state")) + ": " + Text(Get(listener, "error")));
  }
  if ((!p.is_object() || p.empty()) && problems.empty()) {
    return {"panels", false, "no intercom panels"};
  }
  for (const auto& [id, s] : Obj(p).items()) {
    if (Get(s, "state") != "running") {
      problems.push_back(id + " " + Text(Get(s, "state")) + ": " + Text(Get(s, "error")));
    } else if (False(Get(s, "online"))) {
      problems.push_back(id + " offline (" + Text(Get(s, "fault")) +
                         "): " + Text(Get(s, "reason")));
    } else {
      fine.push_back(id + (True(Get(s, "online")) ? " online" : " connecting"));
    }
  }
  std::string text;
  if (!problems.empty()) text = Join(problems, "; ") + "; ";
  text +=
      std::to_string(fine.size()) + " of " + std::to_string(p.is_object() ? p.size() : 0) + " fine";
  if (!fine.empty()) text += ": " + Join(fine, ", ");
  return {"panels", !problems.empty(), text};
}

StatusLine Store(const json& status) {
  const json& st = Get(status, "store");
  const json& ev = Get(status, "events");
  std::vector<std::string> problems;
  if (True(Get(st, "read_only"))) problems.push_back("read-only");
  if (False(Get(st, "writable")) && !True(Get(st, "read_only"))) {
    problems.push_back("cannot write: " + Text(Get(st, "error")));
  }
  if (Get(st, "read_error").is_string())
    problems.push_back("read error: " + Text(Get(st, "read_error")));
  if (Count(Get(ev, "unwritten")) > 0) {
    problems.push_back(Plural(Count(Get(ev, "unwritten")), "event", "events") + " not written");
  }
  if (Count(Get(ev, "lost")) > 0) {
    problems.push_back(Plural(Count(Get(ev, "lost")), "event", "events") + " lost");
  }
  std::string text;
  if (!problems.empty()) text = Join(problems, "; ") + "; ";
  if (problems.empty()) text = "writable; ";
  const json& state = Get(status, "state");
  const json& applied = Get(status, "applied");
  text += "state " + Text(Get(applied, "epoch")) + "." + Text(Get(applied, "version")) + " (" +
          Plural(Count(Get(state, "people")), "person", "people") + ", " +
          Plural(Count(Get(state, "credentials")), "credential", "credentials") + ", " +
          Plural(Count(Get(state, "leases")), "lease", "leases") + "); journal " +
          Plural(Count(Get(ev, "queued")), "event", "events") + ", last seq " +
          Text(Get(ev, "last_seq"));
  return {"store", !problems.empty(), text};
}

StatusLine ClockLine(const json& status) {
  std::vector<std::string> problems;
  if (False(Get(status, "clock_synced"))) problems.push_back("not synchronized (NTP)");
  if (True(Get(status, "clock_suspect"))) problems.push_back("suspect: far ahead of trusted time");
  std::string text = Text(Get(status, "now"));
  text += problems.empty() ? ", synchronized" : ", " + Join(problems, ", ");
  text += ", " + Text(Get(status, "time_zone"));
  if (Get(status, "uptime_s").is_number_integer()) {
    text += ", up " + Duration(Get(status, "uptime_s").get<int64_t>());
  }
  return {"clock", !problems.empty(), text};
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string CandidateLine(const json& c) {
  std::string s = Pad(Text(Get(c, "format")), 8);
  if (!Get(c, "facility").is_null()) s += "facility " + Pad(Text(Get(c, "facility")), 6) + " ";
  s += "number " + Text(Get(c, "number"));
  if (Get(c, "format") != "raw") s += True(Get(c, "parity_ok")) ? "  parity ok" : "  parity BAD";
  return s;
}

}  // namespace

bool UseColor(bool fd_is_tty, const char* no_color_env) {
  return fd_is_tty && (no_color_env == nullptr || *no_color_env == '\0');
}

std::vector<StatusLine> SummarizeStatus(const json& status) {
  std::vector<StatusLine> lines = {Cloud(status),  Readers(status), DoorIo(status),   Locks(status),
                                   Panels(status), Store(status),   ClockLine(status)};
  std::stable_sort(lines.begin(), lines.end(), [](const StatusLine& a, const StatusLine& b) {
    return a.problem && !b.problem;
  });
  return lines;
}

std::string FormatStatus(const json& status, bool color) {
  std::vector<StatusLine> lines = SummarizeStatus(status);
  size_t problems = std::count_if(lines.begin(), lines.end(), [](auto& l) { return l.problem; });
  std::ostringstream out;
  out << "lintel " << Text(Get(status, "site")) << "/" << Text(Get(status, "gateway")) << ": ";
  if (problems == 0) {
    out << "running, no problems\n";
  } else {
    if (color) out << "\x1b[1;31m";
    out << Plural(problems, "subsystem needs", "subsystems need") << " attention";
    if (color) out << "\x1b[0m";
    out << "\n";
  }
  for (const StatusLine& l : lines) {
    std::string line = (l.problem ? "! " : "  ") + Pad(l.subsystem, 10) + l.text;
    if (l.problem && color) line = "\x1b[1;31m" + line + "\x1b[0m";
    out << line << "\n";
  }
  return out.str();
}

std::string FormatDecision(const json& d) {
  std::string s = Text(Get(d, "result")) + "  door " + Text(Get(d, "door"));
  for (const char* key : {"person", "credential", "lease", "group", "via"}) {
    if (Get(d, key).is_string()) s += "  " + std::string(key) + " " + Text(Get(d, key));
  }
  s += "  (" + Text(Get(d, "reason")) + ") at " + Text(Get(d, "at"));
  for (const char* flag : {"clock_went_back", "clock_suspect", "lockout_started"}) {
    if (True(Get(d, flag))) s += "  [" + std::string(flag) + "]";
  }
  return s + "\n";
}

std::string FormatExplain(const json& r) {
  std::ostringstream out;
  out << "door " << Text(Get(r, "door")) << " at " << Text(Get(r, "at")) << "\n";
  const json& checks = Get(r, "checks");
  size_t n = checks.is_array() ? checks.size() : 0;
  for (size_t i = 0; i < n; ++i) {
    const json& c = checks[i];
    out << "  " << (i + 1) << ". " << Pad(Text(Get(c, "check")), 21) << " "
        << (True(Get(c, "passed")) ? "ok    " : "FAIL  ") << Text(Get(c, "detail"))
        << (i + 1 == n ? "   <- decides" : "") << "\n";
  }
  out << "result: " << Text(Get(r, "result")) << " (" << Text(Get(r, "reason")) << ")\n";
  return out.str();
}

// `ts` with the milliseconds of `ts_millis` when the event has them (journaled since issue 14):
// 2026-12-02T11:52:58.123Z.
std::string EventTime(const json& e) {
  std::string ts = Text(Get(e, "ts"));
  const json& ms = Get(e, "ts_millis");
  if (!ms.is_number_integer() || ts.size() != 20 || ts.back() != 'Z') return ts;
  const int64_t millis = ms.get<int64_t>();
  if (millis < 0 || FormatRfc3339(FromUnix(millis / 1000)) != ts) return ts;
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(millis % 1000));
  return ts.substr(0, 19) + frac + "Z";
}

std::string FormatEvent(const json& e) {
  std::string s = EventTime(e) + "  #" + Text(Get(e, "seq")) + "  " + Text(Get(e, "type"));
  if (e.is_object()) {
    for (const auto& [k, v] : e.items()) {
      if (k == "ts" || k == "ts_millis" || k == "seq" || k == "type" || k == "id" ||
          k == "clock_synced")
        continue;
      s += "  " + k + "=" + Text(v);
    }
  }
  if (False(Get(e, "clock_synced"))) s += "  (clock not synced)";
  return s + "\n";
}

bool WatchShows(const json& e, std::string_view door, std::string_view reader) {
  const json& d = Get(e, "door");
  if (!door.empty() && d.is_string() && d.get_ref<const std::string&>() != door) return false;
  const json& r = Get(e, "reader");
  if (!reader.empty() && r.is_string() && r.get_ref<const std::string&>() != reader) return false;
  return true;
}

std::string FormatWatchLine(const json& e) {
  std::string ts = Text(Get(e, "ts"));
  if (size_t t = ts.find('T'); t != std::string::npos) {
    ts = ts.substr(t + 1);
    size_t zone = ts.find_first_of("Z+-");
    if (zone != std::string::npos) ts.resize(zone);
  }
  std::string s = Pad(ts, 12) + "  " + Pad(Text(Get(e, "type")), 20);
  for (const char* key : {"door", "reader"}) {
    if (Get(e, key).is_string()) s += "  " + std::string(key) + " " + Text(Get(e, key));
  }
  if (Get(e, "result").is_string()) {
    s += "  " + Text(Get(e, "result")) + " (" + Text(Get(e, "reason")) + ")";
  }
  if (e.is_object()) {
    for (const auto& [k, v] : e.items()) {
      if (k == "ts" || k == "seq" || k == "type" || k == "id" || k == "clock_synced" ||
          k == "door" || k == "reader" || k == "result" || k == "reason" || k == "at") {
        continue;
      }
      s += "  " + k + "=" + Text(v);
    }
  }
  if (False(Get(e, "clock_synced"))) s += "  (clock not synced)";
  return s + "\n";
}

std::vector<std::string> DoorTestChanges(const json& before, const json& now) {
  struct Field {
    const char* key;
    const char* name;
    const char* on;
    const char* off;
  };
  // "lock" is a word already; "open" and "rex" are booleans (rex null: not wired or not read).
  static constexpr Field kFields[] = {
      {"lock", "lock", nullptr, nullptr},
      {"open", "door", "open", "closed"},
      {"rex", "REX", "pressed", "not pressed"},
  };
  auto word = [](const Field& f, const json& v) -> std::string {
    if (f.on != nullptr && v.is_boolean()) return v.get<bool>() ? f.on : f.off;
    return v.is_null() ? "unknown" : Text(v);
  };
  std::vector<std::string> out;
  for (const Field& f : kFields) {
    if (!now.is_object() || !now.contains(f.key)) continue;
    const json& v = Get(now, f.key);
    if (before.is_null()) {
      out.push_back(std::string(f.name) + " " + word(f, v));
    } else if (Get(before, f.key) != v) {
      out.push_back(std::string(f.name) + " " + word(f, Get(before, f.key)) + " -> " + word(f, v));
    }
  }
  return out;
}

std::string FormatImport(const json& answer) {
  const json& counts = Get(answer, "imported");
  std::vector<std::string> parts;
  if (counts.is_object()) {
    for (const auto& [k, v] : counts.items()) parts.push_back(Text(v) + " " + k);
  }
  return "imported: " + Join(parts, ", ") + "\n";
}

std::string FormatWiegandDecode(const json& d) {
  std::ostringstream out;
  out << Text(Get(d, "bits")) << " bits  " << Text(Get(d, "value")) << "  "
      << Text(Get(d, "binary")) << "\n";
  const json& cands = Get(d, "candidates");
  for (const json& c : Arr(cands)) {
    out << "  " << CandidateLine(c) << "\n";
  }
  const json& keypad = Get(d, "keypad");
  if (keypad.is_object()) {
    for (const auto& [k, v] : keypad.items()) out << "  keypad " << k << ": " << Text(v) << "\n";
  }
  return out.str();
}

std::string FormatReaderLast(const json& a) {
  std::ostringstream out;
  std::vector<std::string> formats;
  const json& fs = Get(a, "formats");
  for (const json& f : Arr(fs)) formats.push_back(Text(f));
  const json& frames = Get(a, "frames");
  size_t n = frames.is_array() ? frames.size() : 0;
  out << "reader " << Text(Get(a, "reader")) << " (door " << Text(Get(a, "door")) << ", formats "
      << Join(formats, ", ") << "): " << Plural(n, "frame", "frames") << ", oldest first\n";
  for (size_t i = 0; i < n; ++i) {
    const json& f = frames[i];
    std::string when = Text(Get(f, "at"));
    if (Get(f, "ago_ms").is_number()) {
      char ago[32];
      std::snprintf(ago, sizeof ago, " (%.1f s ago)", Get(f, "ago_ms").get<double>() / 1000.0);
      when += ago;
    }
    out << "  " << when << "  ";
    if (Get(f, "bits").is_number() && Get(f, "bits").get<int>() > 0) {
      out << Text(Get(f, "bits")) << " bits  ";
    } else if (Get(f, "edges").is_number()) {
      out << Text(Get(f, "edges")) << " edges  ";
    }
    if (True(Get(f, "keypad"))) {
      out << "pin/keypad (" << Text(Get(f, "what")) << ")\n";
      continue;
    }
    if (Get(f, "value").is_string()) out << Text(Get(f, "value")) << "  ";
    out << Text(Get(f, "what"));
    const json& chosen = Get(f, "chosen");
    if (chosen.is_object()) out << " -> " << Text(Get(chosen, "format"));
    out << "\n";
    const json& cands = Get(f, "candidates");
    for (const json& c : Arr(cands)) {
      bool is_chosen = chosen.is_object() && Get(c, "format") == Get(chosen, "format");
      out << "      " << CandidateLine(c) << (is_chosen ? "   <- chosen" : "") << "\n";
    }
  }
  return out.str();
}

std::optional<int64_t> ParseSince(std::string_view text, int64_t now_unix) {
  if (text.size() >= 2) {
    std::string_view digits = text.substr(0, text.size() - 1);
    bool all_digits = std::all_of(digits.begin(), digits.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    int64_t unit = 0;
    switch (text.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
    }
    if (all_digits && unit > 0 && digits.size() <= 9) {
      return now_unix - std::stoll(std::string(digits)) * unit;
    }
  }
  Result<Instant> t = ParseRfc3339(text);
  if (!t.ok()) return std::nullopt;
  return ToUnix(*t);
}

}  // namespace lintel::ctl
