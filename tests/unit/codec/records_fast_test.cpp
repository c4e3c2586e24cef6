// The simdjson fast path (records_fast.h) against the current parser (records_json.h), issue 13
// points 5 and 7: on generated buildings it reads everything, and over mutated payloads (bytes
// flipped, fields deleted, values of other types, duplicate and unknown fields, trailing bytes) it
// either gives up or gives exactly the current parser's value. The per-vector check of every codec
// test is in records_json_test / ops_json_test (ErrorOf).
#include "gateway/codec/records_fast.h"

#include <gtest/gtest.h>

#include <array>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "gateway/codec/records_json.h"
#include "tests/bench/gen.h"
#include "tests/rounds.h"
#include "tests/unit/codec/fast_check.h"

namespace lintel::codec {
namespace {

using json = nlohmann::json;
using testing::CheckOpText;
using testing::CheckRecordsText;
using testing::FastAcceptsAndAgrees;
using testing::FastAgrees;
using testing::FastOutcome;

// Every field of every kind at least once, optional ones set, null and absent.
const char* const kEveryField = R"({
  "schedules": [
    {"id": "office", "windows": [{"days": ["mon", "fri", "sun"], "from": "07:30", "to": "24:00"}],
     "exceptions": [{"date": "2026-12-24", "windows": [{"days": ["tue"], "from": "08:00",
                                                        "to": "12:00"},
                                                       {"days": null, "from": "13:00",
                                                        "to": "14:00"}]},
                    {"date": "2026-12-25", "windows": []}]},
    {"id": "late", "windows": [], "exceptions": null},
    {"id": "bare", "windows": [{"days": [], "from": "00:00", "to": "00:01"}]}
  ],
  "groups": [{"id": "g-1", "name": "Résidents ✓", "doors": ["front", "garage"], "schedule": "office"},
             {"id": "g-2", "name": "", "doors": [], "schedule": "always"}],
  "people": [
    {"id": "p-1", "name": "Ana", "role": "tenant", "primary": null, "inherit": null,
     "groups": null, "status": null},
    {"id": "p-2", "name": "Ben", "role": "family", "primary": "p-1", "inherit": true,
     "groups": ["g-1"], "status": "suspended"},
    {"id": "p-3", "name": "Cy", "role": "staff", "inherit": false, "status": "active"},
    {"id": "p-4", "name": "Di", "role": "guest"}, {"id": "p-5", "name": "Ed", "role": "alias"},
    {"id": "p-6", "name": "Fi", "role": "occupant"}
  ],
  "leases": [
    {"id": "l-1", "unit": "3B", "members": ["p-1", "p-2"], "groups": ["g-1"],
     "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00+02:00",
     "paid_through": "2026-02-01T10:00:00.250Z", "grace_days": -3},
    {"id": "l-2", "unit": "4C", "members": [], "groups": [], "starts_at": "2026-01-01T00:00:00Z",
     "ends_at": null, "paid_through": null, "grace_days": null},
    {"id": "l-3", "unit": "5D", "members": [], "groups": [], "starts_at": "2026-01-01T00:00:00Z",
     "grace_days": 2147483647},
    {"id": "l-4", "unit": "5E", "members": [], "groups": [], "starts_at": "2026-01-01T00:00:00Z",
     "grace_days": -2147483648}
  ],
  "credentials": [
    {"id": "c-1", "person": "p-1", "type": "card", "status": "active",
     "card": {"format": "h10301", "facility": 12, "number": 345}},
    {"id": "c-2", "person": "p-1", "type": "card", "status": "revoked",
     "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-06-01T00:00:00Z",
     "card": {"uid": "04a1b2c3d4e5f6", "format": null, "facility": null, "number": null},
     "pin": null, "ble_key": null},
    {"id": "c-3", "person": "p-2", "type": "pin", "status": "suspended", "pin": "0123",
     "valid_from": null, "valid_until": null, "card": null},
    {"id": "c-4", "person": "p-2", "type": "ble_key", "status": "active",
     "ble_key": {"lock": "lock-1", "key": "k", "name": "Ben's phone"}},
    {"id": "c-5", "person": "p-3", "type": "card", "status": "active",
     "card": {"format": "c1k48", "facility": 4294967295, "number": 18446744073709551615}},
    {"id": "c-6", "person": "p-3", "type": "card", "status": "active",
     "card": {"format": "h10306", "number": 0, "facility": null}},
    {"id": "c-7", "person": "p-3", "type": "card", "status": "active",
     "card": {"format": "h10302", "number": 9223372036854775808}},
    {"id": "c-8", "person": "p-3", "type": "card", "status": "active",
     "card": {"format": "h10304", "facility": 1, "number": 1}},
    {"id": "c-9", "person": "p-3", "type": "card", "status": "active",
     "card": {"format": "c1k35", "facility": 1, "number": 1}}
  ],
  "door_modes": [{"id": "front", "mode": "normal"},
                 {"id": "garage", "mode": "locked_down", "until": "2026-11-23T10:00:00Z"},
                 {"id": "roof", "mode": "unlocked", "until": null}]
})";

