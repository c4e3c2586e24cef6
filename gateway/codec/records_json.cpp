#include "gateway/codec/records_json.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/base/time.h"
#include "gateway/codec/json_text.h"

namespace lintel::codec {
namespace {

using json = nlohmann::json;
using rules::CardFormat;
using rules::CredentialStatus;
using rules::CredentialType;
using rules::DoorModeKind;
using rules::PersonStatus;
using rules::RecordKind;
using rules::Role;

constexpr size_t kMaxEcho = 64;

// ---- message text ------------------------------------------------------------------------------

// `s` as a JSON string literal, cut after kMaxEcho bytes ("abc...").
std::string Quote(std::string_view s) {
  const bool cut = s.size() > kMaxEcho;
  std::string q = json(std::string(cut ? s.substr(0, kMaxEcho) : s))
                      .dump(-1, ' ', false, json::error_handler_t::replace);
  if (cut) q.insert(q.size() - 1, "...");
  return q;
}

// An id as it appears after the record kind: bare when plain, quoted otherwise.
std::string IdText(std::string_view id) {
  if (id.size() > kMaxEcho) return Quote(id);
  for (char c : id) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '+' || c == '-';
    if (!plain) return Quote(id);
  }
  return std::string(id);
}

std::string Join(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += '|';
    out += n;
  }
  return out;
}

// "a|b|c" for the enum values first..first+count-1, by their contract names.
template <typename E>
std::string EnumNames(std::string_view (*name)(E), int first, int count) {
  std::string out;
  for (int i = first; i < first + count; ++i) {
    if (!out.empty()) out += '|';
    out += name(static_cast<E>(i));
  }
  return out;
}

// ---- where an error is -------------------------------------------------------------------------

// Where a record sits, for errors before its id is known: "records.people[3]", or "person".
struct Where {
  std::string_view base;
  std::optional<size_t> index;
};

// Names one record in its errors: "<kind> <id>" once the id is read, the Where before.
class Rec {
 public:
  Rec(std::string_view kind, Where where) : kind_(kind), where_(where) {}

  void SetId(std::string_view id) { id_ = id; }

  Status Error(std::string_view message) const {
    std::string s;
    if (id_) {
      s.append(kind_).append(" ").append(IdText(*id_));
    } else {
      s.append(where_.base);
      if (where_.index) s.append("[").append(std::to_string(*where_.index)).append("]");
    }
    s.append(": ").append(message);
    return Status::InvalidArgument(std::move(s));
  }

 private:
  std::string_view kind_;
  Where where_;
  std::optional<std::string_view> id_;
};

// One JSON object of a record: the record itself, or a nested object (`card`, `windows[2]`) whose
// fields are named with `prefix` ("card.", "windows[2].").
class Fields {
 public:
  Fields(const json& obj, const Rec& rec, std::string prefix = {})
      : obj_(obj), rec_(rec), prefix_(std::move(prefix)) {}

  const Rec& rec() const { return rec_; }
  std::string Path(std::string_view key) const { return prefix_ + std::string(key); }

