// The index image file next to the store (issue 13, point 4): `<store path>.index`, written after
// an index is built from the store and at a clean stop, mapped at start-up so that the first
// decision does not wait for a rebuild from SQLite. The format and its checks are
// rules/index_image.h; this file does the I/O.
//
// An image is only ever used for the state it was made of: it carries the store's stamp (applied
// position and state serial, ReadStateStamp), and the loader compares it with the store's stamp
// now. A writer passes the stamp of the state the index was built from, so an image can be
// written any time later (a stale one is refused at load). Writes go to a temporary file that is
// fsync-ed and renamed over the image: a kill -9 mid-write leaves the old image or none, never a
// part (and a part would fail its size or checksum check anyway).
//
// Threads: every function may be called from any thread; two writers of one path race only for
// which whole image ends up there (each uses its own temporary file).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/base/status.h"
#include "gateway/store/store.h"
#include "rules/index.h"
#include "rules/index_image.h"

namespace lintel::store {

// `<store_path>.index`.
std::string IndexImagePath(const std::string& store_path);

// The stamp of the store's state now: AppliedPosition and the meta row `state_serial` (bumped by
// every ReplaceState / ApplyOps; 0 for a store no state was ever written to).
// Errors: the store's; Corruption when state_serial is not a number.
Result<rules::ImageStamp> ReadStateStamp(Store& store);

// Writes the image of `index` (of the state `stamp`) to `path`: `path`.tmp-<pid>-<n> with mode
// 0600, fsync, rename over `path`, fsync of the directory. Returns the bytes written.
// Errors: IoError ("<path>: cannot write index image: <strerror>"); the temporary file is removed.
Result<uint64_t> SaveIndexImage(const std::string& path, const rules::Index& index,
                                const rules::ImageStamp& stamp);

// Maps the image at `path` (read-only, private) and reads it for `site` and the store's stamp
// `expected` (rules::ReadIndexImage: the index's arrays stay in the mapping, which lives as long as
// any index made from it). Errors: NotFound when there is no image; IoError when it cannot be
// opened or mapped; rules::ReadIndexImage's (Corruption, FailedPrecondition).
Result<std::shared_ptr<const rules::Index>> LoadIndexImage(const std::string& path,
                                                           const rules::Site& site,
                                                           const rules::ImageStamp& expected);

// What start-up uses: the index of the store's state, from the image when it matches, else built
// from the store (store::LoadIndex). `how` (optional) receives a line for the log: "from the index
// image <path> (...)" or "rebuilt from the store: <why the image was not used>". `stamp`
// (optional) receives the stamp of the state the returned index is of, when certain (the store's
// stamp did not move during the build); `from_image` whether the image was used.
// Errors: LoadIndex's and ReadStateStamp's (never the image's: a bad image means a rebuild).
struct StartIndex {
  std::shared_ptr<const rules::Index> index;
  std::optional<rules::ImageStamp> stamp;  // the index's state, when certain
  bool from_image = false;
  std::string how;  // for the log
};
Result<StartIndex> LoadIndexPreferImage(Store& store, const std::string& image_path,
                                        const rules::Site& site,
                                        std::vector<std::string>* warnings);

// Builds the index from the store (store::LoadIndex) and says which state it is of: the stamp read
// before the build, when the store's stamp is the same after it (nothing committed meanwhile).
Result<StartIndex> BuildIndexStamped(Store& store, const rules::Site& site,
                                     std::vector<std::string>* warnings);

}  // namespace lintel::store
