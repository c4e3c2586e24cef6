// Door I/O modules in the daemon: the capability the door layer needs from a module (set an output,
// report inputs and whether the module answers), and the factory table keyed by io_modules[].type.
//
// Threads: a module may run its own thread (Modbus is blocking), but every IoEvents callback is
// delivered on the core loop, and SetOutput/online/Status are called on the core loop only.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"

namespace lintel::devices {

// What a module reports about one of its outputs (the driver re-asserts an output until its
// read-back matches the wanted state; see drivers/modbus/module.h).
struct OutputEvent {
  enum class Kind {
    kWritten,       // the module acknowledged a write of `value`
    kWriteFailed,   // a write of `value` was refused or not answered (`error`)
    kReadBack,      // `value` was read back (first reading, a change, or after a write)
    kFault,         // `failures` attempts in a row did not bring it to `wanted` (`error`)
    kFaultCleared,  // it reads back as wanted again
  };
  Kind kind;
  bool value = false;
  std::optional<bool> wanted;
  int failures = 0;
  std::string error;
};

// What a module reports, on the core loop. Values are logical ("active"): the point's inversion
// (NC wiring) is applied by the module.
struct IoEvents {
  // An input point's debounced value changed, or was read for the first time after (re)connecting.
  std::function<void(std::string_view point, bool active, int64_t t_mono_ns)> on_input;
  // The module started or stopped answering.
  std::function<void(bool online, std::string reason)> on_online;
  // Something worth a log line that is not a connection change (an exception reply).
  std::function<void(const Status&)> on_error;
  // An output's write outcome, read-back or fault (see OutputEvent).
  std::function<void(std::string_view point, const OutputEvent& event)> on_output;
};

// One running module. Constructing one never fails and never blocks: a module that does not answer
// is reported offline and retried with backoff by the module itself.
class IoModule {
 public:
  virtual ~IoModule() = default;  // stops the module (its thread joined)
  // Sets an output point (logical value, inversion applied by the module); non-blocking. The
  // module keeps the desired state and asserts it again when it comes back after being offline.
  virtual void SetOutput(std::string_view point, bool active) = 0;
  virtual bool online() const = 0;
  virtual nlohmann::json Status() const = 0;  // for lintelctl status
};

struct IoContext {
  EventLoop& loop;
  const Clock& clock;
};

using IoModuleFactory = std::unique_ptr<IoModule> (*)(const IoContext& context,
                                                      const config::IoModuleConfig& module,
                                                      IoEvents events);
struct IoModuleType {
  std::string_view type;
  IoModuleFactory make;
};
// The factory table, one row per io_modules[].type ("modbus").
std::span<const IoModuleType> IoModuleTypes();

}  // namespace lintel::devices