  // The field's value, or nullptr when absent. Null is returned as null.
  const json* Get(std::string_view key) const {
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }
  // The field's value, or nullptr when absent or null (for optional fields).
  const json* GetSet(std::string_view key) const {
    const json* v = Get(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  }
  bool Has(std::string_view key) const { return GetSet(key) != nullptr; }

  Status Missing(std::string_view key) const { return rec_.Error("missing \"" + Path(key) + "\""); }
  Status Bad(std::string_view key, std::string_view what) const {
    return rec_.Error(Path(key) + " " + std::string(what));
  }

  // Rejects a field not in `allowed`.
  Status CheckKnown(std::span<const std::string_view> allowed) const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      bool known = false;
      for (std::string_view a : allowed) known = known || a == it.key();
      if (!known) {
        return rec_.Error("unknown field " + Quote(prefix_ + it.key()) + " (expected one of " +
                          Join(allowed) + ")");
      }
    }
    return Status::Ok();
  }

  // Required string.
  Status String(std::string_view key, std::string* out) const {
    const json* v = Get(key);
    if (v == nullptr) return Missing(key);
    if (!v->is_string()) return Bad(key, "must be a string");
    *out = v->get_ref<const std::string&>();
    return Status::Ok();
  }
  Status OptString(std::string_view key, std::optional<std::string>* out) const {
    const json* v = GetSet(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Bad(key, "must be a string");
    *out = v->get_ref<const std::string&>();
    return Status::Ok();
  }
  // Optional boolean: *out keeps its default when absent.
  Status OptBool(std::string_view key, bool* out) const {
    const json* v = GetSet(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_boolean()) return Bad(key, "must be true or false");
    *out = v->get<bool>();
    return Status::Ok();
  }
  // Array of strings; when optional and absent, *out is left as it is.
  Status Strings(std::string_view key, bool required, std::vector<std::string>* out) const {
    const json* v = required ? Get(key) : GetSet(key);
    if (v == nullptr) return required ? Missing(key) : Status::Ok();
    if (!v->is_array()) return Bad(key, "must be an array of strings");
    out->clear();
    out->reserve(v->size());
    for (size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (!e.is_string()) return Bad(Indexed(key, i), "must be a string");
      out->push_back(e.get_ref<const std::string&>());
    }
    return Status::Ok();
  }
  // Enum by its contract name.
  template <typename E>
  Status Enum(std::string_view key, bool required, std::optional<E> (*parse)(std::string_view),
              const std::string& names, E* out) const {
    const json* v = required ? Get(key) : GetSet(key);
    if (v == nullptr) return required ? Missing(key) : Status::Ok();
    if (!v->is_string()) return Bad(key, "must be a string, one of " + names);
    const std::string& s = v->get_ref<const std::string&>();
    std::optional<E> e = parse(s);
    if (!e) return Bad(key, Quote(s) + " is not one of " + names);
    *out = *e;
    return Status::Ok();
  }
  Status Time(std::string_view key, Instant* out) const {
    const json* v = Get(key);
    if (v == nullptr) return Missing(key);
    return ToInstant(key, *v, out);
  }
  Status OptTime(std::string_view key, std::optional<Instant>* out) const {
    const json* v = GetSet(key);
    if (v == nullptr) return Status::Ok();
    Instant t;
    LINTEL_RETURN_IF_ERROR(ToInstant(key, *v, &t));
    *out = t;
    return Status::Ok();
  }
  // Unsigned integer in 0..max; when optional and absent, *out is left as it is.
  Status Unsigned(std::string_view key, bool required, uint64_t max, uint64_t* out) const {
    const json* v = required ? Get(key) : GetSet(key);
    if (v == nullptr) return required ? Missing(key) : Status::Ok();
    auto range = [max] { return " is out of range 0.." + std::to_string(max); };
    if (v->is_number_unsigned()) {
      uint64_t n = v->get<uint64_t>();
      if (n > max) return Bad(key, std::to_string(n) + range());
      *out = n;
      return Status::Ok();
    }
    if (v->is_number_integer()) {  // signed storage (a json built in C++)
      int64_t n = v->get<int64_t>();
      if (n >= 0 && static_cast<uint64_t>(n) <= max) {
        *out = static_cast<uint64_t>(n);
        return Status::Ok();
      }
      if (n >= 0) return Bad(key, std::to_string(n) + range());
    }
    if (v->is_number_float()) {  // what nlohmann makes of an integer above 2^64-1
      double d = v->get<double>();
      // max + 1.0: for max = 2^64-1 the double of max already rounds up to 2^64.
      if (std::isfinite(d) && d == std::floor(d) && d >= static_cast<double>(max) + 1.0) {
        return Bad(key, range().substr(1));
      }
    }
    return Bad(key, "must be a non-negative integer");
  }
  Status OptInt32(std::string_view key, std::optional<int32_t>* out) const {
    const json* v = GetSet(key);
    if (v == nullptr) return Status::Ok();
    constexpr int64_t kMin = std::numeric_limits<int32_t>::min();
    constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
    auto range = [] {
      return " is out of range " + std::to_string(kMin) + ".." + std::to_string(kMax);
    };
    if (v->is_number_unsigned()) {
      uint64_t n = v->get<uint64_t>();
      if (n > static_cast<uint64_t>(kMax)) return Bad(key, std::to_string(n) + range());
      *out = static_cast<int32_t>(n);
      return Status::Ok();
    }
    if (v->is_number_integer()) {
      int64_t n = v->get<int64_t>();
      if (n < kMin || n > kMax) return Bad(key, std::to_string(n) + range());
      *out = static_cast<int32_t>(n);
      return Status::Ok();
    }
    if (v->is_number_float()) {
      double d = v->get<double>();
      if (std::isfinite(d) && d == std::floor(d)) return Bad(key, range().substr(1));
    }
    return Bad(key, "must be an integer");
  }
  // Required object, with its own field prefix.
  Status Object(std::string_view key, const json** out) const {
    const json* v = Get(key);
    if (v == nullptr) return Missing(key);
    if (!v->is_object()) return Bad(key, "must be an object");
    *out = v;
    return Status::Ok();
  }

  static std::string Indexed(std::string_view key, size_t i) {
    return std::string(key) + "[" + std::to_string(i) + "]";
  }

 private:
  Status ToInstant(std::string_view key, const json& v, Instant* out) const {
    if (!v.is_string()) return Bad(key, "must be a string (RFC 3339, e.g. 2026-11-23T10:00:00Z)");
    const std::string& s = v.get_ref<const std::string&>();
    // ParseRfc3339 also takes a bare date; a timestamp field does not.
    Result<Instant> t = ParseRfc3339(s);
    if (!t.ok() || s.size() <= 10) {
      return Bad(key, Quote(s) + " is not an RFC 3339 timestamp like 2026-11-23T10:00:00Z");
    }
    *out = *t;
    return Status::Ok();
  }

  const json& obj_;
  const Rec& rec_;
  std::string prefix_;
};

