#include "gateway/cloud/sync.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "gateway/base/log.h"
#include "gateway/base/mutex.h"
#include "gateway/base/thread_priority.h"
#include "gateway/codec/json_text.h"

namespace lintel::cloud {
namespace {

using nlohmann::json;

std::string PosText(Position p) {
  return std::to_string(p.epoch) + "/" + std::to_string(p.version);
}

// The (epoch, version) a signed-but-unusable delta or snapshot claims, for its sync/ack. Read only
// from a payload whose signature verified.
std::optional<Position> ClaimedPosition(std::string_view jws, const Expect& expect) {
  Result<VerifiedJws> v = VerifyJws(jws, expect.keys);
  if (!v.ok()) return std::nullopt;
  Result<json> j = codec::ParseJsonText(v->payload, "payload");
  if (!j.ok() || !j->is_object()) return std::nullopt;
  auto u64 = [&](const char* k) -> std::optional<uint64_t> {
    auto it = j->find(k);
    if (it == j->end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<uint64_t>();
  };
  auto e = u64("epoch");
  auto ver = u64("version");
  if (!e || !ver) return std::nullopt;
  return Position{*e, *ver};
}

// The cloud.limits size of a message on `topic`.
size_t LimitFor(const config::CloudLimits& l, Topic topic) {
  switch (topic) {
    case Topic::kSyncHead:
      return static_cast<size_t>(l.head_bytes);
    case Topic::kSyncDelta:
      return static_cast<size_t>(l.delta_bytes);
    case Topic::kSyncSnapshot:
      return static_cast<size_t>(l.snapshot_page_bytes);
    case Topic::kEventsAck:
      return static_cast<size_t>(l.events_ack_bytes);
    case Topic::kCmdRequest:
      return static_cast<size_t>(l.command_bytes);
  }
  return static_cast<size_t>(l.head_bytes);
}

const char* LimitKey(Topic topic) {
  switch (topic) {
    case Topic::kSyncHead:
      return "head_bytes";
    case Topic::kSyncDelta:
      return "delta_bytes";
    case Topic::kSyncSnapshot:
      return "snapshot_page_bytes";
    case Topic::kEventsAck:
      return "events_ack_bytes";
    case Topic::kCmdRequest:
      return "command_bytes";
  }
  return "head_bytes";
}

}  // namespace

std::string_view SyncRejectReasonName(SyncRejectReason reason) {
  switch (reason) {
    case SyncRejectReason::kSignature:
      return "signature";
    case SyncRejectReason::kNotJson:
      return "not_json";
    case SyncRejectReason::kWrongType:
      return "wrong_type";
    case SyncRejectReason::kWrongSite:
      return "wrong_site";
    case SyncRejectReason::kWrongGateway:
      return "wrong_gateway";
    case SyncRejectReason::kBadField:
      return "bad_field";
    case SyncRejectReason::kBadRecords:
      return "bad_records";
    case SyncRejectReason::kInternal:
      return "internal";
    case SyncRejectReason::kStale:
      return "stale";
    case SyncRejectReason::kValidation:
      return "validation";
    case SyncRejectReason::kStore:
      return "store";
    case SyncRejectReason::kTooLarge:
      return "too_large";
    case SyncRejectReason::kOverload:
      return "overload";
  }
  return "internal";
}

SyncRejectReason FromParse(RejectReason reason) {
  switch (reason) {
    case RejectReason::kSignature:
      return SyncRejectReason::kSignature;
    case RejectReason::kNotJson:
      return SyncRejectReason::kNotJson;
    case RejectReason::kWrongType:
      return SyncRejectReason::kWrongType;
    case RejectReason::kWrongSite:
      return SyncRejectReason::kWrongSite;
    case RejectReason::kWrongGateway:
      return SyncRejectReason::kWrongGateway;
    case RejectReason::kBadField:
      return SyncRejectReason::kBadField;
    case RejectReason::kBadRecords:
      return SyncRejectReason::kBadRecords;
    case RejectReason::kInternal:
      return SyncRejectReason::kInternal;
  }
  return SyncRejectReason::kInternal;
}

// Snapshot pages in this process, raw, parsed or waiting to be staged (issue 13, point 5): the
// MQTT client's thread waits for a credit before it queues a page (holding back the broker's next
// message: TCP flow control), and the state worker returns it when it has staged the page (or
// wherever the page is dropped: the credit is released with it). So a snapshot streamed faster
// than the store can take it waits in the broker, not in this process. A page that finds no credit
// within kSnapshotPageWait goes on without one (the state worker stuck behind a long job must not
// cost the snapshot its pages).
class PageGate : public std::enable_shared_from_this<PageGate> {
 public:
  static constexpr size_t kPages = 8;

  // A credit (null after `wait` without one, or once closed).
  std::shared_ptr<const void> Acquire(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, wait, [&] { return closed_ || held_ < kPages; }) || closed_) {
      return nullptr;
    }
    ++held_;
    std::shared_ptr<PageGate> self = shared_from_this();
    return std::shared_ptr<const void>(self.get(), [self](const void*) { self->Release(); });
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }

 private:
  void Release() {
    std::lock_guard lock(mu_);
    --held_;
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  size_t held_ = 0;
  bool closed_ = false;
};

// Every message is verified and parsed off the core thread, so nothing a broker sends costs the
// core loop more than a size check and a queue push. A small pool (kParserThreads) verifies and
// parses messages in parallel (issue 13, point 5: the pages of a large snapshot), but their
// results are handed on strictly in the order the messages arrived: each carries a sequence number,
// and a finished result waits in a reorder window until every earlier one is out. The input queue
// is bounded (cloud.limits.queue_*: a message that finds it full is dropped and counted), and so is
// the window: a thread takes no new message while kParserWindow results are unfinished or waiting.
// What verifies (or is signed but unusable) is posted back one by one; what does not verify is only
// counted, and the counts are posted with at most one task in flight, so a flood of forgeries costs
// the core loop one task per batch, not one per message.
class CloudSync::Parser {
 public:
  // Threads verifying and parsing (2 on the 2-core boxes the gateway runs on; the core thread is
  // favoured by priority). Results are still delivered in arrival order.
  static constexpr size_t kParserThreads = 2;
  // Messages taken from the queue and not yet handed on (in work or waiting for an earlier one).
  static constexpr size_t kParserWindow = 2 * kParserThreads;

  // Signature failures counted on the parser threads, not yet collected by the core thread.
  struct Counted {
    size_t messages = 0;  // handled and not posted one by one (for pending_jobs)
    std::map<SyncRejectReason, Tally> tallies;  // first_at/last_at stamped by the core thread
    uint64_t faults = 0;
    std::string last_fault;
  };

