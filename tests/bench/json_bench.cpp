// JSON bench (issue 13, point 7): choosing the JSON tool by measurement. A snapshot page and
// deltas as the cloud sends them (tests/bench/gen.h's building, cloud_bench's page layout of 5,000
// records, the contract's JSON through codec::ToJson), parsed into rules::Records / rules::Op:
//
//   current:  codec::ParseJsonText (nlohmann-json, SAX into a DOM, duplicate-field check) and
//             codec::ParseRecords / codec::ParseOp, exactly what ParseCloudMessage does after the
//             signature verified;
//   simdjson: simdjson 3.0.1 (Debian's libsimdjson-dev) ondemand straight into the same values,
//             a happy-path reader that refuses (returns false) anything it does not fully
//             understand: unknown or repeated fields, other types, numbers out of range, trailing
//             bytes. Its result is checked equal to the current parser's (or the bench fails), so
//             the ratio compares like with like;
//   syntax:   the text to a DOM only: codec::ParseJsonText against simdjson's dom::parser (whose
//             kernel is picked at run time; ondemand's is the build target's: "fallback" on a
//             generic x86-64 build such as Debian's packages);
//   message:  the whole ParseCloudMessage (Ed25519 verify + base64url + JSON), for scale.
//
// And the gateway's own parse, before and after its fast path (messages.h, issue 13 points 5/7):
//   gateway_before: cloud::internal::ParsePayload, the current parser on the whole payload (every
//                   header check, ParseJsonText, ParseRecords / ParseOp): what ParseCloudMessage
//                   ran after the signature before the fast path;
//   gateway_after:  cloud::internal::FastParsePayload, the simdjson DOM fast path the gateway now
//                   tries first (checked equal to gateway_before, or the bench fails);
//   message_before: VerifyJws + ParsePayload (the old ParseCloudMessage); message_after:
//                   ParseCloudMessage as it is now.
//
// One JSON line: per payload, bytes, the median time of each parser over the repetitions, MB/s,
// and current_over_simdjson (how many times faster the ondemand reader is) plus
// json_share_of_message (the share of ParseCloudMessage the JSON part was, i.e. the most a faster
// parser can save), gateway_before_over_after and message_before_over_after; at the end the same
// ratios over all pages, and ondemand_over_dom (the bench's ondemand reader over the gateway's DOM
// fast path: above 1 means the DOM path is faster).
// Usage: json_bench [--page-size N] [--reps N]. Not part of the test run's pass/fail.
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gateway/base/base64.h"
#include "gateway/base/time.h"
#include "gateway/cloud/jws.h"
#include "gateway/cloud/messages.h"
#include "gateway/codec/json_text.h"
#include "gateway/codec/records_json.h"
#include "tests/bench/gen.h"

namespace lintel {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
namespace od = simdjson::ondemand;

// ---- the simdjson candidate ---------------------------------------------------------------------

// Reads an object's fields once each; a field not in `names` (or seen twice) refuses.
template <typename F>
bool Fields(od::object obj, std::initializer_list<std::string_view> names, F&& on_field) {
  uint32_t seen = 0;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    uint32_t bit = 0, i = 0;
    for (std::string_view n : names) {
      if (n == key) bit = 1u << i;
      ++i;
    }
    if (bit == 0 || (seen & bit)) return false;
    seen |= bit;
    od::value v;
    if (field.value().get(v)) return false;
    if (!on_field(key, v)) return false;
  }
  return true;
}

bool Str(od::value v, std::string* out) {
  std::string_view s;
  if (v.get_string().get(s)) return false;
  out->assign(s);
  return true;
}
bool IsNull(od::value v) {
  bool null = false;
  return !v.is_null().get(null) && null;
}
bool Strings(od::value v, std::vector<std::string>* out) {
  od::array a;
  if (v.get_array().get(a)) return false;
  out->clear();
  for (auto e : a) {
    std::string_view s;
    if (e.get_string().get(s)) return false;
    out->emplace_back(s);
  }
  return true;
}
bool Time(od::value v, Instant* out) {
  std::string_view s;
  if (v.get_string().get(s) || s.size() <= 10) return false;
  Result<Instant> t = ParseRfc3339(s);
  if (!t.ok()) return false;
  *out = *t;
  return true;
}
bool OptTime(od::value v, std::optional<Instant>* out) {
  if (IsNull(v)) return true;
  Instant t;
  if (!Time(v, &t)) return false;
  *out = t;
  return true;
}
template <typename E>
bool Enum(od::value v, std::optional<E> (*parse)(std::string_view), E* out) {
  std::string_view s;
  if (v.get_string().get(s)) return false;
  std::optional<E> e = parse(s);
  if (!e) return false;
  *out = *e;
  return true;
}
bool U64(od::value v, uint64_t max, uint64_t* out) {
  uint64_t n = 0;
  if (v.get_uint64().get(n) || n > max) return false;
  *out = n;
  return true;
}

