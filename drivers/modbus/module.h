// ModbusModule: one digital I/O module (a unit on Modbus TCP or RTU) polled on its own thread.
//
// The driver carries out and reports; it never decides. It receives a typed ModuleConfig (the
// daemon builds it from YAML), reports debounced input changes, online/offline transitions and
// errors, and writes outputs when told to. NO/NC wiring is the points' `inverted` flag: every
// value here is logical (true = active).
//
// Two layers:
//  - ModulePoller: the whole behaviour as a single-threaded state machine over a ModbusLink and a
//    Clock. Step() does what is due and says when to call it again. Tests drive it with a FakeClock
//    and a fake link.
//  - ModbusModule: runs a ModulePoller on a dedicated thread (libmodbus blocks; the core loop must
//    never wait on it) and hands every callback to a `post` function (the daemon passes
//    EventLoop::Post), so callbacks run on the owner's thread, never on the module thread.
//
// Behaviour (both layers):
//  - An exception thrown inside the module thread (a bug, bad_alloc) is caught at the thread
//    boundary: the module is marked failed (Fail(): offline with the reason, retried after the
//    backoff); the process and the other modules go on.
//  - Connect at once; on success, first re-assert every output that has a desired state (in config
//    order), then write the watchdog (if any), then poll.
//  - Poll every `poll_interval`: the reads are PlanReads() over every input and output point (the
//    outputs are read back: an output-only relay board is still polled, and holding registers
//    keep their cached value fresh). Each input's value goes through a Debouncer(`debounce`);
//    `on_input` fires for every debounced change, and for the first reading of every input after
//    each (re)connect. When an input is waiting to be confirmed, the next poll comes at its
//    debounce deadline if that is sooner than the interval.
//  - Online: the first poll that gets an answer (data or exception replies) for every block.
//    Offline: 2 consecutive requests that fail with Unavailable (timeouts, a dead connection), or
//    a failed Connect() while not already offline. Going offline closes the link; Connect() is
//    retried after `backoff_min`, doubling after each failure up to `backoff_max`; the backoff is
//    reset by a successful poll. `on_online` fires on every transition, with the error as reason
//    when going offline.
//  - Exception replies (FailedPrecondition from the link) never make a module offline: they go to
//    `on_error`. A poll block that keeps failing is reported once per distinct message (again after
//    it has read fine or after a reconnect); its inputs keep their last reported value. A refused
//    watchdog write is reported once until one succeeds.
//  - Outputs are verified: each poll reads them back. An output whose write was refused (or not
//    answered) or whose read-back differs from its desired state is written again (re-asserted)
//    `reassert_min` later, doubling up to `reassert_max`, until the read-back matches; the first
//    failure of a streak goes to `on_error`, and after `fault_after` consecutive failed attempts
//    `on_output` reports kFault (once), then kFaultCleared when the read-back matches again.
//    Every write outcome and read-back worth knowing goes to `on_output` (OutputReport). Other
//    non-OK statuses from the link (InvalidArgument) are reported like exceptions.
//  - Outputs: SetOutput() records the desired state and queues a write, done before the next poll.
//    Every request is written in order (an on-then-off pulse is not merged away) while online;
//    while offline only the desired state is kept and re-asserted on reconnect. A coil is written
//    with FC05; a holding-register bit read-modify-write on the cached register value (read with
//    FC03 when not cached; the cache is dropped at each reconnect), then FC06.
//  - Watchdog: when configured, written after each connect and then every `period` (a value to a
//    holding register, or a toggled heartbeat coil: see Watchdog), so a module with a host watchdog
//    drops its outputs when the gateway dies. Stop() writes only what the owner asked for before it
//    (the watchdog is what protects a host that died without stopping).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "drivers/modbus/link.h"
#include "drivers/modbus/points.h"
#include "gateway/base/clock.h"
#include "gateway/base/mutex.h"
#include "gateway/base/status.h"

