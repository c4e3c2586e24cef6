// Building the engine's index straight from the store: rows are streamed into a
// rules::IndexBuilder with no intermediate copy of the state (cold start stays lean).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/store/store.h"
#include "rules/index.h"

namespace lintel::store {

// Errors: the store's LoadState errors (Corruption for a damaged or undecodable row, IoError).
// `warnings` (optional) receives the references the tolerant builder dropped.
Result<std::shared_ptr<const rules::Index>> LoadIndex(Store& store, const rules::Site& site,
                                                      std::vector<std::string>* warnings);

// The same from a snapshot's stage tables (Store::StageLoad), on a connection of its own while
// the stager's connection swaps them in (issue 13, point 5): `reading` is called once, as soon
// as this read sees its snapshot of the file (at the first row, or at the end when there is
// none); a commit after that does not change what it reads. Errors: StageLoad's.
Result<std::shared_ptr<const rules::Index>> LoadStagedIndex(Store& store, const rules::Site& site,
                                                            std::vector<std::string>* warnings,
                                                            const std::function<void()>& reading);

}  // namespace lintel::store