bool Person(od::value v, rules::Person* p) {
  od::object o;
  if (v.get_object().get(o)) return false;
  bool has_id = false, has_name = false, has_role = false;
  bool ok = Fields(o, {"id", "name", "role", "primary", "inherit", "groups", "status"},
                   [&](std::string_view k, od::value x) {
                     if (k == "id") return has_id = Str(x, &p->id) && !p->id.empty();
                     if (k == "name") return has_name = Str(x, &p->name);
                     if (k == "role") return has_role = Enum(x, rules::ParseRole, &p->role);
                     if (IsNull(x)) return true;
                     if (k == "primary") return Str(x, &p->primary.emplace());
                     if (k == "inherit") return !x.get_bool().get(p->inherit);
                     if (k == "groups") return Strings(x, &p->groups);
                     return Enum(x, rules::ParsePersonStatus, &p->status);
                   });
  return ok && has_id && has_name && has_role;
}

bool Lease(od::value v, rules::Lease* l) {
  od::object o;
  if (v.get_object().get(o)) return false;
  int required = 0;
  bool ok = Fields(
      o, {"id", "unit", "members", "groups", "starts_at", "ends_at", "paid_through", "grace_days"},
      [&](std::string_view k, od::value x) {
        if (k == "id") return ++required && Str(x, &l->id) && !l->id.empty();
        if (k == "unit") return ++required && Str(x, &l->unit);
        if (k == "members") return ++required && Strings(x, &l->members);
        if (k == "groups") return ++required && Strings(x, &l->groups);
        if (k == "starts_at") return ++required && Time(x, &l->starts_at);
        if (k == "ends_at") return OptTime(x, &l->ends_at);
        if (k == "paid_through") return OptTime(x, &l->paid_through);
        if (IsNull(x)) return true;
        int64_t n = 0;
        if (x.get_int64().get(n) || n < INT32_MIN || n > INT32_MAX) return false;
        l->grace_days = static_cast<int32_t>(n);
        return true;
      });
  return ok && required == 5;
}

bool Card(od::value v, rules::CardNumber* c) {
  od::object o;
  if (v.get_object().get(o)) return false;
  bool format = false, number = false;
  uint64_t facility = 0;
  bool ok = Fields(o, {"format", "facility", "number"}, [&](std::string_view k, od::value x) {
    if (k == "format") {
      return format = Enum(x, rules::ParseCardFormat, &c->format) &&
                      c->format != rules::CardFormat::kUid;
    }
    if (k == "number") return number = U64(x, UINT64_MAX, &c->number);
    if (IsNull(x)) return true;
    return U64(x, UINT32_MAX, &facility);
  });
  c->facility = static_cast<uint32_t>(facility);
  return ok && format && number;  // UID cards: the current parser
}

bool Credential(od::value v, rules::Credential* c) {
  od::object o;
  if (v.get_object().get(o)) return false;
  bool id = false, person = false, type = false, status = false, card = false, pin = false;
  bool ok =
      Fields(o, {"id", "person", "type", "status", "valid_from", "valid_until", "card", "pin"},
             [&](std::string_view k, od::value x) {
               if (k == "id") return id = Str(x, &c->id) && !c->id.empty();
               if (k == "person") return person = Str(x, &c->person);
               if (k == "type") return type = Enum(x, rules::ParseCredentialType, &c->type);
               if (k == "status") {
                 return status = Enum(x, rules::ParseCredentialStatus, &c->status);
               }
               if (k == "valid_from") return OptTime(x, &c->valid_from);
               if (k == "valid_until") return OptTime(x, &c->valid_until);
               if (k == "card") return card = Card(x, &c->card);
               return pin = Str(x, &c->pin);  // a number: refused by get_string
             });
  if (!ok || !id || !person || !type || !status) return false;
  if (c->type == rules::CredentialType::kCard) return card && !pin;
  if (c->type == rules::CredentialType::kPin) return pin && !card;
  return false;  // BLE keys: the current parser
}