namespace lintel::modbus {

struct NamedPoint {
  std::string name;  // unique among the module's inputs, and among its outputs
  Point point;
};

// The host watchdog, written after each connect and then every `period`:
//  - kRegister: `value` written to holding register `address` (a module's "comm safety" timeout,
//    e.g. ADAM-6000 / WAGO: the module drops its outputs when the writes stop);
//  - kCoil: coil `address` toggled (1, 0, 1, ...; the first write after a connect is 1), a
//    heartbeat for modules without a watchdog register (small relay boards): wire an external
//    watchdog relay or timer to it, it is the only thing that notices a dead host there.
struct Watchdog {
  enum class Kind { kRegister, kCoil };
  uint16_t register_address = 0;  // the holding register (kRegister) or coil (kCoil) address
  uint16_t value = 0;             // kRegister only
  std::chrono::milliseconds period{1000};
  Kind kind = Kind::kRegister;
};

struct ModuleConfig {
  std::string id;                   // for messages ("door-io-1")
  std::vector<NamedPoint> inputs;   // any table
  std::vector<NamedPoint> outputs;  // writable points only: coils or holding-register bits
  std::chrono::milliseconds poll_interval{50};
  std::chrono::milliseconds debounce{30};
  std::optional<Watchdog> watchdog;
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{30000};
  int max_gap = 8;  // PlanReads: unused addresses read to save a request
  // Re-assert (outputs whose write was refused or whose read-back differs from the wanted state):
  // the first retry `reassert_min` after the failure, doubling up to `reassert_max`; after
  // `fault_after` consecutive failed attempts the output is reported faulty (kFault).
  std::chrono::milliseconds reassert_min{100};
  std::chrono::milliseconds reassert_max{2000};
  int fault_after = 3;
};

// Errors: InvalidArgument "modbus module 'id': ..." for an empty id, an empty or duplicate point
// name, a point failing CheckPoint(), an output that is not writable, poll_interval <= 0,
// debounce < 0, backoff_min <= 0, backoff_max < backoff_min, reassert_min <= 0, reassert_max <
// reassert_min, fault_after < 1, a watchdog period <= 0, a coil watchdog on an output's coil.
[[nodiscard]] Status CheckModuleConfig(const ModuleConfig& config);

// One output as the module knows it (ModuleHealth::outputs, parallel to config().outputs).
struct OutputHealth {
  std::string name;
  std::optional<bool> wanted;     // the desired state (nullopt: never set)
  std::optional<bool> read_back;  // the last value read back (nullopt: not read since connect)
  int failures = 0;               // consecutive failed attempts to make read_back == wanted
  bool fault = false;             // failures reached fault_after; cleared when they match
};

// What happened to an output (ModuleCallbacks::on_output).
struct OutputReport {
  enum class Kind {
    kWritten,       // the module acknowledged a write of `value`
    kWriteFailed,   // a write of `value` was refused (exception) or not answered; `error`
    kReadBack,      // `value` was read back: first reading after a connect, a change, or the
                    // first poll after a write of this output
    kFault,         // `failures` consecutive attempts failed; `error` is the last reason
    kFaultCleared,  // the read-back matches the wanted state again after a kFault
  };
  Kind kind;
  bool value = false;  // kWritten, kWriteFailed, kReadBack; else the read-back or the wanted state
  std::optional<bool> wanted;
  int failures = 0;
  Status error;
};

struct ModuleHealth {
  bool online = false;
  uint64_t polls = 0;       // polls that got an answer for every block
  uint64_t failures = 0;    // connects and requests that failed with Unavailable
  std::string last_error;   // the last non-OK status (Status::ToString()), empty if none yet
  uint64_t reconnects = 0;  // successful connects after the first
  std::vector<OutputHealth> outputs;  // parallel to config().outputs
};

// The module's reports. Any may be empty (not called).
struct ModuleCallbacks {
  // A debounced input change (or first reading after a (re)connect); t_mono_ns is the clock's
  // monotonic time (ns since its epoch) when the poll's reads completed.
  std::function<void(const std::string& name, bool value, int64_t t_mono_ns)> on_input;
  std::function<void(bool online, const std::string& reason)> on_online;
  std::function<void(const Status& error)> on_error;
  // An output's write outcome, read-back and fault transitions (see OutputReport).
  std::function<void(const std::string& name, const OutputReport& report)> on_output;
};

// The state machine. Not thread-safe: one thread calls everything (ModbusModule's thread, or a
// test). Callbacks are called synchronously from Step(). `link` and `clock` must outlive it.
class ModulePoller {
 public:
  // `config` must pass CheckModuleConfig() (checked by assert in debug builds).
  ModulePoller(ModuleConfig config, ModbusLink& link, const Clock& clock,
               ModuleCallbacks callbacks);

