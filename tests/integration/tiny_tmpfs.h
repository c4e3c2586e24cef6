// Test helper: a tiny tmpfs that can be filled to the last byte, for tests of a full or read-only
// disk. Needs root (CI runs the tests as root): the calling process moves into a mount namespace
// of its own (unshare(CLONE_NEWNS), every mount private), so the tmpfs is seen only by this test
// process and the children it starts, and disappears with them even if the test crashes.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace lintel::testing {

class TinyTmpfs {
 public:
  // Mounts a tmpfs of `bytes` at `dir` (created). On failure error() says why (tests skip).
  TinyTmpfs(const std::filesystem::path& dir, size_t bytes) : dir_(dir) {
    std::filesystem::create_directories(dir);
    if (::unshare(CLONE_NEWNS) != 0) {
      error_ = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno) + " (needs root)";
      return;
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      error_ = std::string("mount --make-rprivate /: ") + std::strerror(errno);
      return;
    }
    std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      error_ = std::string("mount tmpfs: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~TinyTmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TinyTmpfs(const TinyTmpfs&) = delete;
  TinyTmpfs& operator=(const TinyTmpfs&) = delete;

  const std::string& error() const { return error_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Fills the file system to the last byte with a file `fill` (64 KiB writes, then single
  // bytes, until ENOSPC). Returns the bytes written.
  size_t Fill() {
    int fd = ::open((dir_ / "fill").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return 0;
    std::vector<char> block(64 * 1024, 'x');
    size_t total = 0;
    for (size_t chunk : {block.size(), size_t{4096}, size_t{1}}) {
      while (true) {
        ssize_t n = ::write(fd, block.data(), chunk);
        if (n <= 0) break;
        total += static_cast<size_t>(n);
      }
    }
    ::close(fd);
    return total;
  }
  // Removes the fill file: space returns.
  void Free() { std::filesystem::remove(dir_ / "fill"); }
  // Remounts read-only (true) or read-write.
  bool SetReadOnly(bool ro) {
    unsigned long flags = MS_REMOUNT | (ro ? MS_RDONLY : 0);
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", flags, nullptr) == 0;
  }

 private:
  std::filesystem::path dir_;
  std::string error_;
  bool mounted_ = false;
};

}  // namespace lintel::testing