// Reads the record's id (required, a non-empty string), names the record by it from now on, and
// rejects unknown fields. Unknown fields are checked before a missing id is reported, so that a
// misspelt "id" is reported as what it is.
Status ReadIdAndCheckKnown(const Fields& f, std::span<const std::string_view> allowed, Rec* rec,
                           std::string* out) {
  const json* v = f.Get("id");
  const bool usable = v != nullptr && v->is_string() && !v->get_ref<const std::string&>().empty();
  if (usable) {
    *out = v->get_ref<const std::string&>();
    rec->SetId(*out);
  }
  LINTEL_RETURN_IF_ERROR(f.CheckKnown(allowed));
  if (v == nullptr) return rec->Error("missing \"id\"");
  if (!v->is_string()) return rec->Error("id must be a string");
  if (!usable) return rec->Error("id must not be empty");
  return Status::Ok();
}

// ---- schedules ---------------------------------------------------------------------------------

constexpr std::array<std::string_view, 3> kScheduleFields = {"id", "windows", "exceptions"};
constexpr std::array<std::string_view, 3> kWindowFields = {"days", "from", "to"};
constexpr std::array<std::string_view, 2> kExceptionFields = {"date", "windows"};

Status ReadHhMm(const Fields& f, std::string_view key, uint16_t* out) {
  std::string text;
  LINTEL_RETURN_IF_ERROR(f.String(key, &text));
  std::optional<uint16_t> m = rules::ParseHhMm(text);
  if (!m) return f.Bad(key, Quote(text) + " is not a time HH:MM (00:00..24:00)");
  *out = *m;
  return Status::Ok();
}

// `windows` of `f`. Regular windows need `days`; inside an exception (`in_exception`) it may be
// given, is checked, and is ignored.
Status ReadWindows(const Fields& f, std::string_view key, bool in_exception,
                   std::vector<rules::Window>* out) {
  const json* v = f.Get(key);
  if (v == nullptr) return f.Missing(key);
  if (!v->is_array()) return f.Bad(key, "must be an array");
  static const std::string kDayNames = EnumNames(rules::WeekdayName, 0, 7);
  out->reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string path = Fields::Indexed(f.Path(key), i);
    const json& w = (*v)[i];
    if (!w.is_object()) return f.rec().Error(path + " must be an object");
    Fields wf(w, f.rec(), path + ".");
    LINTEL_RETURN_IF_ERROR(wf.CheckKnown(kWindowFields));
    rules::Window window;
    const json* days = in_exception ? wf.GetSet("days") : wf.Get("days");
    if (days == nullptr && !in_exception) return wf.Missing("days");
    if (days != nullptr) {
      if (!days->is_array()) return wf.Bad("days", "must be an array of weekdays " + kDayNames);
      uint8_t mask = 0;
      for (size_t d = 0; d < days->size(); ++d) {
        const json& day = (*days)[d];
        const std::string day_key = Fields::Indexed("days", d);
        if (!day.is_string()) return wf.Bad(day_key, "must be a string, one of " + kDayNames);
        std::optional<unsigned> n = rules::ParseWeekday(day.get_ref<const std::string&>());
        if (!n) {
          return wf.Bad(day_key,
                        Quote(day.get_ref<const std::string&>()) + " is not one of " + kDayNames);
        }
        mask = static_cast<uint8_t>(mask | (1u << *n));
      }
      if (!in_exception) window.days = mask;
    }
    LINTEL_RETURN_IF_ERROR(ReadHhMm(wf, "from", &window.from_min));
    LINTEL_RETURN_IF_ERROR(ReadHhMm(wf, "to", &window.to_min));
    out->push_back(window);
  }
  return Status::Ok();
}

Result<rules::Schedule> DoParseSchedule(const json& j, Where where) {
  Rec rec("schedule", where);
  if (!j.is_object()) return rec.Error("must be an object");
  Fields f(j, rec);
  rules::Schedule s;
  LINTEL_RETURN_IF_ERROR(ReadIdAndCheckKnown(f, kScheduleFields, &rec, &s.id));
  LINTEL_RETURN_IF_ERROR(ReadWindows(f, "windows", /*in_exception=*/false, &s.windows));
  if (const json* ex = f.GetSet("exceptions")) {
    if (!ex->is_array()) return f.Bad("exceptions", "must be an array");
    s.exceptions.reserve(ex->size());
    for (size_t i = 0; i < ex->size(); ++i) {
      const std::string path = Fields::Indexed("exceptions", i);
      const json& e = (*ex)[i];
      if (!e.is_object()) return rec.Error(path + " must be an object");
      Fields ef(e, rec, path + ".");
      LINTEL_RETURN_IF_ERROR(ef.CheckKnown(kExceptionFields));
      rules::ScheduleException exception;
      std::string date;
      LINTEL_RETURN_IF_ERROR(ef.String("date", &date));
      Result<int32_t> days = ParseDate(date);
      if (!days.ok()) return ef.Bad("date", Quote(date) + " is not a date YYYY-MM-DD");
      exception.date = *days;
      LINTEL_RETURN_IF_ERROR(ReadWindows(ef, "windows", /*in_exception=*/true, &exception.windows));
      s.exceptions.push_back(std::move(exception));
    }
  }
  return s;
}