TEST(RecordsFast, ReadsEveryFieldOfEveryKindLikeTheCurrentParser) {
  FastOutcome o = CheckRecordsText(kEveryField);
  ASSERT_TRUE(o.current_ok);
  EXPECT_TRUE(FastAcceptsAndAgrees(o));
  EXPECT_TRUE(FastAcceptsAndAgrees(CheckRecordsText("{}")));
  // "-0" is 0 for both (nlohmann: a signed 0; simdjson: an INT64 0).
  EXPECT_TRUE(FastAcceptsAndAgrees(
      CheckRecordsText(R"({"credentials":[{"id":"c","person":"p","type":"card","status":"active",)"
                       R"("card":{"format":"h10301","facility":-0,"number":-0}}],)"
                       R"("leases":[{"id":"l","unit":"u","members":[],"groups":[],)"
                       R"("starts_at":"2026-01-01T00:00:00Z","grace_days":-0}]})")));
  EXPECT_TRUE(FastAcceptsAndAgrees(CheckRecordsText(
      R"({"schedules":null,"groups":null,"people":null,"leases":null,"credentials":null,)"
      R"("door_modes":null})")));
}

TEST(RecordsFast, ReadsGeneratedBuildingsLikeTheCurrentParser) {
  for (size_t n : {10u, 1000u, 10000u}) {
    SCOPED_TRACE(n);
    const std::string text = RecordsToJson(bench::Generate(n)).dump();
    EXPECT_TRUE(FastAcceptsAndAgrees(CheckRecordsText(text)));
  }
}

TEST(RecordsFast, ReadsGeneratedOpsLikeTheCurrentParser) {
  const rules::Records r = bench::Generate(200);
  auto check = [](const rules::Op& op) {
    EXPECT_TRUE(FastAcceptsAndAgrees(CheckOpText(ToJson(op).dump()))) << ToJson(op).dump();
  };
  for (const auto& x : r.schedules) check(rules::PutOp(x));
  for (const auto& x : r.groups) check(rules::PutOp(x));
  for (const auto& x : r.people) check(rules::PutOp(x));
  for (const auto& x : r.leases) check(rules::PutOp(x));
  for (const auto& x : r.credentials) check(rules::PutOp(x));
  check(rules::DeleteOp(rules::RecordKind::kCredential, "c-1"));
}

// What the fast path leaves to the current parser although it would parse: escapes, a leading
// byte-order mark (simdjson refuses it). Each must not be taken by the fast path.
TEST(RecordsFast, GivesUpOnWhatItDoesNotHandle) {
  for (const char* text : {
           R"({"people":[{"id":"p\u002d1","name":"A","role":"tenant"}]})",
           R"({"people":[{"id":"p-1","name":"A \"B\"","role":"tenant"}]})",
           "\xEF\xBB\xBF{}",
       }) {
    SCOPED_TRACE(text);
    FastOutcome o = CheckRecordsText(text);
    EXPECT_TRUE(o.agrees) << o.why;
    EXPECT_FALSE(o.accepted);
  }
}

