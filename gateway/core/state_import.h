// StateImporter: a local state import (`lintelctl state import`) without stalling the doors.
//
// The daemon registers `import {"path": "/abs/file.json"}` and `state.import {"records": {...}}`
// as deferred control commands that land here. The slow part runs on a worker thread: reading and
// parsing the file, decoding and validating the records (ParseValidState), storing them through the
// worker's own store connection (Store::ReplaceState, one transaction) and building the index. Only
// then is the outcome posted to the loop, where Gateway::AdoptImport() swaps the index in and
// journals `sync.applied`. The core loop keeps deciding doors and answering other commands
// meanwhile (during the store transaction its own journal writes may wait and stay queued, as while
// the cloud's state worker stores a snapshot).
//
// One import at a time; a second one is refused (Unavailable) while the first runs.
//
// Threads: the constructor, Start() and the destructor are called on the loop thread; `done` is
// called through `post` on the loop thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "gateway/base/status.h"
#include "gateway/core/gateway.h"

namespace lintel::core {

// The largest state file the daemon reads (a state of millions of people is a few hundred MB).
inline constexpr uint64_t kMaxImportFileBytes = uint64_t{1} << 30;

// Who asked for an import: the control socket's peer credentials (SO_PEERCRED).
struct ImportCaller {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

// Reads the records JSON of the state file at `path` on behalf of `caller`: a snapshot's records
// object, or an object holding one under "records". Blocking I/O and parsing: call it off the loop.
// The daemon only reads a file that `caller` may read by its mode bits (owner, primary group,
// others; root and the daemon's own user may read anything the daemon can), so a member of the
// control socket's group cannot make it disclose files only user lintel may read (parse errors
// quote the text).
// Errors:
//   InvalidArgument "import path must be absolute: <path>", "<path> is not a regular file",
//     "<path> is N bytes, more than the 1073741824 a state import may be", or the JSON error
//     "<path>:<line>:<column>: ..." (ParseJsonText);
//   NotFound "cannot read <path>: No such file or directory (...)": missing as the daemon sees it
//     (under systemd it has a private /tmp and no /home);
//   FailedPrecondition "cannot read <path>: Permission denied (...)" when the daemon may not open
//     it, or "cannot read <path>: uid U (gid G) may not read it" when the caller may not;
//   IoError "cannot read <path>: <strerror>" for other failures.
// Every "cannot read" error begins exactly so: lintelctl then sends a small file inline instead.
Result<nlohmann::json> ReadStateFile(const std::string& path, const ImportCaller& caller);

class StateImporter {
 public:
  using Poster = std::function<void(std::function<void()>)>;
  using Done = std::function<void(Result<nlohmann::json>)>;
  // Called on the worker thread as each stage ends: "read", "validated", "stored", "indexed". A
  // test seam (a test holds the worker there to see the loop answer meanwhile); may be null.
  using StageHook = std::function<void(std::string_view stage)>;

  // `gateway` must outlive the importer. `post` runs a task on the loop thread.
  StateImporter(Gateway& gateway, Poster post, StageHook stage_hook = nullptr);
  // Stops a running import at its next stage boundary (a store transaction in progress completes
  // or rolls back as a whole) and joins; its `done` is never called.
  ~StateImporter();
  StateImporter(const StateImporter&) = delete;
  StateImporter& operator=(const StateImporter&) = delete;

  // Starts the import `request` asks for: {"cmd":"import","path":"<absolute path>"} or
  // {"cmd":"state.import","records":{...}}. `done` gets {"imported": {"people": n, ...}} or an
  // error, always later through `post`:
  //   InvalidArgument when "path" (import) or "records" (state.import) is missing or not of the
  //     right type; ReadStateFile()'s errors; "state rejected, nothing changed: ..." (validation);
  //   Gateway::ImportAllowed()'s FailedPrecondition (a cloud-managed gateway);
  //   Unavailable "a state import is already running; try again when it has finished";
  //   the store's errors (nothing changed).
  void Start(nlohmann::json request, const ImportCaller& caller, Done done);

  bool running() const { return running_; }

 private:
  struct Job;
  void Run(Job job);

  Gateway& gateway_;
  const Poster post_;
  const StageHook stage_hook_;
  bool running_ = false;  // loop thread
  std::atomic<bool> cancel_{false};
  std::thread worker_;
  // Posted outcomes hold a weak reference: once the importer is gone they do nothing.
  std::shared_ptr<StateImporter*> self_ = std::make_shared<StateImporter*>(this);
};

}  // namespace lintel::core
