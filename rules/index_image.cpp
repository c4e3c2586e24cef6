#include "rules/index_image.h"

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace lintel::rules {
namespace {

constexpr char kMagic[8] = {'L', 'N', 'T', 'L', 'I', 'D', 'X', '1'};
constexpr char kEndMagic[8] = {'L', 'N', 'T', 'L', 'E', 'N', 'D', '1'};
constexpr size_t kSections = 9;
constexpr size_t kTrailerBytes = 16;

struct Section {
  uint64_t offset = 0;  // from the start of the image; a multiple of kIndexImageAlign
  uint64_t size = 0;    // elements
  uint64_t chunks = 0;
  uint32_t elem_bytes = 0;
  uint32_t chunk_elems = 0;
};

// Every field 8 bytes or a pair of 4: no padding, so the header's bytes are all defined.
struct Header {
  char magic[8];
  uint32_t version = kIndexImageVersion;
  uint32_t header_bytes = sizeof(Header);
  uint64_t layout = 0;
  uint64_t site = 0;
  uint64_t epoch = 0;
  uint64_t position_version = 0;
  uint64_t state_serial = 0;
  uint64_t file_bytes = 0;
  uint64_t small_offset = 0;
  uint64_t small_bytes = 0;
  Section sections[kSections];
  uint64_t live_credentials = 0;
  uint64_t live_people = 0;
  uint64_t live_leases = 0;
  uint64_t built_bytes = 0;
  uint64_t edited_bytes = 0;
};
static_assert(std::has_unique_object_representations_v<Header>);
static_assert(sizeof(Header) <= kIndexImageAlign);

constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kP3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kP4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kP5 = 0x27D4EB2F165667C5ULL;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t Round(uint64_t acc, uint64_t w) { return Rotl(acc + w * kP2, 31) * kP1; }
inline uint64_t Word(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return (h ^ 0xff) * 1099511628211ULL;  // a terminator: ("ab","c") != ("a","bc")
}
uint64_t FnvInt(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ULL;
  return h;
}

// The build's layout: the format version, each record's size and each array's chunk size.
template <typename T>
uint64_t LayoutOf(uint64_t h) {
  return FnvInt(FnvInt(FnvInt(h, sizeof(T)), alignof(T)), CowVector<T>::kChunk);
}
uint64_t LayoutFingerprint() {
  uint64_t h = FnvInt(1469598103934665603ULL, kIndexImageVersion);
  h = LayoutOf<char>(h);
  h = LayoutOf<uint32_t>(h);
  h = LayoutOf<PersonRec>(h);
  h = LayoutOf<LeaseRec>(h);
  h = LayoutOf<CredentialRec>(h);
  h = FnvInt(h, sizeof(CredentialKey));
  h = FnvInt(h, offsetof(CredentialRec, valid_from));
  h = FnvInt(h, offsetof(PersonRec, role));
  h = FnvInt(h, offsetof(LeaseRec, dead));
  return h;
}

size_t AlignUp(size_t n) { return (n + kIndexImageAlign - 1) & ~(kIndexImageAlign - 1); }

// ---- the small parts ----------------------------------------------------------------------------

class Out {
 public:
  template <typename T>
  void Put(T v) {
    static_assert(std::is_integral_v<T> || std::is_enum_v<T>);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  void PutStr(Str s) {
    Put(s.offset);
    Put(s.size);
  }
  void PutString(std::string_view s) {
    Put(static_cast<uint32_t>(s.size()));
    buf_.append(s);
  }
  void PutWindows(const std::vector<Window>& ws) {
    Put(static_cast<uint32_t>(ws.size()));
    for (const Window& w : ws) {
      Put(w.days);
      Put(w.from_min);
      Put(w.to_min);
    }
  }
  std::string& buf() { return buf_; }

 private:
  std::string buf_;
};

class In {
 public:
  explicit In(std::string_view s) : s_(s) {}
  template <typename T>
  T Get() {
    T v{};
    if (s_.size() - pos_ < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, s_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // A count of items at least `min_bytes` each: refused when the rest cannot hold them.
  uint32_t Count(size_t min_bytes) {
    uint32_t n = Get<uint32_t>();
    if (static_cast<uint64_t>(n) * min_bytes > s_.size() - pos_) ok_ = false;
    return ok_ ? n : 0;
  }
  Str GetStr() {
    Str s;
    s.offset = Get<uint32_t>();
    s.size = Get<uint32_t>();
    return s;
  }
  std::string GetString() {
    uint32_t n = Count(1);
    std::string out(s_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  std::vector<Window> GetWindows() {
    std::vector<Window> ws(Count(5));
    for (Window& w : ws) {
      w.days = Get<uint8_t>();
      w.from_min = Get<uint16_t>();
      w.to_min = Get<uint16_t>();
    }
    return ws;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Hashes what passes through on its way to the sink, counting the bytes.
class HashingSink {
 public:
  explicit HashingSink(ImageSink& out) : out_(out) {}
  Status Write(const void* data, size_t n) {
    // The image is written in pieces that are multiples of 8 bytes except the small part, which
    // is buffered whole; feed the hash through a small carry buffer.
    const auto* p = static_cast<const unsigned char*>(data);
    size_t left = n;
    while (left > 0 && carry_n_ > 0) {
      carry_[carry_n_++] = *p++;
      --left;
      if (carry_n_ == 32) {
        Feed(carry_, 32);
        carry_n_ = 0;
      }
    }
    if (left > 0) {  // the carry is empty here
      size_t whole = left & ~size_t{31};
      Feed(p, whole);
      std::memcpy(carry_, p + whole, left - whole);
      carry_n_ = left - whole;
    }
    written_ += n;
    return out_.Write(data, n);
  }
  Status Pad(size_t n) {
    static const char kZero[kIndexImageAlign] = {};
    while (n > 0) {
      size_t k = std::min(n, sizeof(kZero));
      LINTEL_RETURN_IF_ERROR(Write(kZero, k));
      n -= k;
    }
    return Status::Ok();
  }
  uint64_t written() const { return written_; }
  uint64_t Finish();

 private:
  void Feed(const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; i += 32) {
      v_[0] = Round(v_[0], Word(p + i));
      v_[1] = Round(v_[1], Word(p + i + 8));
      v_[2] = Round(v_[2], Word(p + i + 16));
      v_[3] = Round(v_[3], Word(p + i + 24));
    }
  }
  ImageSink& out_;
  uint64_t v_[4] = {kP1 + kP2, kP2, 0, 0 - kP1};
  unsigned char carry_[32] = {};
  size_t carry_n_ = 0;
  uint64_t written_ = 0;
};

uint64_t FinishHash(const uint64_t v[4], const unsigned char* tail, size_t tail_n, uint64_t total) {
  uint64_t h = Rotl(v[0], 1) + Rotl(v[1], 7) + Rotl(v[2], 12) + Rotl(v[3], 18);
  for (int i = 0; i < 4; ++i) h = (h ^ Round(0, v[i])) * kP1 + kP4;
  h += total;
  size_t i = 0;
  for (; i + 8 <= tail_n; i += 8) h = Rotl(h ^ Round(0, Word(tail + i)), 27) * kP1 + kP4;
  for (; i < tail_n; ++i) h = Rotl(h ^ (tail[i] * kP5), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

uint64_t HashingSink::Finish() { return FinishHash(v_, carry_, carry_n_, written_); }

}  // namespace

std::string ToString(const ImageStamp& s) {
  return "epoch " + std::to_string(s.epoch) + ", version " + std::to_string(s.version) +
         ", state serial " + std::to_string(s.state_serial);
}

uint64_t SiteFingerprint(const Site& site) {
  uint64_t h = Fnv(1469598103934665603ULL, site.id);
  h = FnvInt(h, site.doors.size());
  for (const DoorInfo& d : site.doors) h = FnvInt(Fnv(h, d.id), d.common ? 1 : 0);
  h = FnvInt(h, static_cast<uint64_t>(static_cast<int64_t>(site.policy.rent_grace_days)));
  h = Fnv(h, site.zone ? std::string_view(site.zone->name()) : std::string_view("UTC"));
  return h;
}

uint64_t ImageChecksum(const void* data, size_t n) {
  uint64_t v[4] = {kP1 + kP2, kP2, 0, 0 - kP1};
  const auto* p = static_cast<const unsigned char*>(data);
  size_t whole = n & ~size_t{31};
  for (size_t i = 0; i < whole; i += 32) {
    v[0] = Round(v[0], Word(p + i));
    v[1] = Round(v[1], Word(p + i + 8));
    v[2] = Round(v[2], Word(p + i + 16));
    v[3] = Round(v[3], Word(p + i + 24));
  }
  return FinishHash(v, p + whole, n - whole, n);
}

// Friend of Index: reads and writes its private parts.
class IndexImage {
 public:
  template <typename T>
  static Status WriteArray(const CowVector<T>& v, Section& s, HashingSink& out) {
    s.offset = out.written();
    s.size = v.size();
    s.chunks = v.chunk_count();
    s.elem_bytes = sizeof(T);
    s.chunk_elems = CowVector<T>::kChunk;
    for (size_t c = 0; c < v.chunk_count(); ++c) {
      LINTEL_RETURN_IF_ERROR(out.Write(v.chunk(c), CowVector<T>::kChunk * sizeof(T)));
    }
    return out.Pad(AlignUp(out.written()) - out.written());
  }

  template <typename T>
  static void Plan(const CowVector<T>& v, Section& s, uint64_t& at) {
    s.offset = at;
    s.size = v.size();
    s.chunks = v.chunk_count();
    s.elem_bytes = sizeof(T);
    s.chunk_elems = CowVector<T>::kChunk;
    at = AlignUp(at + s.chunks * CowVector<T>::kChunk * sizeof(T));
  }

  static std::string Small(const Index& x) {
    Out o;
    o.Put(static_cast<uint32_t>(x.doors_.size()));
    for (const DoorRec& d : x.doors_) {
      o.PutString(d.id);
      o.Put(static_cast<uint8_t>(d.common));
      o.Put(d.mode);
      o.Put(d.mode_until);
    }
    o.Put(static_cast<uint32_t>(x.schedules_.size()));
    for (const ScheduleRec& s : x.schedules_) {
      o.PutStr(s.id);
      o.PutWindows(s.windows);
      o.Put(static_cast<uint32_t>(s.exceptions.size()));
      for (const ScheduleException& e : s.exceptions) {
        o.Put(e.date);
        o.PutWindows(e.windows);
      }
    }
    o.Put(static_cast<uint32_t>(x.groups_.size()));
    for (const GroupRec& g : x.groups_) {
      o.PutStr(g.id);
      o.PutStr(g.name);
      o.Put(static_cast<uint32_t>(g.doors.size()));
      for (uint16_t d : g.doors) o.Put(d);
      o.Put(g.schedule);
    }
    o.Put(static_cast<uint32_t>(x.ble_keys_->size()));
    for (const BleKeyRec& b : *x.ble_keys_) {
      o.Put(b.credential);
      o.Put(b.door);
      o.PutStr(b.key);
      o.PutStr(b.name);
    }
    o.Put(static_cast<uint32_t>(x.door_by_id_.size()));
    for (uint32_t e : x.door_by_id_) o.Put(e);
    return std::move(o.buf());
  }

  static bool ParseSmall(std::string_view bytes, Index& x) {
    In in(bytes);
    x.doors_.resize(in.Count(14));
    for (DoorRec& d : x.doors_) {
      d.id = in.GetString();
      d.common = in.Get<uint8_t>() != 0;
      d.mode = in.Get<DoorModeKind>();
      d.mode_until = in.Get<int64_t>();
    }
    x.schedules_.resize(in.Count(16));
    for (ScheduleRec& s : x.schedules_) {
      s.id = in.GetStr();
      s.windows = in.GetWindows();
      s.exceptions.resize(in.Count(8));
      for (ScheduleException& e : s.exceptions) {
        e.date = in.Get<int32_t>();
        e.windows = in.GetWindows();
      }
    }
    x.groups_.resize(in.Count(24));
    for (GroupRec& g : x.groups_) {
      g.id = in.GetStr();
      g.name = in.GetStr();
      g.doors.resize(in.Count(2));
      for (uint16_t& d : g.doors) d = in.Get<uint16_t>();
      g.schedule = in.Get<uint32_t>();
    }
    auto ble = std::make_shared<std::vector<BleKeyRec>>(in.Count(22));
    for (BleKeyRec& b : *ble) {
      b.credential = in.Get<uint32_t>();
      b.door = in.Get<uint16_t>();
      b.key = in.GetStr();
      b.name = in.GetStr();
    }
    x.ble_keys_ = std::move(ble);
    x.door_by_id_.resize(in.Count(4));
    for (uint32_t& e : x.door_by_id_) e = in.Get<uint32_t>();
    return in.done();
  }

  static Result<uint64_t> Write(const Index& x, const ImageStamp& stamp, ImageSink& sink) {
    Header h;
    std::memcpy(h.magic, kMagic, sizeof(kMagic));
    h.layout = LayoutFingerprint();
    h.site = SiteFingerprint(x.site_);
    h.epoch = stamp.epoch;
    h.position_version = stamp.version;
    h.state_serial = stamp.state_serial;
    std::string small = Small(x);
    h.small_offset = kIndexImageAlign;
    h.small_bytes = small.size();
    uint64_t at = AlignUp(h.small_offset + small.size());
    Plan(x.arena_, h.sections[0], at);
    Plan(x.refs_, h.sections[1], at);
    Plan(x.people_, h.sections[2], at);
    Plan(x.leases_, h.sections[3], at);
    Plan(x.credentials_, h.sections[4], at);
    Plan(x.cred_by_key_, h.sections[5], at);
    Plan(x.cred_by_id_, h.sections[6], at);
    Plan(x.person_by_id_, h.sections[7], at);
    Plan(x.lease_by_id_, h.sections[8], at);
    h.file_bytes = at + kTrailerBytes;
    h.live_credentials = x.live_credentials_;
    h.live_people = x.live_people_;
    h.live_leases = x.live_leases_;
    h.built_bytes = x.built_bytes_;
    h.edited_bytes = x.edited_bytes_;

    HashingSink out(sink);
    LINTEL_RETURN_IF_ERROR(out.Write(&h, sizeof(h)));
    LINTEL_RETURN_IF_ERROR(out.Pad(kIndexImageAlign - sizeof(h)));
    LINTEL_RETURN_IF_ERROR(out.Write(small.data(), small.size()));
    LINTEL_RETURN_IF_ERROR(out.Pad(AlignUp(out.written()) - out.written()));
    Section written[kSections];
    LINTEL_RETURN_IF_ERROR(WriteArray(x.arena_, written[0], out));
    LINTEL_RETURN_IF_ERROR(WriteArray(x.refs_, written[1], out));
    LINTEL_RETURN_IF_ERROR(WriteArray(x.people_, written[2], out));
    LINTEL_RETURN_IF_ERROR(WriteArray(x.leases_, written[3], out));
    LINTEL_RETURN_IF_ERROR(WriteArray(x.credentials_, written[4], out));
    LINTEL_RETURN_IF_ERROR(WriteArray(x.cred_by_key_, written[5], out));
    LINTEL_RETURN_IF_ERROR(WriteArray(x.cred_by_id_, written[6], out));
    LINTEL_RETURN_IF_ERROR(WriteArray(x.person_by_id_, written[7], out));
    LINTEL_RETURN_IF_ERROR(WriteArray(x.lease_by_id_, written[8], out));
    if (out.written() + kTrailerBytes != h.file_bytes ||
        std::memcmp(written, h.sections, sizeof(written)) != 0) {
      return Status::Internal("index image: layout planned and written differ");
    }
    uint64_t sum = out.Finish();
    LINTEL_RETURN_IF_ERROR(sink.Write(&sum, sizeof(sum)));
    LINTEL_RETURN_IF_ERROR(sink.Write(kEndMagic, sizeof(kEndMagic)));
    return h.file_bytes;
  }

  template <typename T>
  static bool MapArray(std::span<const std::byte> bytes, const Section& s,
                       const std::shared_ptr<const void>& owner, CowVector<T>& v) {
    constexpr size_t kChunkBytes = CowVector<T>::kChunk * sizeof(T);
    if (s.elem_bytes != sizeof(T) || s.chunk_elems != CowVector<T>::kChunk) return false;
    if (s.offset % kIndexImageAlign != 0 || s.chunks > bytes.size() / kChunkBytes ||
        s.offset > bytes.size() - kTrailerBytes ||
        s.chunks * kChunkBytes > bytes.size() - kTrailerBytes - s.offset ||
        s.size > s.chunks * CowVector<T>::kChunk ||
        (s.size + CowVector<T>::kChunk - 1) / CowVector<T>::kChunk != s.chunks) {
      return false;
    }
    const std::byte* base = bytes.data() + s.offset;
    if (reinterpret_cast<uintptr_t>(base) % alignof(T) != 0) return false;
    std::vector<std::shared_ptr<T[]>> chunks;
    chunks.reserve(s.chunks);
    for (uint64_t c = 0; c < s.chunks; ++c) {
      // The mapping is read-only; the const_cast is safe because CowVector only writes a chunk it
      // owns alone (`owner` is pinned by the vector, so these never are).
      T* p = reinterpret_cast<T*>(const_cast<std::byte*>(base + c * kChunkBytes));
      chunks.emplace_back(std::shared_ptr<const void>(owner), p);
    }
    v = CowVector<T>::FromChunks(std::move(chunks), s.size, owner);
    return true;
  }

  static Result<std::shared_ptr<const Index>> Read(std::span<const std::byte> bytes,
                                                   std::shared_ptr<const void> owner,
                                                   const Site& site, const ImageStamp& expected) {
    if (bytes.size() < kIndexImageAlign + kTrailerBytes) {
      return Status::Corruption("index image: " + std::to_string(bytes.size()) +
                                " bytes, too short for an image (partly written?)");
    }
    Header h;
    std::memcpy(&h, bytes.data(), sizeof(h));
    if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) {
      return Status::Corruption("index image: bad magic (not an index image)");
    }
    if (h.version != kIndexImageVersion || h.header_bytes != sizeof(Header) ||
        h.layout != LayoutFingerprint()) {
      return Status::FailedPrecondition("index image: format version " + std::to_string(h.version) +
                                        " or record layout of another build");
    }
    if (h.file_bytes != bytes.size()) {
      return Status::Corruption("index image: header says " + std::to_string(h.file_bytes) +
                                " bytes, the file has " + std::to_string(bytes.size()) +
                                " (truncated or partly written)");
    }
    if (h.site != SiteFingerprint(site)) {
      return Status::FailedPrecondition(
          "index image: built for another site config (site id, doors, rent grace days or time "
          "zone changed)");
    }
    ImageStamp got{h.epoch, h.position_version, h.state_serial};
    if (!(got == expected)) {
      return Status::FailedPrecondition("index image: of " + ToString(got) + ", the store is at " +
                                        ToString(expected) + " (stale)");
    }
    const std::byte* trailer = bytes.data() + bytes.size() - kTrailerBytes;
    uint64_t sum;
    std::memcpy(&sum, trailer, sizeof(sum));
    if (std::memcmp(trailer + 8, kEndMagic, sizeof(kEndMagic)) != 0) {
      return Status::Corruption("index image: bad trailer (partly written?)");
    }
    uint64_t actual = ImageChecksum(bytes.data(), bytes.size() - kTrailerBytes);
    if (actual != sum) {
      char msg[120];
      std::snprintf(msg, sizeof(msg), "index image: checksum 0x%016llx != 0x%016llx (damaged)",
                    static_cast<unsigned long long>(actual), static_cast<unsigned long long>(sum));
      return Status::Corruption(msg);
    }
    if (h.small_offset != kIndexImageAlign || h.small_bytes > bytes.size() - kTrailerBytes ||
        h.small_offset > bytes.size() - kTrailerBytes - h.small_bytes) {
      return Status::Corruption("index image: small part out of bounds");
    }
    std::shared_ptr<Index> x(new Index());
    x->site_ = site;
    if (!x->site_.zone) x->site_.zone = FixedTimeZone("UTC", 0);
    std::string_view small(reinterpret_cast<const char*>(bytes.data()) + h.small_offset,
                           h.small_bytes);
    if (!ParseSmall(small, *x)) {
      return Status::Corruption("index image: doors, schedules or groups do not parse");
    }
    bool mapped = MapArray(bytes, h.sections[0], owner, x->arena_) &&
                  MapArray(bytes, h.sections[1], owner, x->refs_) &&
                  MapArray(bytes, h.sections[2], owner, x->people_) &&
                  MapArray(bytes, h.sections[3], owner, x->leases_) &&
                  MapArray(bytes, h.sections[4], owner, x->credentials_) &&
                  MapArray(bytes, h.sections[5], owner, x->cred_by_key_) &&
                  MapArray(bytes, h.sections[6], owner, x->cred_by_id_) &&
                  MapArray(bytes, h.sections[7], owner, x->person_by_id_) &&
                  MapArray(bytes, h.sections[8], owner, x->lease_by_id_);
    if (!mapped) return Status::Corruption("index image: an array's section does not add up");
    x->live_credentials_ = h.live_credentials;
    x->live_people_ = h.live_people;
    x->live_leases_ = h.live_leases;
    x->built_bytes_ = h.built_bytes;
    x->edited_bytes_ = h.edited_bytes;
    return std::shared_ptr<const Index>(std::move(x));
  }
};

Result<uint64_t> WriteIndexImage(const Index& index, const ImageStamp& stamp, ImageSink& sink) {
  return IndexImage::Write(index, stamp, sink);
}

Result<std::shared_ptr<const Index>> ReadIndexImage(std::span<const std::byte> bytes,
                                                    std::shared_ptr<const void> owner,
                                                    const Site& site, const ImageStamp& expected) {
  return IndexImage::Read(bytes, std::move(owner), site, expected);
}

}  // namespace lintel::rules