template <typename T, typename F>
bool Array(od::value v, std::vector<T>* out, F&& one) {
  od::array a;
  if (v.get_array().get(a)) return false;
  for (auto e : a) {
    od::value x;
    if (e.get(x)) return false;
    T t;
    if (!one(x, &t)) return false;
    out->push_back(std::move(t));
  }
  return true;
}

// Small kinds (a handful per building): the raw JSON handed to the current parser.
template <typename T>
bool ViaCurrent(od::value v, std::vector<T>* out,
                Result<T> (*parse)(const json&, std::string_view)) {
  od::array a;
  if (v.get_array().get(a)) return false;
  std::string_view raw;
  if (a.raw_json().get(raw)) return false;
  Result<json> j = codec::ParseJsonText(raw, "x");
  if (!j.ok() || !j->is_array()) return false;
  for (const json& e : *j) {
    Result<T> t = parse(e, "");
    if (!t.ok()) return false;
    out->push_back(std::move(*t));
  }
  return true;
}

bool RecordsOf(od::value v, rules::Records* r) {
  od::object o;
  if (v.get_object().get(o)) return false;
  return Fields(o, {"schedules", "groups", "people", "leases", "credentials", "door_modes"},
                [&](std::string_view k, od::value x) {
                  if (IsNull(x)) return true;
                  if (k == "people") return Array(x, &r->people, Person);
                  if (k == "leases") return Array(x, &r->leases, Lease);
                  if (k == "credentials") return Array(x, &r->credentials, Credential);
                  if (k == "schedules") return ViaCurrent(x, &r->schedules, codec::ParseSchedule);
                  if (k == "groups") return ViaCurrent(x, &r->groups, codec::ParseGroup);
                  return ViaCurrent(x, &r->door_modes, codec::ParseDoorMode);
                });
}

// The snapshot payload's header fields and records (site/gateway compared as the parser does).
bool SimdSnapshot(od::parser& parser, const simdjson::padded_string& text,
                  cloud::SnapshotPage* page) {
  od::document doc;
  if (parser.iterate(text).get(doc)) return false;
  od::object o;
  if (doc.get_object().get(o)) return false;
  int n = 0;
  bool ok = Fields(
      o, {"type", "site", "gateway", "epoch", "version", "snapshot_id", "page", "pages", "records"},
      [&](std::string_view k, od::value x) {
        ++n;
        std::string s;
        if (k == "type") return Str(x, &s) && s == "snapshot";
        if (k == "site") return Str(x, &s) && s == "bench";
        if (k == "gateway") return Str(x, &s) && s == "gw-1";
        if (k == "epoch") return U64(x, UINT64_MAX, &page->epoch);
        if (k == "version") return U64(x, UINT64_MAX, &page->version);
        if (k == "snapshot_id") return Str(x, &page->snapshot_id);
        if (k == "page") return U64(x, UINT64_MAX, &page->page);
        if (k == "pages") return U64(x, UINT64_MAX, &page->pages);
        return RecordsOf(x, &page->records);
      });
  return ok && n == 9;  // 3.0.1's document has no at_end(): trailing bytes are not checked
}

