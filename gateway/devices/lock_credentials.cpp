#include "gateway/devices/lock_credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <vector>

namespace lintel::devices {
namespace {

using nlohmann::json;
constexpr std::string_view kFormat = "lintel-nuki-credentials/1";

std::string Hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

bool Unhex(const std::string& text, std::span<uint8_t> out) {
  if (text.size() != out.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

Status Errno(const std::string& what, const std::string& path) {
  return Status::IoError(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

Result<LockCredentials> ReadLockCredentials(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound(path + " does not exist (the lock is not paired)");
    return Errno("cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) return Status::FailedPrecondition(path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    return Status::FailedPrecondition(
        path + " may be read by group or others (it holds a key): " + "chmod 600 " + path);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  std::string text;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > 64 * 1024) {
      ::close(fd);
      return Status::InvalidArgument(path + ": too large for a credentials file");
    }
  }
  ::close(fd);
  json j = json::parse(text, nullptr, false);
  auto bad = [&path](std::string_view field) {
    return Status::InvalidArgument(path + ": not a lock credentials file (" + std::string(field) +
                                   " missing or malformed)");
  };
  if (!j.is_object()) return bad("JSON object");
  if (!j.contains("format") || j["format"] != kFormat) return bad("format");
  LockCredentials c;
  if (!j.contains("authorization_id") || !j["authorization_id"].is_number_unsigned()) {
    return bad("authorization_id");
  }
  c.credentials.authorization_id = j["authorization_id"].get<uint32_t>();
  if (j.contains("app_id")) {
    if (!j["app_id"].is_number_unsigned()) return bad("app_id");
    c.app_id = j["app_id"].get<uint32_t>();
  }
  if (!j.contains("shared_key") || !j["shared_key"].is_string() ||
      !Unhex(j["shared_key"].get<std::string>(), c.credentials.shared_key)) {
    return bad("shared_key");
  }
  if (j.contains("lock_uuid") &&
      (!j["lock_uuid"].is_string() || !Unhex(j["lock_uuid"].get<std::string>(), c.lock_uuid))) {
    return bad("lock_uuid");
  }
  if (j.contains("paired_at")) {
    if (!j["paired_at"].is_string()) return bad("paired_at");
    Result<Instant> at = ParseRfc3339(j["paired_at"].get<std::string>());
    if (!at.ok()) return bad("paired_at");
    c.paired_at = *at;
  }
  return c;
}

Status WriteLockCredentials(const std::string& path, const LockCredentials& c) {
  json j = {{"format", kFormat},
            {"authorization_id", c.credentials.authorization_id},
            {"app_id", c.app_id},
            {"shared_key", Hex(c.credentials.shared_key)},
            {"lock_uuid", Hex(c.lock_uuid)},
            {"paired_at", FormatRfc3339(c.paired_at)}};
  std::string text = j.dump() + "\n";
  std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmp = (dir / ("." + target.filename().string() + ".tmpXXXXXX")).string();
  std::vector<char> name(tmp.begin(), tmp.end());
  name.push_back('\0');
  int fd = ::mkostemp(name.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0) return Errno("cannot create a temporary file in", dir.string());
  std::string tmp_path(name.data());
  auto fail = [&](const std::string& what) {
    Status s = Errno(what, tmp_path);
    ::close(fd);
    ::unlink(tmp_path.c_str());
    return s;
  };
  if (::fchmod(fd, 0600) != 0) return fail("cannot chmod");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    Status s = Errno("cannot close", tmp_path);
    ::unlink(tmp_path.c_str());
    return s;
  }
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    Status s = Errno("cannot rename to", path);
    ::unlink(tmp_path.c_str());
    return s;
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace lintel::devices
