// The panels and intercom sections: IP intercom panels (2N, Akuvox) as readers and door actuators,
// the gateway's Action URL listener, and the reader of the panels' secret files.
#include "config/panels.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/loader.h"

namespace lintel::config::internal {

namespace {

constexpr std::string_view kPanelKeys[] = {
    "id",      "type",          "door",   "url",   "auth",   "user",           "password_file",
    "ca_file", "pinned_sha256", "switch", "relay", "keypad", "unlock_seconds", "action_url"};
constexpr std::string_view kActionUrlKeys[] = {"secret_file", "panel_address"};
constexpr std::string_view kIntercomKeys[] = {"listen"};
constexpr std::string_view kPanelTypes[] = {kPanelType2N, kPanelTypeAkuvox};
constexpr std::string_view kAuths[] = {"none", "basic", "digest"};
constexpr std::string_view kUrlExpected =
    "the panel's base URL \"http://host[:port]\" or \"https://host[:port]\" (host: a name, an IPv4 "
    "address or [IPv6]; no path, no user name)";
constexpr std::string_view kPinExpected =
    "the SHA-256 fingerprint of the panel's certificate: 64 hex digits, \":\" between pairs "
    "allowed (openssl x509 -noout -fingerprint -sha256)";
constexpr std::string_view kAddressExpected = "an IPv4 or IPv6 address such as 192.0.2.10";
constexpr std::string_view kListenExpected =
    "\"ADDRESS:PORT\" with an IP address and a port 1..65535, such as \"0.0.0.0:8090\" or "
    "\"[::]:8090\"";
constexpr std::string_view kUserExpected = "a user name without control characters or \":\"";
constexpr size_t kMaxPathBytes = 4095;  // PATH_MAX - 1 on Linux

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

bool IsIpLiteral(std::string_view s) {
  if (s.empty() || s.size() > 45) return false;
  std::string text(s);
  unsigned char buffer[16];
  return ::inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         ::inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

bool IsHostName(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '-' || s.front() == '.' || s.back() == '-') {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  });
}

// 1..65535 in decimal without leading zeros.
std::optional<int32_t> ParsePort(std::string_view s) {
  if (s.empty() || s.size() > 5 || s[0] == '0') return std::nullopt;
  int32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || v > 65535) return std::nullopt;
  return v;
}

// "host[:port]" or "[v6][:port]" (port optional when `need_port` is false). Sets *host.
bool SplitHostPort(std::string_view s, bool need_port, std::string* host,
                   std::optional<int32_t>* port) {
  std::string_view rest;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view v6 = s.substr(1, close - 1);
    unsigned char buffer[16];
    if (::inet_pton(AF_INET6, std::string(v6).c_str(), buffer) != 1) return false;
    *host = std::string(v6);
    rest = s.substr(close + 1);
  } else {
    size_t colon = s.rfind(':');
    std::string_view h = colon == std::string_view::npos ? s : s.substr(0, colon);
    if (!IsHostName(h)) return false;
    *host = std::string(h);
    rest = colon == std::string_view::npos ? std::string_view() : s.substr(colon);
  }
  if (rest.empty()) return !need_port;
  if (rest.front() != ':') return false;
  std::optional<int32_t> p = ParsePort(rest.substr(1));
  if (!p) return false;
  *port = p;
  return true;
}

bool IsPanelUrl(std::string_view s) {
  std::string_view rest;
  if (s.substr(0, 7) == "http://") {
    rest = s.substr(7);
  } else if (s.substr(0, 8) == "https://") {
    rest = s.substr(8);
  } else {
    return false;
  }
  std::string host;
  std::optional<int32_t> port;
  return SplitHostPort(rest, false, &host, &port);
}

bool IsPin(std::string_view s) {
  size_t digits = 0;
  for (char c : s) {
    if (c == ':') continue;
    if (!IsHex(c)) return false;
    ++digits;
  }
  return digits == 64 && s.front() != ':' && s.back() != ':';
}

bool IsUser(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ':';
  });
}

bool IsListen(std::string_view s) {
  std::string host;
  std::optional<int32_t> port;
  return SplitHostPort(s, true, &host, &port) && IsIpLiteral(host);
}

