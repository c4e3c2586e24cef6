// Building the engine's index straight from the store: rows are streamed into a
// rules::IndexBuilder with no intermediate copy of the state (cold start stays lean).
#pragma once

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

}  // namespace lintel::store
