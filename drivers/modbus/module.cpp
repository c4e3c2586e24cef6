#include "drivers/modbus/module.h"

#include <algorithm>
#include <cassert>
#include <exception>
#include <set>

#include "gateway/base/log.h"

namespace lintel::modbus {
namespace {

// Consecutive Unavailable failures that make a module offline: one lost reply is noise on a busy
// RS-485 line, two in a row (>= 100 ms at the usual interval) is a module that is gone.
constexpr int kOfflineAfter = 2;
// SetOutput() requests waiting for the thread; beyond this the oldest are dropped (the desired
// state, the last request of each output, is what matters then).
constexpr size_t kMaxQueuedRequests = 256;

int64_t Ns(std::chrono::nanoseconds d) { return d.count(); }

}  // namespace

Status CheckModuleConfig(const ModuleConfig& config) {
  const std::string where = "modbus module '" + config.id + "': ";
  if (config.id.empty()) return Status::InvalidArgument("modbus module: id is empty");
  auto check_points = [&](const std::vector<NamedPoint>& points, const char* kind) -> Status {
    std::set<std::string> names;
    for (const NamedPoint& p : points) {
      if (p.name.empty()) return Status::InvalidArgument(where + "an " + kind + " has no name");
      if (!names.insert(p.name).second) {
        return Status::InvalidArgument(where + kind + " '" + p.name + "' is defined twice");
      }
      Status st = CheckPoint(p.point);
      if (!st.ok()) {
        return Status::InvalidArgument(where + kind + " '" + p.name + "': " + st.message());
      }
      if (std::string_view(kind) == "output" && !IsWritable(p.point)) {
        return Status::InvalidArgument(where + "output '" + p.name + "': a " +
                                       std::string(TableName(p.point.table)) +
                                       " cannot be written (use a coil or a holding_register bit)");
      }
    }
    return Status::Ok();
  };
  LINTEL_RETURN_IF_ERROR(check_points(config.inputs, "input"));
  LINTEL_RETURN_IF_ERROR(check_points(config.outputs, "output"));
  if (config.poll_interval.count() <= 0) {
    return Status::InvalidArgument(where + "poll interval must be > 0");
  }
  if (config.debounce.count() < 0) return Status::InvalidArgument(where + "debounce must be >= 0");
  if (config.backoff_min.count() <= 0 || config.backoff_max < config.backoff_min) {
    return Status::InvalidArgument(where + "backoff must be 0 < min <= max");
  }
  if (config.reassert_min.count() <= 0 || config.reassert_max < config.reassert_min) {
    return Status::InvalidArgument(where + "re-assert backoff must be 0 < min <= max");
  }
  if (config.fault_after < 1) return Status::InvalidArgument(where + "fault_after must be >= 1");
  if (config.watchdog && config.watchdog->period.count() <= 0) {
    return Status::InvalidArgument(where + "watchdog period must be > 0");
  }
  if (config.watchdog && config.watchdog->kind == Watchdog::Kind::kCoil) {
    for (const NamedPoint& p : config.outputs) {
      if (p.point.table == Table::kCoil && p.point.address == config.watchdog->register_address) {
        return Status::InvalidArgument(where + "the watchdog coil " +
                                       std::to_string(p.point.address) + " is also output '" +
                                       p.name + "'");
      }
    }
  }
  return Status::Ok();
}

namespace {

std::vector<ReadBlock> PlanAll(const ModuleConfig& config) {
  std::vector<Point> points;
  for (const NamedPoint& p : config.inputs) points.push_back(p.point);
  for (const NamedPoint& p : config.outputs) points.push_back(p.point);
  return PlanReads(points, config.max_gap);
}

}  // namespace

ModulePoller::ModulePoller(ModuleConfig config, ModbusLink& link, const Clock& clock,
                           ModuleCallbacks callbacks)
    : config_(std::move(config)),
      link_(link),
      clock_(clock),
      callbacks_(std::move(callbacks)),
      blocks_(PlanAll(config_)),
      backoff_ns_(Ns(config_.backoff_min)),
      debouncers_(config_.inputs.size(), Debouncer(Ns(config_.debounce))),
      desired_(config_.outputs.size()),
      tracks_(config_.outputs.size()),
      block_error_(blocks_.size()) {
  assert(CheckModuleConfig(config_).ok());
  for (OutputTrack& t : tracks_) t.retry_delay_ns = Ns(config_.reassert_min);
  health_.outputs.resize(config_.outputs.size());
  for (size_t i = 0; i < config_.outputs.size(); ++i) {
    health_.outputs[i].name = config_.outputs[i].name;
  }
}

int64_t ModulePoller::Now() const { return Ns(clock_.Monotonic().time_since_epoch()); }

std::optional<size_t> ModulePoller::OutputIndex(std::string_view name) const {
  for (size_t i = 0; i < config_.outputs.size(); ++i) {
    if (config_.outputs[i].name == name) return i;
  }
  return std::nullopt;
}

void ModulePoller::RequestOutput(size_t index, bool on) {
  if (index >= desired_.size()) return;
  desired_[index] = on;
  // A new request is written at once; a re-assert of it starts from the shortest delay.
  tracks_[index].retry_due.reset();
  tracks_[index].retry_delay_ns = Ns(config_.reassert_min);
  if (connected_) pending_.push_back({index, on});
  RefreshOutputHealth();
}

std::optional<bool> ModulePoller::DesiredOutput(size_t index) const {
  return index < desired_.size() ? desired_[index] : std::nullopt;
}

void ModulePoller::Shutdown() {
  link_.Close();
  connected_ = false;
  pending_.clear();
  next_connect_ns_ = 0;
}

void ModulePoller::Fail(const Status& why) {
  Status c = WithContext(why, "failed");
  ++health_.failures;
  health_.last_error = c.ToString();
  GoOffline(c, Now());
}

int64_t ModulePoller::Step() {
  int64_t now = Now();
  if (!connected_) {
    if (now < next_connect_ns_) return next_connect_ns_;
    TryConnect(now);
    if (!connected_) return next_connect_ns_;
    now = Now();
  }
  if (!pending_.empty() && now >= writes_not_before_ns_) {
    while (connected_ && !pending_.empty()) {
      const Outcome o = WriteOutput(pending_.front());
      if (o == Outcome::kUnavailable) {
        // Retried after a poll interval (or re-asserted after a reconnect: pending_ is cleared).
        writes_not_before_ns_ = Now() + Ns(config_.poll_interval);
        break;
      }
      pending_.pop_front();
    }
    if (!connected_) return next_connect_ns_;
    now = Now();
  }
  if (config_.watchdog && now >= next_watchdog_ns_) {
    WriteWatchdog(now);
    if (!connected_) return next_connect_ns_;
    now = Now();
  }
  if (now >= NextPollDue()) {
    Poll(now);
    if (!connected_) return next_connect_ns_;
    now = Now();
  }
  return NextWake(now);
}

void ModulePoller::FlushWrites() {
  while (connected_ && !pending_.empty()) {
    if (WriteOutput(pending_.front()) == Outcome::kUnavailable) break;
    pending_.pop_front();
  }
}

int64_t ModulePoller::NextPollDue() const {
  int64_t t = next_poll_ns_;
  for (const Debouncer& d : debouncers_) {
    // A deadline not after the last poll belongs to an input that poll could not read (its block
    // was refused): waiting for the interval is all that can be done.
    if (std::optional<int64_t> dl = d.Deadline(); dl && *dl > last_poll_ns_) t = std::min(t, *dl);
  }
  return t;
}

int64_t ModulePoller::NextWake(int64_t now) const {
  int64_t t = NextPollDue();
  if (config_.watchdog) t = std::min(t, next_watchdog_ns_);
  if (!pending_.empty()) t = std::min(t, std::max(writes_not_before_ns_, now));
  return t;
}

Status ModulePoller::WithContext(const Status& st, const std::string& context) const {
  return {st.code(), "modbus module '" + config_.id + "': " + context + ": " + st.message()};
}

void ModulePoller::TryConnect(int64_t now) {
  Status st = link_.Connect();
  if (!st.ok()) {
    Status c = WithContext(st, "connect");
    ++health_.failures;
    health_.last_error = c.ToString();
    GoOffline(c, now);
    return;
  }
  connected_ = true;
  if (ever_connected_) ++health_.reconnects;
  ever_connected_ = true;
  consecutive_failures_ = 0;
  for (Debouncer& d : debouncers_) d.Reset();
  for (OutputTrack& t : tracks_) {
    t.read_back.reset();
    t.report_read_back = true;  // the first reading after a connect is reported
    t.retry_due.reset();
  }
  watchdog_coil_on_ = true;
  register_cache_.clear();
  std::fill(block_error_.begin(), block_error_.end(), std::string());
  watchdog_error_reported_ = false;
  pending_.clear();
  for (size_t i = 0; i < desired_.size(); ++i) {
    if (desired_[i]) pending_.push_back({i, *desired_[i]});
  }
  writes_not_before_ns_ = 0;
  next_watchdog_ns_ = now;
  next_poll_ns_ = now;
  last_poll_ns_ = now;
}

void ModulePoller::GoOffline(const Status& why, int64_t now) {
  link_.Close();
  connected_ = false;
  pending_.clear();
  for (OutputTrack& t : tracks_) t.read_back.reset();
  RefreshOutputHealth();
  consecutive_failures_ = 0;
  next_connect_ns_ = now + backoff_ns_;
  backoff_ns_ = std::min(backoff_ns_ * 2, Ns(config_.backoff_max));
  if (state_ != State::kOffline) {
    state_ = State::kOffline;
    health_.online = false;
    if (callbacks_.on_online) callbacks_.on_online(false, why.message());
  }
}

void ModulePoller::OnUnavailable(const Status& st, int64_t now) {
  ++health_.failures;
  health_.last_error = st.ToString();
  if (++consecutive_failures_ >= kOfflineAfter) GoOffline(st, now);
}

void ModulePoller::SetOnline() {
  backoff_ns_ = Ns(config_.backoff_min);
  if (state_ == State::kOnline) return;
  const bool again = state_ == State::kOffline;
  state_ = State::kOnline;
  health_.online = true;
  if (callbacks_.on_online) callbacks_.on_online(true, again ? "answering again" : "answering");
}

ModulePoller::Outcome ModulePoller::Classify(const Status& st, const std::string& context,
                                             bool report) {
  if (st.ok()) {
    consecutive_failures_ = 0;
    return Outcome::kDone;
  }
  Status c = WithContext(st, context);
  if (st.code() == StatusCode::kUnavailable) {
    OnUnavailable(c, Now());
    return Outcome::kUnavailable;
  }
  // The module answered (an exception reply), or the request was impossible (nothing was sent):
  // either way it is no sign of a dead module.
  if (st.code() == StatusCode::kFailedPrecondition) consecutive_failures_ = 0;
  health_.last_error = c.ToString();
  if (report && callbacks_.on_error) callbacks_.on_error(c);
  return Outcome::kRefused;
}

ModulePoller::Outcome ModulePoller::WriteOutput(const PendingWrite& w) {
  const NamedPoint& out = config_.outputs[w.index];
  OutputTrack& track = tracks_[w.index];
  const bool raw = w.on != out.point.inverted;
  const std::string what = "output '" + out.name + "' " + (w.on ? "on" : "off");
  // Only the first failure of a streak is an on_error line; the rest are counted (kFault).
  const bool report = track.failures == 0 && !track.write_failed;
  Status st;
  if (out.point.table == Table::kCoil) {
    st = link_.WriteCoil(out.point.address, raw);
  } else {
    const uint16_t address = out.point.address;
    auto it = register_cache_.find(address);
    if (it == register_cache_.end()) {
      Result<std::vector<uint16_t>> r = link_.ReadRegisters(Table::kHoldingRegister, address, 1);
      if (!r.ok()) {
        st = Status(r.status().code(), "reading the register first: " + r.status().message());
      } else if (r->size() != 1) {
        st = Status::Unavailable("short register read");
      } else {
        it = register_cache_.emplace(address, (*r)[0]).first;
      }
    }
    if (st.ok()) {
      const auto mask = static_cast<uint16_t>(1u << out.point.bit);
      const auto value = static_cast<uint16_t>(raw ? (it->second | mask) : (it->second & ~mask));
      st = link_.WriteRegister(address, value);
      if (st.ok()) it->second = value;
    }
  }
  const Outcome o = Classify(st, what, report);
  const int64_t now = Now();
  if (o == Outcome::kDone) {
    track.write_failed = false;
    track.report_read_back = true;
    ReportOutput(w.index, OutputReport::Kind::kWritten, w.on);
  } else {
    track.write_failed = true;
    track.last_error = WithContext(st, what);
    ReportOutput(w.index, OutputReport::Kind::kWriteFailed, w.on, track.last_error);
    // Refused: re-asserted after the backoff, and a failure towards kFault. Not answered: the
    // write stays queued (Step) and the module soon goes offline and re-asserts on reconnect;
    // device.offline tells that story, it is no output fault.
    if (o == Outcome::kRefused) {
      if (!track.retry_due) track.retry_due = now + track.retry_delay_ns;
      NoteOutputFailure(w.index);
    }
  }
  return o;
}

void ModulePoller::ReportOutput(size_t index, OutputReport::Kind kind, bool value, Status error) {
  RefreshOutputHealth();
  if (!callbacks_.on_output) return;
  OutputReport r{kind, value, desired_[index], tracks_[index].failures, std::move(error)};
  callbacks_.on_output(config_.outputs[index].name, r);
}

void ModulePoller::RefreshOutputHealth() {
  for (size_t i = 0; i < tracks_.size(); ++i) {
    OutputHealth& h = health_.outputs[i];
    h.wanted = desired_[i];
    h.read_back = tracks_[i].read_back;
    h.failures = tracks_[i].failures;
    h.fault = tracks_[i].fault;
  }
}

bool ModulePoller::WritePending(size_t index) const {
  return std::any_of(pending_.begin(), pending_.end(),
                     [index](const PendingWrite& w) { return w.index == index; });
}

void ModulePoller::NoteOutputFailure(size_t index) {
  OutputTrack& t = tracks_[index];
  ++t.failures;
  if (t.failures >= config_.fault_after && !t.fault) {
    t.fault = true;
    Status why =
        t.last_error.ok()
            ? Status::FailedPrecondition("modbus module '" + config_.id + "': output '" +
                                         config_.outputs[index].name + "' reads back " +
                                         (t.read_back ? (*t.read_back ? "on" : "off") : "nothing") +
                                         ", wanted " + (*desired_[index] ? "on" : "off"))
            : t.last_error;
    ReportOutput(index, OutputReport::Kind::kFault, t.read_back.value_or(false), why);
  }
}

void ModulePoller::ClearOutputFailures(size_t index) {
  OutputTrack& t = tracks_[index];
  const bool was_fault = t.fault;
  t.failures = 0;
  t.fault = false;
  t.write_failed = false;
  t.retry_due.reset();
  t.retry_delay_ns = Ns(config_.reassert_min);
  t.last_error = Status::Ok();
  if (was_fault) ReportOutput(index, OutputReport::Kind::kFaultCleared, *t.read_back);
}

void ModulePoller::CheckOutputs(int64_t now, const std::vector<BlockData>& data) {
  for (size_t i = 0; i < config_.outputs.size(); ++i) {
    OutputTrack& t = tracks_[i];
    std::optional<bool> rb = PointValue(config_.outputs[i].point, blocks_, data);
    if (rb) {
      const bool report = t.report_read_back || t.read_back != rb;
      t.read_back = rb;
      t.report_read_back = false;
      if (report) ReportOutput(i, OutputReport::Kind::kReadBack, *rb);
    }
    if (!desired_[i] || WritePending(i)) continue;
    const bool wanted = *desired_[i];
    // Not as wanted: the read-back differs, or (no read-back) the module refused the last write.
    const bool off_target = rb ? *rb != wanted : t.write_failed;
    if (!off_target) {
      if (rb && (t.failures > 0 || t.fault || t.write_failed)) {
        ClearOutputFailures(i);
      } else if (rb) {
        t.retry_due.reset();
      }
      continue;
    }
    if (!t.retry_due) {
      t.retry_due = now + t.retry_delay_ns;  // a read-back that lags the write gets a moment
      continue;
    }
    if (now < *t.retry_due) continue;
    if (t.last_error.ok() && rb) {
      t.last_error = Status::FailedPrecondition(
          "modbus module '" + config_.id + "': output '" + config_.outputs[i].name +
          "' reads back " + (*rb ? "on" : "off") + ", wanted " + (wanted ? "on" : "off"));
    }
    // A write the module acknowledged that did not take (or no write at all) is a failure too; a
    // refused one was counted when it was refused.
    if (!t.write_failed) NoteOutputFailure(i);
    t.retry_delay_ns = std::min(t.retry_delay_ns * 2, Ns(config_.reassert_max));
    t.retry_due = now + t.retry_delay_ns;
    pending_.push_back({i, wanted});  // re-assert: written before the next poll
  }
  RefreshOutputHealth();
}

void ModulePoller::WriteWatchdog(int64_t now) {
  next_watchdog_ns_ = now + Ns(config_.watchdog->period);
  const Watchdog& wd = *config_.watchdog;
  Status st;
  if (wd.kind == Watchdog::Kind::kCoil) {
    st = link_.WriteCoil(wd.register_address, watchdog_coil_on_);
    if (st.ok()) watchdog_coil_on_ = !watchdog_coil_on_;
  } else {
    st = link_.WriteRegister(wd.register_address, wd.value);
  }
  const Outcome o = Classify(st, "watchdog", !watchdog_error_reported_);
  if (o == Outcome::kRefused) watchdog_error_reported_ = true;
  if (o == Outcome::kDone) watchdog_error_reported_ = false;
}

void ModulePoller::Poll(int64_t now) {
  last_poll_ns_ = now;
  next_poll_ns_ = now + Ns(config_.poll_interval);
  std::vector<BlockData> data(blocks_.size());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const ReadBlock& b = blocks_[i];
    Status st;
    if (IsBitTable(b.table)) {
      Result<std::vector<uint8_t>> r = link_.ReadBits(b.table, b.start, b.count);
      if (r.ok()) {
        data[i].bits = std::move(*r);
      } else {
        st = r.status();
      }
    } else {
      Result<std::vector<uint16_t>> r = link_.ReadRegisters(b.table, b.start, b.count);
      if (r.ok()) {
        data[i].registers = std::move(*r);
      } else {
        st = r.status();
      }
    }
    const std::string what = "poll " + std::string(TableName(b.table)) + " " +
                             std::to_string(b.start) + "+" + std::to_string(b.count);
    if (st.ok()) {
      consecutive_failures_ = 0;
      block_error_[i].clear();
      continue;
    }
    if (st.code() == StatusCode::kUnavailable) {
      OnUnavailable(WithContext(st, what), Now());
      return;  // the rest of this poll would only wait for more timeouts
    }
    const bool fresh = block_error_[i] != st.message();
    block_error_[i] = st.message();
    (void)Classify(st, what, fresh);
  }
  ++health_.polls;
  SetOnline();
  const int64_t t = Now();
  for (size_t j = 0; j < config_.inputs.size(); ++j) {
    std::optional<bool> v = PointValue(config_.inputs[j].point, blocks_, data);
    if (!v) continue;
    if (std::optional<bool> change = debouncers_[j].Feed(*v, t)) {
      if (callbacks_.on_input) callbacks_.on_input(config_.inputs[j].name, *change, t);
    }
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const ReadBlock& b = blocks_[i];
    if (b.table != Table::kHoldingRegister || data[i].registers.size() < b.count) continue;
    for (auto& [address, value] : register_cache_) {
      if (address >= b.start && int{address} < int{b.start} + int{b.count}) {
        value = data[i].registers[address - b.start];
      }
    }
  }
  CheckOutputs(t, data);
}

