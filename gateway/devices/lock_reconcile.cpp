#include "gateway/devices/lock_reconcile.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "gateway/base/base64.h"

namespace lintel::devices {
namespace {

using rules::LockEntry;
using rules::LockOp;
using Kind = rules::LockEntry::Kind;

bool IsZero(const ble::LockDateTime& t) { return t == ble::LockDateTime{}; }

std::string Describe(const LockOp& op) {
  std::string what = op.entry.kind == Kind::kKeypadCode ? "keypad code" : "authorization";
  return std::string(rules::LockOpKindName(op.kind)) + " " + what + " of credential " +
         op.entry.credential;
}

std::string UnknownId(Kind kind, uint32_t lock_id) {
  return (kind == Kind::kKeypadCode ? "?keypad:" : "?auth:") + std::to_string(lock_id);
}

// Carries out one op; returns the entry's lock id.
Result<uint32_t> Apply(ble::LockClient& client, const LockOp& op, uint32_t lock_id, uint16_t pin) {
  const LockEntry& e = op.entry;
  if (op.kind == LockOp::Kind::kRemove) {
    Status s = e.kind == Kind::kKeypadCode
                   ? client.RemoveKeypadCode(static_cast<uint16_t>(lock_id), pin)
                   : client.RemoveAuthorization(lock_id, pin);
    if (!s.ok()) return s;
    return lock_id;
  }
  Result<ble::AccessWindow> window = ToAccessWindow(e);
  if (!window.ok()) return window.status();
  if (e.kind == Kind::kKeypadCode) {
    if (op.kind == LockOp::Kind::kUpdate) {
      ble::KeypadCodeUpdate u;
      u.id = static_cast<uint16_t>(lock_id);
      u.code = e.code;
      u.name = e.name;
      u.enabled = true;
      u.window = *window;
      Status s = client.UpdateKeypadCode(u, pin);
      if (!s.ok()) return s;
      return lock_id;
    }
    ble::KeypadCodeAdd a;
    a.code = e.code;
    a.name = e.name;
    a.window = *window;
    Result<uint16_t> id = client.AddKeypadCode(a, pin);
    if (!id.ok()) return id.status();
    return static_cast<uint32_t>(*id);
  }
  if (op.kind == LockOp::Kind::kUpdate) {
    ble::AuthorizationUpdate u;
    u.authorization_id = lock_id;
    u.name = e.name;
    u.enabled = true;
    u.remote_allowed = false;
    u.window = *window;
    Status s = client.UpdateAuthorization(u, pin);
    if (!s.ok()) return s;
    return lock_id;
  }
  Result<std::vector<uint8_t>> key = Base64Decode(e.key);
  if (!key.ok() || key->size() != 32) {
    return Status::InvalidArgument("the BLE key of credential " + e.credential +
                                   " is not base64 of 32 bytes");
  }
  ble::AuthorizationInvite inv;
  inv.name = e.name;
  inv.id_type = ble::IdType::kApp;
  std::copy(key->begin(), key->end(), inv.shared_key.begin());
  inv.remote_allowed = false;
  inv.window = *window;
  return client.AddAuthorization(inv, pin);
}

// The held entries with their credential ids, paired with their lock ids and enabled flags.
struct Attributed {
  LockEntry entry;
  uint32_t lock_id = 0;
  bool enabled = true;
  bool used = false;
};

std::vector<Attributed> AttributeAll(const std::vector<LockHeldEntry>& held,
                                     const std::vector<store::LockEntryRecord>& map,
                                     const std::vector<LockEntry>& desired) {
  std::vector<LockEntry> entries = Attribute(held, map, desired);
  std::vector<Attributed> out;
  out.reserve(held.size());
  for (size_t i = 0; i < held.size(); ++i) {
    out.push_back({std::move(entries[i]), held[i].lock_id, held[i].enabled, false});
  }
  return out;
}

// The diff, plus an update for every held entry that is SameOnLock its desired one but disabled.
std::vector<LockOp> Diff(const std::vector<LockEntry>& desired,
                         const std::vector<Attributed>& actual) {
  std::vector<LockEntry> entries;
  entries.reserve(actual.size());
  for (const Attributed& a : actual) entries.push_back(a.entry);
  std::vector<LockOp> ops = rules::DiffLockEntries(desired, entries);
  std::set<std::pair<Kind, std::string>> touched;
  for (const LockOp& op : ops) touched.insert({op.entry.kind, op.entry.credential});
  std::vector<LockOp> enable;
  for (const Attributed& a : actual) {
    if (a.enabled || touched.count({a.entry.kind, a.entry.credential}) > 0) continue;
    for (const LockEntry& d : desired) {
      if (d.kind == a.entry.kind && d.credential == a.entry.credential) {
        enable.push_back({LockOp::Kind::kUpdate, false, d});
        touched.insert({d.kind, d.credential});
        break;
      }
    }
  }
  if (!enable.empty()) {
    auto first_add = std::find_if(ops.begin(), ops.end(),
                                  [](const LockOp& o) { return o.kind == LockOp::Kind::kAdd; });
    ops.insert(first_add, enable.begin(), enable.end());
  }
  return ops;
}

// The lock id an op acts on (removals by the exact entry, updates by credential), marking it used.
std::optional<uint32_t> Target(const LockOp& op, std::vector<Attributed>& actual) {
  for (Attributed& a : actual) {
    if (a.used || a.entry.kind != op.entry.kind) continue;
    bool match = op.kind == LockOp::Kind::kRemove ? a.entry == op.entry
                                                  : a.entry.credential == op.entry.credential;
    if (match) {
      a.used = true;
      return a.lock_id;
    }
  }
  return std::nullopt;
}

}  // namespace

lintel::Status ExplainTimeout(ble::GattLink& link, const lintel::Status& st) {
  if (st.ok() || st.message().find("deadline exceeded: ") == std::string::npos ||
      !link.connected()) {
    return st;
  }
  ble::Reassembler plain(ble::FrameKind::kPlain);
  for (int i = 0; i < 8; ++i) {
    Result<std::vector<uint8_t>> value =
        link.NextIndication(ble::kKeyturnerGdioUuid, std::chrono::milliseconds(1));
    if (!value.ok()) break;
    Result<std::vector<std::vector<uint8_t>>> frames = plain.Feed(*value);
    if (!frames.ok()) break;
    for (const std::vector<uint8_t>& f : *frames) {
      Result<ble::Message> m = ble::DecodePlain(f);
      if (!m.ok()) continue;
      Result<ble::ErrorReport> e = ble::FromMessage<ble::ErrorReport>(*m);
      if (e.ok()) return ble::LockErrorStatus(e->code, e->command);
    }
  }
  return st;
}

// "lock error 0x21 bad PIN (...)" must stay at the start for LockErrorCodeOf: the context goes
// after it.
lintel::Status WithContext(const lintel::Status& st, const std::string& what) {
  if (st.ok()) return st;
  if (ble::LockErrorCodeOf(st)) return lintel::Status(st.code(), st.message() + " [" + what + "]");
  return lintel::Status(st.code(), what + ": " + st.message());
}

std::optional<uint8_t> LockErrorOf(const lintel::Status& st) { return ble::LockErrorCodeOf(st); }

Result<ble::AccessWindow> ToAccessWindow(const LockEntry& e) {
  ble::AccessWindow w;
  w.time_limited = e.from || e.until || e.weekdays != 0 || e.from_min != 0 || e.until_min != 0;
  if (!w.time_limited) return w;
  if (e.from) {
    Result<ble::LockDateTime> t = ble::ToLockDateTime(*e.from);
    if (!t.ok()) return t.status();
    w.from = *t;
  }
  if (e.until) {
    Result<ble::LockDateTime> t = ble::ToLockDateTime(*e.until);
    if (!t.ok()) return t.status();
    w.until = *t;
  }
  w.weekdays = e.weekdays;
  w.from_time = {static_cast<uint8_t>(e.from_min / 60), static_cast<uint8_t>(e.from_min % 60)};
  w.until_time = {static_cast<uint8_t>(e.until_min / 60), static_cast<uint8_t>(e.until_min % 60)};
  return w;
}

void FromAccessWindow(const ble::AccessWindow& w, LockEntry& e, bool* bad) {
  e.from.reset();
  e.until.reset();
  e.weekdays = 0;
  e.from_min = 0;
  e.until_min = 0;
  if (!w.time_limited) return;
  auto date = [bad](const ble::LockDateTime& t) -> std::optional<Instant> {
    if (IsZero(t)) return std::nullopt;
    Result<Instant> i = ble::ToInstant(t);
    if (!i.ok()) {
      if (bad != nullptr) *bad = true;
      return std::nullopt;
    }
    return *i;
  };
  e.from = date(w.from);
  e.until = date(w.until);
  e.weekdays = w.weekdays;
  e.from_min = static_cast<uint16_t>(w.from_time.minutes());
  e.until_min = static_cast<uint16_t>(w.until_time.minutes());
}

Result<std::vector<LockHeldEntry>> ReadHeldEntries(ble::LockClient& client,
                                                   const ReconcileInput& in) {
  std::vector<LockHeldEntry> held;
  if (in.codes) {
    Result<ble::KeypadCodeList> codes = client.ListKeypadCodes(in.pin);
    if (!codes.ok()) return WithContext(codes.status(), "list keypad codes");
    for (const ble::KeypadCode& c : codes->codes) {
      LockHeldEntry h;
      h.entry.kind = Kind::kKeypadCode;
      h.entry.code = c.code;
      h.entry.name = c.name;
      bool bad = false;
      FromAccessWindow(c.window, h.entry, &bad);
      if (bad) h.entry.name += "\x01";  // an impossible date: never SameOnLock, so rewritten
      h.lock_id = c.id;
      h.enabled = c.enabled;
      held.push_back(std::move(h));
    }
  }
  if (in.authorizations) {
    Result<ble::AuthorizationList> auths = client.ListAuthorizations(in.pin);
    if (!auths.ok()) return WithContext(auths.status(), "list authorizations");
    for (const ble::AuthorizationEntry& a : auths->entries) {
      if (a.authorization_id == in.own_authorization_id) continue;
      LockHeldEntry h;
      h.entry.kind = Kind::kAuthorization;
      h.entry.name = a.name;
      bool bad = false;
      FromAccessWindow(a.window, h.entry, &bad);
      if (bad) h.entry.name += "\x01";
      h.lock_id = a.authorization_id;
      h.enabled = a.enabled;
      held.push_back(std::move(h));
    }
  }
  return held;
}

std::vector<LockEntry> Attribute(const std::vector<LockHeldEntry>& held,
                                 const std::vector<store::LockEntryRecord>& map,
                                 const std::vector<LockEntry>& desired) {
  std::map<std::pair<Kind, uint32_t>, const store::LockEntryRecord*> by_id;
  for (const store::LockEntryRecord& r : map) by_id[{r.kind, r.lock_entry_id}] = &r;
  std::map<std::string, const LockEntry*> desired_by_credential;
  std::map<uint32_t, const LockEntry*> desired_by_code;
  for (const LockEntry& d : desired) {
    if (d.kind == Kind::kAuthorization) desired_by_credential[d.credential] = &d;
    if (d.kind == Kind::kKeypadCode) desired_by_code[d.code] = &d;
  }
  std::set<std::string> taken;
  std::vector<LockEntry> out;
  out.reserve(held.size());
  for (const LockHeldEntry& h : held) {
    LockEntry e = h.entry;
    auto it = by_id.find({e.kind, h.lock_id});
    if (it != by_id.end()) {
      e.credential = it->second->credential;
    } else if (e.kind == Kind::kKeypadCode) {
      // Added before a crash that lost its MarkLockOpDone: the digits say whose it is.
      auto d = desired_by_code.find(e.code);
      if (d != desired_by_code.end() && taken.count(d->second->credential) == 0) {
        e.credential = d->second->credential;
      }
    }
    if (e.credential.empty()) e.credential = UnknownId(e.kind, h.lock_id);
    taken.insert(e.credential);
    if (e.kind == Kind::kAuthorization) {
      // A lock never returns a key: it is the desired one when the map's fingerprint says that
      // exactly this (name, window) was written with the desired key; else unknown (rewritten).
      auto d = desired_by_credential.find(e.credential);
      if (d != desired_by_credential.end() && it != by_id.end()) {
        LockEntry candidate = e;
        candidate.key = d->second->key;
        candidate.person = d->second->person;
        if (rules::Fingerprint(candidate) == it->second->fingerprint) e.key = d->second->key;
      }
    }
    if (e.kind == Kind::kKeypadCode) {
      auto d = std::find_if(desired.begin(), desired.end(), [&](const LockEntry& x) {
        return x.kind == e.kind && x.credential == e.credential;
      });
      if (d != desired.end()) e.person = d->person;
    }
    out.push_back(std::move(e));
  }
  return out;
}

ReconcileResult Reconcile(ble::LockClient& client, const ReconcileInput& in,
                          const std::function<void()>& between, Instant now) {
  ReconcileResult r;
  Result<std::vector<LockHeldEntry>> held = ReadHeldEntries(client, in);
  if (!held.ok()) {
    r.status = held.status();
    r.reached = ble::LockErrorCodeOf(held.status()).has_value();
    return r;
  }
  r.reached = true;
  std::vector<store::LockEntryRecord> map = in.entry_map;
  std::vector<Attributed> actual = AttributeAll(*held, map, in.desired);
  std::vector<LockOp> ops = Diff(in.desired, actual);
  r.differences = ops.size();
  for (const LockOp& op : ops) {
    if (between) between();
    uint32_t lock_id = 0;
    if (op.kind != LockOp::Kind::kAdd) {
      std::optional<uint32_t> target = Target(op, actual);
      if (!target) {
        r.status = Status::Internal(Describe(op) + ": no such entry on the lock");
        return r;
      }
      lock_id = *target;
    }
    Result<uint32_t> done = Apply(client, op, lock_id, in.pin);
    if (!done.ok()) {
      r.status = WithContext(done.status(), Describe(op));
      return r;
    }
    r.applied.push_back({op, *done});
    // The working map, for attributing the re-read.
    map.erase(std::remove_if(map.begin(), map.end(),
                             [&](const store::LockEntryRecord& x) {
                               return x.credential == op.entry.credential ||
                                      (x.kind == op.entry.kind && x.lock_entry_id == *done);
                             }),
              map.end());
    if (op.kind != LockOp::Kind::kRemove) {
      map.push_back({op.entry.credential, op.entry.kind, *done, rules::Fingerprint(op.entry), now});
    }
  }
  if (between) between();
  Result<std::vector<LockHeldEntry>> again = ReadHeldEntries(client, in);
  if (!again.ok()) {
    r.status = WithContext(again.status(), "re-read");
    return r;
  }
  std::vector<Attributed> reread = AttributeAll(*again, map, in.desired);
  std::vector<LockOp> left = Diff(in.desired, reread);
  if (!left.empty()) {
    r.status = Status::Unavailable("re-read: the lock still differs from the desired entries in " +
                                   std::to_string(left.size()) +
                                   " place(s) (first: " + Describe(left.front()) + ")");
    return r;
  }
  std::map<std::string, store::LockEntryRecord> before;
  for (const store::LockEntryRecord& x : in.entry_map) before[x.credential] = x;
  for (const Attributed& a : reread) {
    store::LockEntryRecord rec{a.entry.credential, a.entry.kind, a.lock_id, 0, now};
    for (const LockEntry& d : in.desired) {
      if (d.kind == a.entry.kind && d.credential == a.entry.credential) {
        rec.fingerprint = rules::Fingerprint(d);
        break;
      }
    }
    auto b = before.find(rec.credential);
    if (b != before.end() && b->second.lock_entry_id == rec.lock_entry_id &&
        b->second.fingerprint == rec.fingerprint && b->second.kind == rec.kind) {
      rec.written_at = b->second.written_at;
    }
    r.confirmed_map.push_back(std::move(rec));
  }
  std::sort(r.confirmed_map.begin(), r.confirmed_map.end(),
            [](const auto& a, const auto& b) { return a.credential < b.credential; });
  r.status = Status::Ok();
  return r;
}

Result<LogFetch> FetchLog(ble::LockClient& client, std::optional<uint32_t> last_seen, uint16_t pin,
                          size_t max_entries) {
  LogFetch out;
  out.newest = last_seen;
  if (!last_seen) {
    Result<ble::LogPage> page = client.ReadLog(0, 1, pin, /*descending=*/true);
    if (!page.ok()) return page.status();
    out.newest = page->entries.empty() ? 0 : page->entries.front().index;
    return out;
  }
  uint32_t next = *last_seen + 1;
  constexpr uint16_t kPage = 20;
  while (out.entries.size() < max_entries) {
    Result<ble::LogPage> page = client.ReadLog(next, kPage, pin, /*descending=*/false);
    if (!page.ok()) return page.status();
    bool progressed = false;
    for (ble::LogEntry& e : page->entries) {
      if (e.index <= *out.newest) continue;  // a lock that starts at an older one
      out.newest = e.index;
      next = e.index + 1;
      out.entries.push_back(std::move(e));
      progressed = true;
    }
    if (!progressed || page->entries.size() < kPage) break;
  }
  return out;
}

}  // namespace lintel::devices