  // Does everything due now (connect, output writes, watchdog, poll; each may block on the link)
  // and returns when it wants to be called again: monotonic ns of `clock`. Calling it earlier is
  // harmless; the result may already be past when a link call took long.
  int64_t Step();

  // Index of the output called `name` in config().outputs; nullopt when there is none.
  std::optional<size_t> OutputIndex(std::string_view name) const;
  // Records the desired state of output `index` (< outputs.size(), else ignored) and, while
  // connected, queues its write for the next Step().
  void RequestOutput(size_t index, bool on);
  // The desired state of output `index` (nullopt: never set).
  std::optional<bool> DesiredOutput(size_t index) const;

  // Writes the queued output requests now when connected (no connect, no poll, stops at the first
  // Unavailable): the last word before Shutdown().
  void FlushWrites();

  // Closes the link. The next Step() connects again (without waiting for a backoff).
  void Shutdown();

  // Marks the module failed (an unexpected error in its thread, e.g. an exception): closes the
  // link, reports offline with `why` (once), records it as the last error and retries the connect
  // after the backoff, like an Unavailable connect.
  void Fail(const Status& why);

  const ModuleHealth& health() const { return health_; }
  const ModuleConfig& config() const { return config_; }
  const std::vector<ReadBlock>& plan() const { return blocks_; }
  bool connected() const { return connected_; }

 private:
  enum class State { kUnknown, kOnline, kOffline };
  enum class Outcome { kDone, kRefused, kUnavailable };
  struct PendingWrite {
    size_t index;
    bool on;
  };
  // Re-assert bookkeeping of one output (parallel to config_.outputs).
  struct OutputTrack {
    std::optional<bool> read_back;
    bool write_failed = false;         // the last write was refused or not answered
    bool report_read_back = false;     // report the next read-back (a write happened)
    std::optional<int64_t> retry_due;  // when the next re-assert may be written
    int64_t retry_delay_ns = 0;
    int failures = 0;
    bool fault = false;
    Status last_error;
  };

  int64_t Now() const;
  int64_t NextWake(int64_t now) const;
  int64_t NextPollDue() const;
  void TryConnect(int64_t now);
  void GoOffline(const Status& why, int64_t now);
  // Counts an Unavailable failure; the second in a row goes offline.
  void OnUnavailable(const Status& st, int64_t now);
  Outcome Classify(const Status& st, const std::string& context, bool report);
  Outcome WriteOutput(const PendingWrite& w);
  void WriteWatchdog(int64_t now);
  void Poll(int64_t now);
  // After a poll: reports read-backs, re-asserts outputs that are not as wanted (bounded backoff),
  // reports faults and their end.
  void CheckOutputs(int64_t now, const std::vector<BlockData>& data);
  void ReportOutput(size_t index, OutputReport::Kind kind, bool value, Status error = {});
  void NoteOutputFailure(size_t index);
  void ClearOutputFailures(size_t index);
  bool WritePending(size_t index) const;
  void RefreshOutputHealth();
  void SetOnline();
  Status WithContext(const Status& st, const std::string& context) const;

  const ModuleConfig config_;
  ModbusLink& link_;
  const Clock& clock_;
  const ModuleCallbacks callbacks_;
  const std::vector<ReadBlock> blocks_;

