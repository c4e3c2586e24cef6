#include "drivers/modbus/module.h"

#include <algorithm>
#include <cassert>
#include <set>

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
  if (config.watchdog && config.watchdog->period.count() <= 0) {
    return Status::InvalidArgument(where + "watchdog period must be > 0");
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
      block_error_(blocks_.size()) {
  assert(CheckModuleConfig(config_).ok());
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
  if (connected_) pending_.push_back({index, on});
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
  const bool raw = w.on != out.point.inverted;
  const std::string what = "output '" + out.name + "' " + (w.on ? "on" : "off");
  if (out.point.table == Table::kCoil) {
    return Classify(link_.WriteCoil(out.point.address, raw), what, true);
  }
  const uint16_t address = out.point.address;
  auto it = register_cache_.find(address);
  if (it == register_cache_.end()) {
    Result<std::vector<uint16_t>> r = link_.ReadRegisters(Table::kHoldingRegister, address, 1);
    if (!r.ok()) return Classify(r.status(), what + " (reading the register first)", true);
    if (r->size() != 1) {
      return Classify(Status::Unavailable("short register read"), what, true);
    }
    it = register_cache_.emplace(address, (*r)[0]).first;
  }
  const auto mask = static_cast<uint16_t>(1u << out.point.bit);
  const auto value = static_cast<uint16_t>(raw ? (it->second | mask) : (it->second & ~mask));
  const Outcome o = Classify(link_.WriteRegister(address, value), what, true);
  if (o == Outcome::kDone) it->second = value;
  return o;
}

void ModulePoller::WriteWatchdog(int64_t now) {
  next_watchdog_ns_ = now + Ns(config_.watchdog->period);
  const Outcome o =
      Classify(link_.WriteRegister(config_.watchdog->register_address, config_.watchdog->value),
               "watchdog", !watchdog_error_reported_);
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

void ModbusModule::Run() {
  std::deque<std::pair<size_t, bool>> batch;
  while (true) {
    {
      MutexLock lock(mu_);
      if (stop_) break;
      batch.swap(requests_);
    }
    for (const auto& [index, on] : batch) poller_->RequestOutput(index, on);
    batch.clear();
    const int64_t next = poller_->Step();
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
  poller_->FlushWrites();
  poller_->Shutdown();
  MutexLock lock(mu_);
  health_ = poller_->health();
}

}  // namespace lintel::modbus