  Parser(StateWorker::Poster post, size_t max_messages, size_t max_bytes,
         std::function<void()> fault)
      : post_(std::move(post)),
        max_messages_(max_messages),
        max_bytes_(max_bytes),
        fault_(std::move(fault)) {
    for (size_t i = 0; i < kParserThreads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~Parser() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    gate_->Close();
    cv_.notify_all();
    room_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // A message the MQTT client's thread may verify itself (Submit's `may_inline`) when the pool is
  // idle: one this small (a revocation, a tenant, a head, a command), at most kInlineBurst in a
  // row and then one per kInlineEvery of time not spent verifying (a token bucket), so that a
  // burst or a flood still goes to the pool's bounded queue (and is dropped there when it is full)
  // instead of holding the broker's connection.
  static constexpr size_t kInlineMaxBytes = 8 * 1024;
  static constexpr double kInlineBurst = 4;
  static constexpr std::chrono::microseconds kInlineEvery{1000};

  // Core thread or the MQTT client's thread. Queues `payload` for verification; false (nothing
  // queued) when the queue is full. `wait`: when full, first wait up to that long for room (only
  // ever on the MQTT client's thread: holding its callback holds back the broker's next message,
  // TCP flow control instead of a drop). `may_inline` (only on the MQTT client's thread): when
  // nothing is queued or in work and the token bucket allows, verify and parse it right here
  // (issue 13, point 2: a revocation is not handed to a parser thread that first has to be woken
  // and scheduled; the order is kept, it takes the next sequence number like any other).
  // `deliver` is posted with each usable result; `collect` when counts are waiting.
  bool Submit(Topic topic, std::string payload, std::shared_ptr<const Expect> expect,
              std::chrono::milliseconds wait = std::chrono::milliseconds(0),
              bool may_inline = false) {
    // A snapshot page first waits for a credit (PageGate): it holds one from here, raw, parsed
    // and staged, until the state worker frees it.
    std::shared_ptr<const void> hold;
    if (topic == Topic::kSyncSnapshot && wait.count() > 0) hold = gate_->Acquire(wait);
    {
      std::unique_lock lock(mu_);
      if (may_inline && !stop_ && queue_.empty() && taken_ == next_out_ && TakeInlineToken()) {
        Item item{next_seq_++, topic, std::move(payload), std::move(expect), std::move(hold)};
        ++taken_;
        ++inlined_;
        lock.unlock();
        Done done = Handle(item);
        lock.lock();
        // The time spent here earns no token: back to back, only kInlineBurst are verified here.
        inline_at_ = std::chrono::steady_clock::now();
        Finish(lock, item.seq, std::move(done));
        return true;
      }
      auto full = [&] {
        return queue_.size() >= max_messages_ ||
               (!queue_.empty() && bytes_ + payload.size() > max_bytes_);
      };
      if (full() && wait.count() > 0) {
        room_cv_.wait_for(lock, wait, [&] { return stop_ || !full(); });
      }
      if (stop_ || full()) return false;
      bytes_ += payload.size();
      queue_.push_back(
          {next_seq_++, topic, std::move(payload), std::move(expect), std::move(hold)});
    }
    cv_.notify_all();
    return true;
  }

  void SetSinks(
      std::function<void(Topic, std::string, std::shared_ptr<Result<Message>>, Rejection)> deliver,
      std::function<void()> collect) {
    deliver_ = std::move(deliver);
    collect_ = std::move(collect);
  }

  // Messages verified on the submitting thread so far (Submit's `may_inline`).
  uint64_t inlined() {
    std::lock_guard lock(mu_);
    return inlined_;
  }

  // Core thread: the counts since the last call.
  Counted Take() {
    std::lock_guard lock(mu_);
    Counted out = std::move(counted_);
    counted_ = {};
    collect_posted_ = false;
    return out;
  }

 private:
  struct Item {
    uint64_t seq = 0;
    Topic topic = Topic::kSyncHead;
    std::string payload;
    std::shared_ptr<const Expect> expect;
    std::shared_ptr<const void> hold;  // a snapshot page's credit (PageGate)
  };
  // What became of one message, handed on in `seq` order.
  struct Done {
    Topic topic = Topic::kSyncHead;
    std::string payload;                   // posted with the result
    std::shared_ptr<Result<Message>> msg;  // null: only counted
    std::shared_ptr<Rejection> why;
    SyncRejectReason counted = SyncRejectReason::kInternal;
    std::string error;  // of a counted one
  };

  void Run() {
    NameThisThread("sync-parser");
    // Below the core thread: on a busy box, verifying a flood never takes the CPU from decisions;
    // above the state worker: a revocation is not parsed after a snapshot's time slice.
    LowerThisThreadPriority(kMessageNiceAbove, Slice::kShort);
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock,
               [&] { return stop_ || (!queue_.empty() && taken_ - next_out_ < kParserWindow); });
      if (stop_) return;
      Item item = std::move(queue_.front());
      queue_.pop_front();
      bytes_ -= item.payload.size();
      ++taken_;
      room_cv_.notify_all();
      lock.unlock();
      Done done = Handle(item);
      lock.lock();
      Finish(lock, item.seq, std::move(done));
    }
  }

  // `lock` held on mu_: files the result of message `seq` and, unless another thread is already
  // at it, hands on every result that is next in arrival order.
  void Finish(std::unique_lock<std::mutex>& lock, uint64_t seq, Done done) {
    finished_.emplace(seq, std::move(done));
    if (emitting_) return;  // the thread emitting hands this one on in its turn
    emitting_ = true;
    while (!finished_.empty() && finished_.begin()->first == next_out_) {
      Done next = std::move(finished_.begin()->second);
      finished_.erase(finished_.begin());
      lock.unlock();
      Emit(next);
      lock.lock();
      ++next_out_;
      cv_.notify_all();  // the window has room again
    }
    emitting_ = false;
  }

  // mu_ held: whether the token bucket has a message to spare for Submit's inline path.
  bool TakeInlineToken() {
    const auto now = std::chrono::steady_clock::now();
    inline_tokens_ =
        std::min(kInlineBurst, inline_tokens_ + std::chrono::duration<double>(now - inline_at_) /
                                                    std::chrono::duration<double>(kInlineEvery));
    inline_at_ = now;
    if (inline_tokens_ < 1) return false;
    inline_tokens_ -= 1;
    return true;
  }

  // Verifies and parses one message; nothing escapes (issue 10, point 13): a throw is counted as
  // the parser's fault and the message as rejected (`internal`).
  Done Handle(Item& item) {
    Done done;
    done.topic = item.topic;
    std::string fault;
    try {
      if (fault_) fault_();
      auto why = std::make_shared<Rejection>();
      auto m = std::make_shared<Result<Message>>(
          ParseCloudMessage(item.topic, item.payload, *item.expect, why.get()));
      if (!m->ok() && why->reason == RejectReason::kSignature) {
        done.counted = SyncRejectReason::kSignature;
        done.error = m->status().message();
        return done;
      }
      if (m->ok()) {
        if (auto* page = std::get_if<SnapshotPage>(&**m)) page->hold = std::move(item.hold);
      }
      done.msg = std::move(m);
      done.why = std::move(why);
      done.payload = std::move(item.payload);
      return done;
    } catch (const std::exception& e) {
      fault = e.what();
    } catch (...) {
      fault = "unknown exception";
    }
    try {
      LogError("sync", "parser thread: caught " + fault + "; the message is dropped");
      std::lock_guard lock(mu_);
      ++counted_.faults;
      counted_.last_fault = fault;
    } catch (...) {
    }
    done.msg = nullptr;
    done.counted = SyncRejectReason::kInternal;
    done.error = "internal error: " + fault;
    return done;
  }

  // In arrival order, one at a time (emitting_).
  void Emit(Done& done) {
    if (!done.msg) {
      Count(done.counted, done.topic, done.error);
      return;
    }

    post_([deliver = deliver_, t = done.topic, payload = std::move(done.payload), m = done.msg,
           why = done.why] { deliver(t, payload, m, *why); });
  }

  void Count(SyncRejectReason reason, Topic topic, const std::string& error) {
    bool post = false;
    {
      std::lock_guard lock(mu_);
      ++counted_.messages;
      Tally& t = counted_.tallies[reason];
      if (t.count++ == 0) {
        t.topic = std::string(TopicSuffix(topic));
        t.error = error;
      }
      if (!collect_posted_) collect_posted_ = post = true;
    }
    if (post) post_(collect_);
  }

