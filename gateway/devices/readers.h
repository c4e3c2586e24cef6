// Reader drivers in the daemon: one driver per configured reader that has a `type:`, chosen from an
// explicit factory table, its events handed to the core (core::Gateway::Admit) and its feedback
// played from the decision. The drivers turn hardware into credentials; the core decides.
//
// Threads: the core loop's thread only (construction, Apply, Status and every driver callback).
// Ownership: Readers owns its drivers; the loop, clock and gateway in ReaderContext must outlive
// it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"
#include "drivers/wiegand/feedback.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/core/gateway.h"

namespace lintel::devices {

// What every reader driver is given.
struct ReaderContext {
  EventLoop& loop;
  const Clock& clock;  // the loop's clock
  core::Gateway& gateway;
  // How long a driver whose device cannot be opened (or went away) first waits before trying
  // again; the wait doubles after each failure, up to 60 s, and starts over once it opened.
  std::chrono::milliseconds retry_after{5000};
  // Opens one feedback output line (LED, beeper); null: wiegand::GpioOutput::Open. Tests put
  // recording outputs here.
  std::function<Result<std::unique_ptr<wiegand::Output>>(const wiegand::GpioOutputConfig&)>
      open_output;
};

// One running reader driver. Constructing one never fails: a device that cannot be opened is
// logged, shown in Status() and retried with backoff (ReaderContext::retry_after, doubling to 60
// s).
class ReaderDriver {
 public:
  virtual ~ReaderDriver() = default;
  // State and counters for `lintelctl status`; never card numbers or PIN digits.
  virtual nlohmann::json Status() const = 0;
  // The last frames (at most `n`, oldest first) with every candidate decoding, for `lintelctl
  // reader last`: {"formats": [...], "frames": [...]} (shape in gateway/control/README.md); never
  // PIN digits. Null when this type keeps no frames.
  virtual nlohmann::json LastFrames(size_t /*n*/) const { return nullptr; }
};

// The factory table, one row per `readers[].type` (STYLE: explicit, no self-registration).
using ReaderFactory = std::unique_ptr<ReaderDriver> (*)(const ReaderContext& context,
                                                        const config::ReaderConfig& reader,
                                                        const rules::Policy& policy);
struct ReaderType {
  std::string_view type;
  ReaderFactory make;
};
std::span<const ReaderType> ReaderTypes();

// The running set of reader drivers.
class Readers {
 public:
  explicit Readers(ReaderContext context) : context_(context) {}
  ~Readers() = default;  // stops every driver (sockets closed, GPIO lines released)
  Readers(const Readers&) = delete;
  Readers& operator=(const Readers&) = delete;

  // Makes the running drivers match `config.readers` (at start and on SIGHUP): a reader whose
  // settings (and the PIN policy) are unchanged keeps running with its PIN buffer and counters;
  // a changed one is stopped, then started again; removed ones are stopped. Readers without a
  // type get no driver. Stops come before starts, so a device moved from one reader to another
  // is free when the new one opens it.
  void Apply(const config::Config& config);

  // {"<reader id>": driver status, ...} for the readers that have a driver.
  nlohmann::json Status() const;
  // The `reader.last` answer for reader `id`: {"reader", "door", "formats", "frames"}. Errors:
  // NotFound when `id` has no driver (naming those that do); FailedPrecondition when its type keeps
  // no frames.
  Result<nlohmann::json> LastFrames(std::string_view id, size_t n) const;
  size_t size() const { return drivers_.size(); }

 private:
  struct Running {
    config::ReaderConfig config;
    rules::Policy policy;
    std::unique_ptr<ReaderDriver> driver;
  };

  ReaderContext context_;
  std::map<std::string, Running, std::less<>> drivers_;
};

}  // namespace lintel::devices