// An absolute file path (the daemon, lintelctl and --check-config run in different directories).
std::optional<Field<std::string>> AbsolutePath(Loader& l, MapWalker& w, std::string_view key,
                                               Need need, std::string_view example) {
  auto v = w.String(key, need, "an absolute file path");
  if (!v) return std::nullopt;
  if (v->value.front() != '/' || v->value.back() == '/') {
    l.problems.Add(v->pos, std::string(key) + " must be an absolute path of a file (such as " +
                               std::string(example) +
                               "): the daemon and --check-config run in different directories, "
                               "got " +
                               Quote(v->value));
    return std::nullopt;
  }
  if (v->value.size() > kMaxPathBytes) {
    l.problems.Add(v->pos, std::string(key) + " must be a path of at most " +
                               std::to_string(kMaxPathBytes) + " bytes");
    return std::nullopt;
  }
  return v;
}

void ParsePanel(Loader& l, MapWalker& w) {
  PanelConfig panel;
  const std::string who = w.name();
  if (auto id = w.Id("id", Need::kRequired)) {
    panel.id = id->value;
    CheckUnique(l, l.panel_ids, "panel id", *id);
    l.panel_id_refs.push_back({who, id->value, id->pos});
  }
  std::optional<Field<std::string>> type = w.OneOf("type", Need::kRequired, kPanelTypes);
  if (type) panel.type = type->value;
  const bool is_2n = type && type->value == kPanelType2N;
  const bool is_akuvox = type && type->value == kPanelTypeAkuvox;
  if (auto door = w.Id("door", Need::kRequired)) {
    panel.door = door->value;
    l.door_refs.push_back({who, door->value, door->pos});
    l.panel_door_refs.push_back({who, door->value, door->pos});
  }
  std::optional<Field<std::string>> url = w.Id("url", Need::kRequired, kUrlExpected, IsPanelUrl);
  if (url) {
    panel.url = url->value;
    Claim(l, "panel URL " + url->value, who, url->pos);
  }
  const bool https = url && url->value.substr(0, 8) == "https://";
  std::optional<Field<std::string>> auth = w.OneOf("auth", Need::kOptional, kAuths);
  if (auth) {
    panel.auth = auth->value == "basic"    ? PanelAuth::kBasic
                 : auth->value == "digest" ? PanelAuth::kDigest
                                           : PanelAuth::kNone;
  }
  const bool credentials = panel.auth != PanelAuth::kNone;
  // With auth basic/digest, user and password_file are required; with none they are refused.
  if (auto v =
          w.Id("user", credentials ? Need::kRequired : Need::kOptional, kUserExpected, IsUser)) {
    if (credentials) {
      panel.user = v->value;
    } else {
      l.problems.Add(v->pos, who + ": user needs auth: basic or auth: digest (auth is " +
                                 std::string(PanelAuthName(panel.auth)) + ")");
    }
  }
  if (auto v = AbsolutePath(l, w, "password_file", credentials ? Need::kRequired : Need::kOptional,
                            "/etc/lintel/panels/lobby.password")) {
    if (credentials) {
      panel.password_file = v->value;
      l.secret_files.emplace_back(v->value, v->pos);
    } else {
      l.problems.Add(v->pos, who + ": password_file needs auth: basic or auth: digest (auth is " +
                                 std::string(PanelAuthName(panel.auth)) + ")");
    }
  }
  std::optional<Field<std::string>> ca =
      AbsolutePath(l, w, "ca_file", Need::kOptional, "/etc/lintel/panels/ca.pem");
  std::optional<Field<std::string>> pin =
      w.Id("pinned_sha256", Need::kOptional, kPinExpected, IsPin);
  if (ca) panel.ca_file = ca->value;
  if (pin) panel.pinned_sha256 = pin->value;
  if (url && !https) {
    for (const auto* f : {&ca, &pin}) {
      if (*f) {
        l.problems.Add((*f)->pos, who + ": " + (f == &ca ? "ca_file" : "pinned_sha256") +
                                      " is for https panels; url is http");
      }
    }
  } else if (https) {
    if (ca && pin) {
      l.problems.Add(pin->pos, who +
                                   ": give either ca_file or pinned_sha256, not both (a pinned "
                                   "certificate is not checked against a CA)");
    } else if (!ca && !pin && !w.Has("ca_file") && !w.Has("pinned_sha256")) {
      l.problems.Add(url->pos, who +
                                   ": an https panel needs ca_file (the CA that signed its "
                                   "certificate) or pinned_sha256 (its certificate's "
                                   "fingerprint)");
    }
  }
  // The output: switch on 2N panels, relay on Akuvox panels.
  if (auto v = w.Int("switch", Need::kOptional, 1, 4, " (the 2N switch that opens the door)")) {
    if (is_akuvox) {
      l.problems.Add(v->pos, who +
                                 ": an Akuvox panel opens the door with a relay: write relay, "
                                 "not switch");
    } else {
      panel.output = v->value;
    }
  }
  if (auto v = w.Int("relay", Need::kOptional, 1, 4, " (the Akuvox relay that opens the door)")) {
    if (is_2n) {
      l.problems.Add(v->pos, who +
                                 ": a 2N panel opens the door with a switch: write switch, "
                                 "not relay");
    } else {
      panel.output = v->value;
    }
  }
  if (auto v = w.Bool("keypad", Need::kOptional)) panel.keypad = v->value;
  if (auto v = w.Int("unlock_seconds", Need::kOptional, 1, 600)) panel.unlock_seconds = v->value;
  w.Mapping("action_url", is_akuvox ? Need::kRequired : Need::kOptional, kActionUrlKeys,
            [&](MapWalker& a) {
              if (is_2n) {
                l.problems.Add(a.pos(), who +
                                            ": action_url is for Akuvox panels (a 2N panel's "
                                            "events are pulled from its log)");
                return;
              }
              PanelActionUrlConfig c;
              if (auto v = AbsolutePath(l, a, "secret_file", Need::kRequired,
                                        "/etc/lintel/panels/gate.secret")) {
                c.secret_file = v->value;
                l.secret_files.emplace_back(v->value, v->pos);
              }
              if (auto v = a.Id("panel_address", Need::kRequired, kAddressExpected, IsIpLiteral)) {
                c.panel_address = v->value;
              }
              panel.action_url = c;
            });
  if (is_akuvox) l.akuvox_panels.push_back({who, panel.id, type->pos});
  l.config.panels.push_back(std::move(panel));
}