// --- ModbusModule ---

ModbusModule::ModbusModule(ModuleConfig config, std::unique_ptr<ModbusLink> link,
                           const Clock& clock, PostFn post, ModuleCallbacks callbacks)
    : config_(std::move(config)),
      link_(std::move(link)),
      clock_(clock),
      post_(std::move(post)),
      callbacks_(std::move(callbacks)) {
  for (size_t i = 0; i < config_.outputs.size(); ++i) {
    output_index_.emplace(config_.outputs[i].name, i);
  }
}

ModbusModule::~ModbusModule() { Stop(); }

int64_t ModbusModule::NowNs() const { return Ns(clock_.Monotonic().time_since_epoch()); }

Status ModbusModule::Start() {
  LINTEL_RETURN_IF_ERROR(CheckModuleConfig(config_));
  if (!link_) return Status::InvalidArgument("modbus module '" + config_.id + "': no link");
  {
    MutexLock lock(mu_);
    if (started_) {
      return Status::FailedPrecondition("modbus module '" + config_.id + "': already started");
    }
    started_ = true;
  }
  // Each event becomes one posted task holding copies of the callback and its arguments (never
  // `this`). These wrappers run on the module thread inside Step(); Publish() refreshes the health
  // snapshot first, so an owner reading Health() in a callback sees the state that caused it.
  ModuleCallbacks posted;
  if (callbacks_.on_input) {
    posted.on_input = [this, cb = callbacks_.on_input](const std::string& name, bool value,
                                                       int64_t t) {
      Publish([cb, name, value, t] { cb(name, value, t); });
    };
  }
  if (callbacks_.on_online) {
    posted.on_online = [this, cb = callbacks_.on_online](bool online, const std::string& reason) {
      Publish([cb, online, reason] { cb(online, reason); });
    };
  }
  if (callbacks_.on_error) {
    posted.on_error = [this, cb = callbacks_.on_error](const Status& error) {
      Publish([cb, error] { cb(error); });
    };
  }
  if (callbacks_.on_output) {
    posted.on_output = [this, cb = callbacks_.on_output](const std::string& name,
                                                         const OutputReport& report) {
      Publish([cb, name, report] { cb(name, report); });
    };
  }
  poller_ = std::make_unique<ModulePoller>(config_, *link_, clock_, std::move(posted));
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void ModbusModule::Publish(std::function<void()> task) {
  {
    MutexLock lock(mu_);
    health_ = poller_->health();
  }
  post_(std::move(task));
}

void ModbusModule::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status ModbusModule::SetOutput(std::string_view name, bool on) {
  auto it = output_index_.find(name);
  if (it == output_index_.end()) {
    return Status::NotFound("modbus module '" + config_.id + "': no output called '" +
                            std::string(name) + "'");
  }
  {
    MutexLock lock(mu_);
    if (requests_.size() >= kMaxQueuedRequests) requests_.pop_front();
    requests_.emplace_back(it->second, on);
  }
  cv_.notify_all();
  return Status::Ok();
}

ModuleHealth ModbusModule::Health() const {
  MutexLock lock(mu_);
  return health_;
}

int64_t ModbusModule::GuardedStep(const std::deque<std::pair<size_t, bool>>& requests) {
  // The thread boundary: nothing thrown below may end the process (std::terminate). The module is
  // marked failed (offline, retried after its backoff); the gateway and other modules go on.
  std::string what;
  try {
    for (const auto& [index, on] : requests) poller_->RequestOutput(index, on);
    return poller_->Step();
  } catch (const std::exception& e) {
    what = std::string("exception in the module thread: ") + e.what();
  } catch (...) {
    what = "unknown exception in the module thread";
  }
  LogError("modbus", "module '" + config_.id + "': " + what);
  try {
    poller_->Fail(Status::Internal(what));
  } catch (...) {
    // Reporting failed too (e.g. out of memory in post): the link is closed by Fail() first; the
    // next step retries after the backoff.
  }
  return NowNs() + Ns(config_.backoff_min);
}

void ModbusModule::Run() {
  std::deque<std::pair<size_t, bool>> batch;
  while (true) {
    {
      MutexLock lock(mu_);
      if (stop_) break;
      batch.swap(requests_);
    }
    const int64_t next = GuardedStep(batch);
    batch.clear();
    MutexLock lock(mu_);
    health_ = poller_->health();
    if (stop_ || !requests_.empty()) continue;
    const int64_t wait = std::min(next - NowNs(), Ns(kMaxSleep));
    if (wait <= 0) continue;
    cv_.wait_for(lock, std::chrono::nanoseconds(wait),
                 [this]() REQUIRES(mu_) { return stop_ || !requests_.empty(); });
  }
  // The owner's last requests (a daemon stopping sets its locks) still go out, if connected.
  {
    MutexLock lock(mu_);
    batch.swap(requests_);
  }
  for (const auto& [index, on] : batch) poller_->RequestOutput(index, on);
  try {
    poller_->FlushWrites();
  } catch (const std::exception& e) {
    LogError("modbus", "module '" + config_.id + "': final writes: exception: " + e.what());
  } catch (...) {
    LogError("modbus", "module '" + config_.id + "': final writes: unknown exception");
  }
  poller_->Shutdown();
  MutexLock lock(mu_);
  health_ = poller_->health();
}

}  // namespace lintel::modbus
