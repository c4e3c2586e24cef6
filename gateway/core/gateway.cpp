#include "gateway/core/gateway.h"

#include <fstream>

#include "gateway/base/ids.h"
#include "gateway/base/log.h"
#include "gateway/codec/records_json.h"
#include "gateway/core/decision_json.h"
#include "gateway/store/load_index.h"
#include "rules/validate.h"

namespace lintel::core {

using nlohmann::json;

Result<rules::Records> ParseValidState(const rules::Site& site, const json& records_json) {
  Result<rules::Records> records = codec::ParseRecords(records_json);
  if (!records.ok()) return records.status();
  std::vector<std::string> errors = rules::Validate(site, *records);
  if (!errors.empty()) {
    std::string msg = "state rejected, nothing changed:";
    for (const std::string& e : errors) msg += "\n  " + e;
    return Status::InvalidArgument(msg);
  }
  return records;
}

Gateway::Gateway(config::Config config, const Clock& clock, std::unique_ptr<store::Store> store,
                 std::shared_ptr<const rules::Index> index)
    : config_(std::move(config)),
      clock_(clock),
      store_(std::move(store)),
      engine_(std::move(index)),
      started_at_(clock.Wall()) {}

Result<std::shared_ptr<const rules::Index>> Gateway::LoadIndex(store::Store& store,
                                                               const rules::Site& site) {
  std::vector<std::string> warnings;
  auto index = store::LoadIndex(store, site, &warnings);
  for (const std::string& w : warnings) LogWarning("core", "stored state: " + w);
  return index;
}

Result<std::unique_ptr<Gateway>> Gateway::Open(config::Config config, const Clock& clock) {
  store::StoreOptions options;
  options.verify_on_open = false;  // LoadState below reads (and so checks) every state page
  // The sync worker may hold the write lock while it stores a large snapshot: the core thread
  // waits briefly, then keeps its journal queued and retries (it never stalls the doors).
  options.busy_timeout_ms = 100;
  Result<std::unique_ptr<store::Store>> store = store::Store::Open(config.store_path, options);
  if (!store.ok()) return store.status();
  rules::Site site = config::MakeSite(config);
  Result<std::shared_ptr<const rules::Index>> index = LoadIndex(**store, site);
  if (!index.ok()) return index.status();
  std::unique_ptr<Gateway> g(new Gateway(std::move(config), clock, std::move(*store), *index));
  Result<std::optional<Instant>> lkg = g->store_->LastKnownGood();
  if (!lkg.ok()) return lkg.status();
  if (lkg->has_value()) g->engine_.time().Restore(**lkg, g->Reading().mono_ms);
  rules::DecisionTime now = g->engine_.Now(g->Reading());
  g->NoteClock(now.went_back, now.suspect);
  const rules::Index& x = *g->engine_.index();
  g->Journal({{"type", "gateway.started"},
              {"credentials", x.credentials().size()},
              {"people", x.people().size()}});
  LINTEL_RETURN_IF_ERROR(g->Tick());
  LogInfo("core", "state loaded: " + std::to_string(x.credentials().size()) + " credentials, " +
                      std::to_string(x.people().size()) + " people, " +
                      std::to_string(x.leases().size()) + " leases");
  return g;
}

Result<Gateway::PreparedReload> Gateway::PrepareReload(config::Config config) {
  if (config.store_path != config_.store_path) {
    return Status::FailedPrecondition("store.path changed from " + config_.store_path + " to " +
                                      config.store_path + "; restart lintel to move the store");
  }
  Result<std::shared_ptr<const rules::Index>> index = LoadIndex(*store_, config::MakeSite(config));
  if (!index.ok()) return index.status();
  return PreparedReload{std::move(config), std::move(*index)};
}

void Gateway::CommitReload(PreparedReload prepared) {
  engine_.SwapIndex(std::move(prepared.index));
  config_ = std::move(prepared.config);
}

Status Gateway::Reload(config::Config config) {
  Result<PreparedReload> prepared = PrepareReload(std::move(config));
  if (!prepared.ok()) return prepared.status();
  CommitReload(std::move(*prepared));
  return Status::Ok();
}

Status Gateway::Tick() {
  rules::DecisionTime now = engine_.Now(Reading());
  NoteClock(now.went_back, now.suspect);
  // A replaced (lowered) floor not yet written is retried here; until then the store keeps the
  // old one (advancing to the lower floor below changes nothing).
  Status reset = SaveFloorReset();
  if (!reset.ok()) LogError("core", "cannot store the replaced time floor: " + reset.ToString());
  LINTEL_RETURN_IF_ERROR(store_->AdvanceLastKnownGood(engine_.time_floor()));
  return Flush();
}

rules::ClockReading Gateway::Reading() const {
  auto mono = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_.Monotonic().time_since_epoch());
  return {clock_.Wall(), clock_.Synchronized(), mono.count()};
}