// ---- groups, people, leases --------------------------------------------------------------------

constexpr std::array<std::string_view, 4> kGroupFields = {"id", "name", "doors", "schedule"};

Result<rules::Group> DoParseGroup(const json& j, Where where) {
  Rec rec("group", where);
  if (!j.is_object()) return rec.Error("must be an object");
  Fields f(j, rec);
  rules::Group g;
  LINTEL_RETURN_IF_ERROR(ReadIdAndCheckKnown(f, kGroupFields, &rec, &g.id));
  LINTEL_RETURN_IF_ERROR(f.String("name", &g.name));
  LINTEL_RETURN_IF_ERROR(f.Strings("doors", /*required=*/true, &g.doors));
  LINTEL_RETURN_IF_ERROR(f.String("schedule", &g.schedule));
  return g;
}

constexpr std::array<std::string_view, 7> kPersonFields = {"id",      "name",   "role",  "primary",
                                                           "inherit", "groups", "status"};

Result<rules::Person> DoParsePerson(const json& j, Where where) {
  static const std::string kRoles = EnumNames(rules::RoleName, 0, 6);
  static const std::string kStatus = EnumNames(rules::PersonStatusName, 0, 2);
  Rec rec("person", where);
  if (!j.is_object()) return rec.Error("must be an object");
  Fields f(j, rec);
  rules::Person p;
  LINTEL_RETURN_IF_ERROR(ReadIdAndCheckKnown(f, kPersonFields, &rec, &p.id));
  LINTEL_RETURN_IF_ERROR(f.String("name", &p.name));
  LINTEL_RETURN_IF_ERROR(f.Enum("role", /*required=*/true, rules::ParseRole, kRoles, &p.role));
  LINTEL_RETURN_IF_ERROR(f.OptString("primary", &p.primary));
  LINTEL_RETURN_IF_ERROR(f.OptBool("inherit", &p.inherit));
  LINTEL_RETURN_IF_ERROR(f.Strings("groups", /*required=*/false, &p.groups));
  LINTEL_RETURN_IF_ERROR(
      f.Enum("status", /*required=*/false, rules::ParsePersonStatus, kStatus, &p.status));
  return p;
}

constexpr std::array<std::string_view, 8> kLeaseFields = {
    "id", "unit", "members", "groups", "starts_at", "ends_at", "paid_through", "grace_days"};

Result<rules::Lease> DoParseLease(const json& j, Where where) {
  Rec rec("lease", where);
  if (!j.is_object()) return rec.Error("must be an object");
  Fields f(j, rec);
  rules::Lease l;
  LINTEL_RETURN_IF_ERROR(ReadIdAndCheckKnown(f, kLeaseFields, &rec, &l.id));
  LINTEL_RETURN_IF_ERROR(f.String("unit", &l.unit));
  LINTEL_RETURN_IF_ERROR(f.Strings("members", /*required=*/true, &l.members));
  LINTEL_RETURN_IF_ERROR(f.Strings("groups", /*required=*/true, &l.groups));
  LINTEL_RETURN_IF_ERROR(f.Time("starts_at", &l.starts_at));
  LINTEL_RETURN_IF_ERROR(f.OptTime("ends_at", &l.ends_at));
  LINTEL_RETURN_IF_ERROR(f.OptTime("paid_through", &l.paid_through));
  LINTEL_RETURN_IF_ERROR(f.OptInt32("grace_days", &l.grace_days));
  return l;
}

// ---- credentials -------------------------------------------------------------------------------

constexpr std::array<std::string_view, 9> kCredentialFields = {
    "id", "person", "type", "status", "valid_from", "valid_until", "card", "pin", "ble_key"};
constexpr std::array<std::string_view, 4> kCardFields = {"format", "facility", "number", "uid"};
constexpr std::array<std::string_view, 3> kBleKeyFields = {"lock", "key", "name"};
// The payload key of each CredentialType, in enum order.
constexpr std::array<std::string_view, 3> kPayloadKeys = {"card", "pin", "ble_key"};

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