// Inputs the current parser rejects, one per rule the fast path mirrors: the fast path must give up
// on every one (then the current parser's error is the answer).
TEST(RecordsFast, GivesUpOnEveryInputTheCurrentParserRejects) {
  const std::string card = R"({"id":"c","person":"p","type":"card","status":"active",)";
  for (std::string text : {
           std::string(R"({"people":[{"id":"p-1","name":"A","role":"tenant","id":"p-2"}]})"),
           std::string(R"({"people":[{"id":"p-1","name":"A","role":"tenant","x":1}]})"),
           std::string(R"({"people":[{"id":"","name":"A","role":"tenant"}]})"),
           std::string(R"({"people":[{"id":"p","name":null,"role":"tenant"}]})"),
           std::string(R"({"people":[{"id":"p","name":"A","role":"landlord"}]})"),
           std::string(R"({"people":[{"id":"p","name":"A","role":"tenant","inherit":1}]})"),
           std::string(R"({"people":[{"id":"p","name":"A","role":"tenant"}],"x":[]})"),
           std::string(R"({"people":[{"id":"p","name":"A","role":"tenant"}]} x)"),
           std::string(R"({"people":[{"id":"p","name":"A)") + "\x01" + R"(","role":"tenant"}]})",
           std::string(R"({"people":[{"id":"p","name":"A)") + "\xC0\xAF" +
               R"(","role":"tenant"}]})",
           std::string(R"({"people":{}})"),
           std::string(R"([])"),
           card + R"("card":{"format":"h10301","number":12.0}}]})",
           card + R"("card":{"format":"h10301","number":1e2}}]})",
           card + R"("card":{"format":"h10301","number":-1}}]})",
           card + R"("card":{"format":"h10301","number":18446744073709551616}}]})",
           card + R"("card":{"format":"h10301","facility":4294967296,"number":1}}]})",
           card + R"("card":{"format":"uid","number":1}}]})",
           card + R"("card":{"uid":"0g"}}]})",
           card + R"("card":{"uid":"00112233445566778"}}]})",
           card + R"("card":{"uid":""}}]})",
           card + R"("card":{"uid":"AB","number":1}}]})",
           card + R"("card":{"number":1}}]})",
           card + R"("card":{"format":"h10301","number":null}}]})",
           card + R"("card":{"format":"h10301","number":1},"pin":"1234"}]})",
           card + R"("card":null}]})",
           card + R"("pin":"1234"}]})",
           std::string(R"({"credentials":[{"id":"c","person":"p","type":"pin","status":"active",)"
                       R"("pin":1234}]})"),
           std::string(R"({"credentials":[{"id":"c","person":"p","type":"ble_key",)"
                       R"("status":"active","ble_key":{"lock":"l","key":"k"}}]})"),
           std::string(R"({"leases":[{"id":"l","unit":"u","members":[],"groups":[],)"
                       R"("starts_at":"2026-01-01"}]})"),
           std::string(R"({"leases":[{"id":"l","unit":"u","members":[],"groups":[],)"
                       R"("starts_at":"2026-01-01T00:00:00Z","grace_days":2147483648}]})"),
           std::string(R"({"leases":[{"id":"l","unit":"u","members":[1],"groups":[],)"
                       R"("starts_at":"2026-01-01T00:00:00Z"}]})"),
           std::string(R"({"schedules":[{"id":"s","windows":[{"from":"08:00","to":"09:00"}]}]})"),
           std::string(R"({"schedules":[{"id":"s","windows":[{"days":["xyz"],"from":"08:00",)"
                       R"("to":"09:00"}]}]})"),
           std::string(R"({"schedules":[{"id":"s","windows":[{"days":[],"from":"8:00",)"
                       R"("to":"24:01"}]}]})"),
           std::string(R"({"schedules":[{"id":"s","windows":[],"exceptions":[{"date":)"
                       R"("2026-02-30","windows":[]}]}]})"),
           std::string(R"({"schedules":[{"id":"s","windows":null}]})"),
           std::string(R"({"door_modes":[{"id":"d","mode":"open"}]})"),
       }) {
    SCOPED_TRACE(text);
    FastOutcome o = CheckRecordsText(text);
    EXPECT_FALSE(o.current_ok);
    EXPECT_FALSE(o.accepted);
  }
  for (const char* text : {
           R"({"op":"delete","kind":"person","id":"p","data":{}})",
           R"({"op":"delete","kind":"person","id":""})",
           R"({"op":"delete","kind":"person","id":null})",
           R"({"op":"put","kind":"person","id":"p","data":{"id":"p","name":"A","role":"tenant"}})",
           R"({"op":"put","kind":"lease","data":{"id":"p","name":"A","role":"tenant"}})",
           R"({"op":"put","kind":"person","data":null})",
           R"({"op":"upsert","kind":"person","id":"p"})",
           R"({"op":"put","kind":"cred","id":"p"})",
           R"({"op":"put","op":"delete","kind":"person","id":"p"})",
       }) {
    SCOPED_TRACE(text);
    FastOutcome o = CheckOpText(text);
    EXPECT_FALSE(o.current_ok);
    EXPECT_FALSE(o.accepted);
  }
}