void Gateway::NoteSignedTime(Instant issued_at, std::optional<Instant> expires_at) {
  engine_.time().ObserveSigned(issued_at, expires_at, Reading());
  rules::DecisionTime now = engine_.Now(Reading());
  NoteClock(now.went_back, now.suspect);
}

Status Gateway::SaveFloorReset() {
  if (!floor_reset_unsaved_) return Status::Ok();
  Status st = store_->ResetLastKnownGood(engine_.time_floor());
  if (!st.ok()) return st;
  floor_reset_unsaved_ = false;
  return Status::Ok();
}

void Gateway::NoteClock(bool behind, bool suspect) {
  if (std::optional<rules::FloorReset> reset = engine_.time().TakeFloorReset()) {
    LogWarning("core", "time floor " + FormatRfc3339(reset->from) + " is far ahead of the " +
                           reset->source + " (" + FormatRfc3339(reset->to) +
                           "): replaced by it; leases and credentials decide on real time again");
    Journal({{"type", "clock.floor_reset"},
             {"from", FormatRfc3339(reset->from)},
             {"to", FormatRfc3339(reset->to)},
             {"source", reset->source}});
    floor_reset_unsaved_ = true;
    Status saved = SaveFloorReset();
    if (!saved.ok()) LogError("core", "cannot store the replaced time floor: " + saved.ToString());
  }
  if (suspect != clock_suspect_) {
    clock_suspect_ = suspect;
    Instant wall = clock_.Wall();
    Instant estimate = engine_.time().Estimate(Reading().mono_ms);
    if (suspect) {
      bool trusted = engine_.time().trusted_this_run();
      LogWarning("core", "wall clock " + FormatRfc3339(wall) +
                             " is not synchronized and far ahead of trusted time " +
                             FormatRfc3339(estimate) + "; not stored, deciding at " +
                             FormatRfc3339(estimate) +
                             (trusted ? "" : " and granting only what the wall time grants too"));
      Journal({{"type", "clock.suspect"},
               {"wall", FormatRfc3339(wall)},
               {"estimate", FormatRfc3339(estimate)},
               {"max_ahead_days", engine_.index()->site().policy.clock_max_ahead_days}});
    } else {
      LogInfo("core", "wall clock " + FormatRfc3339(wall) + " is believed again");
    }
  }
  if (behind == clock_behind_) return;
  clock_behind_ = behind;
  Instant wall = clock_.Wall();
  Instant floor = engine_.time_floor();
  if (behind) {
    LogWarning("core", "wall clock " + FormatRfc3339(wall) +
                           " is behind the last-known-good time " + FormatRfc3339(floor) +
                           "; deciding at the last-known-good time until it catches up");
    Journal({{"type", "clock.jump"},
             {"wall", FormatRfc3339(wall)},
             {"last_known_good", FormatRfc3339(floor)}});
  } else {
    LogInfo("core", "wall clock caught up with the last-known-good time");
  }
}

void Gateway::Journal(json event) {
  store::JournalEvent e;
  e.ts = engine_.Now(Reading()).at;
  e.type = event["type"].get<std::string>();
  event["id"] = NewUuid();
  event["ts"] = FormatRfc3339(e.ts);
  event["clock_synced"] = clock_.Synchronized();
  e.body = event.dump();
  pending_.push_back(std::move(e));
}

Status Gateway::Flush() {
  if (pending_.empty()) return Status::Ok();
  Result<uint64_t> r = store_->Append(pending_);
  if (!r.ok()) {
    LogError("core", "journal write failed, keeping " + std::to_string(pending_.size()) +
                         " events queued: " + r.status().ToString());
    return r.status();
  }
  pending_.clear();
  if (on_journal_) on_journal_();
  return Status::Ok();
}