Status ReadCard(const Fields& f, rules::CardNumber* card) {
  static const std::string kFormats = EnumNames(rules::CardFormatName, 1, 6);  // without "uid"
  const json* obj = nullptr;
  LINTEL_RETURN_IF_ERROR(f.Object("card", &obj));
  Fields cf(*obj, f.rec(), "card.");
  LINTEL_RETURN_IF_ERROR(cf.CheckKnown(kCardFields));
  if (cf.Has("uid")) {
    if (cf.Has("format") || cf.Has("facility") || cf.Has("number")) {
      return f.Bad("card",
                   "must be either {\"uid\":hex} or {\"format\",\"facility\"?,\"number\"}, "
                   "not both");
    }
    std::string uid;
    LINTEL_RETURN_IF_ERROR(cf.String("uid", &uid));
    bool hex = !uid.empty() && uid.size() <= 16;
    for (char& c : uid) {
      hex = hex && IsHexDigit(c);
      if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    }
    if (!hex) return cf.Bad("uid", Quote(uid) + " must be 1-16 hex digits");
    card->format = CardFormat::kUid;
    card->uid = std::move(uid);
    return Status::Ok();
  }
  if (!cf.Has("format")) {
    return f.rec().Error("missing \"card.format\" (or \"card.uid\" for a UID card)");
  }
  const json& format = *cf.Get("format");
  if (format.is_string() && format.get_ref<const std::string&>() == "uid") {
    return cf.Bad("format", "\"uid\" is not one of " + kFormats +
                                " (a UID card is written {\"uid\":\"hex digits\"})");
  }
  LINTEL_RETURN_IF_ERROR(
      cf.Enum("format", /*required=*/true, rules::ParseCardFormat, kFormats, &card->format));
  uint64_t facility = 0;
  LINTEL_RETURN_IF_ERROR(
      cf.Unsigned("facility", /*required=*/false, std::numeric_limits<uint32_t>::max(), &facility));
  card->facility = static_cast<uint32_t>(facility);
  LINTEL_RETURN_IF_ERROR(cf.Unsigned("number", /*required=*/true,
                                     std::numeric_limits<uint64_t>::max(), &card->number));
  return Status::Ok();
}

Status ReadBleKey(const Fields& f, rules::BleKey* key) {
  const json* obj = nullptr;
  LINTEL_RETURN_IF_ERROR(f.Object("ble_key", &obj));
  Fields kf(*obj, f.rec(), "ble_key.");
  LINTEL_RETURN_IF_ERROR(kf.CheckKnown(kBleKeyFields));
  LINTEL_RETURN_IF_ERROR(kf.String("lock", &key->lock));
  LINTEL_RETURN_IF_ERROR(kf.String("key", &key->key));
  LINTEL_RETURN_IF_ERROR(kf.String("name", &key->name));
  return Status::Ok();
}

Result<rules::Credential> DoParseCredential(const json& j, Where where) {
  static const std::string kTypes = EnumNames(rules::CredentialTypeName, 0, 3);
  static const std::string kStatus = EnumNames(rules::CredentialStatusName, 0, 3);
  Rec rec("credential", where);
  if (!j.is_object()) return rec.Error("must be an object");
  Fields f(j, rec);
  rules::Credential c;
  LINTEL_RETURN_IF_ERROR(ReadIdAndCheckKnown(f, kCredentialFields, &rec, &c.id));
  LINTEL_RETURN_IF_ERROR(f.String("person", &c.person));
  LINTEL_RETURN_IF_ERROR(
      f.Enum("type", /*required=*/true, rules::ParseCredentialType, kTypes, &c.type));
  LINTEL_RETURN_IF_ERROR(
      f.Enum("status", /*required=*/true, rules::ParseCredentialStatus, kStatus, &c.status));
  LINTEL_RETURN_IF_ERROR(f.OptTime("valid_from", &c.valid_from));
  LINTEL_RETURN_IF_ERROR(f.OptTime("valid_until", &c.valid_until));

  const std::string_view own = kPayloadKeys[static_cast<size_t>(c.type)];
  const std::string type_name(rules::CredentialTypeName(c.type));
  for (std::string_view other : kPayloadKeys) {
    if (other != own && f.Has(other)) {
      return rec.Error("\"" + std::string(other) + "\" is not allowed with type " + type_name +
                       " (a " + type_name + " credential carries \"" + std::string(own) + "\")");
    }
  }
  switch (c.type) {
    case CredentialType::kCard:
      LINTEL_RETURN_IF_ERROR(ReadCard(f, &c.card));
      break;
    case CredentialType::kPin: {
      const json* pin = f.Get("pin");
      if (pin == nullptr) return f.Missing("pin");
      if (pin->is_number()) {
        return f.Bad("pin",
                     "must be a JSON string, not a number: a number loses leading zeros "
                     "(write \"0123\", not 0123)");
      }
      LINTEL_RETURN_IF_ERROR(f.String("pin", &c.pin));
      break;
    }
    case CredentialType::kBleKey:
      LINTEL_RETURN_IF_ERROR(ReadBleKey(f, &c.ble_key));
      break;
  }
  return c;
}

