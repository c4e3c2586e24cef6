#include "gateway/cloud/sync.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "gateway/base/log.h"
#include "gateway/base/mutex.h"
#include "gateway/codec/json_text.h"

namespace lintel::cloud {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

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

}  // namespace

CloudSync::CloudSync(const config::Config& config, SyncHost& host, std::string boot_id)
    : config_(config), host_(host), boot_id_(std::move(boot_id)) {
  Result<Topics> t = Topics::Make(config.site_id, config.gateway_id);
  if (t.ok()) topics_ = std::move(*t);  // a loaded config always has valid ids
  expect_ = {config.site_id, config.gateway_id, config.trusted_keys};
}

Status CloudSync::Start(StateWorker::Poster post) {
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
  parser_ = std::make_unique<Parser>(post);
  worker_ = std::make_unique<StateWorker>(config_.store_path, config::MakeSite(config_),
                                          host_.engine().index(), std::move(post),
                                          [this](StateOutcome o) { OnOutcome(std::move(o)); });
  ApplyOfflinePolicy();
  return Status::Ok();
}

Status CloudSync::Reload(const config::Config& config) {
  if (config.site_id != config_.site_id || config.gateway_id != config_.gateway_id) {
    return Status::FailedPrecondition(
        "site.id and gateway.id cannot change while running (topics and signatures name them); "
        "restart lintel");
  }
  config_ = config;
  expect_ = {config.site_id, config.gateway_id, config.trusted_keys};
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
  last_ack_progress_ = SteadyClock::now();
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
  s.ts = host_.WallNow();
  state_dirty_ = !link_->Publish(topics_.state, StatePayload(s), 1, true);
}

// ---- inbound
// --------------------------------------------------------------------------------------

