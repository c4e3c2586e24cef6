// Index image: an Index as bytes, so a restart can decide at once instead of rebuilding the index
// from SQLite (issue 13, point 4: first decision at 2,000,000 credentials <= 0.5 s after start).
//
// The large arrays (CowVector chunks) are written as they are in memory, each array starting on a
// 4 KiB boundary, so that a reader can map the file and use the chunks in place: ReadIndexImage
// makes every chunk a shared_ptr aliasing the caller's bytes (kept alive by `owner`), which costs
// O(header + doors, schedules, groups, ble keys) plus one checksum pass over the bytes. An Index
// made from an image is an ordinary Index: a delta edit (ApplyOpsToIndex) copies the chunks it
// writes (CowVector::FromChunks pins the owner, so an aliased chunk is never written in place).
//
// The image is tied to the state it was built from and to this build:
//   - `ImageStamp`: the store's applied position (epoch, version) and its state serial (a counter
//     the store bumps with every state commit, also the ones that keep the position: a local
//     import, a cloud command's door mode). The caller passes the stamp of the state the index was
//     built from when writing, and the store's current stamp when reading.
//   - a fingerprint of the Site parts the index depends on (SiteFingerprint).
//   - a layout fingerprint (format version, record sizes, chunk sizes): an image of another build
//     is refused rather than misread.
//   - a 64-bit checksum (ImageChecksum) over every byte before the trailer.
//
// Format (little-endian host layout; the layout fingerprint refuses another):
//   [0, 4096)          header: magic "LNTLIDX1", version, fingerprints, stamp, sizes, the section
//                      table of the nine large arrays, counts
//   [4096, ...)        the small parts, then each large array's chunks (whole chunks, including
//                      the unused tail of the last one), each section padded to 4096
//   last 16 bytes      trailer: checksum of everything before it, magic "LNTLEND1"
//
// Pure: no I/O here. The store side (gateway/store/index_image_file.h) writes and maps the file.
// Thread-safety: the functions are reentrant; an Index read from an image is as thread-safe as any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "gateway/base/status.h"
#include "rules/index.h"
#include "rules/model.h"

namespace lintel::rules {

inline constexpr uint32_t kIndexImageVersion = 1;
inline constexpr size_t kIndexImageAlign = 4096;

// Which stored state an index (and so its image) is of.
struct ImageStamp {
  uint64_t epoch = 0;
  uint64_t version = 0;
  uint64_t state_serial = 0;
  friend bool operator==(const ImageStamp&, const ImageStamp&) = default;
};
std::string ToString(const ImageStamp& s);  // "epoch 3, version 17, state serial 42"

// Receives the image's bytes in order (a file, a buffer). A non-OK Status stops the writing.
class ImageSink {
 public:
  virtual ~ImageSink() = default;
  virtual Status Write(const void* data, size_t n) = 0;
};

// The Site parts an index's arrays depend on: site id, door ids in order and their `common` flag,
// policy.rent_grace_days (paid_until is computed at build) and the time zone's name.
uint64_t SiteFingerprint(const Site& site);

// The image's checksum: a 4-lane multiply-rotate hash over 64-bit words (xxHash64's round),
// ~10 GB/s on one core when the bytes are in memory.
uint64_t ImageChecksum(const void* data, size_t n);

// Writes the image of `index` for the state `stamp` to `sink`; returns the bytes written.
// Errors: whatever `sink` returns.
Result<uint64_t> WriteIndexImage(const Index& index, const ImageStamp& stamp, ImageSink& sink);

// The Index an image holds, its large arrays aliasing `bytes` (which `owner` keeps alive and which
// must not change while any Index made from it lives). `site` is the running config's site: it
// becomes the index's site() and must have the fingerprint the image was written with. `expected`
// is the store's current stamp.
// Errors (nothing of the image is used):
//   Corruption          too short, bad magic or trailer, a size or section that does not add
//                       up, a small part that does not parse, or the checksum differs
//                       ("index image: checksum 0x.. != 0x.. (damaged or partly written)").
//   FailedPrecondition  another format version or build layout, another site fingerprint
//                       ("index image: built for another site config (doors, grace days or time
//                       zone changed)"), or another stamp ("index image: of epoch 1, version 4,
//                       state serial 9, the store is at epoch 1, version 5, state serial 10").
Result<std::shared_ptr<const Index>> ReadIndexImage(std::span<const std::byte> bytes,
                                                    std::shared_ptr<const void> owner,
                                                    const Site& site, const ImageStamp& expected);

}  // namespace lintel::rules