// ---- door modes --------------------------------------------------------------------------------

constexpr std::array<std::string_view, 3> kDoorModeFields = {"id", "mode", "until"};

Result<rules::DoorMode> DoParseDoorMode(const json& j, Where where) {
  static const std::string kModes = EnumNames(rules::DoorModeName, 0, 3);
  Rec rec("door_mode", where);
  if (!j.is_object()) return rec.Error("must be an object");
  Fields f(j, rec);
  rules::DoorMode m;
  LINTEL_RETURN_IF_ERROR(ReadIdAndCheckKnown(f, kDoorModeFields, &rec, &m.door));
  LINTEL_RETURN_IF_ERROR(f.Enum("mode", /*required=*/true, rules::ParseDoorMode, kModes, &m.mode));
  LINTEL_RETURN_IF_ERROR(f.OptTime("until", &m.until));
  return m;
}

// ---- ops ---------------------------------------------------------------------------------------

constexpr std::array<std::string_view, 4> kOpFields = {"op", "kind", "data", "id"};

std::optional<rules::OpKind> ParseOpKind(std::string_view s) {
  if (s == "put") return rules::OpKind::kPut;
  if (s == "delete") return rules::OpKind::kDelete;
  return std::nullopt;
}

template <typename T>
Status PutRecord(Result<T> r, rules::Op* op) {
  if (!r.ok()) return r.status();
  op->record = std::move(r).value();
  return Status::Ok();
}

Result<rules::Op> DoParseOp(const json& j, std::string_view where) {
  static const std::string kKinds = EnumNames(rules::RecordKindName, 0, 6);
  Rec rec("op", Where{where, std::nullopt});
  if (!j.is_object()) return rec.Error("must be an object");
  Fields f(j, rec);
  LINTEL_RETURN_IF_ERROR(f.CheckKnown(kOpFields));
  rules::Op op;
  LINTEL_RETURN_IF_ERROR(f.Enum("op", /*required=*/true, ParseOpKind, "put|delete", &op.op));
  LINTEL_RETURN_IF_ERROR(
      f.Enum("kind", /*required=*/true, rules::ParseRecordKind, kKinds, &op.kind));
  if (op.op == rules::OpKind::kDelete) {
    if (f.Has("data")) return rec.Error("\"data\" is not allowed with op delete");
    LINTEL_RETURN_IF_ERROR(f.String("id", &op.id));
    if (op.id.empty()) return rec.Error("id must not be empty");
    return op;
  }
  if (f.Has("id")) {
    return rec.Error("\"id\" is not allowed with op put (a put carries its id in data.id)");
  }
  const json* data = nullptr;
  LINTEL_RETURN_IF_ERROR(f.Object("data", &data));
  const std::string data_where = std::string(where) + ".data";
  const Where w{data_where, std::nullopt};
  switch (op.kind) {
    case RecordKind::kSchedule:
      LINTEL_RETURN_IF_ERROR(PutRecord(DoParseSchedule(*data, w), &op));
      op.id = std::get<rules::Schedule>(op.record).id;
      break;
    case RecordKind::kGroup:
      LINTEL_RETURN_IF_ERROR(PutRecord(DoParseGroup(*data, w), &op));
      op.id = std::get<rules::Group>(op.record).id;
      break;
    case RecordKind::kPerson:
      LINTEL_RETURN_IF_ERROR(PutRecord(DoParsePerson(*data, w), &op));
      op.id = std::get<rules::Person>(op.record).id;
      break;
    case RecordKind::kLease:
      LINTEL_RETURN_IF_ERROR(PutRecord(DoParseLease(*data, w), &op));
      op.id = std::get<rules::Lease>(op.record).id;
      break;
    case RecordKind::kCredential:
      LINTEL_RETURN_IF_ERROR(PutRecord(DoParseCredential(*data, w), &op));
      op.id = std::get<rules::Credential>(op.record).id;
      break;
    case RecordKind::kDoorMode:
      LINTEL_RETURN_IF_ERROR(PutRecord(DoParseDoorMode(*data, w), &op));
      op.id = std::get<rules::DoorMode>(op.record).door;
      break;
  }
  return op;
}

// ---- whole records -----------------------------------------------------------------------------

constexpr std::array<std::string_view, 6> kRecordsFields = {
    "schedules", "groups", "people", "leases", "credentials", "door_modes"};

class Errors {
 public:
  bool full() const { return lines_.size() >= kMaxRecordErrors; }
  void Add(const Status& s) {
    if (!full()) lines_.push_back(s.message());
  }
  void Add(std::string line) {
    if (!full()) lines_.push_back(std::move(line));
  }
  bool empty() const { return lines_.empty(); }
  Status ToStatus() const {
    std::string all;
    for (const std::string& l : lines_) {
      if (!all.empty()) all += '\n';
      all += l;
    }
    if (full()) all += "\n(stopped after " + std::to_string(kMaxRecordErrors) + " errors)";
    return Status::InvalidArgument(std::move(all));
  }