// Snapshot pages (up to megabytes each) are verified and parsed on a thread of their own, so a
// snapshot never holds up the core loop; while any is in flight, later messages queue behind it on
// that thread, so every message is still handled in the order it arrived.
class CloudSync::Parser {
 public:
  explicit Parser(StateWorker::Poster post) : post_(std::move(post)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Parser() {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // Runs `parse` on the parser thread, then posts `deliver` with its result to the core loop.
  void Submit(std::function<std::function<void()>()> parse) {
    {
      MutexLock lock(mu_);
      queue_.push_back(std::move(parse));
    }
    cv_.notify_all();
  }

 private:
  void Run() {
    MutexLock lock(mu_);
    while (true) {
      cv_.wait(lock, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
      if (stop_) return;
      auto job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      post_(job());
      lock.lock();
    }
  }
  StateWorker::Poster post_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<std::function<void()>()>> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

CloudSync::~CloudSync() = default;

void CloudSync::OnMessage(const std::string& topic_name, const std::string& payload) {
  ++counters_.messages;
  std::optional<Topic> topic = topics_.Match(topic_name);
  if (!topic) return;  // not subscribed; nothing to do
  if (parser_ && (*topic == Topic::kSyncSnapshot || parses_in_flight_ > 0)) {
    ++parses_in_flight_;
    parser_->Submit([this, t = *topic, payload, expect = expect_]() -> std::function<void()> {
      auto why = std::make_shared<Rejection>();
      auto m = std::make_shared<Result<Message>>(ParseCloudMessage(t, payload, expect, why.get()));
      return [this, t, payload, m, why] {
        --parses_in_flight_;
        Dispatch(t, payload, std::move(*m), *why);
      };
    });
    return;
  }
  Rejection why;
  Result<Message> m = ParseCloudMessage(*topic, payload, expect_, &why);
  Dispatch(*topic, payload, std::move(m), why);
}

void CloudSync::Dispatch(Topic topic, const std::string& payload, Result<Message> m,
                         const Rejection& why) {
  if (!m.ok()) {
    Reject(topic, payload, m.status(), std::string(RejectReasonName(why.reason)));
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
                       std::string reason) {
  ++counters_.rejected;
  ++counters_.rejected_by_reason[reason];
  LogWarning("sync", "rejected a message on " + std::string(TopicSuffix(topic)) + " (" + reason +
                         "): " + error.message());
  (void)host_.JournalNow({{"type", "sync.rejected"},
                          {"topic", TopicSuffix(topic)},
                          {"reason", reason},
                          {"error", error.message()}});
  // A signed delta or snapshot page the gateway cannot use is answered (the cloud must fix it);
  // an unsigned or forged one is not: nothing it claims is trusted.
  if ((topic == Topic::kSyncDelta || topic == Topic::kSyncSnapshot) && reason != "signature") {
    if (std::optional<Position> p = ClaimedPosition(payload, expect_)) {
      Publish(topics_.sync_ack,
              SyncAck(p->epoch, p->version, AckResult::kRejected, error.message()));
    }
  }
}

void CloudSync::OnHead(const Head& head) {
  Instant now = Now();
  if (head.expires_at < now) {
    Reject(Topic::kSyncHead, "",
           Status::FailedPrecondition("head " + std::to_string(head.version) + " expired at " +
                                      FormatRfc3339(head.expires_at) + " (now " +
                                      FormatRfc3339(now) + ")"),
           "stale");
    return;
  }
  if (!head_expires_at_ || head.expires_at > *head_expires_at_) {
    head_expires_at_ = head.expires_at;
    Status st = host_.store().SetMeta("head_expires_at", FormatRfc3339(head.expires_at));
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
      ++counters_.rejected;
      ++counters_.rejected_by_reason["stale"];
      LogWarning("sync", "ignored head " + PosText({head.epoch, head.version}) + ": " + v.reason);
      break;
  }
}

void CloudSync::OnDelta(Delta delta) {
  DeltaVerdict v = JudgeDelta(pending_, delta);
  Position to{delta.epoch, delta.version};
  switch (v.action) {
    case DeltaVerdict::Action::kApply:
      pending_ = to;
      Submit(DeltaJob{{delta.epoch, delta.prev}, to, std::move(delta.ops)});
      break;
    case DeltaVerdict::Action::kDuplicate:
      ++counters_.duplicates;
      LogDebug("sync", "dropped delta " + PosText(to) + ": " + v.reason);
      break;
    case DeltaVerdict::Action::kGap:
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
    ++counters_.rejected;
    ++counters_.rejected_by_reason["stale"];
    LogWarning("sync", "ignored " + label + ": " + st.message());
    return;
  }
  if (!stager_.complete()) return;
  Position to = *stager_.position();
  LogInfo("sync", "snapshot " + PosText(to) + " complete; applying");
  pending_ = to;
  Submit(SnapshotJob{to, "", stager_.TakeRecords()});
}

void CloudSync::OnOutcome(StateOutcome o) {
  using R = StateOutcome::Result;
  --jobs_outstanding_;
  if (o.index) host_.engine().SwapIndex(std::move(o.index));
  if (outcome_observer_) outcome_observer_(o);
  std::string what = o.job_index == 0   ? "delta"
                     : o.job_index == 1 ? "snapshot"
                     : o.job_index == 2 ? "local change"
                                        : "site";
  if (o.job_index == 3) return;  // a new site: only the index changed
  if (o.job_index == 2) {        // a command's door mode
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
    if (o.job_index == 0) ++counters_.deltas_applied;
    if (o.job_index == 1) {
      ++counters_.snapshots_applied;
      snapshot_requested_ = false;
    }
    LogInfo("sync",
            "applied " + what + " " + PosText(o.position) + " (" + std::to_string(o.changes) +
                (o.job_index == 0 ? " ops" : " records") + ", " +
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
  // Nothing changed: the store is still at applied_.
  if (jobs_outstanding_ == 0) pending_ = applied_;
  if (o.result == R::kSkipped) {
    LogDebug("sync", what + " " + PosText(o.position) + " skipped: " + o.error);
    return;
  }
  ++counters_.rejected;
  ++counters_.rejected_by_reason[o.result == R::kRejected ? "validation" : "store"];
  LogWarning("sync", what + " " + PosText(o.position) + " rejected, nothing changed: " + o.error);
  (void)host_.JournalNow({{"type", "sync.rejected"},
                          {"kind", what},
                          {"epoch", o.position.epoch},
                          {"version", o.position.version},
                          {"reason", o.result == R::kRejected ? "validation" : "store"},
                          {"error", o.error}});
  Publish(topics_.sync_ack,
          SyncAck(o.position.epoch, o.position.version, AckResult::kRejected, o.error));
}

void CloudSync::RequestDeltas() {
  std::string payload = SyncRequestDeltas(pending_.epoch, pending_.version);
  auto now = SteadyClock::now();
  if (payload == last_request_ && now - last_request_at_ < kRequestRepeat) return;
  if (!connected_) return;
  last_request_ = payload;
  last_request_at_ = now;
  LogInfo("sync", "requesting deltas after " + PosText(pending_));
  Publish(topics_.sync_request, payload);
}

void CloudSync::RequestSnapshot(const std::string& reason) {
  snapshot_requested_ = true;
  std::string payload = SyncRequestSnapshot(reason);
  auto now = SteadyClock::now();
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
  Status st = host_.store().DeleteUpTo(upto);
  if (!st.ok()) {
    LogError("sync", "cannot remove acknowledged events: " + st.ToString());
    return;
  }
  acked_ = upto;
  last_ack_progress_ = SteadyClock::now();
  if (next_send_ <= acked_) next_send_ = acked_ + 1;
  PumpOutbox();
}

void CloudSync::OnJournal() { PumpOutbox(); }

void CloudSync::OnStopping() { Publish(topics_.state, StateWillPayload(boot_id_, session_), true); }

void CloudSync::PumpOutbox() {
  if (!link_ || !connected_) return;
  while (next_send_ <= acked_ + kMaxUnackedEvents) {
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
  Instant now = Now();
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
  if (seen->has_value() || waiting_commands_.contains(cmd.id)) {
    Respond(cmd, false, std::nullopt, "command " + cmd.id + " was already executed");
    return;
  }
  // Recorded durably before it runs: a crash after this point loses the command rather than
  // running it twice.
  Status rec = host_.store().RecordCommand(cmd.id, now, cmd.args.dump());
  if (!rec.ok()) {
    Respond(cmd, false, std::nullopt,
            rec.code() == StatusCode::kAlreadyExists
                ? "command " + cmd.id + " was already executed"
                : "cannot record the command: " + rec.message());
    return;
  }
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
  Status flushed = host_.FlushJournal();
  if (!flushed.ok()) LogWarning("sync", "journal write failed: " + flushed.ToString());
  if (++ticks_ % 3600 == 1) {  // hourly (and at the first tick): forget command ids after 30 days
    Status pruned = host_.store().PruneCommands(host_.WallNow() - std::chrono::hours(24 * 30));
    if (!pruned.ok()) LogWarning("sync", "cannot prune old command ids: " + pruned.ToString());
  }
  if (!connected_) return;
  if (state_dirty_) PublishState();
  if (sent_upto_ > acked_ && SteadyClock::now() - last_ack_progress_ > kAckTimeout) {
    LogWarning("sync", "no events/ack for " + std::to_string(kAckTimeout.count()) +
                           " s; resending from seq " + std::to_string(acked_ + 1));
    historical_upto_ = std::max(historical_upto_, sent_upto_);
    next_send_ = acked_ + 1;
    last_ack_progress_ = SteadyClock::now();
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
                   {"events_published", counters_.events_published}};
  return j;
}

}  // namespace lintel::cloud
