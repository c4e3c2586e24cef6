// Random valid states and random deltas over small id and key pools, for the property tests of
// incremental validation (validate_delta_test.cpp) and incremental index edits
// (index_edit_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "rules/ops.h"
#include "rules/validate.h"
#include "tests/unit/rules/fixture.h"

namespace lintel::rules::testing {

// Random records over small id and key pools, so that deltas collide with what is there: a
// primary that loops, a deleted holder, a card already held in an overlapping window.
class RandomState {
 public:
  explicit RandomState(uint32_t seed) : rng_(seed) {}

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Coin(int percent) { return Pick(100) < percent; }
  std::string PersonId() { return "p" + std::to_string(Pick(14)); }

  Person MakeP(const std::string& id) {
    Person p = MakePerson(id, Coin(30) ? Role::kFamily : Role::kTenant);
    if (Coin(40)) {
      p.primary = PersonId();
      p.inherit = Coin(50);
    } else if (Coin(5)) {
      p.inherit = true;  // with no primary: invalid
    }
    if (Coin(50)) p.groups.push_back(Coin(90) ? "g" + std::to_string(Pick(2)) : "g-missing");
    if (Coin(10)) p.status = PersonStatus::kSuspended;
    return p;
  }
  Lease MakeL(const std::string& id) {
    Lease l;
    l.id = id;
    l.unit = "1" + std::to_string(Pick(9));
    for (int i = Pick(3); i >= 0; --i) l.members.push_back(PersonId());
    if (Coin(40)) l.groups.push_back("g" + std::to_string(Pick(2)));
    l.starts_at = T("2026-01-01T00:00:00Z") + std::chrono::hours(24 * Pick(60));
    if (Coin(60)) l.ends_at = l.starts_at + std::chrono::hours(24 * (Pick(400) - 20));
    if (Coin(30)) l.paid_through = l.starts_at + std::chrono::hours(24 * Pick(90));
    if (Coin(10)) l.grace_days = Pick(400);
    return l;
  }
  Credential MakeC(const std::string& id) {
    Credential c;
    if (Coin(30)) {
      static const char* kPins[] = {"1234", "5678", "123", "9123", "24680"};
      // One draw per statement: the order of a call's arguments is the compiler's.
      std::string person = PersonId();
      c = Pin(id, person, kPins[Pick(5)]);
    } else {
      std::string person = PersonId();
      c = Card(id, person, 101, static_cast<uint64_t>(Pick(6)));
      if (Coin(3)) c.card.number = 70000;  // wider than h10301
    }
    if (Coin(8)) c.person = "p-missing";
    const int s = Pick(10);
    c.status = s < 7 ? CredentialStatus::kActive
                     : (s < 9 ? CredentialStatus::kRevoked : CredentialStatus::kSuspended);
    if (Coin(50)) c.valid_from = T("2026-01-01T00:00:00Z") + std::chrono::hours(24 * Pick(200));
    if (Coin(50)) {
      Instant from = c.valid_from.value_or(T("2026-01-01T00:00:00Z"));
      c.valid_until = from + std::chrono::hours(24 * (Pick(120) - 5));
    }
    return c;
  }

  // A valid state: random records, then whatever is invalid removed until Validate passes.
  Records State(const Site& site) {
    Records r;
    r.schedules = {testing::WeekdaysNineToFive()};
    r.groups = {MakeGroup("g0", {"front"}), MakeGroup("g1", {"garage", "roof"}, "office")};
    for (int i = 0; i < 14; ++i) r.people.push_back(MakeP("p" + std::to_string(i)));
    for (int i = 0; i < 6; ++i) r.leases.push_back(MakeL("l" + std::to_string(i)));
    for (int i = 0; i < 16; ++i) r.credentials.push_back(MakeC("c" + std::to_string(i)));
    for (int round = 0; round < 100; ++round) {
      std::vector<std::string> errors = Validate(site, r, SIZE_MAX);
      if (errors.empty()) return r;
      // "kind id: ..." -> drop that record.
      for (const std::string& e : errors) {
        std::string kind = e.substr(0, e.find(' '));
        std::string id = e.substr(kind.size() + 1, e.find(':') - kind.size() - 1);
        auto drop = [&](auto& v) { std::erase_if(v, [&](const auto& x) { return x.id == id; }); };
        if (kind == "person") drop(r.people);
        if (kind == "lease") drop(r.leases);
        if (kind == "credential") drop(r.credentials);
      }
    }
    ADD_FAILURE() << "no valid state";
    return r;
  }

  Op RandomOp() {
    const int k = Pick(100);
    const bool del = Coin(25);
    if (k < 30) {
      std::string id = PersonId();
      return del ? DeleteOp(RecordKind::kPerson, id) : PutOp(MakeP(id));
    }
    if (k < 50) {
      std::string id = "l" + std::to_string(Pick(8));
      return del ? DeleteOp(RecordKind::kLease, id) : PutOp(MakeL(id));
    }
    if (k < 88) {
      std::string id = "c" + std::to_string(Pick(20));
      return del ? DeleteOp(RecordKind::kCredential, id) : PutOp(MakeC(id));
    }
    if (k < 93) {
      if (del) return DeleteOp(RecordKind::kSchedule, "office");
      Schedule s = testing::WeekdaysNineToFive();
      if (Coin(20)) s.windows[0].to_min = 8 * 60;  // from after to: invalid
      return PutOp(s);
    }
    if (k < 97) {
      std::string id = "g" + std::to_string(Pick(3));
      std::string door = Coin(90) ? "unit-101" : "nowhere";
      std::string schedule = Coin(80) ? "always" : "office";
      return PutOp(MakeGroup(id, {door}, schedule));
    }
    DoorMode m;
    m.door = Coin(90) ? "front" : "attic";
    m.mode = DoorModeKind::kLockedDown;
    return PutOp(m);
  }

 private:
  std::mt19937 rng_;
};

// Every request two indexes of such states can decide differently: each card and PIN of the
// generator's pools at each door of `x`, at times around its dates. Calls f(request, time text).
template <typename F>
void ForEachProbe(const Index& x, F f) {
  std::vector<Presented> presented;
  for (uint64_t n = 0; n < 7; ++n) presented.push_back(CardAt(101, n));
  for (const char* pin : {"1234", "5678", "123", "9123", "24680"}) {
    presented.push_back(PinPresented(pin));
  }
  for (const char* at : {"2026-01-01T10:00:00Z", "2026-02-10T10:00:00Z", "2026-03-05T20:00:00Z",
                         "2026-06-01T10:00:00Z", "2027-03-01T10:00:00Z"}) {
    for (const DoorRec& door : x.doors()) {
      for (const Presented& p : presented) f(Request{door.id, "", p}, at);
    }
  }
}

}  // namespace lintel::rules::testing