  State state_ = State::kUnknown;
  bool connected_ = false;
  bool ever_connected_ = false;
  int consecutive_failures_ = 0;
  int64_t backoff_ns_;
  int64_t next_connect_ns_ = 0;
  int64_t next_poll_ns_ = 0;
  int64_t last_poll_ns_ = 0;
  int64_t next_watchdog_ns_ = 0;
  int64_t writes_not_before_ns_ = 0;
  bool watchdog_error_reported_ = false;
  bool watchdog_coil_on_ = false;  // the next coil watchdog value

  std::vector<Debouncer> debouncers_;            // parallel to config_.inputs
  std::vector<std::optional<bool>> desired_;     // parallel to config_.outputs
  std::vector<OutputTrack> tracks_;              // parallel to config_.outputs
  std::deque<PendingWrite> pending_;             // writes to do while connected
  std::map<uint16_t, uint16_t> register_cache_;  // holding register address -> last known value
  std::vector<std::string> block_error_;         // parallel to blocks_: last reported message
  ModuleHealth health_;
};

// A ModulePoller on its own thread.
//
// Threads: every member may be called from any thread, except that the destructor and Stop() must
// not be called from inside a callback of this module that runs synchronously in `post` (the
// daemon's post only enqueues). Callbacks are delivered only through `post`, one post per event,
// in the order they happened; posted tasks capture copies of the callbacks, never the module, so
// they may run after the module is destroyed. Ownership: the module owns its link; `clock` must
// outlive the module, and `post` must stay callable until Stop() returned.
class ModbusModule {
 public:
  using PostFn = std::function<void(std::function<void()>)>;

  ModbusModule(ModuleConfig config, std::unique_ptr<ModbusLink> link, const Clock& clock,
               PostFn post, ModuleCallbacks callbacks);
  ~ModbusModule();  // Stop()
  ModbusModule(const ModbusModule&) = delete;
  ModbusModule& operator=(const ModbusModule&) = delete;

  // Starts the thread. Errors: InvalidArgument from CheckModuleConfig() (nothing started);
  // FailedPrecondition when called a second time (a module runs once).
  [[nodiscard]] Status Start();
  // Stops and joins the thread: returns once the link call in progress (if any) has returned,
  // i.e. within about the link's response timeout; output requests made before Stop() and not
  // yet written are then written if the module is connected (so a daemon's final "lock" reaches
  // it); then closes the link. Idempotent.
  void Stop();

  // Sets output `name` to `on` (logical). Never blocks on the link: records the request and wakes
  // the thread, which writes it before its next poll (or, if offline, on reconnect). May be
  // called before Start(). Errors: NotFound when the module has no output called `name`.
  [[nodiscard]] Status SetOutput(std::string_view name, bool on);

  // A snapshot, updated after each step of the thread and before each callback is posted (a
  // callback that reads it sees at least the state that caused it).
  ModuleHealth Health() const;
  const std::string& id() const { return config_.id; }

  // The thread never sleeps longer than this between two looks at the clock (so a clock that
  // jumps, like a test's FakeClock, is noticed).
  static constexpr std::chrono::milliseconds kMaxSleep{1000};

 private:
  void Run();
  // Hands `requests` to the poller and runs poller_->Step(), with every exception caught (the
  // thread boundary): logged, the module marked failed (ModulePoller::Fail), the next step after
  // backoff_min.
  int64_t GuardedStep(const std::deque<std::pair<size_t, bool>>& requests);
  // On the module thread: refreshes the health snapshot, then posts `task`.
  void Publish(std::function<void()> task);
  int64_t NowNs() const;

  const ModuleConfig config_;
  const std::unique_ptr<ModbusLink> link_;
  const Clock& clock_;
  const PostFn post_;
  const ModuleCallbacks callbacks_;
  std::map<std::string, size_t, std::less<>> output_index_;

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<std::pair<size_t, bool>> requests_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  bool started_ GUARDED_BY(mu_) = false;
  ModuleHealth health_ GUARDED_BY(mu_);
  std::unique_ptr<ModulePoller> poller_;  // used by the thread only, once started
  std::thread thread_;
};

}  // namespace lintel::modbus