 private:
  std::vector<std::string> lines_;
};

template <typename T, typename Parse>
void ParseArray(const json& records, std::string_view key, Parse parse, std::vector<T>* out,
                Errors* errors) {
  auto it = records.find(key);
  if (it == records.end() || it->is_null()) return;
  const std::string base = "records." + std::string(key);
  if (!it->is_array()) {
    errors->Add(base + " must be an array");
    return;
  }
  out->reserve(it->size());
  for (size_t i = 0; i < it->size() && !errors->full(); ++i) {
    Result<T> r = parse((*it)[i], Where{base, i});
    if (r.ok()) {
      out->push_back(std::move(r).value());
    } else {
      errors->Add(r.status());
    }
  }
}

Result<rules::Records> DoParseRecords(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("records must be an object");
  Errors errors;
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (std::string_view k : kRecordsFields) known = known || k == it.key();
    if (!known) {
      errors.Add("records: unknown field " + Quote(it.key()) + " (expected one of " +
                 Join(kRecordsFields) + ")");
    }
  }
  rules::Records r;
  ParseArray(j, "schedules", DoParseSchedule, &r.schedules, &errors);
  ParseArray(j, "groups", DoParseGroup, &r.groups, &errors);
  ParseArray(j, "people", DoParsePerson, &r.people, &errors);
  ParseArray(j, "leases", DoParseLease, &r.leases, &errors);
  ParseArray(j, "credentials", DoParseCredential, &r.credentials, &errors);
  ParseArray(j, "door_modes", DoParseDoorMode, &r.door_modes, &errors);
  if (!errors.empty()) return errors.ToStatus();
  return r;
}

// Runs `parse`, turning any nlohmann exception (none is expected: types are checked before every
// access) into Internal.
template <typename F>
auto Guard(F parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const json::exception& e) {
    return Status::Internal(std::string("records codec: unexpected JSON exception: ") + e.what());
  }
}

// ---- to JSON -----------------------------------------------------------------------------------

std::string FormatDate(int32_t days) {
  CivilDate c = CivilFromDays(days);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(c.year), c.month, c.day);
  return buf;
}

json WindowToJson(const rules::Window& w, bool with_days) {
  json j = json::object();
  if (with_days) {
    json days = json::array();
    for (unsigned d = 0; d < 7; ++d) {
      if (w.days & (1u << d)) days.push_back(std::string(rules::WeekdayName(d)));
    }
    j["days"] = std::move(days);
  }
  j["from"] = rules::FormatHhMm(w.from_min);
  j["to"] = rules::FormatHhMm(w.to_min);
  return j;
}

json StringsToJson(const std::vector<std::string>& v) {
  json j = json::array();
  for (const std::string& s : v) j.push_back(s);
  return j;
}

}  // namespace

// ---- public: parsing ---------------------------------------------------------------------------

Result<rules::Records> ParseRecords(const nlohmann::json& records) {
  return Guard([&] { return DoParseRecords(records); });
}

