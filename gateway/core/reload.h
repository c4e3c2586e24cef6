// ReloadAll: a new config (SIGHUP) reaches every part of the daemon, or none.
//
// Each part first prepares: it checks the new config and builds what it needs (an index, key
// sets) without changing anything that runs. Only when every part has prepared does any part
// commit, in order; a commit cannot fail. So a later part's refusal never leaves an earlier
// part switched over, and "the running config stays in force" is true when it is logged.
//
// Thread rule: the caller's (the core loop's) thread; the parts run on it, one after another.
#pragma once

#include <functional>
#include <span>
#include <string>

#include "gateway/base/status.h"

namespace lintel::core {

struct ReloadPart {
  std::string name;                 // "core", "cloud sync", ...: prefixes a refusal
  std::function<Status()> prepare;  // may be empty (nothing to check); must not change anything
  std::function<void()> commit;     // may be empty; runs only after every prepare succeeded
};

// Prepares every part in order, stopping at the first refusal; then commits every part in order.
// Errors: the refusing part's Status, its message prefixed "<name>: "; nothing was committed.
Status ReloadAll(std::span<const ReloadPart> parts);

}  // namespace lintel::core
