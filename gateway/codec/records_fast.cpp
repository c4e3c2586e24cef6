#include "gateway/codec/records_fast.h"

#include <simdjson.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/base/time.h"

// Every function here mirrors one of records_json.cpp for the inputs that parse there, and says
// false for everything else (including some that parse there: false is always safe).

namespace lintel::codec {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Visits an object's fields; each must be one of `names` (at most 32) and appear once. `on_field`
// gets the field's index in `names` and its value; *seen gets the bit mask of the fields present.
template <typename F>
bool Fields(const element& e, std::initializer_list<std::string_view> names, uint32_t* seen,
            F&& on_field) {
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) return false;
  *seen = 0;
  for (simdjson::dom::key_value_pair field : obj) {
    uint32_t i = 0;
    for (std::string_view n : names) {
      if (n == field.key) break;
      ++i;
    }
    if (i == names.size()) return false;  // unknown: the current parser names it
    const uint32_t bit = 1u << i;
    if ((*seen & bit) != 0) return false;  // duplicate: ParseJsonText rejects it
    *seen |= bit;
    if (!on_field(i, field.value)) return false;
  }
  return true;
}

bool IsNull(const element& e) { return e.type() == element_type::NULL_VALUE; }

// A string without control bytes (the caller excluded escapes, simdjson checked UTF-8).
bool Str(const element& e, std::string_view* out) {
  if (e.get_string().get(*out) != simdjson::SUCCESS) return false;
  for (char c : *out) {
    if (static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}
bool Str(const element& e, std::string* out) {
  std::string_view s;
  if (!Str(e, &s)) return false;
  out->assign(s);
  return true;
}
bool Id(const element& e, std::string* out) { return Str(e, out) && !out->empty(); }

bool Strings(const element& e, std::vector<std::string>* out) {
  array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return false;
  out->clear();
  for (element x : a) {
    std::string_view s;
    if (!Str(x, &s)) return false;
    out->emplace_back(s);
  }
  return true;
}

template <typename E>
bool Enum(const element& e, std::optional<E> (*parse)(std::string_view), E* out) {
  std::string_view s;
  if (!Str(e, &s)) return false;
  std::optional<E> v = parse(s);
  if (!v) return false;
  *out = *v;
  return true;
}

// A timestamp field: a date-time, not a bare date (Fields::ToInstant).
bool Time(const element& e, Instant* out) {
  std::string_view s;
  if (!Str(e, &s) || s.size() <= 10) return false;
  Result<Instant> t = ParseRfc3339(s);
  if (!t.ok()) return false;
  *out = *t;
  return true;
}
bool OptTime(const element& e, std::optional<Instant>* out) {
  if (IsNull(e)) return true;
  Instant t;
  if (!Time(e, &t)) return false;
  *out = t;
  return true;
}

// A JSON integer in 0..max. simdjson types an integer INT64 when it fits (so "-0" is 0, as for
// nlohmann), UINT64 above; fractions and exponents are DOUBLE: given up.
bool Unsigned(const element& e, uint64_t max, uint64_t* out) {
  uint64_t n = 0;
  switch (e.type()) {
    case element_type::INT64: {
      int64_t s = 0;
      if (e.get_int64().get(s) != simdjson::SUCCESS || s < 0) return false;
      n = static_cast<uint64_t>(s);
      break;
    }
    case element_type::UINT64:
      if (e.get_uint64().get(n) != simdjson::SUCCESS) return false;
      break;
    default:
      return false;
  }
  if (n > max) return false;
  *out = n;
  return true;
}

bool Int32(const element& e, int32_t* out) {
  int64_t n = 0;
  if (e.type() != element_type::INT64 || e.get_int64().get(n) != simdjson::SUCCESS) return false;
  if (n < std::numeric_limits<int32_t>::min() || n > std::numeric_limits<int32_t>::max()) {
    return false;
  }
  *out = static_cast<int32_t>(n);
  return true;
}

// ---- schedules ---------------------------------------------------------------------------------

bool Windows(const element& e, bool in_exception, std::vector<rules::Window>* out) {
  array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return false;
  for (element w : a) {
    rules::Window window;
    uint32_t seen = 0;
    bool ok = Fields(w, {"days", "from", "to"}, &seen, [&](uint32_t i, const element& x) {
      if (i == 0) {
        if (in_exception && IsNull(x)) return true;  // optional there, and ignored
        array days;
        if (x.get_array().get(days) != simdjson::SUCCESS) return false;
        uint8_t mask = 0;
        for (element d : days) {
          std::string_view s;
          if (!Str(d, &s)) return false;
          std::optional<unsigned> n = rules::ParseWeekday(s);
          if (!n) return false;
          mask = static_cast<uint8_t>(mask | (1u << *n));
        }
        if (!in_exception) window.days = mask;
        return true;
      }
      std::string_view s;
      if (!Str(x, &s)) return false;
      std::optional<uint16_t> m = rules::ParseHhMm(s);
      if (!m) return false;
      (i == 1 ? window.from_min : window.to_min) = *m;
      return true;
    });
    const uint32_t need = in_exception ? 0b110u : 0b111u;
    if (!ok || (seen & need) != need) return false;
    out->push_back(window);
  }
  return true;
}

bool Schedule(const element& e, rules::Schedule* s) {
  uint32_t seen = 0;
  bool ok = Fields(e, {"id", "windows", "exceptions"}, &seen, [&](uint32_t i, const element& x) {
    if (i == 0) return Id(x, &s->id);
    if (i == 1) return Windows(x, /*in_exception=*/false, &s->windows);
    if (IsNull(x)) return true;
    array a;
    if (x.get_array().get(a) != simdjson::SUCCESS) return false;
    for (element ex : a) {
      rules::ScheduleException exception;
      uint32_t ex_seen = 0;
      bool ex_ok = Fields(ex, {"date", "windows"}, &ex_seen, [&](uint32_t j, const element& y) {
        if (j == 1) return Windows(y, /*in_exception=*/true, &exception.windows);
        std::string_view date;
        if (!Str(y, &date)) return false;
        Result<int32_t> days = ParseDate(date);
        if (!days.ok()) return false;
        exception.date = *days;
        return true;
      });
      if (!ex_ok || ex_seen != 0b11u) return false;
      s->exceptions.push_back(std::move(exception));
    }
    return true;
  });
  return ok && (seen & 0b011u) == 0b011u;
}

// ---- groups, people, leases, door modes ---------------------------------------------------------

bool Group(const element& e, rules::Group* g) {
  uint32_t seen = 0;
  bool ok =
      Fields(e, {"id", "name", "doors", "schedule"}, &seen, [&](uint32_t i, const element& x) {
        switch (i) {
          case 0:
            return Id(x, &g->id);
          case 1:
            return Str(x, &g->name);
          case 2:
            return Strings(x, &g->doors);
          default:
            return Str(x, &g->schedule);
        }
      });
  return ok && seen == 0b1111u;
}

bool Person(const element& e, rules::Person* p) {
  uint32_t seen = 0;
  bool ok = Fields(e, {"id", "name", "role", "primary", "inherit", "groups", "status"}, &seen,
                   [&](uint32_t i, const element& x) {
                     switch (i) {
                       case 0:
                         return Id(x, &p->id);
                       case 1:
                         return Str(x, &p->name);
                       case 2:
                         return Enum(x, rules::ParseRole, &p->role);
                       default:
                         break;
                     }
                     if (IsNull(x)) return true;  // the rest is optional
                     switch (i) {
                       case 3:
                         return Str(x, &p->primary.emplace());
                       case 4:
                         return x.get_bool().get(p->inherit) == simdjson::SUCCESS;
                       case 5:
                         return Strings(x, &p->groups);
                       default:
                         return Enum(x, rules::ParsePersonStatus, &p->status);
                     }
                   });
  return ok && (seen & 0b111u) == 0b111u;
}

bool Lease(const element& e, rules::Lease* l) {
  uint32_t seen = 0;
  bool ok = Fields(
      e, {"id", "unit", "members", "groups", "starts_at", "ends_at", "paid_through", "grace_days"},
      &seen, [&](uint32_t i, const element& x) {
        switch (i) {
          case 0:
            return Id(x, &l->id);
          case 1:
            return Str(x, &l->unit);
          case 2:
            return Strings(x, &l->members);
          case 3:
            return Strings(x, &l->groups);
          case 4:
            return Time(x, &l->starts_at);
          case 5:
            return OptTime(x, &l->ends_at);
          case 6:
            return OptTime(x, &l->paid_through);
          default:
            if (IsNull(x)) return true;
            return Int32(x, &l->grace_days.emplace());
        }
      });
  return ok && (seen & 0b11111u) == 0b11111u;
}

bool DoorMode(const element& e, rules::DoorMode* m) {
  uint32_t seen = 0;
  bool ok = Fields(e, {"id", "mode", "until"}, &seen, [&](uint32_t i, const element& x) {
    if (i == 0) return Id(x, &m->door);
    if (i == 1) return Enum(x, rules::ParseDoorMode, &m->mode);
    return OptTime(x, &m->until);
  });
  return ok && (seen & 0b11u) == 0b11u;
}

// ---- credentials -------------------------------------------------------------------------------

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// `card`: {"format","facility"?,"number"} or {"uid"}; null members count as absent.
bool Card(const element& e, rules::CardNumber* card) {
  std::optional<element> format, facility, number, uid;
  uint32_t seen = 0;
  bool ok =
      Fields(e, {"format", "facility", "number", "uid"}, &seen, [&](uint32_t i, const element& x) {
        if (IsNull(x)) return true;
        std::optional<element>* slots[] = {&format, &facility, &number, &uid};
        *slots[i] = x;
        return true;
      });
  if (!ok) return false;
  if (uid) {
    if (format || facility || number) return false;
    std::string_view s;
    if (!Str(*uid, &s) || s.empty() || s.size() > 16) return false;
    std::string upper(s);
    for (char& c : upper) {
      if (!IsHexDigit(c)) return false;
      if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    }
    card->format = rules::CardFormat::kUid;
    card->uid = std::move(upper);
    return true;
  }
  if (!format || !number) return false;
  rules::CardFormat f = rules::CardFormat::kUid;
  if (!Enum(*format, rules::ParseCardFormat, &f) || f == rules::CardFormat::kUid) return false;
  uint64_t fac = 0;
  if (facility && !Unsigned(*facility, std::numeric_limits<uint32_t>::max(), &fac)) return false;
  uint64_t n = 0;
  if (!Unsigned(*number, std::numeric_limits<uint64_t>::max(), &n)) return false;
  card->format = f;
  card->facility = static_cast<uint32_t>(fac);
  card->number = n;
  return true;
}

bool BleKey(const element& e, rules::BleKey* key) {
  uint32_t seen = 0;
  bool ok = Fields(e, {"lock", "key", "name"}, &seen, [&](uint32_t i, const element& x) {
    if (i == 0) return Str(x, &key->lock);
    if (i == 1) return Str(x, &key->key);
    return Str(x, &key->name);
  });
  return ok && seen == 0b111u;
}

bool Credential(const element& e, rules::Credential* c) {
  // The payloads (card, pin, ble_key) are read once the type is known.
  std::array<std::optional<element>, 3> payload;
  uint32_t seen = 0;
  bool ok = Fields(
      e, {"id", "person", "type", "status", "valid_from", "valid_until", "card", "pin", "ble_key"},
      &seen, [&](uint32_t i, const element& x) {
        switch (i) {
          case 0:
            return Id(x, &c->id);
          case 1:
            return Str(x, &c->person);
          case 2:
            return Enum(x, rules::ParseCredentialType, &c->type);
          case 3:
            return Enum(x, rules::ParseCredentialStatus, &c->status);
          case 4:
            return OptTime(x, &c->valid_from);
          case 5:
            return OptTime(x, &c->valid_until);
          default:
            if (!IsNull(x)) payload[i - 6] = x;
            return true;
        }
      });
  if (!ok || (seen & 0b1111u) != 0b1111u) return false;
  const size_t own = static_cast<size_t>(c->type);
  for (size_t k = 0; k < payload.size(); ++k) {
    if (k != own && payload[k]) return false;  // another type's payload
  }
  if (!payload[own]) return false;  // missing (or null)
  switch (c->type) {
    case rules::CredentialType::kCard:
      return Card(*payload[own], &c->card);
    case rules::CredentialType::kPin:
      return Str(*payload[own], &c->pin);  // a number: not a string, given up
    case rules::CredentialType::kBleKey:
      return BleKey(*payload[own], &c->ble_key);
  }
  return false;
}

// ---- arrays and ops ----------------------------------------------------------------------------

template <typename T>
bool Array(const element& e, bool (*one)(const element&, T*), std::vector<T>* out) {
  if (IsNull(e)) return true;
  array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return false;
  out->reserve(a.size());  // size() saturates at 0xFFFFFF: only a hint
  for (element x : a) {
    T t;
    if (!one(x, &t)) return false;
    out->push_back(std::move(t));
  }
  return true;
}

template <typename T>
bool Put(const element& data, bool (*one)(const element&, T*), std::string T::*id, rules::Op* op) {
  T t;
  if (!one(data, &t)) return false;
  op->id = t.*id;
  op->record = std::move(t);
  return true;
}

}  // namespace

bool FastParseRecords(const element& records, rules::Records* out) {
  uint32_t seen = 0;
  return Fields(records, {"schedules", "groups", "people", "leases", "credentials", "door_modes"},
                &seen, [&](uint32_t i, const element& x) {
                  switch (i) {
                    case 0:
                      return Array(x, Schedule, &out->schedules);
                    case 1:
                      return Array(x, Group, &out->groups);
                    case 2:
                      return Array(x, Person, &out->people);
                    case 3:
                      return Array(x, Lease, &out->leases);
                    case 4:
                      return Array(x, Credential, &out->credentials);
                    default:
                      return Array(x, DoorMode, &out->door_modes);
                  }
                });
}

bool FastParseOp(const element& e, rules::Op* out) {
  std::optional<element> data, id;
  std::string_view op_name;
  uint32_t seen = 0;
  bool ok = Fields(e, {"op", "kind", "data", "id"}, &seen, [&](uint32_t i, const element& x) {
    switch (i) {
      case 0:
        return Str(x, &op_name) && (op_name == "put" || op_name == "delete");
      case 1:
        return Enum(x, rules::ParseRecordKind, &out->kind);
      case 2:
        if (!IsNull(x)) data = x;
        return true;
      default:
        if (!IsNull(x)) id = x;
        return true;
    }
  });
  if (!ok || (seen & 0b11u) != 0b11u) return false;
  if (op_name == "delete") {
    out->op = rules::OpKind::kDelete;
    if (data || !id) return false;
    return Id(*id, &out->id);
  }
  out->op = rules::OpKind::kPut;
  if (id || !data) return false;
  switch (out->kind) {
    case rules::RecordKind::kSchedule:
      return Put(*data, Schedule, &rules::Schedule::id, out);
    case rules::RecordKind::kGroup:
      return Put(*data, Group, &rules::Group::id, out);
    case rules::RecordKind::kPerson:
      return Put(*data, Person, &rules::Person::id, out);
    case rules::RecordKind::kLease:
      return Put(*data, Lease, &rules::Lease::id, out);
    case rules::RecordKind::kCredential:
      return Put(*data, Credential, &rules::Credential::id, out);
    case rules::RecordKind::kDoorMode:
      return Put(*data, DoorMode, &rules::DoorMode::door, out);
  }
  return false;
}

}  // namespace lintel::codec