Result<rules::Records> ParseRecordsText(std::string_view json_text, std::string_view source_name) {
  Result<json> j = ParseJsonText(json_text, source_name);
  if (!j.ok()) return j.status();
  Result<rules::Records> r = ParseRecords(*j);
  if (r.ok()) return r;
  // Name the source on every line.
  std::string out;
  std::string_view rest = r.status().message();
  while (true) {
    size_t nl = rest.find('\n');
    out.append(source_name).append(": ").append(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    out += '\n';
    rest.remove_prefix(nl + 1);
  }
  return Status(r.status().code(), std::move(out));
}

Result<rules::Schedule> ParseSchedule(const nlohmann::json& j, std::string_view where) {
  return Guard([&] { return DoParseSchedule(j, Where{where, std::nullopt}); });
}
Result<rules::Group> ParseGroup(const nlohmann::json& j, std::string_view where) {
  return Guard([&] { return DoParseGroup(j, Where{where, std::nullopt}); });
}
Result<rules::Person> ParsePerson(const nlohmann::json& j, std::string_view where) {
  return Guard([&] { return DoParsePerson(j, Where{where, std::nullopt}); });
}
Result<rules::Lease> ParseLease(const nlohmann::json& j, std::string_view where) {
  return Guard([&] { return DoParseLease(j, Where{where, std::nullopt}); });
}
Result<rules::Credential> ParseCredential(const nlohmann::json& j, std::string_view where) {
  return Guard([&] { return DoParseCredential(j, Where{where, std::nullopt}); });
}
Result<rules::DoorMode> ParseDoorMode(const nlohmann::json& j, std::string_view where) {
  return Guard([&] { return DoParseDoorMode(j, Where{where, std::nullopt}); });
}
Result<rules::Op> ParseOp(const nlohmann::json& op, std::string_view where) {
  return Guard([&] { return DoParseOp(op, where); });
}

// ---- public: to JSON ---------------------------------------------------------------------------

nlohmann::json ToJson(const rules::Schedule& s) {
  json j = json::object();
  j["id"] = s.id;
  json windows = json::array();
  for (const rules::Window& w : s.windows) windows.push_back(WindowToJson(w, true));
  j["windows"] = std::move(windows);
  json exceptions = json::array();
  for (const rules::ScheduleException& e : s.exceptions) {
    json ej = json::object();
    ej["date"] = FormatDate(e.date);
    json ew = json::array();
    for (const rules::Window& w : e.windows) ew.push_back(WindowToJson(w, false));
    ej["windows"] = std::move(ew);
    exceptions.push_back(std::move(ej));
  }
  j["exceptions"] = std::move(exceptions);
  return j;
}

nlohmann::json ToJson(const rules::Group& g) {
  json j = json::object();
  j["id"] = g.id;
  j["name"] = g.name;
  j["doors"] = StringsToJson(g.doors);
  j["schedule"] = g.schedule;
  return j;
}

nlohmann::json ToJson(const rules::Person& p) {
  json j = json::object();
  j["id"] = p.id;
  j["name"] = p.name;
  j["role"] = std::string(rules::RoleName(p.role));
  if (p.primary) j["primary"] = *p.primary;
  j["inherit"] = p.inherit;
  j["groups"] = StringsToJson(p.groups);
  j["status"] = std::string(rules::PersonStatusName(p.status));
  return j;
}

nlohmann::json ToJson(const rules::Lease& l) {
  json j = json::object();
  j["id"] = l.id;
  j["unit"] = l.unit;
  j["members"] = StringsToJson(l.members);
  j["groups"] = StringsToJson(l.groups);
  j["starts_at"] = FormatRfc3339(l.starts_at);
  if (l.ends_at) j["ends_at"] = FormatRfc3339(*l.ends_at);
  if (l.paid_through) j["paid_through"] = FormatRfc3339(*l.paid_through);
  if (l.grace_days) j["grace_days"] = *l.grace_days;
  return j;
}

nlohmann::json ToJson(const rules::Credential& c) {
  json j = json::object();
  j["id"] = c.id;
  j["person"] = c.person;
  j["type"] = std::string(rules::CredentialTypeName(c.type));
  j["status"] = std::string(rules::CredentialStatusName(c.status));
  if (c.valid_from) j["valid_from"] = FormatRfc3339(*c.valid_from);
  if (c.valid_until) j["valid_until"] = FormatRfc3339(*c.valid_until);
  switch (c.type) {
    case CredentialType::kCard: {
      json card = json::object();
      if (c.card.format == CardFormat::kUid) {
        card["uid"] = c.card.uid;
      } else {
        card["format"] = std::string(rules::CardFormatName(c.card.format));
        // Written when the format has a facility field, or when set anyway (round trip).
        if (rules::FormatBits(c.card.format).facility_bits > 0 || c.card.facility != 0) {
          card["facility"] = c.card.facility;
        }
        card["number"] = c.card.number;
      }
      j["card"] = std::move(card);
      break;
    }
    case CredentialType::kPin:
      j["pin"] = c.pin;
      break;
    case CredentialType::kBleKey: {
      json key = json::object();
      key["lock"] = c.ble_key.lock;
      key["key"] = c.ble_key.key;
      key["name"] = c.ble_key.name;
      j["ble_key"] = std::move(key);
      break;
    }
  }
  return j;
}

nlohmann::json ToJson(const rules::DoorMode& m) {
  json j = json::object();
  j["id"] = m.door;
  j["mode"] = std::string(rules::DoorModeName(m.mode));
  if (m.until) j["until"] = FormatRfc3339(*m.until);
  return j;
}

nlohmann::json RecordsToJson(const rules::Records& r) {
  auto array = [](const auto& records) {
    json a = json::array();
    for (const auto& x : records) a.push_back(ToJson(x));
    return a;
  };
  json j = json::object();
  j["schedules"] = array(r.schedules);
  j["groups"] = array(r.groups);
  j["people"] = array(r.people);
  j["leases"] = array(r.leases);
  j["credentials"] = array(r.credentials);
  j["door_modes"] = array(r.door_modes);
  return j;
}

nlohmann::json ToJson(const rules::Op& op) {
  json j = json::object();
  j["op"] = op.op == rules::OpKind::kPut ? "put" : "delete";
  j["kind"] = std::string(rules::RecordKindName(op.kind));
  if (op.op == rules::OpKind::kDelete) {
    j["id"] = op.id;
    return j;
  }
  j["data"] = std::visit(
      [](const auto& record) -> json {
        if constexpr (std::is_same_v<std::decay_t<decltype(record)>, std::monostate>) {
          return nullptr;
        } else {
          return ToJson(record);
        }
      },
      op.record);
  return j;
}

}  // namespace lintel::codec