  StateWorker::Poster post_;
  const size_t max_messages_;
  const size_t max_bytes_;
  std::function<void()> fault_;  // called on any parser thread, possibly concurrently
  // Set before the first Submit, read on the parser threads only after (the queue's mutex orders
  // them).
  std::function<void(Topic, std::string, std::shared_ptr<Result<Message>>, Rejection)> deliver_;
  std::function<void()> collect_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable room_cv_;  // a message left the queue (Submit's wait)
  std::deque<Item> queue_;           // guarded by mu_, as are the members down to stop_
  size_t bytes_ = 0;
  uint64_t next_seq_ = 0;              // given to the next message submitted
  uint64_t taken_ = 0;                 // messages taken from the queue
  uint64_t next_out_ = 0;              // the seq to be handed on next
  std::map<uint64_t, Done> finished_;  // handled, waiting for an earlier one (<= kParserWindow)
  bool emitting_ = false;              // a thread is handing results on
  double inline_tokens_ = kInlineBurst;
  std::chrono::steady_clock::time_point inline_at_{};  // inline_tokens_ as of then
  uint64_t inlined_ = 0;
  Counted counted_;
  bool collect_posted_ = false;
  bool stop_ = false;
  std::shared_ptr<PageGate> gate_ = std::make_shared<PageGate>();
  std::vector<std::thread> threads_;
};

CloudSync::CloudSync(const config::Config& config, SyncHost& host, std::string boot_id,
                     const Clock& clock)
    : config_(config), host_(host), boot_id_(std::move(boot_id)), clock_(clock) {
  Result<Topics> t = Topics::Make(config.site_id, config.gateway_id);
  if (t.ok()) topics_ = std::move(*t);  // a loaded config always has valid ids
  expect_ = std::make_shared<const Expect>(
      Expect{config.site_id, config.gateway_id, config.trusted_keys});
}

Status CloudSync::Start(StateWorker::Poster post) {
  post_ = post;
  Result<Position> at = host_.store().AppliedPosition();
  if (!at.ok()) return at.status();
  applied_ = pending_ = *at;
  Result<std::optional<std::string>> exp = host_.store().GetMeta("head_expires_at");
  if (!exp.ok()) return exp.status();
  if (exp->has_value()) {
    Result<Instant> t = ParseRfc3339(**exp);
    if (t.ok()) head_expires_at_ = *t;
  }
  Result<std::vector<store::JournalEvent>> first = host_.store().ReadFrom(0, 1);
  if (!first.ok()) return first.status();
  Result<uint64_t> last = host_.store().LastSeq();
  if (!last.ok()) return last.status();
  acked_ = first->empty() ? *last : first->front().seq - 1;
  next_send_ = acked_ + 1;
  sent_upto_ = acked_;
  parser_ = std::make_unique<Parser>(post, static_cast<size_t>(config_.cloud.limits.queue_messages),
                                     static_cast<size_t>(config_.cloud.limits.queue_bytes),
                                     faults_.parser);
  parser_->SetSinks(
      [this](Topic t, std::string payload, std::shared_ptr<Result<Message>> m, Rejection why) {
        --parses_in_flight_;  // counted before it was submitted
        Dispatch(t, payload, std::move(*m), why);
      },
      [this] { CollectParserRejections(); });
  ShareWithOffLoop();
  worker_ = std::make_unique<StateWorker>(
      config_.store_path, config::MakeSite(config_), host_.engine().index(), std::move(post),
      [this](StateOutcome o) { OnOutcome(std::move(o)); }, open_store_, faults_.worker);
  ApplyOfflinePolicy();
  return Status::Ok();
}

Status CloudSync::CheckReload(const config::Config& config) const {
  if (config.site_id != config_.site_id || config.gateway_id != config_.gateway_id) {
    return Status::FailedPrecondition(
        "site.id and gateway.id cannot change while running (topics and signatures name them); "
        "restart lintel");
  }
  return Status::Ok();
}

Status CloudSync::Reload(const config::Config& config) {
  LINTEL_RETURN_IF_ERROR(CheckReload(config));
  config_ = config;
  expect_ = std::make_shared<const Expect>(
      Expect{config.site_id, config.gateway_id, config.trusted_keys});
  ShareWithOffLoop();
  if (worker_) Submit(SiteJob{config::MakeSite(config_)});
  ApplyOfflinePolicy();
  return Status::Ok();
}

void CloudSync::Submit(StateJob job) {
  ++jobs_outstanding_;
  worker_->Submit(std::move(job));
}

Instant CloudSync::Now() { return host_.engine().EffectiveNow(host_.WallNow()); }

// ---- link
// -----------------------------------------------------------------------------------------

void CloudSync::OnConnected(uint32_t session) {
  connected_ = true;
  session_ = session;
  last_request_.clear();
  PublishState();
  // Everything journaled before this connection waited: it goes out flagged historical, from the
  // first event the cloud has not acknowledged (the broker's PUBACK proves nothing).
  Result<uint64_t> last = host_.store().LastSeq();
  historical_upto_ = std::max(historical_upto_, last.ok() ? *last : sent_upto_);
  next_send_ = acked_ + 1;
  last_ack_progress_ = clock_.Monotonic();
  PumpOutbox();
}

void CloudSync::OnDisconnected(const std::string& reason) {
  connected_ = false;
  LogInfo("sync", "cloud link down (" + reason + "); doors keep deciding on state " +
                      PosText(applied_) + ", events stay queued");
}

void CloudSync::Publish(const std::string& topic, const std::string& payload, bool retain) {
  if (!link_ || !connected_) return;
  if (!link_->Publish(topic, payload, 1, retain)) {
    LogWarning("sync", "could not queue a publish on " + topic + " (link busy or down)");
  }
}

void CloudSync::PublishState() {
  if (!link_ || !connected_) {
    state_dirty_ = true;
    return;
  }
  GatewayState s;
  s.online = true;
  s.boot_id = boot_id_;
  s.session = session_;
  s.epoch = applied_.epoch;
  s.version = applied_.version;
  s.clock_synced = host_.ClockSynced();
  Result<uint64_t> n = host_.store().Count();
  s.outbox = n.ok() ? *n : 0;
  s.unwritten = host_.UnwrittenEvents();
  s.lost = host_.LostEvents();
  published_backlog_ = {s.unwritten, s.lost};
  backlog_published_tick_ = ticks_;
  s.ts = host_.WallNow();
  state_dirty_ = !link_->Publish(topics_.state, StatePayload(s), 1, true);
}

// ---- inbound
// --------------------------------------------------------------------------------------

CloudSync::~CloudSync() = default;

void CloudSync::OnMessage(const std::string& topic_name, const std::string& payload) {
  ++counters_.messages;
  std::optional<Topic> topic = topics_.Match(topic_name);
  if (!topic) return;  // not subscribed; nothing to do
  const size_t limit = LimitFor(config_.cloud.limits, *topic);
  if (payload.size() > limit) {
    CountRejection(SyncRejectReason::kTooLarge, TopicSuffix(*topic),
                   std::string(MessageType(*topic)) + ": message of " +
                       std::to_string(payload.size()) + " bytes, the limit is " +
                       std::to_string(limit) + " (cloud.limits." + LimitKey(*topic) + ")");
    return;
  }
  if (!parser_) {  // before Start(): parsed here
    Rejection why;
    Result<Message> m = ParseCloudMessage(*topic, payload, *expect_, &why);
    Dispatch(*topic, payload, std::move(m), why);
    return;
  }
  ++parses_in_flight_;
  if (!parser_->Submit(*topic, payload, expect_)) {
    --parses_in_flight_;
    CountRejection(SyncRejectReason::kOverload, TopicSuffix(*topic), OverloadError(*topic));
  }
}

std::string CloudSync::OverloadError(Topic topic) {
  return std::string(MessageType(topic)) +
         ": dropped unread, the parser's queue is full (cloud.limits.queue_messages, queue_bytes)";
}

void CloudSync::ShareWithOffLoop() {
  std::lock_guard lock(offloop_mu_);
  offloop_expect_ = expect_;
  offloop_limits_ = config_.cloud.limits;
}

bool CloudSync::TakeOffLoop(const std::string& topic_name, const std::string& payload) {
  if (!parser_) return false;  // before Start(): set before the link starts, never reset
  std::optional<Topic> topic = topics_.Match(topic_name);
  if (!topic) return false;
  std::shared_ptr<const Expect> expect;
  {
    std::lock_guard lock(offloop_mu_);
    if (payload.size() > LimitFor(offloop_limits_, *topic)) return false;  // counted on the loop
    expect = offloop_expect_;
  }
  ++offloop_messages_;
  ++parses_in_flight_;
  // Snapshot pages come in bursts of hundreds (a whole building): when the queue is full, the
  // page waits for room (the broker holds back the rest) rather than being dropped, which would
  // cost the whole snapshot. Bounded, so a flood of forged pages still ends in drops.
  const auto wait =
      *topic == Topic::kSyncSnapshot ? kSnapshotPageWait : std::chrono::milliseconds(0);
  const bool may_inline =
      *topic != Topic::kSyncSnapshot && payload.size() <= Parser::kInlineMaxBytes;
  if (!parser_->Submit(*topic, payload, std::move(expect), wait, may_inline)) {
    --parses_in_flight_;
    std::lock_guard lock(offloop_mu_);
    ++offloop_overload_[*topic];
  }
  return true;
}

void CloudSync::CollectOffLoop() {
  counters_.messages += offloop_messages_.exchange(0);
  std::map<Topic, uint64_t> overload;
  {
    std::lock_guard lock(offloop_mu_);
    overload.swap(offloop_overload_);
  }
  for (const auto& [topic, n] : overload) {
    CountRejection(SyncRejectReason::kOverload, TopicSuffix(topic), OverloadError(topic), n);
  }
}

void CloudSync::CollectParserRejections() {
  Parser::Counted c = parser_->Take();
  parses_in_flight_ -= c.messages;  // each was counted in flight before it was submitted
  CollectOffLoop();
  if (c.faults > 0) {
    counters_.parser_faults += c.faults;
    parser_last_error_ = c.last_fault;
  }
  for (auto& [reason, t] : c.tallies) CountRejection(reason, t.topic, t.error, t.count);
}

void CloudSync::Dispatch(Topic topic, const std::string& payload, Result<Message> m,
                         const Rejection& why) {
  if (!m.ok()) {
    Reject(topic, payload, m.status(), FromParse(why.reason));
    return;
  }
  std::visit(
      [&](auto& msg) {
        using M = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<M, Head>) OnHead(msg);
        if constexpr (std::is_same_v<M, Delta>) OnDelta(std::move(msg));
        if constexpr (std::is_same_v<M, SnapshotPage>) OnSnapshotPage(std::move(msg));
        if constexpr (std::is_same_v<M, EventsAck>) OnEventsAck(msg);
        if constexpr (std::is_same_v<M, Command>) OnCommand(msg);
      },
      *m);
}

