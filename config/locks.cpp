// The locks section: BLE smart locks as door actuators, and the reader of their PIN files.
#include "config/locks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/loader.h"

namespace lintel::config::internal {

namespace {

constexpr std::string_view kLockKeys[] = {"id",
                                          "type",
                                          "door",
                                          "address",
                                          "adapter",
                                          "credentials",
                                          "security_pin_file",
                                          "sync",
                                          "poll_minutes",
                                          "unlock_action",
                                          "disconnect_after_ms"};
constexpr std::string_view kLockSyncKeys[] = {"codes", "authorizations", "name_prefix"};
constexpr std::string_view kLockTypes[] = {"nuki"};
constexpr std::string_view kUnlockActions[] = {"unlatch", "unlock"};
constexpr std::string_view kAddressExpected =
    "a Bluetooth address like 54:D2:72:AB:CD:EF (six pairs of hex digits separated by \":\")";
constexpr std::string_view kAdapterExpected = "a Bluetooth adapter name such as hci0";
constexpr std::string_view kAbsolutePathExpected = "an absolute file path";
constexpr std::string_view kPrefixExpected = "up to 8 printable ASCII characters";
static_assert(kMaxLockNamePrefix == 8, "kPrefixExpected names the limit");
constexpr size_t kMaxPathBytes = 4095;  // PATH_MAX - 1 on Linux

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

bool IsBleAddress(std::string_view s) {
  if (s.size() != 17) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i % 3 == 2 ? s[i] != ':' : !IsHex(s[i])) return false;
  }
  return true;
}

// "hci" and a number without leading zeros (BlueZ names its adapters hci0, hci1, ...).
bool IsAdapterName(std::string_view s) {
  if (s.size() < 4 || s.size() > 6 || s.substr(0, 3) != "hci") return false;
  std::string_view digits = s.substr(3);
  if (digits.size() > 1 && digits[0] == '0') return false;
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

// An absolute path the daemon, lintelctl and --check-config all read the same way, whatever
// directory each runs in. Reports a relative or over-long one.
std::optional<Field<std::string>> AbsolutePath(Loader& l, MapWalker& w, std::string_view key) {
  auto v = w.String(key, Need::kRequired, kAbsolutePathExpected);
  if (!v) return std::nullopt;
  if (v->value.front() != '/' || v->value.back() == '/') {
    l.problems.Add(v->pos, std::string(key) +
                               " must be an absolute path of a file (such as "
                               "/var/lib/lintel/locks/front.nuki): the daemon, lintelctl and "
                               "--check-config run in different directories, got " +
                               Quote(v->value));
    return std::nullopt;
  }
  if (v->value.size() > kMaxPathBytes) {
    l.problems.Add(v->pos, std::string(key) + " must be a path of at most " +
                               std::to_string(kMaxPathBytes) + " bytes, got " +
                               std::to_string(v->value.size()) + " bytes");
    return std::nullopt;
  }
  return v;
}

bool IsNamePrefix(std::string_view s) {
  if (s.empty() || s.size() > kMaxLockNamePrefix) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

void ParseLock(Loader& l, MapWalker& w) {
  LockConfig lock;
  const std::string who = w.name();
  if (auto id = w.Id("id", Need::kRequired)) {
    lock.id = id->value;
    CheckUnique(l, l.lock_ids, "lock id", *id);
  }
  if (auto v = w.OneOf("type", Need::kRequired, kLockTypes)) lock.type = v->value;
  if (auto door = w.Id("door", Need::kRequired)) {
    lock.door = door->value;
    l.door_refs.push_back({who, door->value, door->pos});
    l.lock_door_refs.push_back({who, door->value, door->pos});
  }
  if (auto v = w.Id("address", Need::kRequired, kAddressExpected, IsBleAddress)) {
    lock.address = Upper(v->value);
    Claim(l, "Bluetooth address " + lock.address, who, v->pos);
  }
  if (auto v = w.Id("adapter", Need::kOptional, kAdapterExpected, IsAdapterName)) {
    lock.adapter = v->value;
  }
  if (auto v = AbsolutePath(l, w, "credentials")) {
    lock.credentials = v->value;
    Claim(l, "credentials file " + v->value, who, v->pos);
  }
  if (auto v = AbsolutePath(l, w, "security_pin_file")) {
    lock.security_pin_file = v->value;
    l.pin_files.emplace_back(v->value, v->pos);
  }
  w.Mapping("sync", Need::kOptional, kLockSyncKeys, [&](MapWalker& s) {
    if (auto v = s.Bool("codes", Need::kOptional)) lock.sync_codes = v->value;
    if (auto v = s.Bool("authorizations", Need::kOptional)) lock.sync_authorizations = v->value;
    if (auto v = s.Id("name_prefix", Need::kOptional, kPrefixExpected, IsNamePrefix)) {
      lock.name_prefix = v->value;
    }
  });
  if (auto v = w.Int("poll_minutes", Need::kOptional, 15, 1440,
                     " (minutes between state reads when the lock advertises no change; every "
                     "connection costs battery)")) {
    lock.poll_minutes = v->value;
  }
  if (auto v = w.OneOf("unlock_action", Need::kOptional, kUnlockActions)) {
    lock.unlock_action = v->value == "unlock" ? UnlockAction::kUnlock : UnlockAction::kUnlatch;
  }
  if (auto v = w.Int("disconnect_after_ms", Need::kOptional, 100, 60000)) {
    lock.disconnect_after_ms = v->value;
  }
  l.config.locks.push_back(std::move(lock));
}

}  // namespace

void CheckLocks(Loader& l) {
  std::map<std::string, const Loader::DoorRef*, std::less<>> first_lock;  // per door
  for (const Loader::DoorRef& ref : l.lock_door_refs) {
    if (auto [it, inserted] = first_lock.emplace(ref.door, &ref); !inserted) {
      l.problems.Add(ref.pos, ref.from + ": door " + Quote(ref.door) + " already has " +
                                  it->second->from + " (at " + PosText(it->second->pos) +
                                  "); a door has one lock");
      continue;
    }
    if (auto io = l.doors_with_io.find(ref.door); io != l.doors_with_io.end()) {
      l.problems.Add(ref.pos, ref.from + ": door " + Quote(ref.door) +
                                  " is wired to an I/O lock point (its io at " +
                                  PosText(io->second) +
                                  "); a door has one actuator: remove its io or this lock");
    }
  }
  // The daemon writes a credentials file when it pairs: it must never be a PIN file. Several locks
  // may share a PIN file; the first naming it is the one reported.
  std::map<std::string_view, Pos, std::less<>> pin_files;
  for (const auto& [path, pos] : l.pin_files) pin_files.emplace(path, pos);
  for (const auto& [path, pos] : pin_files) {
    if (auto it = l.claims.find("credentials file " + std::string(path)); it != l.claims.end()) {
      l.problems.Add(it->second.second, "credentials file " + std::string(path) +
                                            " is also the security_pin_file of a lock (at " +
                                            PosText(pos) +
                                            "); pairing would overwrite the PIN: give the "
                                            "credentials a file of their own");
    }
  }
}

constinit const SectionSpec kLocksSection = {"locks",   Need::kOptional, Shape::kList, kLockKeys,
                                             ParseLock, "lock",          "id"};

}  // namespace lintel::config::internal