bool SimdDelta(od::parser& parser, const simdjson::padded_string& text, cloud::Delta* d) {
  od::document doc;
  if (parser.iterate(text).get(doc)) return false;
  od::object o;
  if (doc.get_object().get(o)) return false;
  int n = 0;
  bool ok = Fields(
      o, {"type", "site", "gateway", "epoch", "version", "prev", "issued_at", "ops"},
      [&](std::string_view k, od::value x) {
        ++n;
        std::string s;
        if (k == "type") return Str(x, &s) && s == "delta";
        if (k == "site") return Str(x, &s) && s == "bench";
        if (k == "gateway") return Str(x, &s) && s == "gw-1";
        if (k == "epoch") return U64(x, UINT64_MAX, &d->epoch);
        if (k == "version") return U64(x, UINT64_MAX, &d->version);
        if (k == "prev") return U64(x, UINT64_MAX, &d->prev);
        if (k == "issued_at") return Time(x, &d->issued_at);
        od::array a;
        if (x.get_array().get(a)) return false;
        for (auto e : a) {
          od::object op;
          if (e.get_object().get(op)) return false;
          rules::Op out;
          // Keys come in any order (nlohmann writes them sorted: "data" before "kind" and "op"):
          // one pass checks the names, then the fields are looked up in the order they are needed.
          bool has_data = false, has_id = false;
          if (!Fields(op, {"op", "kind", "data", "id"}, [&](std::string_view f, od::value) {
                has_data = has_data || f == "data";
                has_id = has_id || f == "id";
                return true;
              })) {
            return false;
          }
          if (op.reset().error()) return false;
          std::string_view t;
          if (op.find_field_unordered("op").get_string().get(t)) return false;
          if (t != "put" && t != "delete") return false;
          out.op = t == "put" ? rules::OpKind::kPut : rules::OpKind::kDelete;
          od::value kind;
          if (op.find_field_unordered("kind").get(kind)) return false;
          if (!Enum(kind, rules::ParseRecordKind, &out.kind)) return false;
          if (out.op == rules::OpKind::kDelete) {
            if (has_data || !has_id) return false;
            od::value id;
            if (op.find_field_unordered("id").get(id) || !Str(id, &out.id) || out.id.empty()) {
              return false;
            }
          } else {
            if (!has_data || has_id) return false;
            od::value y;
            if (op.find_field_unordered("data").get(y)) return false;
            bool read = false;
            switch (out.kind) {
              case rules::RecordKind::kPerson: {
                rules::Person p;
                read = Person(y, &p);
                out.id = p.id;
                out.record = std::move(p);
                break;
              }
              case rules::RecordKind::kLease: {
                rules::Lease l;
                read = Lease(y, &l);
                out.id = l.id;
                out.record = std::move(l);
                break;
              }
              case rules::RecordKind::kCredential: {
                rules::Credential c;
                read = Credential(y, &c);
                out.id = c.id;
                out.record = std::move(c);
                break;
              }
              default:
                break;
            }
            if (!read) return false;
          }
          d->ops.push_back(std::move(out));
        }
        return true;
      });
  return ok && n == 8 && d->version >= 1 && d->prev == d->version - 1;
}

// ---- the current parser, as ParseCloudMessage runs it after the signature ---------------------

bool CurrentSnapshot(const std::string& text, rules::Records* out) {
  Result<json> j = codec::ParseJsonText(text, "payload");
  if (!j.ok()) return false;
  Result<rules::Records> r = codec::ParseRecords((*j)["records"]);
  if (!r.ok()) return false;
  *out = std::move(*r);
  return true;
}

bool CurrentDelta(const std::string& text, std::vector<rules::Op>* out) {
  Result<json> j = codec::ParseJsonText(text, "payload");
  if (!j.ok()) return false;
  const json& ops = (*j)["ops"];
  for (size_t i = 0; i < ops.size(); ++i) {
    Result<rules::Op> op = codec::ParseOp(ops[i], "ops");
    if (!op.ok()) return false;
    out->push_back(std::move(*op));
  }
  return true;
}

// ---- measuring ----------------------------------------------------------------------------------

template <typename F>
double MedianUs(int reps, F&& f) {
  std::vector<double> us;
  for (int i = 0; i < reps; ++i) {
    auto a = SteadyClock::now();
    f();
    us.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - a).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "json_bench: %s\n", what.c_str());
  std::exit(1);
}

json Base(const char* type) { return {{"type", type}, {"site", "bench"}, {"gateway", "gw-1"}}; }

struct Signer {
  cloud::Ed25519KeyPair key;
  std::string Sign(const json& payload) const {
    return cloud::SignJws(payload.dump(), "cloud-1", key.secret_key);
  }
};