void CloudSync::Reject(Topic topic, const std::string& payload, const Status& error,
                       SyncRejectReason reason) {
  CountRejection(reason, TopicSuffix(topic), error.message());
  // A signed delta or snapshot page the gateway cannot use is answered (the cloud must fix it).
  // Not answered: an unsigned or forged one (nothing it claims is trusted), and one addressed to
  // another site or gateway (issue 10, point 9: an ack on this gateway's topic with the foreign
  // version could be taken for a rejection of the cloud's own delta to this gateway).
  const bool answer =
      reason != SyncRejectReason::kSignature && reason != SyncRejectReason::kWrongSite &&
      reason != SyncRejectReason::kWrongGateway && reason != SyncRejectReason::kInternal;
  if ((topic == Topic::kSyncDelta || topic == Topic::kSyncSnapshot) && answer) {
    if (std::optional<Position> p = ClaimedPosition(payload, *expect_)) {
      Publish(topics_.sync_ack,
              SyncAck(p->epoch, p->version, AckResult::kRejected, error.message()));
    }
  }
}

void CloudSync::CountRejection(SyncRejectReason reason, std::string_view topic,
                               const std::string& error, uint64_t n) {
  if (n == 0) return;
  counters_.rejected += n;
  counters_.rejected_by_reason[std::string(SyncRejectReasonName(reason))] += n;
  Instant now = host_.WallNow();
  Tally& t = tallies_[reason];
  if (t.count == 0) {
    t.first_at = now;
    t.topic = std::string(topic);
    t.error = error;
  }
  t.count += n;
  t.last_at = now;
  auto last = last_journaled_.find(reason);
  const auto interval = std::chrono::seconds(config_.cloud.limits.reject_journal_interval_s);
  if (last == last_journaled_.end() || clock_.Monotonic() - last->second >= interval) {
    JournalTally(reason, t);
  }
}

void CloudSync::JournalTally(SyncRejectReason reason, Tally& t) {
  const std::string name(SyncRejectReasonName(reason));
  LogWarning("sync",
             (t.count == 1 ? std::string("rejected a message")
                           : "rejected " + std::to_string(t.count) + " messages") +
                 " on " + t.topic + " (" + name + ")" +
                 (t.count == 1 ? "" : " since " + FormatRfc3339(t.first_at) + ", the first") +
                 ": " + t.error);
  (void)host_.JournalNow({{"type", "sync.rejected"},
                          {"topic", t.topic},
                          {"reason", name},
                          {"error", t.error},
                          {"count", t.count},
                          {"first_at", FormatRfc3339(t.first_at)},
                          {"last_at", FormatRfc3339(t.last_at)}});
  ++counters_.rejected_journaled;
  last_journaled_[reason] = clock_.Monotonic();
  t = Tally{};
}

void CloudSync::FlushRejections(bool force) {
  const auto interval = std::chrono::seconds(config_.cloud.limits.reject_journal_interval_s);
  for (auto& [reason, t] : tallies_) {
    if (t.count == 0) continue;
    auto last = last_journaled_.find(reason);
    if (force || last == last_journaled_.end() || clock_.Monotonic() - last->second >= interval) {
      JournalTally(reason, t);
    }
  }
}

void CloudSync::CollectLinkDrops() {
  if (!link_) return;
  LinkHealth h = link_->health();
  if (h.dropped_too_large > link_seen_.dropped_too_large) {
    CountRejection(SyncRejectReason::kTooLarge, "link",
                   "messages above their topic's cloud.limits dropped unread by the MQTT link",
                   h.dropped_too_large - link_seen_.dropped_too_large);
  }
  if (h.dropped_overload > link_seen_.dropped_overload) {
    CountRejection(SyncRejectReason::kOverload, "link",
                   "messages dropped unread by the MQTT link: its receive queue was full "
                   "(cloud.limits.queue_messages, queue_bytes)",
                   h.dropped_overload - link_seen_.dropped_overload);
  }
  link_seen_ = std::move(h);
}