namespace lintel::config {

std::string_view UnlockActionName(UnlockAction action) {
  return action == UnlockAction::kUnlock ? "unlock" : "unlatch";
}

const LockConfig* FindLockForDoor(const Config& c, std::string_view door) {
  for (const LockConfig& lock : c.locks) {
    if (lock.door == door) return &lock;
  }
  return nullptr;
}

Result<uint16_t> ReadSecurityPinFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("security PIN file " + path + " does not exist");
    return Status::IoError("cannot open security PIN file " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::IoError("cannot stat security PIN file " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::FailedPrecondition("security PIN file " + path + " is not a regular file");
  }
  if ((st.st_mode & (S_IRWXO | S_IWGRP)) != 0) {
    ::close(fd);
    return Status::FailedPrecondition(
        "security PIN file " + path +
        ((st.st_mode & S_IRWXO) != 0 ? " is accessible by other users"
                                     : " is writable by its group") +
        ": chmod 0600 (owned by the daemon's user) or 0640 (root:lintel)");
  }
  char buffer[32];
  size_t size = 0;
  while (size < sizeof buffer) {
    ssize_t n = ::read(fd, buffer + size, sizeof buffer - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::IoError("cannot read security PIN file " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  ::close(fd);
  std::string_view text(buffer, size);
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  uint32_t value = 0;
  bool ok = size < sizeof buffer && !text.empty() && text.size() <= 5;
  for (char c : text) {
    if (c < '0' || c > '9') {
      ok = false;
      break;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (!ok || value > 65535) {
    return Status::InvalidArgument("security PIN file " + path +
                                   " must hold the lock's security PIN: one decimal number "
                                   "0..65535 on one line");
  }
  return static_cast<uint16_t>(value);
}

}  // namespace lintel::config