// ---- mutated payloads --------------------------------------------------------------------------

// Values of other types and at the edges of every range the codec checks. "RAW:" is written as
// bare JSON text (numbers nlohmann would not keep as written).
const std::array<const char*, 34> kOtherValues = {"RAW:null",
                                                  "RAW:true",
                                                  "RAW:false",
                                                  "RAW:0",
                                                  "RAW:-0",
                                                  "RAW:-1",
                                                  "RAW:1",
                                                  "RAW:12.0",
                                                  "RAW:1e2",
                                                  "RAW:4294967295",
                                                  "RAW:4294967296",
                                                  "RAW:18446744073709551615",
                                                  "RAW:18446744073709551616",
                                                  "RAW:2147483648",
                                                  "RAW:-2147483649",
                                                  "RAW:-9223372036854775809",
                                                  "RAW:[]",
                                                  "RAW:{}",
                                                  "RAW:[\"mon\"]",
                                                  "RAW:{\"uid\":\"ab\"}",
                                                  "",
                                                  "x",
                                                  "2026-11-23T10:00:00Z",
                                                  "2026-11-23",
                                                  "12:00",
                                                  "24:00",
                                                  "mon",
                                                  "card",
                                                  "pin",
                                                  "ble_key",
                                                  "uid",
                                                  "h10301",
                                                  "ABCDEF",
                                                  "delete"};
const std::array<const char*, 12> kKeys = {"id",     "name",   "status", "card", "pin",  "uid",
                                           "format", "number", "days",   "data", "kind", "zzz"};

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  std::string Mutate(const std::string& text) {
    switch (Pick(6)) {
      case 0:
        return FlipBytes(text);
      case 1:
        return InsertField(text);
      case 2:
        return Trailing(text);
      default:
        return Structural(text);  // delete a field, or another value
    }
  }

 private:
  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string FlipBytes(std::string t) {
    static const std::string kBytes = std::string("\"\\{}[],:-.0123456789eE \x01\xC0\xFF\x7F", 26);
    for (size_t k = 0, n = 1 + Pick(3); k < n && !t.empty(); ++k) {
      const size_t at = Pick(t.size());
      switch (Pick(3)) {
        case 0:
          t[at] = Pick(2) ? kBytes[Pick(kBytes.size())] : static_cast<char>(Pick(256));
          break;
        case 1:
          t.erase(at, 1);
          break;
        default:
          t.insert(at, 1, kBytes[Pick(kBytes.size())]);
      }
    }
    return t;
  }

  // `"key":value,` right after a random '{': a duplicate, an unknown field, or another type.
  std::string InsertField(std::string t) {
    std::vector<size_t> opens;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == '{') opens.push_back(i);
    }
    if (opens.empty()) return t;
    std::string v = kOtherValues[Pick(kOtherValues.size())];
    v = v.rfind("RAW:", 0) == 0 ? v.substr(4) : json(v).dump();
    t.insert(opens[Pick(opens.size())] + 1,
             "\"" + std::string(kKeys[Pick(kKeys.size())]) + "\":" + v + (Pick(4) ? "," : ""));
    return t;
  }

  std::string Trailing(const std::string& t) {
    static const std::array<const char*, 5> kTails = {" ", "\n", " x", "{}", "]"};
    return t + kTails[Pick(kTails.size())];
  }

  // Deletes a field of a random object, or sets a random value (object field or array element)
  // to one of kOtherValues.
  std::string Structural(const std::string& text) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return FlipBytes(text);
    std::vector<json*> containers;
    Collect(&j, &containers);
    json* c = containers[Pick(containers.size())];
    if (c->empty()) return FlipBytes(text);
    auto it = c->begin();
    std::advance(it, static_cast<long>(Pick(c->size())));
    if (c->is_object() && Pick(3) == 0) {
      c->erase(it.key());
      return j.dump();
    }
    std::string v = kOtherValues[Pick(kOtherValues.size())];
    if (v.rfind("RAW:", 0) != 0) {
      *it = v;
      return j.dump();
    }
    *it = "@@RAW@@";
    std::string out = j.dump();
    out.replace(out.find("\"@@RAW@@\""), 9, v.substr(4));
    return out;
  }

  static void Collect(json* j, std::vector<json*>* out) {
    if (!j->is_structured()) return;
    out->push_back(j);
    for (json& child : *j) Collect(&child, out);
  }

  std::mt19937 rng_;
};