void CloudSync::OnHead(const Head& head) {
  host_.NoteSignedTime(head.issued_at, head.expires_at);  // before Now(): it may fix the floor
  Instant now = Now();
  if (head.expires_at < now) {
    Reject(Topic::kSyncHead, "",
           Status::FailedPrecondition("head " + std::to_string(head.version) + " expired at " +
                                      FormatRfc3339(head.expires_at) + " (now " +
                                      FormatRfc3339(now) + ")"),
           SyncRejectReason::kStale);
    return;
  }
  if (!head_expires_at_ || head.expires_at > *head_expires_at_) {
    head_expires_at_ = head.expires_at;
    Status st = host_.SetMetaLater("head_expires_at", FormatRfc3339(head.expires_at));
    if (!st.ok()) LogWarning("sync", "cannot store the head's expiry: " + st.ToString());
  }
  head_ = head;
  ApplyOfflinePolicy();
  HeadVerdict v = JudgeHead(pending_, head);
  switch (v.action) {
    case HeadVerdict::Action::kNothing:
      break;
    case HeadVerdict::Action::kRequestDeltas:
      RequestDeltas();
      break;
    case HeadVerdict::Action::kRequestSnapshot:
      RequestSnapshot(v.reason);
      break;
    case HeadVerdict::Action::kStale:
      CountRejection(SyncRejectReason::kStale, TopicSuffix(Topic::kSyncHead),
                     "ignored head " + PosText({head.epoch, head.version}) + ": " + v.reason);
      break;
  }
}

void CloudSync::OnDelta(Delta delta) {
  host_.NoteSignedTime(delta.issued_at, std::nullopt);
  DeltaVerdict v = JudgeDelta(pending_, delta);
  Position to{delta.epoch, delta.version};
  switch (v.action) {
    case DeltaVerdict::Action::kApply:
      if (jobs_outstanding_ >= MaxQueuedJobs()) return ShedDelta(to, delta.ops);
      pending_ = to;
      EnforceEarly(to, delta.ops);
      Submit(DeltaJob{{delta.epoch, delta.prev}, to, std::move(delta.ops)});
      break;
    case DeltaVerdict::Action::kDuplicate:
      ++counters_.duplicates;
      LogDebug("sync", "dropped delta " + PosText(to) + ": " + v.reason);
      break;
    case DeltaVerdict::Action::kGap:
      if (in_memory_deltas_ > 0 && Position{delta.epoch, delta.prev} == in_memory_upto_) {
        if (jobs_outstanding_ >= MaxQueuedJobs()) return ShedDelta(to, delta.ops);
        // It follows the delta the doors enforce from memory (the store could not write it): the
        // worker keeps it in memory too if it only restricts, or answers with the store's error.
        pending_ = to;
        Submit(DeltaJob{{delta.epoch, delta.prev}, to, std::move(delta.ops)});
        break;
      }
      if (shedding_) return ShedDelta(to, delta.ops);  // behind a shed one: requested with it
      ++counters_.gaps;
      LogWarning("sync", "delta " + PosText(to) + ": " + v.reason);
      Publish(topics_.sync_ack, SyncAck(delta.epoch, delta.version, AckResult::kGap, v.reason));
      RequestDeltas();
      break;
    case DeltaVerdict::Action::kRequestSnapshot:
      RequestSnapshot(v.reason);
      break;
  }
}

void CloudSync::OnSnapshotPage(SnapshotPage page) {
  std::string label = "snapshot " + PosText({page.epoch, page.version}) + " page " +
                      std::to_string(page.page) + "/" + std::to_string(page.pages);
  Status st = stager_.Add(pending_, std::move(page), snapshot_requested_);
  if (!st.ok()) {
    CountRejection(SyncRejectReason::kStale, TopicSuffix(Topic::kSyncSnapshot),
                   "ignored " + label + ": " + st.message());
    return;
  }
  // Each page goes to the worker as soon as the ones before it did: staged in the store as it
  // comes, so neither the core loop nor the worker holds the whole state (issue 13, point 5).
  for (SnapshotPage& p : stager_.TakeReady()) {
    worker_->Submit(SnapshotPageJob{{p.epoch, p.version},
                                    p.snapshot_id,
                                    p.page,
                                    p.pages,
                                    std::move(p.records),
                                    std::move(p.hold)});
  }
  if (!stager_.complete()) return;
  Position to = *stager_.position();
  LogInfo("sync", "snapshot " + PosText(to) + " complete; applying");
  pending_ = to;
  std::string id = stager_.snapshot_id();
  stager_.Clear();
  Submit(SnapshotJob{to, std::move(id), {}, {}, /*staged=*/true});
}

void CloudSync::EnforceEarly(Position to, const std::vector<rules::Op>& ops) {
  const std::shared_ptr<const rules::Index>& now = host_.engine().index();
  if (!now || early_.size() >= kMaxEarly) return;
  std::optional<std::vector<rules::CredentialRestriction>> x =
      rules::CredentialRestrictionsOf(*now, ops);
  if (!x || x->empty()) return;
  std::shared_ptr<const rules::Index> narrowed = rules::RestrictCredentials(*now, *x);
  if (!narrowed) return;
  if (early_.empty()) worker_index_ = now;
  early_.push_back({to, std::move(*x)});
  ++counters_.restricted_early;
  // Not the index of a stored state: swapped in without a stamp of its own, so no index image is
  // written of it (the host keeps the stamp of the worker's index underneath).
  host_.engine().SwapIndex(std::move(narrowed));
  LogDebug("sync", "delta " + PosText(to) + " restricts access: in force ahead of its commit");
}

// After an outcome: the early restrictions it settles are dropped (an index that covers them, or
// an answer that they will not be), and the rest is put on top of the worker's latest index.
void CloudSync::SettleEarly(const StateOutcome& o) {
  using R = StateOutcome::Result;
  if (early_.empty()) return;
  const size_t before = early_.size();
  if (o.index) {
    worker_index_ = o.index;
    std::erase_if(early_, [&](const Early& e) { return e.to <= o.position; });
  } else if (o.job == JobKind::kDelta &&
             (o.result == R::kRejected || o.result == R::kSkipped || o.result == R::kFailed)) {
    std::erase_if(early_, [&](const Early& e) { return e.to == o.position; });
  }
  // Nothing left to cover the ones accepted (<= pending_); a shed delta's stay until its resend.
  if (jobs_outstanding_ == 0 && !index_failed_) {
    std::erase_if(early_, [&](const Early& e) { return e.to <= pending_; });
  }
  if (!o.index && early_.size() == before) return;  // the doors' index is as it was
  if (early_.empty()) {
    if (!o.index) host_.engine().SwapIndex(worker_index_);  // back to the worker's
    worker_index_.reset();
    return;
  }
  std::vector<rules::CredentialRestriction> all;
  for (const Early& e : early_) all.insert(all.end(), e.restrictions.begin(), e.restrictions.end());
  std::shared_ptr<const rules::Index> narrowed = rules::RestrictCredentials(*worker_index_, all);
  host_.engine().SwapIndex(narrowed ? std::move(narrowed) : worker_index_);
}