void ParseIntercom(Loader& l, MapWalker& w) {
  l.saw_intercom = true;
  if (auto v = w.Id("listen", Need::kRequired, kListenExpected, IsListen)) {
    std::string host;
    std::optional<int32_t> port;
    SplitHostPort(v->value, true, &host, &port);
    l.config.intercom.listen_address = host;
    l.config.intercom.listen_port = *port;
  }
}

}  // namespace

void CheckPanels(Loader& l) {
  // A door has one actuator: its io lock point, its BLE lock, or one panel.
  std::map<std::string, const Loader::DoorRef*, std::less<>> first_panel;
  std::map<std::string, const Loader::DoorRef*, std::less<>> locks;
  for (const Loader::DoorRef& ref : l.lock_door_refs) locks.emplace(ref.door, &ref);
  for (const Loader::DoorRef& ref : l.panel_door_refs) {
    if (auto [it, inserted] = first_panel.emplace(ref.door, &ref); !inserted) {
      l.problems.Add(ref.pos, ref.from + ": door " + Quote(ref.door) + " already has " +
                                  it->second->from + " (at " + PosText(it->second->pos) +
                                  "); a door has one actuator: one panel per door");
      continue;
    }
    if (auto io = l.doors_with_io.find(ref.door); io != l.doors_with_io.end()) {
      l.problems.Add(ref.pos, ref.from + ": door " + Quote(ref.door) +
                                  " is wired to an I/O lock point (its io at " +
                                  PosText(io->second) +
                                  "); a door has one actuator: remove its io or this panel");
    }
    if (auto lock = locks.find(ref.door); lock != locks.end()) {
      l.problems.Add(ref.pos, ref.from + ": door " + Quote(ref.door) + " already has " +
                                  lock->second->from + " (at " + PosText(lock->second->pos) +
                                  "); a door has one actuator: remove the lock or this panel");
    }
  }
  // A panel is a reader: its id names its decisions and its keypad lockout.
  for (const Loader::DoorRef& ref : l.panel_id_refs) {
    if (auto r = l.reader_ids.find(ref.door); r != l.reader_ids.end()) {
      l.problems.Add(ref.pos, ref.from + ": id " + Quote(ref.door) + " is also a reader's (at " +
                                  PosText(r->second) +
                                  "); a panel is a reader: give it an id of its own");
    }
  }
  // The daemon writes lock credentials files when it pairs: never over a panel's secret.
  for (const auto& [path, pos] : l.secret_files) {
    if (auto it = l.claims.find("credentials file " + path); it != l.claims.end()) {
      l.problems.Add(pos, "secret file " + path + " is also the credentials file of " +
                              it->second.first + " (at " + PosText(it->second.second) +
                              "); pairing would overwrite it: give each its own file");
    }
  }
  if (!l.akuvox_panels.empty() && !l.saw_intercom) {
    const Loader::DoorRef& first = l.akuvox_panels.front();
    l.problems.Add(first.pos, first.from +
                                  ": an Akuvox panel sends its codes and cards to the gateway's "
                                  "Action URL listener: add intercom: {listen: \"0.0.0.0:8090\"} "
                                  "(the address and port it binds)");
  }
}

