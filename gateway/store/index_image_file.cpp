#include "gateway/store/index_image_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "gateway/store/load_index.h"

namespace lintel::store {
namespace {

std::string Errno(int e) { return std::strerror(e); }

// Buffers the image's pieces into 1 MiB writes.
class FileSink final : public rules::ImageSink {
 public:
  explicit FileSink(int fd) : fd_(fd) { buf_.reserve(kBuf); }
  Status Write(const void* data, size_t n) override {
    const char* p = static_cast<const char*>(data);
    if (buf_.size() + n > kBuf) LINTEL_RETURN_IF_ERROR(Flush());
    if (n >= kBuf) return WriteAll(p, n);
    buf_.insert(buf_.end(), p, p + n);
    return Status::Ok();
  }
  Status Flush() {
    Status s = WriteAll(buf_.data(), buf_.size());
    buf_.clear();
    return s;
  }

 private:
  static constexpr size_t kBuf = 1 << 20;
  Status WriteAll(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::IoError(Errno(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  int fd_;
  std::vector<char> buf_;
};

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string IndexImagePath(const std::string& store_path) { return store_path + ".index"; }

Result<rules::ImageStamp> ReadStateStamp(Store& store) {
  Result<Position> pos = store.AppliedPosition();
  if (!pos.ok()) return pos.status();
  Result<std::optional<std::string>> serial = store.GetMeta("state_serial");
  if (!serial.ok()) return serial.status();
  rules::ImageStamp stamp{pos->epoch, pos->version, 0};
  if (serial->has_value()) {
    const std::string& s = **serial;
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || errno != 0 || *end != '\0') {
      return Status::Corruption("meta state_serial is not a number: " + s);
    }
    stamp.state_serial = v;
  }
  return stamp;
}

Result<uint64_t> SaveIndexImage(const std::string& path, const rules::Index& index,
                                const rules::ImageStamp& stamp) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  auto fail = [&](const std::string& what) -> Status {
    ::unlink(tmp.c_str());
    return Status::IoError(path + ": cannot write index image: " + what);
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(tmp + ": " + Errno(errno));
  FileSink sink(fd);
  Result<uint64_t> n = rules::WriteIndexImage(index, stamp, sink);
  Status s = n.ok() ? sink.Flush() : n.status();
  if (s.ok() && ::fsync(fd) != 0) s = Status::IoError("fsync: " + Errno(errno));
  if (::close(fd) != 0 && s.ok()) s = Status::IoError("close: " + Errno(errno));
  if (!s.ok()) return fail(s.message());
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename: " + Errno(errno));
  int dir = ::open(DirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    static_cast<void>(::fsync(dir));  // the rename is durable; an error here loses only speed
    ::close(dir);
  }
  return *n;
}

Result<std::shared_ptr<const rules::Index>> LoadIndexImage(const std::string& path,
                                                           const rules::Site& site,
                                                           const rules::ImageStamp& expected) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return Status::NotFound(path + ": no index image");
    return Status::IoError(path + ": cannot open index image: " + Errno(e));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::IoError(path + ": index image is not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Status::Corruption(path + ": index image is empty");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) return Status::IoError(path + ": cannot map index image: " + Errno(e));
  std::shared_ptr<const void> owner(
      p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
  std::span<const std::byte> bytes(static_cast<const std::byte*>(p), size);
  Result<std::shared_ptr<const rules::Index>> index =
      rules::ReadIndexImage(bytes, std::move(owner), site, expected);
  if (!index.ok()) return Status(index.status().code(), path + ": " + index.status().message());
  return index;
}

Result<StartIndex> BuildIndexStamped(Store& store, const rules::Site& site,
                                     std::vector<std::string>* warnings) {
  Result<rules::ImageStamp> before = ReadStateStamp(store);
  Result<std::shared_ptr<const rules::Index>> index = LoadIndex(store, site, warnings);
  if (!index.ok()) return index.status();
  StartIndex out;
  out.index = std::move(*index);
  Result<rules::ImageStamp> after = ReadStateStamp(store);
  if (before.ok() && after.ok() && *before == *after) out.stamp = *before;
  return out;
}

Result<StartIndex> LoadIndexPreferImage(Store& store, const std::string& image_path,
                                        const rules::Site& site,
                                        std::vector<std::string>* warnings) {
  Result<rules::ImageStamp> stamp = ReadStateStamp(store);
  if (!stamp.ok()) return stamp.status();
  Result<std::shared_ptr<const rules::Index>> image = LoadIndexImage(image_path, site, *stamp);
  if (image.ok()) {
    StartIndex out;
    out.index = std::move(*image);
    out.stamp = *stamp;
    out.from_image = true;
    out.how = "from the index image " + image_path + " (" + rules::ToString(*stamp) + ")";
    return out;
  }
  Result<StartIndex> built = BuildIndexStamped(store, site, warnings);
  if (!built.ok()) return built.status();
  built->how = "rebuilt from the store: " + image.status().message();
  return built;
}

}  // namespace lintel::store