void CloudSync::OnOutcome(StateOutcome o) {
  using R = StateOutcome::Result;
  --jobs_outstanding_;
  if (shedding_ && jobs_outstanding_ <= MaxQueuedJobs() / 2) {
    shedding_ = false;
    RequestDeltas(/*again=*/true);
  }
  const bool swapped = o.index != nullptr;
  if (o.index) host_.InstallIndex(o.index, o.stamp);
  SettleEarly(o);
  o.index.reset();
  in_memory_deltas_ = o.in_memory_deltas;
  in_memory_upto_ = o.in_memory_upto;
  if (outcome_observer_) outcome_observer_(o);
  const std::string what(JobKindName(o.job));
  if (o.fault) {
    ++counters_.worker_faults;
    worker_last_error_ = o.error;
  }
  if (o.result == R::kIndexFailed) {
    // Committed, but the doors still decide on the previous index: loud, not acknowledged, and
    // retried (issue 10, point 12). The store holds the change, so pending_ stays past it (a
    // resent delta is a duplicate) while applied_ and the retained state stay where the doors are.
    ++counters_.index_failures;
    index_retry_queued_ = false;
    index_retry_at_ = clock_.Monotonic() + index_retry_delay_;
    if (!index_failed_) {
      LogError("sync", what + " " + PosText(o.position) +
                           " is committed but NOT in force (the doors decide on the previous "
                           "state); not acknowledged; retrying the index: " +
                           o.error);
      (void)host_.JournalNow({{"type", "sync.index_failed"},
                              {"kind", what},
                              {"epoch", o.position.epoch},
                              {"version", o.position.version},
                              {"error", o.error}});
    } else {
      LogWarning("sync", "index rebuild failed again (next try in " +
                             std::to_string(index_retry_delay_.count() / 1000) + " s): " + o.error);
    }
    index_retry_delay_ = std::min(index_retry_delay_ * 2, std::chrono::milliseconds(60000));
    index_failed_ = true;
    if (o.job == JobKind::kDelta || o.job == JobKind::kSnapshot) unacked_ = o;
    if (o.job == JobKind::kLocalOps) {
      auto it = waiting_commands_.find(o.tag);
      if (it != waiting_commands_.end()) {
        Command cmd = std::move(it->second);
        waiting_commands_.erase(it);
        Respond(cmd, false, std::nullopt, o.error);
      }
    }
    return;
  }
  if (swapped && index_failed_) {
    // A later build succeeded: everything committed is in force now.
    index_failed_ = false;
    index_retry_delay_ = std::chrono::milliseconds(1000);
    LogInfo("sync", "index rebuilt: the committed state is in force");
    if (unacked_) {
      StateOutcome late = std::move(*unacked_);
      unacked_.reset();
      if (late.position > applied_) applied_ = late.position;
      if (late.job == JobKind::kDelta) ++counters_.deltas_applied;
      if (late.job == JobKind::kSnapshot) {
        ++counters_.snapshots_applied;
        snapshot_requested_ = false;
      }
      Publish(topics_.sync_ack,
              SyncAck(late.position.epoch, late.position.version, AckResult::kApplied));
      host_.JournalLater({{"type", "sync.applied"},
                          {"kind", std::string(JobKindName(late.job))},
                          {"epoch", late.position.epoch},
                          {"version", late.position.version},
                          {"changes", late.changes}});
      PublishState();
    }
  }
  // An index copy's outcome changed nothing itself (as the last job of a burst it may carry the
  // burst's index, installed and reported above).
  if (o.job == JobKind::kAdoptIndex) return;
  if (o.job == JobKind::kIndex) {
    index_retry_queued_ = false;
    if (o.result != R::kApplied) {  // the store could not even be read: try again later
      index_retry_at_ = clock_.Monotonic() + index_retry_delay_;
      LogWarning("sync", "index retry failed: " + o.error);
    }
    return;
  }
  if (o.job == JobKind::kSite) return;  // a new site: only the index changed
  if (o.job == JobKind::kLocalOps) {    // a command's door mode
    auto it = waiting_commands_.find(o.tag);
    if (it != waiting_commands_.end()) {
      Command cmd = std::move(it->second);
      waiting_commands_.erase(it);
      if (o.result == R::kApplied) {
        Respond(cmd, true, cmd.args, "");
      } else {
        Respond(cmd, false, std::nullopt, o.error);
      }
    }
    return;
  }
  if (o.result == R::kApplied) {
    applied_ = o.position;
    if (o.job == JobKind::kDelta) ++counters_.deltas_applied;
    if (o.job == JobKind::kSnapshot) {
      ++counters_.snapshots_applied;
      snapshot_requested_ = false;
    }
    LogInfo("sync",
            "applied " + what + " " + PosText(o.position) + " (" + std::to_string(o.changes) +
                (o.job == JobKind::kDelta ? " ops" : " records") + ", " +
                std::to_string(static_cast<int>(o.apply_ms)) + " ms" +
                (o.index_ms > 0 ? ", index " + std::to_string(static_cast<int>(o.index_ms)) + " ms"
                                : "") +
                ")");
    Publish(topics_.sync_ack, SyncAck(o.position.epoch, o.position.version, AckResult::kApplied));
    PublishState();
    // Journaled with the next write (at the latest the next Tick): the doors already decide on the
    // new state and need not wait for another durable commit.
    host_.JournalLater({{"type", "sync.applied"},
                        {"kind", what},
                        {"epoch", o.position.epoch},
                        {"version", o.position.version},
                        {"changes", o.changes}});
    // The head may already be further ahead.
    if (head_ && jobs_outstanding_ == 0) {
      HeadVerdict v = JudgeHead(applied_, *head_);
      if (v.action == HeadVerdict::Action::kRequestDeltas) RequestDeltas();
    }
    return;
  }
  // Nothing changed: the store is still where it was.
  if (jobs_outstanding_ == 0 && !index_failed_) pending_ = applied_;
  if (o.result == R::kSkipped) {
    LogDebug("sync", what + " " + PosText(o.position) + " skipped: " + o.error);
    return;
  }
  const SyncRejectReason reason =
      o.result == R::kRejected ? SyncRejectReason::kValidation : SyncRejectReason::kStore;
  const std::string reason_name(SyncRejectReasonName(reason));
  ++counters_.rejected;
  ++counters_.rejected_by_reason[reason_name];
  if (o.in_memory) {
    // Fail secure (issue 10, point 2 follow-up): the store cannot write it, but it only takes
    // access away, so the doors enforce it now. Not applied: the position stays, the ack says
    // rejected, and the cloud sends it again (a head shows the gateway behind).
    ++counters_.applied_in_memory;
    LogWarning("sync", what + " " + PosText(o.position) +
                           " only restricts access and is IN FORCE IN MEMORY ONLY (the store "
                           "cannot write it; lost on restart until the cloud sends it again): " +
                           o.error);
    (void)host_.JournalNow({{"type", "sync.applied_in_memory"},
                            {"kind", what},
                            {"epoch", o.position.epoch},
                            {"version", o.position.version},
                            {"changes", o.changes},
                            {"error", o.error}});
  } else {
    LogWarning("sync", what + " " + PosText(o.position) + " rejected, nothing changed: " + o.error);
  }
  // Signed by a trusted key: journaled one by one, with the position the cloud must fix.
  (void)host_.JournalNow({{"type", "sync.rejected"},
                          {"kind", what},
                          {"epoch", o.position.epoch},
                          {"version", o.position.version},
                          {"reason", reason_name},
                          {"error", o.error}});
  Publish(topics_.sync_ack,
          SyncAck(o.position.epoch, o.position.version, AckResult::kRejected, o.error));
}

void CloudSync::OnIndexCopied(std::shared_ptr<const rules::Index> from,
                              std::shared_ptr<const rules::Index> to) {
  if (worker_) Submit(AdoptIndexJob{std::move(from), std::move(to)});
}

void CloudSync::RetryIndex() {
  if (!index_failed_ || index_retry_queued_ || !worker_) return;
  if (clock_.Monotonic() < index_retry_at_) return;
  index_retry_queued_ = true;
  LogInfo("sync", "retrying the index build of the committed state");
  Submit(IndexJob{});
}