Status Gateway::JournalNow(json event) {
  Journal(std::move(event));
  return Flush();
}

Status Gateway::Unlock(std::string_view door, std::chrono::milliseconds duration) {
  auto it = actuators_.find(door);
  if (it == actuators_.end()) {
    return Status::NotFound("door " + std::string(door) + " has no lock actuator configured");
  }
  Status st = it->second(duration);
  Journal({{"type", "door.unlocked"},
           {"door", door},
           {"ms", duration.count()},
           {"source", "cloud"},
           {"ok", st.ok()}});
  Status flushed = Flush();
  return st.ok() ? flushed : st;
}

rules::Decision Gateway::Present(const rules::Request& request, std::string_view source) {
  rules::Decision d = engine_.Decide(request, Reading());
  JournalDecision(request, d, source, "");
  return d;
}

rules::Decision Gateway::Admit(const rules::Request& request, std::string_view source,
                               const std::function<void(const rules::Decision&)>& decided) {
  rules::Decision d = engine_.Decide(request, Reading());
  std::string_view lock = "";
  if (d.granted) {
    auto it = actuators_.find(request.door);
    if (it == actuators_.end()) {
      lock = "none";
    } else {
      const config::DoorConfig* door = config::FindDoor(config_, request.door);
      Status st = it->second(std::chrono::milliseconds(door != nullptr ? door->unlock_ms : 5000));
      lock = st.ok() ? "pulsed" : "failed";
      if (!st.ok()) {
        LogError("core", "door " + std::string(request.door) +
                             ": access granted but the lock actuator failed: " + st.ToString());
      }
    }
  }
  if (decided) decided(d);
  JournalDecision(request, d, source, lock);
  static_cast<void>(Flush());  // on failure Flush logs and keeps the events queued for Tick()
  return d;
}

void Gateway::JournalDecision(const rules::Request& request, const rules::Decision& d,
                              std::string_view source, std::string_view lock) {
  json e = DecisionToJson(d, request.door);
  e["type"] = d.granted ? "access.granted" : "access.denied";
  e.erase("at");
  if (!request.reader.empty()) e["reader"] = request.reader;
  e["source"] = source;
  if (!lock.empty()) e["lock"] = lock;
  Journal(std::move(e));
  NoteClock(d.clock_went_back, d.clock_suspect);
  if (d.lockout_started) {
    std::string reader(request.reader.empty() ? request.door : request.reader);
    LogWarning("core", "keypad of reader " + reader + " locked out after repeated PIN failures");
    Journal({{"type", "keypad.locked_out"}, {"door", request.door}, {"reader", reader}});
  }
}

Result<json> Gateway::Handle(const json& request) {
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
    return Status::InvalidArgument("request must be an object with a \"cmd\" string");
  }
  const std::string cmd = request["cmd"].get<std::string>();
  Result<json> out = Status::InvalidArgument(
      "unknown command \"" + cmd + "\" (status, state.import, present, explain, events.tail)");
  if (cmd == "status") {
    out = StatusCmd();
  } else if (cmd == "state.import") {
    out = Import(request);
  } else if (cmd == "present") {
    out = PresentCmd(request, false);
  } else if (cmd == "explain") {
    out = PresentCmd(request, true);
  } else if (cmd == "events.tail") {
    out = EventsTail(request);
  }
  Status flushed = Flush();
  if (!flushed.ok() && out.ok()) return flushed;
  return out;
}