int Main(int argc, char** argv) {
  size_t page_size = 5000;
  int reps = 31;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--page-size") {
      page_size = std::stoul(argv[i + 1]);
    } else if (a == "--reps") {
      reps = std::stoi(argv[i + 1]);
    } else {
      Die("unknown argument " + a);
    }
  }
  // A building large enough that a page of each big kind is a full page.
  rules::Records all = bench::Generate(std::max<size_t>(4 * page_size, 2000));
  std::array<uint8_t, 32> seed;
  seed.fill(42);
  Signer signer{cloud::Ed25519KeyPairFromSeed(seed)};
  cloud::Expect expect{"bench", "gw-1", {{"cloud-1", signer.key.public_key}}};

  struct Payload {
    std::string name;
    cloud::Topic topic;
    std::string text;  // the JWS payload
  };
  std::vector<Payload> payloads;
  auto page = [&](const char* name, auto&& fill) {
    json records = json::object();
    fill(records);
    json p = Base("snapshot");
    p.update({{"epoch", 1},
              {"version", 1},
              {"snapshot_id", "0d3c4c9e-9a4c-4b52-a7c1-5b8f3f0e2a10"},
              {"page", 2},
              {"pages", 400},
              {"records", std::move(records)}});
    payloads.push_back({name, cloud::Topic::kSyncSnapshot, p.dump()});
  };
  page("page_credentials", [&](json& r) {
    for (size_t i = 0; i < page_size; ++i)
      r["credentials"].push_back(codec::ToJson(all.credentials[i]));
  });
  page("page_people", [&](json& r) {
    for (size_t i = 0; i < page_size; ++i) r["people"].push_back(codec::ToJson(all.people[i]));
  });
  page("page_leases", [&](json& r) {
    for (size_t i = 0; i < page_size; ++i) r["leases"].push_back(codec::ToJson(all.leases[i]));
  });
  auto delta = [&](const char* name, size_t tenants) {
    json ops = json::array();
    for (size_t k = 0; k < tenants; ++k) {
      size_t i = 2 * k;  // a person, their lease, their card and PIN
      ops.push_back(codec::ToJson(rules::PutOp(all.people[i])));
      ops.push_back(codec::ToJson(rules::PutOp(all.leases[k])));
      ops.push_back(codec::ToJson(rules::PutOp(all.credentials[2 * i])));
      ops.push_back(codec::ToJson(rules::PutOp(all.credentials[2 * i + 1])));
    }
    json d = Base("delta");
    d.update({{"epoch", 1},
              {"version", 43},
              {"prev", 42},
              {"issued_at", "2026-11-23T10:00:00Z"},
              {"ops", std::move(ops)}});
    payloads.push_back({name, cloud::Topic::kSyncDelta, d.dump()});
  };
  delta("delta_tenant", 1);
  delta("delta_500_tenants", 500);

  json out = {{"bench", "json"},
              {"simdjson", std::to_string(simdjson::SIMDJSON_VERSION_MAJOR) + "." +
                               std::to_string(simdjson::SIMDJSON_VERSION_MINOR) + "." +
                               std::to_string(simdjson::SIMDJSON_VERSION_REVISION)},
              // ondemand is compiled for the build's target (generic x86-64: "fallback", scalar);
              // the DOM API dispatches at run time to the best kernel of this CPU.
              {"ondemand_kernel", std::string(simdjson::builtin_implementation()->name())},
              {"dom_kernel", std::string(simdjson::get_active_implementation()->name())},
              {"page_records", page_size},
              {"reps", reps}};
  od::parser parser;
  double page_current = 0, page_simd = 0;
  double page_gw_before = 0, page_gw_after = 0, page_msg_before = 0, page_msg_after = 0;
  for (const Payload& p : payloads) {
    simdjson::padded_string padded(p.text);
    std::string jws = signer.Sign(json::parse(p.text));
    const bool is_page = p.topic == cloud::Topic::kSyncSnapshot;
    // Equality first: the candidate must give exactly what the current parser gives.
    json current_json, simd_json;
    if (is_page) {
      rules::Records a;
      cloud::SnapshotPage b;
      if (!CurrentSnapshot(p.text, &a)) Die(p.name + ": the current parser refused it");
      if (!SimdSnapshot(parser, padded, &b)) Die(p.name + ": the simdjson reader refused it");
      current_json = codec::RecordsToJson(a);
      simd_json = codec::RecordsToJson(b.records);
    } else {
      std::vector<rules::Op> a;
      cloud::Delta b;
      if (!CurrentDelta(p.text, &a)) Die(p.name + ": the current parser refused it");
      if (!SimdDelta(parser, padded, &b)) Die(p.name + ": the simdjson reader refused it");
      for (const auto& op : a) current_json.push_back(codec::ToJson(op));
      for (const auto& op : b.ops) simd_json.push_back(codec::ToJson(op));
    }
    if (current_json != simd_json) Die(p.name + ": the two parsers disagree");

    double current_us = MedianUs(reps, [&] {
      if (is_page) {
        rules::Records r;
        if (!CurrentSnapshot(p.text, &r)) Die("current");
      } else {
        std::vector<rules::Op> ops;
        if (!CurrentDelta(p.text, &ops)) Die("current");
      }
    });
    double simd_us = MedianUs(reps, [&] {
      if (is_page) {
        cloud::SnapshotPage pg;
        if (!SimdSnapshot(parser, padded, &pg)) Die("simdjson");
      } else {
        cloud::Delta d;
        if (!SimdDelta(parser, padded, &d)) Die("simdjson");
      }
    });
    // Syntax only, for scale: nlohmann's DOM (with the duplicate check) against simdjson's DOM
    // parser (run-time dispatched kernel), neither turned into records.
    simdjson::dom::parser dom;
    double current_syntax_us = MedianUs(reps, [&] {
      if (!codec::ParseJsonText(p.text, "payload").ok()) Die("syntax");
    });
    double dom_syntax_us = MedianUs(reps, [&] {
      simdjson::dom::element e;
      if (dom.parse(padded).get(e)) Die("dom");
    });
    double message_us = MedianUs(reps, [&] {
      if (!cloud::ParseCloudMessage(p.topic, jws, expect).ok()) Die("message");
    });
    // The gateway's own parse, before and after the fast path, equal first.
    {
      Result<cloud::Message> before = cloud::internal::ParsePayload(p.topic, p.text, expect);
      std::optional<cloud::Message> after =
          cloud::internal::FastParsePayload(p.topic, p.text, expect);
      if (!before.ok()) Die(p.name + ": ParsePayload refused it");
      if (!after) Die(p.name + ": the gateway's fast path gave up");
      json a, b;
      if (is_page) {
        a = codec::RecordsToJson(std::get<cloud::SnapshotPage>(*before).records);
        b = codec::RecordsToJson(std::get<cloud::SnapshotPage>(*after).records);
      } else {
        for (const auto& op : std::get<cloud::Delta>(*before).ops) a.push_back(codec::ToJson(op));
        for (const auto& op : std::get<cloud::Delta>(*after).ops) b.push_back(codec::ToJson(op));
      }
      if (a != b) Die(p.name + ": the gateway's fast path and ParsePayload disagree");
    }
    double gw_before_us = MedianUs(reps, [&] {
      if (!cloud::internal::ParsePayload(p.topic, p.text, expect).ok()) Die("before");
    });
    double gw_after_us = MedianUs(reps, [&] {
      if (!cloud::internal::FastParsePayload(p.topic, p.text, expect)) Die("after");
    });
    double msg_before_us = MedianUs(reps, [&] {
      Result<cloud::VerifiedJws> v = cloud::VerifyJws(jws, expect.keys);
      if (!v.ok() || !cloud::internal::ParsePayload(p.topic, v->payload, expect).ok()) {
        Die("message before");
      }
    });
    double mb = static_cast<double>(p.text.size()) / 1e6;
    out[p.name] = {
        {"bytes", p.text.size()},
        {"current_us", std::round(current_us)},
        {"simdjson_us", std::round(simd_us)},
        {"current_mb_s", std::round(mb / current_us * 1e6)},
        {"simdjson_mb_s", std::round(mb / simd_us * 1e6)},
        {"current_over_simdjson", std::round(current_us / simd_us * 100) / 100},
        {"syntax_only_current_us", std::round(current_syntax_us)},
        {"syntax_only_simdjson_dom_us", std::round(dom_syntax_us)},
        {"parse_cloud_message_us", std::round(message_us)},
        {"json_share_of_message", std::round(current_us / msg_before_us * 100) / 100},
        {"gateway_before_us", std::round(gw_before_us)},
        {"gateway_after_us", std::round(gw_after_us)},
        {"gateway_after_mb_s", std::round(mb / gw_after_us * 1e6)},
        {"gateway_before_over_after", std::round(gw_before_us / gw_after_us * 100) / 100},
        {"ondemand_over_dom", std::round(simd_us / gw_after_us * 100) / 100},
        {"message_before_us", std::round(msg_before_us)},
        {"message_after_us", std::round(message_us)},
        {"message_before_over_after", std::round(msg_before_us / message_us * 100) / 100}};
    if (is_page) {
      page_current += current_us;
      page_simd += simd_us;
      page_gw_before += gw_before_us;
      page_gw_after += gw_after_us;
      page_msg_before += msg_before_us;
      page_msg_after += message_us;
    }
  }
  auto ratio = [](double a, double b) { return std::round(a / b * 100) / 100; };
  out["pages_current_over_simdjson"] = ratio(page_current, page_simd);
  out["pages_gateway_before_over_after"] = ratio(page_gw_before, page_gw_after);
  out["pages_message_before_over_after"] = ratio(page_msg_before, page_msg_after);
  out["pages_ondemand_over_dom"] = ratio(page_simd, page_gw_after);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace lintel

int main(int argc, char** argv) { return lintel::Main(argc, argv); }