void CloudSync::ShedDelta(Position to, const std::vector<rules::Op>& ops) {
  shedding_ = true;
  // What it takes away is in force all the same (only ever narrower than the state before or
  // after it), until the resend's commit settles it: a revocation never waits for a queue.
  EnforceEarly(to, ops);
  CountRejection(
      SyncRejectReason::kOverload, TopicSuffix(Topic::kSyncDelta),
      "delta " + PosText(to) + ": dropped, the state worker has " +
          std::to_string(jobs_outstanding_) +
          " jobs queued (cloud.limits.queue_messages); requested again once it has room");
}

void CloudSync::RequestDeltas(bool again) {
  std::string payload = SyncRequestDeltas(pending_.epoch, pending_.version);
  auto now = clock_.Monotonic();
  if (!again && payload == last_request_ && now - last_request_at_ < kRequestRepeat) return;
  if (!connected_) return;
  last_request_ = payload;
  last_request_at_ = now;
  LogInfo("sync", "requesting deltas after " + PosText(pending_));
  Publish(topics_.sync_request, payload);
}

void CloudSync::RequestSnapshot(const std::string& reason) {
  snapshot_requested_ = true;
  std::string payload = SyncRequestSnapshot(reason);
  auto now = clock_.Monotonic();
  if (payload == last_request_ && now - last_request_at_ < kRequestRepeat) return;
  if (!connected_) return;
  last_request_ = payload;
  last_request_at_ = now;
  LogInfo("sync", "requesting a snapshot: " + reason);
  Publish(topics_.sync_request, payload);
}

// ---- events
// ---------------------------------------------------------------------------------------

void CloudSync::OnEventsAck(const EventsAck& ack) {
  uint64_t upto = ack.upto;
  if (upto > sent_upto_) {
    LogWarning("sync", "events/ack upto " + std::to_string(upto) +
                           " is beyond the last event sent (" + std::to_string(sent_upto_) +
                           "); acknowledging only what was sent");
    upto = sent_upto_;
  }
  if (upto <= acked_) return;
  Status st = host_.DeleteEventsUpTo(upto);
  if (!st.ok()) {
    LogError("sync", "cannot remove acknowledged events: " + st.ToString());
    return;
  }
  acked_ = upto;
  last_ack_progress_ = clock_.Monotonic();
  if (next_send_ <= acked_) next_send_ = acked_ + 1;
  PumpOutbox();
}

void CloudSync::OnJournal() { PumpOutbox(); }

void CloudSync::OnStopping() { Publish(topics_.state, StateWillPayload(boot_id_, session_), true); }

void CloudSync::PumpOutbox() {
  if (!link_ || !connected_ || pump_posted_) return;  // a posted turn goes on from next_send_
  // One batch per turn of the loop (issue 13, point 3): a whole window (kMaxUnackedEvents, sent
  // at connect and again after kAckTimeout) read, parsed and published at once held the doors
  // for 100 ms and more; the rest follows in posted turns, between the doors' events.
  for (int batches = 0; next_send_ <= acked_ + kMaxUnackedEvents; ++batches) {
    if (batches == 1 && post_) {  // without a loop to come back on (tools): all now
      pump_posted_ = true;
      std::weak_ptr<bool> alive = alive_;
      post_([this, alive] {
        if (alive.expired()) return;
        pump_posted_ = false;
        PumpOutbox();
      });
      return;
    }
    uint64_t room = acked_ + kMaxUnackedEvents - next_send_ + 1;
    size_t limit = static_cast<size_t>(std::min<uint64_t>(kMaxEventsPerBatch, room));
    Result<std::vector<store::JournalEvent>> rows = host_.store().ReadFrom(next_send_, limit);
    if (!rows.ok()) {
      LogError("sync", "cannot read the outbox: " + rows.status().ToString());
      return;
    }
    if (rows->empty()) return;
    json events = json::array();
    for (const store::JournalEvent& e : *rows) {
      Result<json> body = codec::ParseJsonText(e.body, "event");
      json ev = body.ok() && body->is_object() ? std::move(*body) : json::object();
      ev["seq"] = e.seq;
      ev["historical"] = e.seq <= historical_upto_;
      if (!ev.contains("type")) ev["type"] = e.type;
      events.push_back(std::move(ev));
    }
    Result<std::string> batch = EventsBatch(boot_id_, events);
    if (!batch.ok()) {
      LogError("sync", "cannot build an events batch: " + batch.status().ToString());
      return;
    }
    if (!link_->Publish(topics_.events, *batch, 1, false)) return;  // retried on Tick / connect
    ++counters_.batches_published;
    counters_.events_published += rows->size();
    if (sent_upto_ < acked_) sent_upto_ = acked_;
    next_send_ = rows->back().seq + 1;
    sent_upto_ = std::max(sent_upto_, rows->back().seq);
    if (rows->size() < limit) return;  // nothing more in the outbox now
  }
}

// ---- commands
// -------------------------------------------------------------------------------------

void CloudSync::Respond(const Command& cmd, bool ok, const std::optional<json>& result,
                        const std::string& error) {
  if (ok) {
    ++counters_.commands_executed;
  } else {
    ++counters_.commands_refused;
  }
  LogInfo("sync", "command " + cmd.id + " (" + std::string(CommandNameText(cmd.name)) +
                      "): " + (ok ? "done" : "refused: " + error));
  Publish(topics_.cmd_response,
          CommandResponse(cmd.id, ok, result,
                          ok ? std::nullopt : std::optional<std::string_view>(error)));
}

void CloudSync::OnCommand(const Command& cmd) {
  host_.NoteSignedTime(cmd.issued_at, cmd.expires_at);  // before Now(): it may fix the floor
  Instant now = Now();
  if (cmd.expires_at < cmd.issued_at) {  // issue 10, point 8: expired before it was issued
    Respond(cmd, false, std::nullopt,
            "command expired at " + FormatRfc3339(cmd.expires_at) + ", before it was issued at " +
                FormatRfc3339(cmd.issued_at));
    return;
  }
  if (now > cmd.expires_at) {
    Respond(cmd, false, std::nullopt,
            "command expired at " + FormatRfc3339(cmd.expires_at) + " (gateway time " +
                FormatRfc3339(now) + ")");
    return;
  }
  Result<std::optional<std::string>> seen = host_.store().FindCommand(cmd.id);
  if (!seen.ok()) {
    Respond(cmd, false, std::nullopt, "cannot check the command id: " + seen.status().message());
    return;
  }
  if (seen->has_value() || waiting_commands_.contains(cmd.id) ||
      recording_commands_.contains(cmd.id)) {
    Respond(cmd, false, std::nullopt, "command " + cmd.id + " was already executed");
    return;
  }
  // Recorded durably before it runs: a crash after this point loses the command rather than
  // running it twice. On the journal writer's connection: the doors' thread never waits for the
  // store's write lock (a snapshot being written holds it for seconds).
  recording_commands_.insert(cmd.id);
  std::weak_ptr<bool> alive = alive_;
  host_.RecordCommandLater(cmd.id, now, cmd.args.dump(), [this, alive, cmd](Status rec) {
    if (alive.expired()) return;
    recording_commands_.erase(cmd.id);
    if (!rec.ok()) {
      Respond(cmd, false, std::nullopt,
              rec.code() == StatusCode::kAlreadyExists
                  ? "command " + cmd.id + " was already executed"
                  : "cannot record the command: " + rec.message());
      return;
    }
    RunCommand(cmd);
  });
}