Result<json> Gateway::StatusCmd() {
  const rules::Index& x = *engine_.index();
  Result<store::Position> pos = store_->AppliedPosition();
  if (!pos.ok()) return pos.status();
  Result<uint64_t> count = store_->Count();
  if (!count.ok()) return count.status();
  Result<uint64_t> last = store_->LastSeq();
  if (!last.ok()) return last.status();
  json doors = json::array();
  for (const rules::DoorRec& d : x.doors()) doors.push_back(d.id);
  Instant now = clock_.Wall();
  json out = {
      {"site", config_.site_id},
      {"gateway", config_.gateway_id},
      {"time_zone", config_.time_zone},
      {"now", FormatRfc3339(now)},
      {"time_floor", FormatRfc3339(engine_.time_floor())},
      {"clock_synced", clock_.Synchronized()},
      {"clock_suspect", clock_suspect_},
      {"uptime_s", ToUnix(now) - ToUnix(started_at_)},
      {"applied", {{"epoch", pos->epoch}, {"version", pos->version}}},
      {"state",
       {{"schedules", x.schedules().size() - 1},
        {"groups", x.groups().size()},
        {"people", x.people().size()},
        {"leases", x.leases().size()},
        {"credentials", x.credentials().size()}}},
      {"index_bytes", x.MemoryBytes()},
      {"events", {{"queued", *count}, {"last_seq", *last}}},
      {"doors", doors},
  };
  for (const auto& [key, extra] : status_extra_) out[key] = extra();
  return out;
}

Result<json> Gateway::Import(const json& request) {
  if (!request.contains("records")) {
    return Status::InvalidArgument("state.import needs \"records\" (a snapshot's records object)");
  }
  if (!config_.cloud.broker.empty()) {
    return Status::FailedPrecondition(
        "this gateway syncs with the cloud (cloud.broker " + config_.cloud.broker +
        "); the property system is the source of truth, so a local import is refused");
  }
  Result<store::Position> pos = store_->AppliedPosition();
  if (!pos.ok()) return pos.status();
  if (pos->epoch != 0 || pos->version != 0) {
    return Status::FailedPrecondition(
        "this gateway's state comes from the cloud (applied epoch " + std::to_string(pos->epoch) +
        ", version " + std::to_string(pos->version) +
        "); the property system is the source of truth, so a local import is refused");
  }
  rules::Site site = config::MakeSite(config_);
  Result<rules::Records> records = ParseValidState(site, request["records"]);
  if (!records.ok()) return records.status();
  LINTEL_RETURN_IF_ERROR(store_->ReplaceState(*records, store::Position{0, 0}));
  engine_.SwapIndex(rules::BuildIndex(site, *records));
  json counts = {
      {"schedules", records->schedules.size()},     {"groups", records->groups.size()},
      {"people", records->people.size()},           {"leases", records->leases.size()},
      {"credentials", records->credentials.size()}, {"door_modes", records->door_modes.size()}};
  LogInfo("core", "state imported locally: " + counts.dump());
  Journal({{"type", "sync.applied"}, {"source", "local"}, {"counts", counts}});
  return json{{"imported", counts}};
}

Result<json> Gateway::PresentCmd(const json& request, bool explain) {
  Result<PresentRequest> req = ParsePresentRequest(request);
  if (!req.ok()) return req.status();
  if (engine_.index()->FindDoor(req->door) == rules::kNone) {
    return Status::NotFound("door \"" + req->door + "\" is not a door of this site");
  }
  rules::Request r{req->door, req->reader, req->credential};
  rules::Trace trace;
  rules::Decision d;
  if (explain || req->at) {
    // A question about a moment: no journal, no lockout counting, no move of the time floor.
    d = engine_.Evaluate(r, req->at.value_or(engine_.Now(Reading()).at),
                         explain ? &trace : nullptr);
  } else {
    d = Present(r, "lintelctl");
  }
  json out = DecisionToJson(d, req->door);
  if (explain) out["checks"] = TraceToJson(trace);
  return out;
}

Result<json> Gateway::EventsTail(const json& request) {
  size_t n = 20;
  if (request.contains("n")) {
    const json& jn = request["n"];
    if (!jn.is_number_integer() || jn.get<int64_t>() < 0) {
      return Status::InvalidArgument("\"n\" must be an integer >= 0");
    }
    n = jn.get<size_t>();
  }
  Result<std::vector<store::JournalEvent>> events = store_->Tail(n);
  if (!events.ok()) return events.status();
  json a = json::array();
  for (const store::JournalEvent& e : *events) {
    json j = json::parse(e.body, nullptr, false);
    if (j.is_discarded()) j = {{"type", e.type}, {"corrupt", true}};
    j["seq"] = e.seq;
    a.push_back(std::move(j));
  }
  return json{{"events", a}};
}

}  // namespace lintel::core