constinit const SectionSpec kPanelsSection = {"panels",   Need::kOptional, Shape::kList, kPanelKeys,
                                              ParsePanel, "panel",         "id"};
constinit const SectionSpec kIntercomSection = {"intercom", Need::kOptional, Shape::kMapping,
                                                kIntercomKeys, ParseIntercom};

}  // namespace lintel::config::internal

namespace lintel::config {

std::string_view PanelAuthName(PanelAuth auth) {
  switch (auth) {
    case PanelAuth::kNone:
      return "none";
    case PanelAuth::kBasic:
      return "basic";
    case PanelAuth::kDigest:
      return "digest";
  }
  return "none";
}

const PanelConfig* FindPanelForDoor(const Config& c, std::string_view door) {
  for (const PanelConfig& p : c.panels) {
    if (p.door == door) return &p;
  }
  return nullptr;
}

Result<std::string> ReadPanelSecretFile(const std::string& path, PanelSecretKind kind) {
  const std::string what =
      kind == PanelSecretKind::kPassword ? "panel password file " : "Action URL secret file ";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(what + path + " does not exist");
    return Status::IoError("cannot open " + what + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::IoError("cannot stat " + what + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::FailedPrecondition(what + path + " is not a regular file");
  }
  if ((st.st_mode & (S_IRWXO | S_IWGRP)) != 0) {
    ::close(fd);
    return Status::FailedPrecondition(
        what + path +
        ((st.st_mode & S_IRWXO) != 0 ? " is accessible by other users"
                                     : " is writable by its group") +
        ": chmod 0600 (owned by the daemon's user) or 0640 (root:lintel)");
  }
  constexpr size_t kLimit = 512;
  std::string text(kLimit + 1, '\0');
  size_t size = 0;
  while (size < text.size()) {
    ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::IoError("cannot read " + what + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(size);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  auto bad = [&](std::string_view rule) {
    std::fill(text.begin(), text.end(), '\0');
    return Status::InvalidArgument(what + path + " must hold " + std::string(rule));
  };
  if (kind == PanelSecretKind::kPassword) {
    if (text.empty() || text.size() > 256 || std::any_of(text.begin(), text.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
        })) {
      return bad("the panel's password on one line: 1 to 256 bytes without control characters");
    }
    return text;
  }
  if (text.size() < 16 || text.size() > 128 || !std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '~' || c == '-';
      })) {
    return bad("the Action URL secret on one line: 16 to 128 characters from A-Z a-z 0-9 . _ ~ -");
  }
  return text;
}

}  // namespace lintel::config