void CloudSync::RunCommand(const Command& cmd) {
  (void)host_.JournalNow({{"type", "command.received"},
                          {"command", cmd.id},
                          {"name", CommandNameText(cmd.name)},
                          {"args", cmd.args}});
  std::visit(
      [&](const auto& a) {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, UnlockArgs>) {
          const config::DoorConfig* door = config::FindDoor(config_, a.door);
          if (!door) return Respond(cmd, false, std::nullopt, "unknown door " + a.door);
          std::chrono::milliseconds d = a.seconds ? std::chrono::milliseconds(*a.seconds * 1000)
                                                  : std::chrono::milliseconds(door->unlock_ms);
          // Answered at once ("requested"); the core journals `door.unlocked` with what the
          // lock did when the door I/O has read it back (the loop never waits for that).
          Status st = host_.Unlock(a.door, d);
          if (!st.ok()) return Respond(cmd, false, std::nullopt, st.message());
          Respond(cmd, true, json{{"door", a.door}, {"ms", d.count()}}, "");
        } else if constexpr (std::is_same_v<A, SetDoorModeArgs>) {
          if (!config::FindDoor(config_, a.door)) {
            return Respond(cmd, false, std::nullopt, "unknown door " + a.door);
          }
          rules::DoorMode mode;
          mode.door = a.door;
          mode.mode = a.mode;
          mode.until = a.until;
          waiting_commands_[cmd.id] = cmd;
          Submit(LocalOpsJob{cmd.id, {rules::PutOp(std::move(mode))}});
        } else if constexpr (std::is_same_v<A, ResyncArgs>) {
          last_request_.clear();
          RequestSnapshot("resync command " + cmd.id);
          Respond(cmd, true, json{{"requested", "snapshot"}}, "");
        } else if constexpr (std::is_same_v<A, ResendEventsArgs>) {
          uint64_t from = std::max(a.from, acked_ + 1);
          historical_upto_ = std::max(historical_upto_, sent_upto_);
          next_send_ = from;
          Respond(cmd, true, json{{"from", from}}, "");
          PumpOutbox();
        } else {
          Result<uint64_t> n = host_.store().Count();
          Respond(cmd, true,
                  json{{"pong", FormatRfc3339(host_.WallNow())},
                       {"epoch", applied_.epoch},
                       {"version", applied_.version},
                       {"outbox", n.ok() ? *n : 0}},
                  "");
        }
      },
      cmd.parsed);
}

// ---- housekeeping
// ---------------------------------------------------------------------------------

void CloudSync::ApplyOfflinePolicy() {
  bool restrict = false;
  if (config_.cloud.offline == config::OfflinePolicy::kStaffOnly && head_expires_at_) {
    Instant limit = *head_expires_at_ + std::chrono::hours(config_.cloud.staff_only_after_h);
    restrict = Now() >= limit;
  }
  if (restrict == host_.engine().staff_only()) return;
  host_.engine().SetStaffOnly(restrict);
  if (restrict) {
    LogWarning("sync", "no fresh cloud head since " + FormatRfc3339(*head_expires_at_) + " (+" +
                           std::to_string(config_.cloud.staff_only_after_h) +
                           " h): offline policy admits only staff");
  } else {
    LogInfo("sync", "offline policy lifted: all credentials decide normally");
  }
  (void)host_.JournalNow({{"type", "sync.offline_policy"}, {"staff_only", restrict}});
}

void CloudSync::Tick() {
  ApplyOfflinePolicy();
  CollectOffLoop();
  CollectLinkDrops();
  FlushRejections(false);
  RetryIndex();
  Status flushed = host_.FlushJournal();
  if (!flushed.ok()) LogWarning("sync", "journal write failed: " + flushed.ToString());
  if (++ticks_ % 3600 == 1) {  // hourly (and at the first tick): forget command ids after 30 days
    host_.PruneCommandsLater(host_.WallNow() - std::chrono::hours(24 * 30), [](Status pruned) {
      if (!pruned.ok()) LogWarning("sync", "cannot prune old command ids: " + pruned.ToString());
    });
  }
  if (!connected_) return;
  std::pair<uint64_t, uint64_t> backlog{host_.UnwrittenEvents(), host_.LostEvents()};
  if (backlog != published_backlog_ && ((backlog.first == 0) != (published_backlog_.first == 0) ||
                                        (backlog.second == 0) != (published_backlog_.second == 0) ||
                                        ticks_ - backlog_published_tick_ >= 10)) {
    state_dirty_ = true;
  }
  if (state_dirty_) PublishState();
  if (sent_upto_ > acked_ && clock_.Monotonic() - last_ack_progress_ > kAckTimeout) {
    LogWarning("sync", "no events/ack for " + std::to_string(kAckTimeout.count()) +
                           " s; resending from seq " + std::to_string(acked_ + 1));
    historical_upto_ = std::max(historical_upto_, sent_upto_);
    next_send_ = acked_ + 1;
    last_ack_progress_ = clock_.Monotonic();
  }
  PumpOutbox();
}

json CloudSync::StatusJson() {
  Result<uint64_t> n = host_.store().Count();
  json j = {{"connected", connected_},
            {"session", session_},
            {"epoch", applied_.epoch},
            {"version", applied_.version},
            {"pending_jobs", pending_jobs()},
            {"outbox", n.ok() ? *n : 0},
            {"staff_only", host_.engine().staff_only()}};
  if (head_) {
    j["head"] = {{"epoch", head_->epoch},
                 {"version", head_->version},
                 {"expires_at", FormatRfc3339(head_->expires_at)}};
  }
  json by_reason = json::object();
  for (const auto& [k, v] : counters_.rejected_by_reason) by_reason[k] = v;
  j["counters"] = {{"messages", counters_.messages},
                   {"rejected", counters_.rejected},
                   {"rejected_by_reason", by_reason},
                   {"deltas_applied", counters_.deltas_applied},
                   {"snapshots_applied", counters_.snapshots_applied},
                   {"duplicates", counters_.duplicates},
                   {"gaps", counters_.gaps},
                   {"commands_executed", counters_.commands_executed},
                   {"commands_refused", counters_.commands_refused},
                   {"events_published", counters_.events_published},
                   {"rejected_journaled", counters_.rejected_journaled},
                   {"index_failures", counters_.index_failures},
                   {"applied_in_memory", counters_.applied_in_memory},
                   {"restricted_early", counters_.restricted_early}};
  // Threads and adapters that caught an exception (issue 10, point 13): marked failed here; the
  // gateway keeps deciding.
  auto component = [](uint64_t faults, const std::string& error) {
    json c = {{"ok", faults == 0}, {"faults", faults}};
    if (faults > 0) c["error"] = error;
    return c;
  };
  LinkHealth lh = link_ ? link_->health() : LinkHealth{};
  json parser = component(counters_.parser_faults, parser_last_error_);
  // Messages verified on the MQTT client's thread itself (the pool was idle), of `messages`.
  parser["on_receive"] = parser_ ? parser_->inlined() : 0;
  json worker = component(counters_.worker_faults, worker_last_error_);
  worker["wal_checkpoints"] = wal_checkpoints();
  j["components"] = {{"parser", std::move(parser)},
                     {"worker", std::move(worker)},
                     {"link", component(lh.callback_errors, lh.last_error)}};
  j["index_failed"] = index_failed_;
  // Restricting deltas the store could not write, in force in memory only (gone on restart).
  j["in_memory_revocations"] = in_memory_deltas_;
  return j;
}

}  // namespace lintel::cloud