struct Tally {
  int both_accept = 0;
  int current_rejects = 0;
  int fast_gave_up = 0;
};

template <typename Check>
Tally MutateAndCheck(const std::vector<std::string>& seeds, int rounds, uint32_t seed,
                     Check&& check) {
  Mutator m(seed);
  Tally tally;
  for (int i = 0; i < rounds; ++i) {
    std::string text = seeds[static_cast<size_t>(i) % seeds.size()];
    for (int k = 0, n = 1 + i % 3; k < n; ++k) text = m.Mutate(text);
    FastOutcome o = check(text);
    EXPECT_TRUE(FastAgrees(o)) << "mutant " << i << ": " << text;
    if (!o.agrees) break;
    tally.both_accept += o.accepted ? 1 : 0;
    tally.current_rejects += o.current_ok ? 0 : 1;
    tally.fast_gave_up += o.accepted ? 0 : 1;
  }
  return tally;
}

TEST(RecordsFast, MutatedRecordsAreGivenUpOrReadLikeTheCurrentParser) {
  std::vector<std::string> seeds = {json::parse(kEveryField).dump(),
                                    RecordsToJson(bench::Generate(12)).dump()};
  Tally t = MutateAndCheck(seeds, TestRounds(6000), 13, CheckRecordsText);
  // The mutants reach both sides: some still parse (and are compared), many do not.
  EXPECT_GT(t.both_accept, TestRounds(150));
  EXPECT_GT(t.current_rejects, TestRounds(1500));
  RecordProperty("both_accept", t.both_accept);
  RecordProperty("current_rejects", t.current_rejects);
}

TEST(RecordsFast, MutatedOpsAreGivenUpOrReadLikeTheCurrentParser) {
  const json every = json::parse(kEveryField);
  std::vector<std::string> seeds;
  const std::array<const char*, 6> arrays = {"schedules", "groups",      "people",
                                             "leases",    "credentials", "door_modes"};
  const std::array<const char*, 6> kinds = {"schedule", "group",      "person",
                                            "lease",    "credential", "door_mode"};
  for (size_t k = 0; k < arrays.size(); ++k) {
    for (const json& record : every[arrays[k]]) {
      seeds.push_back(json{{"op", "put"}, {"kind", kinds[k]}, {"data", record}}.dump());
    }
    seeds.push_back(json{{"op", "delete"}, {"kind", kinds[k]}, {"id", "x-1"}}.dump());
  }
  Tally t = MutateAndCheck(seeds, TestRounds(6000), 7, CheckOpText);
  EXPECT_GT(t.both_accept, TestRounds(150));
  EXPECT_GT(t.current_rejects, TestRounds(1500));
}

}  // namespace
}  // namespace lintel::codec
