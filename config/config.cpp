#include "config/config.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <sstream>

#include "gateway/base/base64.h"

namespace lintel::config {

namespace {

// ---- positions and problems --------------------------------------------------------------------

struct Pos {
  int line = 1;
  int column = 1;
};

// yaml-cpp marks are 0-based; people count from 1. A null mark (a node yaml-cpp made up) maps to
// the start of the file.
Pos ToPos(const YAML::Mark& m) {
  if (m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

std::string PosText(Pos p) { return std::to_string(p.line) + ":" + std::to_string(p.column); }

class Problems {
 public:
  Problems(std::string file, std::string_view text) : file_(std::move(file)), text_(text) {}

  void Add(Pos p, std::string message) {
    items_.push_back({file_, p.line, p.column, std::move(message)});
  }
  bool empty() const { return items_.empty(); }

  // Where an empty list item ("-" and nothing after it) is. yaml-cpp marks such a null at the next
  // token, so look back over blanks for the "-"; when that fails, keep yaml-cpp's mark.
  Pos EmptyItemPos(const YAML::Mark& m) const {
    if (m.pos < 0 || m.line < 0 || static_cast<size_t>(m.pos) > text_.size()) return ToPos(m);
    size_t i = static_cast<size_t>(m.pos);
    int line = m.line;
    while (i > 0 && (text_[i - 1] == ' ' || text_[i - 1] == '\t' || text_[i - 1] == '\n' ||
                     text_[i - 1] == '\r')) {
      if (text_[i - 1] == '\n') --line;
      --i;
    }
    if (i == 0 || text_[i - 1] != '-' || line < 0) return ToPos(m);
    size_t dash = i - 1;
    size_t line_start = dash;
    while (line_start > 0 && text_[line_start - 1] != '\n') --line_start;
    return {line + 1, static_cast<int>(dash - line_start) + 1};
  }

  // Sorted by position; problems at one position keep the order they were found in.
  std::vector<ConfigProblem> Take() {
    std::stable_sort(items_.begin(), items_.end(),
                     [](const ConfigProblem& a, const ConfigProblem& b) {
                       return a.line != b.line ? a.line < b.line : a.column < b.column;
                     });
    return std::move(items_);
  }

 private:
  std::string file_;
  std::string_view text_;  // the whole file, for EmptyItemPos
  std::vector<ConfigProblem> items_;
};

// ---- how values are shown in messages ----------------------------------------------------------

constexpr size_t kMaxShown = 60;  // characters of a value quoted in a message

std::string Shorten(std::string_view text) {
  if (text.size() <= kMaxShown) return std::string(text);
  return std::string(text.substr(0, kMaxShown)) + "...";
}

// `text` in double quotes, control characters escaped, long values shortened.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out + "\"";
}

bool IsPlain(const YAML::Node& n) { return n.Tag() == "?"; }

bool IsDecimalText(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What a value is, for "..., got X".
std::string Describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      if (IsPlain(n) && IsDecimalText(n.Scalar())) return Shorten(n.Scalar());
      return Quote(n.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string Join(std::span<const std::string_view> words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += ", ";
    out += words[i];
  }
  return out;
}

// Optimal string alignment distance (Levenshtein plus adjacent swaps), for "did you mean".
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The expected key closest to `key`, when it is close enough to be a likely typo.
std::optional<std::string_view> Suggest(std::string_view key,
                                        std::span<const std::string_view> expected) {
  if (key.size() > 64) return std::nullopt;
  std::optional<std::string_view> best;
  size_t best_distance = 0;
  for (std::string_view candidate : expected) {
    size_t d = EditDistance(key, candidate);
    size_t limit = std::max<size_t>(1, std::min<size_t>(3, candidate.size() / 3));
    if (d <= limit && (!best || d < best_distance)) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

// ---- value rules -------------------------------------------------------------------------------

constexpr std::string_view kIdExpected =
    "an id of 1 to 64 characters from A-Z, a-z, 0-9, \".\", \"_\" and \"-\"";
constexpr std::string_view kKidExpected =
    "a key id of 1 to 128 printable characters without spaces";
constexpr std::string_view kTimeZoneExpected = "an IANA name such as Europe/Berlin";
constexpr std::string_view kPathExpected = "a non-empty file path";
constexpr std::string_view kPublicKeyExpected =
    "standard base64 (with \"=\" padding) of a 32-byte Ed25519 public key";
constexpr std::string_view kStringExpected = "a non-empty string without control characters";
constexpr size_t kMaxSocketPathBytes = 107;  // sizeof(sockaddr_un::sun_path) - 1 on Linux

bool IsId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool IsKid(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// Shape only; LoadTimeZone decides whether the zone exists. Keeps odd text (paths, "..") away
// from the tz database.
bool LooksLikeZoneName(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.find("..") != std::string_view::npos) return false;
  if (s.front() == '/' || s.back() == '/') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

// ---- the schema walker -------------------------------------------------------------------------

enum class Need { kOptional, kRequired };

template <typename T>
struct Field {
  T value;
  Pos pos;  // of the value
};

class MapWalker;
using ParseFn = std::function<void(MapWalker&)>;

// How a list of mappings is described: `noun` names one item in messages ("door"), and the value
// of `name_key` (when it is a valid id) names a particular one (door "front"); otherwise its
// 1-based index does (door #3).
struct ListSpec {
  std::string_view noun;
  std::string_view name_key;
  std::span<const std::string_view> keys;  // expected keys of each item
  bool non_empty = false;
};

// Walks one YAML mapping against the list of keys it may hold. Construction reports duplicate,
// malformed and unknown keys; each getter reads one expected key, reports what is wrong with it,
// and returns nullopt unless the value is present and valid. An empty value (YAML null) counts as
// absent: optional keys keep their default, required keys are reported.
class MapWalker {
 public:
  // `in_context` completes "unknown key "x" ..." ("at the top level", "in site", "in door
  // "front""); `prefix` turns a key into the label used in value messages ("policy.pin.").
  MapWalker(Problems& problems, const YAML::Node& map, std::string in_context, std::string prefix,
            std::span<const std::string_view> keys, std::string name = "")
      : problems_(problems),
        pos_(ToPos(map.Mark())),
        in_context_(std::move(in_context)),
        prefix_(std::move(prefix)),
        name_(std::move(name)),
        keys_(keys.begin(), keys.end()) {
    std::map<std::string, Pos, std::less<>> seen;  // every key, known or not
    for (auto it = map.begin(); it != map.end(); ++it) {
      // Copies: the iterator hands out a temporary pair, so references into it would dangle.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      Pos key_pos = ToPos(key.Mark());
      if (!key.IsScalar()) {
        problems_.Add(
            key_pos, "keys must be plain words, got " + Describe(key) + " as a key " + in_context_);
        continue;
      }
      const std::string& text = key.Scalar();
      if (auto [first, inserted] = seen.emplace(text, key_pos); !inserted) {
        problems_.Add(
            key_pos, "duplicate key " + Quote(text) + " (first at " + PosText(first->second) + ")");
        continue;
      }
      if (std::find(keys_.begin(), keys_.end(), text) == keys_.end()) {
        std::string message = "unknown key " + Quote(text) + " " + in_context_;
        if (text == "<<") {
          message += " (YAML merge keys are not supported; write the keys out)";
        } else if (auto suggestion = Suggest(text, keys_)) {
          message += " (did you mean \"" + std::string(*suggestion) + "\"?)";
        } else {
          message += " (expected one of: " + Join(keys_) + ")";
        }
        problems_.Add(key_pos, std::move(message));
        continue;
      }
      entries_.push_back({text, key_pos, value});
    }
  }

  Pos pos() const { return pos_; }
  // Whether `key` is present with a value (not empty).
  bool Has(std::string_view key) const {
    const Entry* e = Find(key);
    return e != nullptr && !e->value.IsNull();
  }
  // The item's name in messages (door "front"); empty for sections.
  const std::string& name() const { return name_; }

  std::optional<Field<std::string>> String(std::string_view key, Need need,
                                           std::string_view expected = kStringExpected) {
    const Entry* e = Present(key, need, expected);
    if (e == nullptr) return std::nullopt;
    // Control characters can only come from escapes in quoted strings ("\n"); none is wanted in
    // a name or a path.
    if (!e->value.IsScalar() || e->value.Scalar().empty() ||
        std::any_of(e->value.Scalar().begin(), e->value.Scalar().end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return Wrong(*e, expected);
    }
    return Field<std::string>{e->value.Scalar(), ValuePos(*e)};
  }

  std::optional<Field<std::string>> Id(std::string_view key, Need need,
                                       std::string_view expected = kIdExpected,
                                       bool (*valid)(std::string_view) = IsId) {
    const Entry* e = Present(key, need, expected);
    if (e == nullptr) return std::nullopt;
    if (!e->value.IsScalar() || !valid(e->value.Scalar())) return Wrong(*e, expected);
    return Field<std::string>{e->value.Scalar(), ValuePos(*e)};
  }

  // A plain decimal integer in [lo, hi]; `note` follows the range in messages.
  std::optional<Field<int32_t>> Int(std::string_view key, Need need, int32_t lo, int32_t hi,
                                    std::string_view note = "") {
    std::string expected = "an integer between " + std::to_string(lo) + " and " +
                           std::to_string(hi) + std::string(note);
    const Entry* e = Present(key, need, expected);
    if (e == nullptr) return std::nullopt;
    const YAML::Node& v = e->value;
    if (!v.IsScalar() || !(IsPlain(v) || v.Tag() == "tag:yaml.org,2002:int")) {
      return Wrong(*e, expected, IsDecimalText(v.Scalar()));
    }
    std::string_view text = v.Scalar();
    if (!IsDecimalText(text)) return Wrong(*e, expected);
    std::string_view digits = text[0] == '-' ? text.substr(1) : text;
    if (digits.size() > 1 && digits[0] == '0') {
      problems_.Add(ValuePos(*e), Label(e->key) + " must be " + expected +
                                      " written in decimal without leading zeros (YAML would "
                                      "read 010 as octal 8), got " +
                                      Shorten(text));
      return std::nullopt;
    }
    int64_t n = 0;
    if (digits.size() > 12 ||
        std::from_chars(text.data(), text.data() + text.size(), n).ec != std::errc() || n < lo ||
        n > hi) {
      return Wrong(*e, expected);
    }
    return Field<int32_t>{static_cast<int32_t>(n), ValuePos(*e)};
  }

  std::optional<Field<bool>> Bool(std::string_view key, Need need) {
    constexpr std::string_view kExpected = "true or false";
    const Entry* e = Present(key, need, kExpected);
    if (e == nullptr) return std::nullopt;
    const YAML::Node& v = e->value;
    if (v.IsScalar() && (IsPlain(v) || v.Tag() == "tag:yaml.org,2002:bool")) {
      const std::string& t = v.Scalar();
      if (t == "true" || t == "True" || t == "TRUE") return Field<bool>{true, ValuePos(*e)};
      if (t == "false" || t == "False" || t == "FALSE") return Field<bool>{false, ValuePos(*e)};
    }
    std::string_view t = v.Scalar();
    return Wrong(*e, kExpected, t == "true" || t == "false");
  }

  std::optional<Field<std::string>> OneOf(std::string_view key, Need need,
                                          std::span<const std::string_view> choices) {
    std::string expected = "one of " + Join(choices);
    const Entry* e = Present(key, need, expected);
    if (e == nullptr) return std::nullopt;
    if (!e->value.IsScalar() ||
        std::find(choices.begin(), choices.end(), e->value.Scalar()) == choices.end()) {
      return Wrong(*e, expected);
    }
    return Field<std::string>{e->value.Scalar(), ValuePos(*e)};
  }

  // A non-empty list of scalars (`[h10301, c1k35]`), each with its position. Items are checked by
  // the caller; a non-scalar item is reported here.
  std::optional<std::vector<Field<std::string>>> ScalarList(std::string_view key, Need need,
                                                            std::string_view expected) {
    const Entry* e = Present(key, need, expected);
    if (e == nullptr) return std::nullopt;
    if (!e->value.IsSequence() || e->value.size() == 0) return Wrong(*e, expected);
    std::vector<Field<std::string>> out;
    bool ok = true;
    for (auto it = e->value.begin(); it != e->value.end(); ++it) {
      const YAML::Node item = *it;  // a copy: the iterator hands out a temporary
      if (!item.IsScalar()) {
        problems_.Add(item.IsNull() ? problems_.EmptyItemPos(item.Mark()) : ToPos(item.Mark()),
                      "each item of " + Label(key) + " must be " + std::string(expected) +
                          ", got " + Describe(item));
        ok = false;
        continue;
      }
      out.push_back({item.Scalar(), ToPos(item.Mark())});
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // Walks the mapping under `key` with `keys` as its expected keys.
  void Mapping(std::string_view key, Need need, std::span<const std::string_view> keys,
               const ParseFn& parse) {
    std::string expected = "a mapping with the keys " + Join(keys);
    const Entry* e = Present(key, need, expected);
    if (e == nullptr) return;
    if (!e->value.IsMap()) {
      Wrong(*e, expected);
      return;
    }
    MapWalker sub(problems_, e->value, "in " + Label(key), Label(key) + ".", keys);
    parse(sub);
  }

  // Walks each mapping in the list under `key`.
  void List(std::string_view key, Need need, const ListSpec& spec, const ParseFn& parse) {
    std::string expected = "a list of " + std::string(spec.noun) + "s";
    const Entry* e = Present(key, need, expected);
    if (e == nullptr) return;
    if (!e->value.IsSequence()) {
      Wrong(*e, expected);
      return;
    }
    if (spec.non_empty && e->value.size() == 0) {
      problems_.Add(ValuePos(*e), Label(key) + " must list at least one " + std::string(spec.noun));
      return;
    }
    size_t index = 0;
    for (auto it = e->value.begin(); it != e->value.end(); ++it) {
      const YAML::Node item = *it;  // a copy: the iterator hands out a temporary
      ++index;
      std::string name = std::string(spec.noun) + " #" + std::to_string(index);
      if (!item.IsMap()) {
        Pos pos = item.IsNull() ? problems_.EmptyItemPos(item.Mark()) : ToPos(item.Mark());
        problems_.Add(pos, name + " must be a mapping with the keys " + Join(spec.keys) + ", got " +
                               Describe(item));
        continue;
      }
      if (auto id = FirstScalar(item, spec.name_key); id && IsId(*id)) {
        name = std::string(spec.noun) + " " + Quote(*id);
      }
      MapWalker sub(problems_, item, "in " + name, "", spec.keys, name);
      parse(sub);
    }
  }

 private:
  struct Entry {
    std::string key;
    Pos key_pos;
    YAML::Node value;
  };

  static std::optional<std::string> FirstScalar(const YAML::Node& map, std::string_view key) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;
      if (k.IsScalar() && k.Scalar() == key) {
        const YAML::Node v = it->second;
        if (v.IsScalar()) return v.Scalar();
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  const Entry* Find(std::string_view key) const {
    for (const Entry& e : entries_) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }

  std::string Label(std::string_view key) const { return prefix_ + std::string(key); }

  // A null value's mark points at the next token; its key is the better place to point at.
  static Pos ValuePos(const Entry& e) {
    return e.value.IsNull() ? e.key_pos : ToPos(e.value.Mark());
  }

  // The entry for `key` when it has a value. Reports a required key that is absent (at the
  // mapping) or empty (at the key).
  const Entry* Present(std::string_view key, Need need, std::string_view expected) {
    assert(std::find(keys_.begin(), keys_.end(), key) != keys_.end() && "key not in the schema");
    const Entry* e = Find(key);
    if (e == nullptr) {
      if (need == Need::kRequired) {
        problems_.Add(pos_, "missing required key " + Quote(key) + " " + in_context_ +
                                "; expected " + std::string(expected));
      }
      return nullptr;
    }
    if (e->value.IsNull()) {
      if (need == Need::kRequired) {
        problems_.Add(e->key_pos, Label(key) + " is empty; it must be " + std::string(expected));
      }
      return nullptr;
    }
    return e;
  }

  // `quoted_hint`: the value would have been right without quotes (integers, booleans).
  std::nullopt_t Wrong(const Entry& e, std::string_view expected, bool quoted_hint = false) {
    std::string message =
        Label(e.key) + " must be " + std::string(expected) + ", got " + Describe(e.value);
    if (quoted_hint && e.value.IsScalar() && e.value.Tag() == "!") {
      message += " (a quoted string; write the value without quotes)";
    }
    problems_.Add(ValuePos(e), std::move(message));
    return std::nullopt;
  }

  Problems& problems_;
  Pos pos_;
  std::string in_context_;
  std::string prefix_;
  std::string name_;
  std::vector<std::string_view> keys_;
  std::vector<Entry> entries_;
};

// ---- the schema --------------------------------------------------------------------------------

// What the section parsers build, plus what cross-checks need after every section is read.
struct Loader {
  Loader(std::string file, std::string_view text) : problems(std::move(file), text) {}

  Problems problems;
  Config config;
  bool saw_doors = false;
  std::map<std::string, Pos, std::less<>> door_ids;  // first occurrence of each id
  std::map<std::string, Pos, std::less<>> reader_ids;
  std::map<std::string, Pos, std::less<>> kids;
  struct DoorRef {
    std::string from;  // reader "front-keypad"
    std::string door;
    Pos pos;
  };
  std::vector<DoorRef> door_refs;
  // Hardware a reader uses ("gpio gpiochip0 line 17", "serial device /dev/ttyUSB0", "replay
  // socket /run/..."): each may be claimed once.
  std::map<std::string, std::pair<std::string, Pos>, std::less<>> claims;
  std::map<std::string, Pos, std::less<>> module_ids;
  std::map<std::string, Pos, std::less<>> automation_ids;
  // "module.point" references to check once every module is read.
  struct PointRef {
    std::string from;  // door "front" io.lock
    std::string ref;
    bool output;  // must be writable
    Pos pos;
  };
  std::vector<PointRef> point_refs;
  std::vector<DoorRef> automation_door_refs;
};

// Records that `who` uses `what`; reports a second user.
void Claim(Loader& l, const std::string& what, const std::string& who, Pos pos) {
  auto [it, inserted] = l.claims.emplace(what, std::make_pair(who, pos));
  if (!inserted) {
    l.problems.Add(pos, what + " is already used by " + it->second.first + " (at " +
                            PosText(it->second.second) + ")");
  }
}

// Records `id` in `seen`; reports it when it was there already.
void CheckUnique(Loader& l, std::map<std::string, Pos, std::less<>>& seen, std::string_view what,
                 const Field<std::string>& id) {
  auto [it, inserted] = seen.emplace(id.value, id.pos);
  if (!inserted) {
    l.problems.Add(id.pos, "duplicate " + std::string(what) + " " + Quote(id.value) +
                               " (first at " + PosText(it->second) + ")");
  }
}

constexpr std::string_view kSiteKeys[] = {"id", "time_zone"};
void ParseSite(Loader& l, MapWalker& w) {
  if (auto id = w.Id("id", Need::kRequired)) l.config.site_id = id->value;
  if (auto tz = w.String("time_zone", Need::kRequired, kTimeZoneExpected)) {
    l.config.time_zone = tz->value;
    Result<std::shared_ptr<const TimeZone>> zone =
        LooksLikeZoneName(tz->value)
            ? LoadTimeZone(tz->value)
            : Result<std::shared_ptr<const TimeZone>>(Status::NotFound(""));
    if (zone.ok()) {
      l.config.zone = *zone;
    } else {
      l.problems.Add(tz->pos, "unknown time zone " + Quote(tz->value) + " (expected " +
                                  std::string(kTimeZoneExpected) + ")");
    }
  }
}

constexpr std::string_view kGatewayKeys[] = {"id"};
void ParseGateway(Loader& l, MapWalker& w) {
  if (auto id = w.Id("id", Need::kRequired)) l.config.gateway_id = id->value;
}

constexpr std::string_view kStoreKeys[] = {"path", "max_unwritten_events"};
void ParseStore(Loader& l, MapWalker& w) {
  if (auto path = w.String("path", Need::kRequired, kPathExpected)) {
    l.config.store_path = path->value;
  }
  if (auto v = w.Int("max_unwritten_events", Need::kOptional, 100, 10000000,
                     " (journal events kept in memory while the store cannot be written)")) {
    l.config.max_unwritten_events = v->value;
  }
}

constexpr std::string_view kControlKeys[] = {"socket", "idle_timeout_s"};
void ParseControl(Loader& l, MapWalker& w) {
  if (auto socket = w.String("socket", Need::kOptional, kPathExpected)) {
    if (socket->value.size() > kMaxSocketPathBytes) {
      l.problems.Add(socket->pos, "control.socket must be a path of at most " +
                                      std::to_string(kMaxSocketPathBytes) +
                                      " bytes (the limit of a Unix socket address), got " +
                                      std::to_string(socket->value.size()) + " bytes");
    } else {
      l.config.control_socket = socket->value;
    }
  }
  if (auto v = w.Int("idle_timeout_s", Need::kOptional, 1, 3600)) {
    l.config.control_idle_timeout_s = v->value;
  }
}

constexpr std::string_view kLoggingKeys[] = {"level"};
constexpr std::string_view kLogLevels[] = {"error", "warning", "info", "debug"};
void ParseLogging(Loader& l, MapWalker& w) {
  if (auto level = w.OneOf("level", Need::kOptional, kLogLevels)) {
    const std::string& v = level->value;
    l.config.log_level = v == "error"     ? LogLevel::kError
                         : v == "warning" ? LogLevel::kWarning
                         : v == "debug"   ? LogLevel::kDebug
                                          : LogLevel::kInfo;
  }
}

constexpr std::string_view kPolicyKeys[] = {"rent_grace_days", "pin", "keypad_lockout", "clock"};
constexpr std::string_view kClockKeys[] = {"max_ahead_days"};
constexpr std::string_view kPinKeys[] = {"min_length", "max_length", "allow_leading_9"};
constexpr std::string_view kLockoutKeys[] = {"failures", "within_s", "lockout_s"};
void ParsePolicy(Loader& l, MapWalker& w) {
  rules::Policy& p = l.config.policy;
  if (auto v = w.Int("rent_grace_days", Need::kOptional, 0, 365)) p.rent_grace_days = v->value;
  w.Mapping("pin", Need::kOptional, kPinKeys, [&](MapWalker& pin) {
    constexpr int32_t kShortest = 2;
    constexpr int32_t kLongest = 8;
    // An invalid min_length is reported once; max_length is then only held to 2..8.
    int32_t floor = kShortest;
    if (auto v = pin.Int("min_length", Need::kOptional, kShortest, kLongest)) {
      p.pin_min_length = v->value;
      floor = v->value;
    } else if (!pin.Has("min_length")) {
      floor = p.pin_min_length;
    }
    if (auto v = pin.Int("max_length", Need::kOptional, floor, kLongest,
                         floor > kShortest ? " (not less than min_length)" : "")) {
      p.pin_max_length = v->value;
    }
    if (auto v = pin.Bool("allow_leading_9", Need::kOptional)) p.pin_allow_leading_9 = v->value;
  });
  w.Mapping("keypad_lockout", Need::kOptional, kLockoutKeys, [&](MapWalker& lockout) {
    if (auto v = lockout.Int("failures", Need::kOptional, 0, 100, " (0 disables the lockout)")) {
      p.lockout_failures = v->value;
    }
    if (auto v = lockout.Int("within_s", Need::kOptional, 1, 86400)) p.lockout_window_s = v->value;
    if (auto v = lockout.Int("lockout_s", Need::kOptional, 1, 86400)) p.lockout_s = v->value;
  });
  w.Mapping("clock", Need::kOptional, kClockKeys, [&](MapWalker& clock) {
    if (auto v = clock.Int("max_ahead_days", Need::kOptional, 1, 365)) {
      p.clock_max_ahead_days = v->value;
    }
  });
}

constexpr std::string_view kCloudKeys[] = {"broker", "client_id",    "mqtt_version", "keep_alive_s",
                                           "tls",    "trusted_keys", "offline",      "limits"};
constexpr std::string_view kLimitsKeys[] = {
    "snapshot_page_bytes", "delta_bytes",    "command_bytes", "head_bytes",
    "events_ack_bytes",    "queue_messages", "queue_bytes",   "reject_journal_interval_s"};
constexpr std::string_view kTlsKeys[] = {"ca_file", "cert_file", "key_file"};
constexpr std::string_view kOfflineKeys[] = {"policy", "staff_only_after_h"};
constexpr std::string_view kMqttVersions[] = {"3.1.1", "5"};
constexpr std::string_view kOfflinePolicies[] = {"keep_enforcing", "staff_only"};
constexpr std::string_view kTrustedKeyKeys[] = {"kid", "public_key"};

// tcp://host:port, ssl://host:port (also mqtt:// and mqtts://): host non-empty, port 1..65535.
bool IsBrokerUri(std::string_view uri) {
  size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string_view scheme = uri.substr(0, scheme_end);
  if (scheme != "tcp" && scheme != "ssl" && scheme != "mqtt" && scheme != "mqtts") return false;
  std::string_view rest = uri.substr(scheme_end + 3);
  size_t colon = rest.rfind(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  std::string_view host = rest.substr(0, colon);
  std::string_view port = rest.substr(colon + 1);
  if (host.find_first_of("/ ") != std::string_view::npos) return false;
  if (port.empty() || port.size() > 5) return false;
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

void ParseCloud(Loader& l, MapWalker& w) {
  CloudConfig& c = l.config.cloud;
  std::optional<Pos> broker_pos;
  if (auto broker = w.String("broker", Need::kOptional,
                             "a broker address like tcp://127.0.0.1:1883 or ssl://host:8883")) {
    if (!IsBrokerUri(broker->value)) {
      l.problems.Add(broker->pos,
                     "cloud.broker must be an address like tcp://127.0.0.1:1883 or "
                     "ssl://mqtt.example.com:8883, got " +
                         Quote(broker->value));
    } else {
      c.broker = broker->value;
      broker_pos = broker->pos;
    }
  }
  if (auto id = w.String("client_id", Need::kOptional)) c.client_id = id->value;
  if (auto v = w.OneOf("mqtt_version", Need::kOptional, kMqttVersions)) {
    c.mqtt_version = v->value == "5" ? 5 : 4;
  }
  if (auto v = w.Int("keep_alive_s", Need::kOptional, 5, 3600)) c.keep_alive_s = v->value;
  std::optional<Pos> tls_pos;
  w.Mapping("tls", Need::kOptional, kTlsKeys, [&](MapWalker& tls) {
    tls_pos = tls.pos();
    if (auto v = tls.String("ca_file", Need::kOptional, kPathExpected)) c.ca_file = v->value;
    auto cert = tls.String("cert_file", Need::kOptional, kPathExpected);
    auto key = tls.String("key_file", Need::kOptional, kPathExpected);
    if (cert) c.cert_file = cert->value;
    if (key) c.key_file = key->value;
    if (cert.has_value() != key.has_value()) {
      l.problems.Add(cert ? cert->pos : key->pos,
                     "cloud.tls needs both cert_file and key_file (the client certificate and its "
                     "private key), or neither");
    }
  });
  w.Mapping("offline", Need::kOptional, kOfflineKeys, [&](MapWalker& off) {
    if (auto v = off.OneOf("policy", Need::kOptional, kOfflinePolicies)) {
      c.offline =
          v->value == "staff_only" ? OfflinePolicy::kStaffOnly : OfflinePolicy::kKeepEnforcing;
    }
    if (auto v = off.Int("staff_only_after_h", Need::kOptional, 1, 8760)) {
      c.staff_only_after_h = v->value;
    }
  });
  w.Mapping("limits", Need::kOptional, kLimitsKeys, [&](MapWalker& lim) {
    CloudLimits& m = c.limits;
    constexpr int32_t kMiB = 1 << 20;
    // A JWS of the contract is at least a few hundred bytes; 64 MiB is the verifier's own cap.
    auto bytes = [&](const char* key, int32_t* out) {
      if (auto v = lim.Int(key, Need::kOptional, 1024, 64 * kMiB)) *out = v->value;
    };
    bytes("snapshot_page_bytes", &m.snapshot_page_bytes);
    bytes("delta_bytes", &m.delta_bytes);
    bytes("command_bytes", &m.command_bytes);
    bytes("head_bytes", &m.head_bytes);
    bytes("events_ack_bytes", &m.events_ack_bytes);
    if (auto v = lim.Int("queue_messages", Need::kOptional, 16, 100000)) {
      m.queue_messages = v->value;
    }
    if (auto v = lim.Int("queue_bytes", Need::kOptional, kMiB, 1024 * kMiB)) {
      m.queue_bytes = v->value;
    }
    if (auto v = lim.Int("reject_journal_interval_s", Need::kOptional, 1, 86400)) {
      m.reject_journal_interval_s = v->value;
    }
    int32_t largest = std::max(
        {m.snapshot_page_bytes, m.delta_bytes, m.command_bytes, m.head_bytes, m.events_ack_bytes});
    if (m.queue_bytes < largest) {
      l.problems.Add(lim.pos(), "cloud.limits.queue_bytes (" + std::to_string(m.queue_bytes) +
                                    ") must hold at least the largest message allowed (" +
                                    std::to_string(largest) + " bytes)");
    }
  });
  bool tls_scheme = c.broker.rfind("ssl://", 0) == 0 || c.broker.rfind("mqtts://", 0) == 0;
  if (tls_pos && !c.broker.empty() && !tls_scheme) {
    l.problems.Add(*tls_pos, "cloud.tls is set but cloud.broker " + Quote(c.broker) +
                                 " is not a TLS address (use ssl://host:8883)");
  }

  w.List("trusted_keys", Need::kOptional, {"trusted key", "kid", kTrustedKeyKeys},
         [&](MapWalker& item) {
           TrustedKey key;
           if (auto kid = item.Id("kid", Need::kRequired, kKidExpected, IsKid)) {
             key.kid = kid->value;
             CheckUnique(l, l.kids, "trusted key kid", *kid);
           }
           if (auto text = item.String("public_key", Need::kRequired, kPublicKeyExpected)) {
             Result<std::vector<uint8_t>> bytes = Base64Decode(text->value);
             if (!bytes.ok()) {
               l.problems.Add(text->pos, "public_key must be " + std::string(kPublicKeyExpected) +
                                             ": " + bytes.status().message());
             } else if (bytes->size() != key.public_key.size()) {
               l.problems.Add(text->pos,
                              "public_key must be base64 of exactly 32 bytes (an Ed25519 public "
                              "key), got " +
                                  std::to_string(bytes->size()) + " bytes");
             } else {
               std::copy(bytes->begin(), bytes->end(), key.public_key.begin());
             }
           }
           l.config.trusted_keys.push_back(std::move(key));
         });
  if (broker_pos && l.config.trusted_keys.empty()) {
    l.problems.Add(*broker_pos,
                   "cloud.broker is set but cloud.trusted_keys is empty: every cloud message would "
                   "be rejected (add the cloud's signing key: kid and public_key)");
  }
}

constexpr std::string_view kDoorKeys[] = {"id", "name", "common", "unlock_ms", "held_open_s", "io"};
constexpr std::string_view kDoorIoKeys[] = {
    "lock", "contact", "rex", "unlock_on_rex", "relock_on_close", "fire_egress", "held_warning_s"};
constexpr std::string_view kPointRefExpected = "a point reference \"module.point\" (io_modules)";

bool IsPointRef(std::string_view s) {
  // Module ids may hold dots; the point name is after the last one.
  size_t dot = s.rfind('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < s.size() && IsId(s.substr(0, dot)) &&
         IsId(s.substr(dot + 1));
}

// Reads a "module.point" key and queues it for CheckReferences.
std::optional<std::string> PointRefKey(Loader& l, MapWalker& w, std::string_view key, Need need,
                                       const std::string& from, bool output) {
  auto v = w.Id(key, need, kPointRefExpected, IsPointRef);
  if (!v) return std::nullopt;
  l.point_refs.push_back({from, v->value, output, v->pos});
  return v->value;
}
void ParseDoor(Loader& l, MapWalker& w) {
  l.saw_doors = true;
  DoorConfig door;
  if (auto id = w.Id("id", Need::kRequired)) {
    door.id = id->value;
    CheckUnique(l, l.door_ids, "door id", *id);
  }
  if (auto name = w.String("name", Need::kOptional)) {
    door.name = name->value;
  } else {
    door.name = door.id;
  }
  if (auto v = w.Bool("common", Need::kOptional)) door.common = v->value;
  if (auto v = w.Int("unlock_ms", Need::kOptional, 100, 600000)) door.unlock_ms = v->value;
  if (auto v = w.Int("held_open_s", Need::kOptional, 1, 3600)) door.held_open_s = v->value;
  std::string who = w.name();
  w.Mapping("io", Need::kOptional, kDoorIoKeys, [&](MapWalker& io) {
    DoorIoConfig c;
    if (auto v = PointRefKey(l, io, "lock", Need::kRequired, who + " io.lock", true)) c.lock = *v;
    if (auto v = PointRefKey(l, io, "contact", Need::kOptional, who + " io.contact", false)) {
      c.contact = *v;
    }
    if (auto v = PointRefKey(l, io, "rex", Need::kOptional, who + " io.rex", false)) c.rex = *v;
    if (auto v = io.Bool("unlock_on_rex", Need::kOptional)) c.unlock_on_rex = v->value;
    if (auto v = io.Bool("relock_on_close", Need::kOptional)) c.relock_on_close = v->value;
    if (auto v = io.Bool("fire_egress", Need::kOptional)) c.fire_egress = v->value;
    if (auto v = io.Int("held_warning_s", Need::kOptional, 0, 3600)) {
      if (v->value >= door.held_open_s && v->value > 0) {
        l.problems.Add(v->pos, "io.held_warning_s must be less than the door's held_open_s (" +
                                   std::to_string(door.held_open_s) + "), got " +
                                   std::to_string(v->value));
      } else {
        c.held_warning_s = v->value;
      }
    } else if (!io.Has("held_warning_s")) {
      c.held_warning_s = std::min(c.held_warning_s, door.held_open_s / 2);
    }
    door.io = c;
  });
  l.config.doors.push_back(std::move(door));
}

constexpr std::string_view kReaderKeys[] = {"id", "door", "keypad", "type", "wiegand"};
constexpr std::string_view kReaderTypes[] = {"wiegand"};
constexpr std::string_view kWiegandKeys[] = {
    "formats", "gpio",       "serial",      "replay",        "keys",    "pin_burst",
    "key_map", "silence_ms", "early_close", "pin_timeout_s", "feedback"};
constexpr std::string_view kGpioKeys[] = {"chip", "d0", "d1"};
constexpr std::string_view kSerialKeys[] = {"device", "baud", "line_format", "bits"};
constexpr std::string_view kReplayKeys[] = {"socket"};
constexpr std::string_view kFeedbackKeys[] = {"chip", "green", "red", "beeper", "active_low"};
constexpr std::string_view kWiegandKeyModes[] = {"4bit", "8bit", "none"};
constexpr std::string_view kKeyMaps[] = {"default", "star_hash_swapped"};
constexpr std::string_view kLineFormats[] = {"hex", "decimal10"};
constexpr std::string_view kFormatsExpected =
    "a list of card formats from h10301, h10306, h10302, h10304, c1k35, c1k48, raw";
constexpr std::string_view kChipExpected =
    "a GPIO chip name, number, label or path such as gpiochip0";
constexpr int32_t kMaxGpioLine = 1023;
constexpr int32_t kBauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200};

void ParseWiegand(Loader& l, MapWalker& w, const std::string& reader, bool keypad,
                  WiegandConfig& wg) {
  std::optional<Pos> formats_pos;
  if (auto list = w.ScalarList("formats", Need::kOptional, kFormatsExpected)) {
    formats_pos = list->front().pos;
    wg.formats.clear();
    for (const Field<std::string>& f : *list) {
      Result<wiegand::CardFormat> format = wiegand::ParseCardFormat(f.value);
      if (!format.ok()) {
        l.problems.Add(f.pos, "unknown card format " + Quote(f.value) + " in " + reader +
                                  " (expected h10301, h10306, h10302, h10304, c1k35, c1k48 or "
                                  "raw)");
      } else if (std::find(wg.formats.begin(), wg.formats.end(), *format) != wg.formats.end()) {
        l.problems.Add(f.pos, "card format " + Quote(f.value) + " is listed twice");
      } else {
        wg.formats.push_back(*format);
      }
    }
    bool h10302 = std::find(wg.formats.begin(), wg.formats.end(), wiegand::CardFormat::kH10302) !=
                  wg.formats.end();
    bool h10304 = std::find(wg.formats.begin(), wg.formats.end(), wiegand::CardFormat::kH10304) !=
                  wg.formats.end();
    if (h10302 && h10304) {
      l.problems.Add(*formats_pos,
                     "formats lists both h10302 and h10304: both are 37 bits with the same "
                     "parity, so a frame cannot say which it is; keep the one the reader sends");
    }
  }

  int sources = 0;
  std::optional<Pos> serial_pos;
  bool serial_bits = false;
  w.Mapping("gpio", Need::kOptional, kGpioKeys, [&](MapWalker& g) {
    ++sources;
    wg.source = WiegandSource::kGpio;
    if (auto v = g.String("chip", Need::kOptional, kChipExpected)) wg.gpio_chip = v->value;
    auto d0 = g.Int("d0", Need::kRequired, 0, kMaxGpioLine);
    auto d1 = g.Int("d1", Need::kRequired, 0, kMaxGpioLine);
    if (d0) {
      wg.d0 = d0->value;
      Claim(l, "gpio " + wg.gpio_chip + " line " + std::to_string(d0->value), reader, d0->pos);
    }
    if (d1) {
      wg.d1 = d1->value;
      Claim(l, "gpio " + wg.gpio_chip + " line " + std::to_string(d1->value), reader, d1->pos);
    }
  });
  w.Mapping("serial", Need::kOptional, kSerialKeys, [&](MapWalker& ser) {
    ++sources;
    serial_pos = ser.pos();
    wg.source = WiegandSource::kSerial;
    if (auto v = ser.String("device", Need::kRequired, kPathExpected)) {
      wg.serial_device = v->value;
      Claim(l, "serial device " + v->value, reader, v->pos);
    }
    if (auto v = ser.Int("baud", Need::kOptional, 1200, 115200,
                         " (1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200)")) {
      if (std::find(std::begin(kBauds), std::end(kBauds), v->value) == std::end(kBauds)) {
        l.problems.Add(v->pos,
                       "serial.baud must be one of 1200, 2400, 4800, 9600, 19200, 38400, "
                       "57600, 115200, got " +
                           std::to_string(v->value));
      } else {
        wg.baud = v->value;
      }
    }
    if (auto v = ser.OneOf("line_format", Need::kOptional, kLineFormats)) {
      wg.line_format =
          v->value == "decimal10" ? SerialLineFormat::kDecimal10 : SerialLineFormat::kHex;
    }
    if (auto v = ser.Int("bits", Need::kOptional, 1, 64, " (the frame length of a raw reader)")) {
      wg.raw_bits = v->value;
      serial_bits = true;
    }
  });
  w.Mapping("replay", Need::kOptional, kReplayKeys, [&](MapWalker& r) {
    ++sources;
    wg.source = WiegandSource::kReplay;
    if (auto v = r.String("socket", Need::kRequired, kPathExpected)) {
      if (v->value.size() > kMaxSocketPathBytes) {
        l.problems.Add(v->pos, "replay.socket must be a path of at most " +
                                   std::to_string(kMaxSocketPathBytes) + " bytes, got " +
                                   std::to_string(v->value.size()) + " bytes");
      } else {
        wg.replay_socket = v->value;
        Claim(l, "replay socket " + v->value, reader, v->pos);
      }
    }
  });
  if (sources != 1) {
    l.problems.Add(w.pos(), reader +
                                " needs exactly one of gpio, serial or replay under "
                                "wiegand (where its frames come from), got " +
                                std::to_string(sources));
  }
  if (serial_pos && sources == 1) {
    bool raw = wg.formats.size() == 1 && wg.formats[0] == wiegand::CardFormat::kRaw;
    if (wg.formats.size() != 1) {
      l.problems.Add(formats_pos.value_or(*serial_pos),
                     "a serial converter prints the data bits of one card format: formats must "
                     "name exactly one for " +
                         reader);
    } else if (raw && !serial_bits) {
      l.problems.Add(*serial_pos,
                     "serial.bits is required with formats [raw] (the frame length "
                     "the converter's reader sends)");
    } else if (!raw && serial_bits) {
      l.problems.Add(*serial_pos, "serial.bits only applies to formats [raw]; the length of " +
                                      std::string(wiegand::CardFormatName(wg.formats[0])) +
                                      " is fixed");
    }
  }

  std::optional<Pos> keys_pos;
  bool keys_set = false;
  if (auto v = w.OneOf("keys", Need::kOptional, kWiegandKeyModes)) {
    keys_set = true;
    keys_pos = v->pos;
    wg.keys = v->value == "4bit"   ? WiegandKeys::k4Bit
              : v->value == "8bit" ? WiegandKeys::k8Bit
                                   : WiegandKeys::kNone;
  }
  std::optional<Pos> burst_pos;
  if (auto v = w.Bool("pin_burst", Need::kOptional)) {
    wg.pin_burst = v->value;
    if (v->value) burst_pos = v->pos;
  }
  if (keypad && !keys_set && !serial_pos) wg.keys = WiegandKeys::k4Bit;
  if (serial_pos && wg.keys != WiegandKeys::kNone) {
    l.problems.Add(*keys_pos, "keys " + std::string(WiegandKeysName(wg.keys)) +
                                  " cannot come through a serial converter (it prints card "
                                  "frames only); a keypad behind one sends pin_burst");
  }
  if (!keypad && (wg.keys != WiegandKeys::kNone || burst_pos)) {
    l.problems.Add(keys_pos.value_or(burst_pos.value_or(w.pos())),
                   reader +
                       " sends keys or PINs but is not a keypad: set keypad: true (so the "
                       "keypad lockout applies) or remove the setting");
  }
  if (auto v = w.OneOf("key_map", Need::kOptional, kKeyMaps)) {
    wg.star_hash_swapped = v->value == "star_hash_swapped";
  }
  if (auto v = w.Int("silence_ms", Need::kOptional, 5, 500)) wg.silence_ms = v->value;
  if (auto v = w.Bool("early_close", Need::kOptional)) wg.early_close = v->value;
  if (auto v = w.Int("pin_timeout_s", Need::kOptional, 1, 60)) wg.pin_timeout_s = v->value;
  w.Mapping("feedback", Need::kOptional, kFeedbackKeys, [&](MapWalker& f) {
    WiegandFeedbackConfig& fb = wg.feedback;
    if (auto v = f.String("chip", Need::kOptional, kChipExpected)) fb.chip = v->value;
    for (auto [key, out] : {std::pair<std::string_view, int32_t*>{"green", &fb.green},
                            {"red", &fb.red},
                            {"beeper", &fb.beeper}}) {
      if (auto v = f.Int(key, Need::kOptional, 0, kMaxGpioLine)) {
        *out = v->value;
        Claim(l, "gpio " + fb.chip + " line " + std::to_string(v->value), reader, v->pos);
      }
    }
    if (auto v = f.Bool("active_low", Need::kOptional)) fb.active_low = v->value;
    if (!fb.any()) {
      l.problems.Add(f.pos(),
                     "feedback names no output: give at least one of green, red, beeper "
                     "(the GPIO line of the reader's LED or beeper input)");
    }
  });
}

void ParseReader(Loader& l, MapWalker& w) {
  ReaderConfig reader;
  if (auto id = w.Id("id", Need::kRequired)) {
    reader.id = id->value;
    CheckUnique(l, l.reader_ids, "reader id", *id);
  }
  if (auto door = w.Id("door", Need::kRequired)) {
    reader.door = door->value;
    l.door_refs.push_back({w.name(), door->value, door->pos});
  }
  if (auto v = w.Bool("keypad", Need::kOptional)) reader.keypad = v->value;
  std::optional<Pos> type_pos;
  if (auto v = w.OneOf("type", Need::kOptional, kReaderTypes)) {
    reader.type = v->value;
    type_pos = v->pos;
  }
  bool has_wiegand = w.Has("wiegand");
  w.Mapping("wiegand", Need::kOptional, kWiegandKeys, [&](MapWalker& wg) {
    reader.wiegand.emplace();
    ParseWiegand(l, wg, w.name(), reader.keypad, *reader.wiegand);
    if (reader.type != "wiegand" && !w.Has("type")) {
      l.problems.Add(wg.pos(), w.name() + " has a wiegand section but no type: wiegand");
    }
  });
  if (reader.type == "wiegand" && !has_wiegand) {
    l.problems.Add(*type_pos, w.name() +
                                  " is type wiegand but has no wiegand section (formats "
                                  "and one of gpio, serial or replay)");
  }
  l.config.readers.push_back(std::move(reader));
}

constexpr std::string_view kModuleKeys[] = {"id",       "type",       "tcp",     "rtu",
                                            "unit_id",  "timeout_ms", "poll_ms", "debounce_ms",
                                            "watchdog", "points"};
constexpr std::string_view kModuleTypes[] = {"modbus"};
constexpr std::string_view kTcpKeys[] = {"host", "port"};
constexpr std::string_view kRtuKeys[] = {"device", "baud", "parity"};
constexpr std::string_view kParities[] = {"none", "even", "odd"};
constexpr std::string_view kWatchdogKeys[] = {"register", "value", "coil", "every_ms"};
constexpr std::string_view kPointKeys[] = {"name",           "coil", "input",   "holding",
                                           "input_register", "bit",  "inverted"};

void ParseModule(Loader& l, MapWalker& w) {
  IoModuleConfig m;
  if (auto id = w.Id("id", Need::kRequired)) {
    m.id = id->value;
    CheckUnique(l, l.module_ids, "io module id", *id);
  }
  if (auto v = w.OneOf("type", Need::kRequired, kModuleTypes)) m.type = v->value;
  const std::string who = w.name();
  int transports = 0;
  w.Mapping("tcp", Need::kOptional, kTcpKeys, [&](MapWalker& t) {
    ++transports;
    if (auto v = t.String("host", Need::kRequired, "a host name or IP address")) m.host = v->value;
    if (auto v = t.Int("port", Need::kOptional, 1, 65535)) m.port = v->value;
  });
  w.Mapping("rtu", Need::kOptional, kRtuKeys, [&](MapWalker& r) {
    ++transports;
    m.rtu = true;
    if (auto v = r.String("device", Need::kRequired, kPathExpected)) m.device = v->value;
    if (auto v = r.Int("baud", Need::kOptional, 1200, 115200,
                       " (1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200)")) {
      if (std::find(std::begin(kBauds), std::end(kBauds), v->value) == std::end(kBauds)) {
        l.problems.Add(v->pos,
                       "rtu.baud must be one of 1200, 2400, 4800, 9600, 19200, 38400, "
                       "57600, 115200, got " +
                           std::to_string(v->value));
      } else {
        m.baud = v->value;
      }
    }
    if (auto v = r.OneOf("parity", Need::kOptional, kParities)) {
      m.parity = v->value == "even" ? 'E' : v->value == "odd" ? 'O' : 'N';
    }
  });
  if (transports != 1) {
    l.problems.Add(w.pos(),
                   who + " needs exactly one of tcp or rtu, got " + std::to_string(transports));
  }
  if (auto v = w.Int("unit_id", Need::kOptional, 0, 255)) {
    if (m.rtu && (v->value < 1 || v->value > 247)) {
      l.problems.Add(v->pos,
                     "unit_id must be between 1 and 247 on RTU, got " + std::to_string(v->value));
    } else {
      m.unit_id = v->value;
    }
  }
  // One module per address and unit id (several may share an RTU bus or a TCP gateway).
  if (transports == 1 && (m.rtu ? !m.device.empty() : !m.host.empty())) {
    Claim(
        l,
        (m.rtu ? "rtu device " + m.device : "modbus tcp " + m.host + ":" + std::to_string(m.port)) +
            " unit " + std::to_string(m.unit_id),
        who, w.pos());
  }
  if (auto v = w.Int("timeout_ms", Need::kOptional, 10, 5000)) m.timeout_ms = v->value;
  if (auto v = w.Int("poll_ms", Need::kOptional, 10, 10000)) m.poll_ms = v->value;
  if (auto v = w.Int("debounce_ms", Need::kOptional, 0, 5000)) m.debounce_ms = v->value;
  std::optional<Pos> watchdog_coil_pos;
  w.Mapping("watchdog", Need::kOptional, kWatchdogKeys, [&](MapWalker& wd) {
    // Either a holding register written with `value` (the module's own host watchdog), or a coil
    // toggled as a heartbeat (coil-only modules have no watchdog register: they refuse one).
    if (auto v = wd.Int("coil", Need::kOptional, 0, 65535)) {
      m.watchdog_coil = v->value;
      watchdog_coil_pos = v->pos;
      if (auto r = wd.Int("register", Need::kOptional, 0, 65535)) {
        l.problems.Add(r->pos,
                       "watchdog needs one of register (a holding register with `value`, the "
                       "module's host watchdog) or coil (a heartbeat coil, toggled), not both");
      }
      if (auto r = wd.Int("value", Need::kOptional, 0, 65535)) {
        l.problems.Add(r->pos, "watchdog.value goes with register; a coil watchdog is toggled");
      }
    } else {
      if (auto v = wd.Int("register", Need::kRequired, 0, 65535,
                          " (or coil: N for a module without a watchdog register)")) {
        m.watchdog_address = v->value;
      }
      if (auto v = wd.Int("value", Need::kRequired, 0, 65535)) m.watchdog_value = v->value;
    }
    if (auto v = wd.Int("every_ms", Need::kOptional, 50, 60000)) m.watchdog_every_ms = v->value;
  });
  std::map<std::string, Pos, std::less<>> names;
  w.List("points", Need::kRequired, {"point", "name", kPointKeys, true}, [&](MapWalker& p) {
    IoPointConfig point;
    if (auto v = p.Id("name", Need::kRequired)) {
      point.name = v->value;
      CheckUnique(l, names, "point name", *v);
    }
    int tables = 0;
    constexpr std::pair<std::string_view, IoTable> kTables[] = {
        {"coil", IoTable::kCoil},
        {"input", IoTable::kDiscreteInput},
        {"holding", IoTable::kHoldingRegister},
        {"input_register", IoTable::kInputRegister}};
    for (auto [key, table] : kTables) {
      if (auto v = p.Int(key, Need::kOptional, 0, 65535)) {
        ++tables;
        point.table = table;
        point.address = v->value;
      }
    }
    if (tables != 1) {
      l.problems.Add(p.pos(), p.name() +
                                  " needs exactly one address: coil, input (a discrete "
                                  "input), holding or input_register");
    }
    bool reg = point.table == IoTable::kHoldingRegister || point.table == IoTable::kInputRegister;
    if (auto v = p.Int("bit", Need::kOptional, 0, 15)) {
      if (!reg) {
        l.problems.Add(v->pos, "bit only applies to holding and input_register points");
      } else {
        point.bit = v->value;
      }
    } else if (reg && tables == 1) {
      l.problems.Add(p.pos(), p.name() + " is a register: give the bit (0..15) it maps to");
    }
    if (auto v = p.Bool("inverted", Need::kOptional)) point.inverted = v->value;
    m.points.push_back(std::move(point));
  });
  if (watchdog_coil_pos) {
    for (const IoPointConfig& p : m.points) {
      if (p.table == IoTable::kCoil && p.address == m.watchdog_coil) {
        l.problems.Add(*watchdog_coil_pos, "watchdog.coil " + std::to_string(m.watchdog_coil) +
                                               " is also point " + p.name +
                                               ": the heartbeat needs a coil of its own");
      }
    }
  }
  l.config.io_modules.push_back(std::move(m));
}

constexpr std::string_view kSiteIoKeys[] = {"fire_release", "tamper"};
void ParseSiteIo(Loader& l, MapWalker& w) {
  if (auto v = PointRefKey(l, w, "fire_release", Need::kOptional, "io.fire_release", false)) {
    l.config.io.fire_release = *v;
  }
  if (auto v = PointRefKey(l, w, "tamper", Need::kOptional, "io.tamper", false)) {
    l.config.io.tamper = *v;
  }
}

constexpr std::string_view kAutomationKeys[] = {"id", "on", "doors", "when", "actions"};
constexpr std::string_view kWhenKeys[] = {"door_mode", "schedule", "outside_schedule"};
constexpr std::string_view kActionKeys[] = {"output", "state",     "pulse_ms",
                                            "alarm",  "door_mode", "door"};
constexpr std::string_view kDoorModes[] = {"normal", "locked_down", "unlocked"};
constexpr std::string_view kOnOff[] = {"on", "off"};
// The events an automation can react to.
constexpr std::string_view kAutomationEvents[] = {
    "door.forced",  "door.held_open", "door.held_open_warning", "door.opened", "door.closed",
    "door.rex",     "device.offline", "device.online",          "tamper",      "fire.release",
    "fire.cleared", "device.fault",   "device.fault_cleared"};

rules::DoorModeKind ModeOf(std::string_view s) {
  return s == "locked_down" ? rules::DoorModeKind::kLockedDown
         : s == "unlocked"  ? rules::DoorModeKind::kUnlocked
                            : rules::DoorModeKind::kNormal;
}

void ParseAutomation(Loader& l, MapWalker& w) {
  rules::Automation a;
  if (auto id = w.Id("id", Need::kRequired)) {
    a.id = id->value;
    CheckUnique(l, l.automation_ids, "automation id", *id);
  }
  const std::string who = w.name();
  if (auto v = w.OneOf("on", Need::kRequired, kAutomationEvents)) a.on = v->value;
  if (auto list = w.ScalarList("doors", Need::kOptional, "a list of door ids")) {
    for (const Field<std::string>& d : *list) {
      a.doors.push_back(d.value);
      l.automation_door_refs.push_back({who, d.value, d.pos});
    }
  }
  w.Mapping("when", Need::kOptional, kWhenKeys, [&](MapWalker& c) {
    if (auto v = c.OneOf("door_mode", Need::kOptional, kDoorModes)) a.door_mode = ModeOf(v->value);
    if (auto v = c.Id("schedule", Need::kOptional)) a.schedule = v->value;
    if (auto v = c.Bool("outside_schedule", Need::kOptional)) {
      a.outside_schedule = v->value;
      if (a.schedule.empty()) {
        l.problems.Add(v->pos, "when.outside_schedule needs when.schedule");
      }
    }
  });
  w.List("actions", Need::kRequired, {"action", "", kActionKeys, true}, [&](MapWalker& act) {
    rules::AutomationAction x;
    int kinds = 0;
    if (auto v = PointRefKey(l, act, "output", Need::kOptional, who + " output", true)) {
      ++kinds;
      x.target = *v;
      auto state = act.OneOf("state", Need::kOptional, kOnOff);
      auto pulse = act.Int("pulse_ms", Need::kOptional, 10, 3'600'000);
      if (state.has_value() == pulse.has_value()) {
        l.problems.Add(act.pos(), who +
                                      ": an output action needs exactly one of state (on, off) "
                                      "or pulse_ms");
      } else if (pulse) {
        x.kind = rules::AutomationAction::Kind::kOutputPulse;
        x.duration_ms = pulse->value;
      } else {
        x.kind = state->value == "on" ? rules::AutomationAction::Kind::kOutputOn
                                      : rules::AutomationAction::Kind::kOutputOff;
      }
    } else if (act.Has("state") || act.Has("pulse_ms")) {
      l.problems.Add(act.pos(), who + ": state and pulse_ms belong to an output action");
    }
    if (auto v = act.Id("alarm", Need::kOptional)) {
      ++kinds;
      x.kind = rules::AutomationAction::Kind::kAlarm;
      x.target = v->value;
    }
    if (auto v = act.OneOf("door_mode", Need::kOptional, kDoorModes)) {
      ++kinds;
      x.kind = rules::AutomationAction::Kind::kSetDoorMode;
      x.mode = ModeOf(v->value);
      if (auto d = act.Id("door", Need::kOptional)) {
        x.target = d->value;
        l.automation_door_refs.push_back({who, d->value, d->pos});
      }
    } else if (act.Has("door")) {
      l.problems.Add(act.pos(), who + ": door belongs to a door_mode action");
    }
    if (kinds != 1) {
      l.problems.Add(act.pos(), who +
                                    ": each action is exactly one of output, alarm or "
                                    "door_mode");
    }
    a.actions.push_back(std::move(x));
  });
  l.config.automations.push_back(std::move(a));
}

// The top level, one row per section. A new section (brokers, drivers) is one more row and its
// parse function; the walker takes care of unknown, duplicate, missing and mistyped keys.
enum class Shape { kMapping, kList };
struct SectionSpec {
  std::string_view key;
  Need need;
  Shape shape;
  std::span<const std::string_view> keys;  // of the mapping, or of each list item
  void (*parse)(Loader&, MapWalker&);      // once per mapping, or once per list item
  std::string_view noun = "";              // lists: see ListSpec
  std::string_view name_key = "";
  bool non_empty = false;
};

const SectionSpec kSections[] = {
    {"site", Need::kRequired, Shape::kMapping, kSiteKeys, ParseSite},
    {"gateway", Need::kRequired, Shape::kMapping, kGatewayKeys, ParseGateway},
    {"store", Need::kRequired, Shape::kMapping, kStoreKeys, ParseStore},
    {"control", Need::kOptional, Shape::kMapping, kControlKeys, ParseControl},
    {"logging", Need::kOptional, Shape::kMapping, kLoggingKeys, ParseLogging},
    {"policy", Need::kOptional, Shape::kMapping, kPolicyKeys, ParsePolicy},
    {"cloud", Need::kOptional, Shape::kMapping, kCloudKeys, ParseCloud},
    {"doors", Need::kRequired, Shape::kList, kDoorKeys, ParseDoor, "door", "id", true},
    {"readers", Need::kOptional, Shape::kList, kReaderKeys, ParseReader, "reader", "id"},
    {"io_modules", Need::kOptional, Shape::kList, kModuleKeys, ParseModule, "io module", "id"},
    {"io", Need::kOptional, Shape::kMapping, kSiteIoKeys, ParseSiteIo},
    {"automations", Need::kOptional, Shape::kList, kAutomationKeys, ParseAutomation, "automation",
     "id"},
};

std::vector<std::string_view> SectionKeys() {
  std::vector<std::string_view> keys;
  for (const SectionSpec& s : kSections) keys.push_back(s.key);
  return keys;
}

// Checks that need more than one section.
void CheckReferences(Loader& l) {
  for (const Loader::PointRef& ref : l.point_refs) {
    const IoModuleConfig* module = nullptr;
    const IoPointConfig* point = FindPoint(l.config, ref.ref, &module);
    if (point == nullptr) {
      l.problems.Add(
          ref.pos,
          ref.from + " refers to " + Quote(ref.ref) + ", which is not " +
              (module == nullptr ? "an io module" : "a point of io module " + Quote(module->id)) +
              " (expected \"module.point\")");
    } else if (ref.output && !point->writable()) {
      l.problems.Add(ref.pos, ref.from + " must be an output (a coil or a holding register bit), " +
                                  Quote(ref.ref) + " is an input");
    }
  }
  if (!l.saw_doors) return;  // the doors section itself is reported
  for (const Loader::DoorRef& ref : l.automation_door_refs) l.door_refs.push_back(ref);
  for (const Loader::DoorRef& ref : l.door_refs) {
    if (l.door_ids.find(ref.door) == l.door_ids.end()) {
      l.problems.Add(ref.pos, ref.from + " refers to door " + Quote(ref.door) +
                                  " which is not defined in doors");
    }
  }
}

// ---- parsing -----------------------------------------------------------------------------------

// The first character YAML forbids (C0 controls other than tab, line feed and carriage return, and
// DEL). yaml-cpp misreads some of them (YAML::LoadAll loops forever on a NUL in a comment), so
// such text never reaches it.
struct BadByte {
  size_t offset;
  Pos pos;
};
std::optional<BadByte> FirstControlCharacter(std::string_view text) {
  Pos pos;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++pos.line;
      pos.column = 1;
      continue;
    }
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) return BadByte{i, pos};
    ++pos.column;
  }
  return std::nullopt;
}

// Records where documents start; builds nothing.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> starts;
};

struct Documents {
  YAML::Node first;                  // Null when the text holds no document
  std::optional<YAML::Mark> second;  // where a second document starts, if there is one
};

// Throws YAML::ParserException on a syntax error (in either of the first two documents).
Documents Parse(std::string_view text) {
  Documents d;
  d.first = YAML::Load(std::string(text));
  // Look for a second document without YAML::LoadAll, which builds every one of them (and, on
  // some malformed input, an endless stream of empty ones).
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  DocumentCounter counter;
  if (parser.HandleNextDocument(counter) && parser.HandleNextDocument(counter) &&
      counter.starts.size() > 1) {
    d.second = counter.starts[1];
  }
  return d;
}

void Walk(Loader& l, const Documents& documents) {
  const std::vector<std::string_view> section_keys = SectionKeys();
  if (documents.second) {
    l.problems.Add(ToPos(*documents.second),
                   "a second YAML document is not allowed; keep the whole configuration in one");
  }
  if (documents.first.IsNull()) {
    l.problems.Add({}, "the file is empty; expected a mapping with the sections " +
                           Join(section_keys) + " (see config/README.md)");
    return;
  }
  const YAML::Node& root = documents.first;
  if (!root.IsMap()) {
    l.problems.Add(ToPos(root.Mark()), "the top level must be a mapping with the sections " +
                                           Join(section_keys) + ", got " + Describe(root));
    return;
  }
  MapWalker top(l.problems, root, "at the top level", "", section_keys);
  for (const SectionSpec& s : kSections) {
    auto parse = [&l, &s](MapWalker& w) { s.parse(l, w); };
    if (s.shape == Shape::kMapping) {
      top.Mapping(s.key, s.need, s.keys, parse);
    } else {
      top.List(s.key, s.need, {s.noun, s.name_key, s.keys, s.non_empty}, parse);
    }
  }
  CheckReferences(l);
}

std::string Plural(int64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace

std::string ConfigProblem::ToString() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

Result<Config> LoadConfigText(std::string_view text, std::string name_for_errors,
                              std::vector<ConfigProblem>* problems) {
  if (problems != nullptr) problems->clear();
  Loader l(name_for_errors, text);
  l.config.source_path = std::move(name_for_errors);

  std::optional<Documents> documents;
  if (std::optional<BadByte> bad = FirstControlCharacter(text)) {
    auto byte = static_cast<unsigned char>(text[bad->offset]);
    static constexpr char kHex[] = "0123456789abcdef";
    l.problems.Add(bad->pos, std::string("control character 0x") + kHex[byte >> 4] +
                                 kHex[byte & 15] +
                                 " is not allowed in YAML (is this a text file?)");
  } else {
    try {
      documents = Parse(text);
    } catch (const YAML::DeepRecursion& e) {
      l.problems.Add(ToPos(e.mark), "YAML syntax error: lists and mappings nested too deeply");
    } catch (const YAML::ParserException& e) {
      l.problems.Add(ToPos(e.mark), "YAML syntax error: " + e.msg);
    } catch (const std::exception& e) {
      l.problems.Add({}, std::string("cannot parse the file as YAML: ") + e.what());
    }
  }
  if (documents) {
    try {
      Walk(l, *documents);
    } catch (const std::exception& e) {
      // The walker only calls yaml-cpp functions that do not throw on the nodes it checked; this
      // is a safety net, so the caller still gets a Status rather than an exception.
      l.problems.Add({}, std::string("internal error while checking the file: ") + e.what());
    }
  }

  if (l.problems.empty()) return std::move(l.config);
  std::vector<ConfigProblem> found = l.problems.Take();
  std::string message;
  for (const ConfigProblem& p : found) {
    if (!message.empty()) message += '\n';
    message += p.ToString();
  }
  if (problems != nullptr) *problems = std::move(found);
  return Status::InvalidArgument(std::move(message));
}

Result<Config> LoadConfigFile(const std::string& path, std::vector<ConfigProblem>* problems) {
  if (problems != nullptr) problems->clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  char buffer[16384];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      ConfigProblem p{path, 1, 1,
                      "the file is larger than " + std::to_string(kMaxConfigBytes) +
                          " bytes; a Lintel configuration is a few kilobytes"};
      std::string message = p.ToString();
      if (problems != nullptr) problems->push_back(std::move(p));
      return Status::InvalidArgument(std::move(message));
    }
  }
  if (in.bad()) return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
  return LoadConfigText(text, path, problems);
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "info";
}

std::string_view WiegandSourceName(WiegandSource source) {
  switch (source) {
    case WiegandSource::kGpio:
      return "gpio";
    case WiegandSource::kSerial:
      return "serial";
    case WiegandSource::kReplay:
      return "replay";
  }
  return "replay";
}

std::string_view WiegandKeysName(WiegandKeys keys) {
  switch (keys) {
    case WiegandKeys::kNone:
      return "none";
    case WiegandKeys::k4Bit:
      return "4bit";
    case WiegandKeys::k8Bit:
      return "8bit";
  }
  return "none";
}

std::string_view SerialLineFormatName(SerialLineFormat f) {
  return f == SerialLineFormat::kDecimal10 ? "decimal10" : "hex";
}

std::string Summarize(const Config& c) {
  std::ostringstream out;
  out << "site " << c.site_id << " (time zone " << c.time_zone << "), gateway " << c.gateway_id
      << "\n";
  out << "store " << c.store_path << ", control socket " << c.control_socket << ", log level "
      << LogLevelName(c.log_level) << "\n";
  out << Plural(static_cast<int64_t>(c.doors.size()), "door", "doors") << ":";
  for (size_t i = 0; i < c.doors.size(); ++i) {
    out << (i == 0 ? " " : ", ") << c.doors[i].id << (c.doors[i].common ? " (common)" : "");
  }
  out << "\n"
      << Plural(static_cast<int64_t>(c.readers.size()), "reader", "readers")
      << (c.readers.empty() ? "" : ":");
  for (size_t i = 0; i < c.readers.size(); ++i) {
    const ReaderConfig& r = c.readers[i];
    out << (i == 0 ? " " : ", ") << r.id << " -> " << r.door;
    std::vector<std::string> notes;
    if (r.keypad) notes.push_back("keypad");
    if (r.wiegand) {
      const WiegandConfig& w = *r.wiegand;
      std::string formats;
      for (wiegand::CardFormat f : w.formats) {
        formats += (formats.empty() ? "" : "/") + std::string(wiegand::CardFormatName(f));
      }
      std::string from =
          w.source == WiegandSource::kGpio
              ? "gpio " + w.gpio_chip + " " + std::to_string(w.d0) + "/" + std::to_string(w.d1)
          : w.source == WiegandSource::kSerial ? "serial " + w.serial_device
                                               : "replay " + w.replay_socket;
      notes.push_back("wiegand " + from + ", " + formats);
      if (w.keys != WiegandKeys::kNone) {
        notes.push_back(std::string("keys ") + std::string(WiegandKeysName(w.keys)));
      }
      if (w.pin_burst) notes.push_back("PIN burst");
      if (w.feedback.any()) notes.push_back("feedback");
    }
    for (size_t n = 0; n < notes.size(); ++n) {
      out << (n == 0 ? " (" : ", ") << notes[n] << (n + 1 == notes.size() ? ")" : "");
    }
  }
  if (!c.io_modules.empty()) {
    out << "\n"
        << Plural(static_cast<int64_t>(c.io_modules.size()), "io module", "io modules") << ":";
    for (size_t i = 0; i < c.io_modules.size(); ++i) {
      const IoModuleConfig& m = c.io_modules[i];
      out << (i == 0 ? " " : ", ") << m.id << " (" << m.type << " "
          << (m.rtu ? "rtu " + m.device + " " + std::to_string(m.baud) + " " + m.parity
                    : "tcp " + m.host + ":" + std::to_string(m.port))
          << " unit " << m.unit_id << ", "
          << Plural(static_cast<int64_t>(m.points.size()), "point", "points")
          << (m.watchdog_address >= 0 || m.watchdog_coil >= 0 ? ", watchdog" : "") << ")";
    }
    std::vector<std::string> wired;
    for (const DoorConfig& d : c.doors) {
      if (d.io)
        wired.push_back(d.id + " (lock " + d.io->lock + (d.io->contact.empty() ? "" : ", contact") +
                        (d.io->rex.empty() ? "" : ", rex") +
                        (d.io->fire_egress ? ", fire egress" : "") + ")");
    }
    out << "\ndoor I/O:";
    for (size_t i = 0; i < wired.size(); ++i) out << (i == 0 ? " " : ", ") << wired[i];
    if (!c.io.fire_release.empty()) out << "; fire release " << c.io.fire_release;
    if (!c.io.tamper.empty()) out << "; tamper " << c.io.tamper;
  }
  if (!c.automations.empty()) {
    out << "\n"
        << Plural(static_cast<int64_t>(c.automations.size()), "automation", "automations") << ":";
    for (size_t i = 0; i < c.automations.size(); ++i) {
      out << (i == 0 ? " " : ", ") << c.automations[i].id << " (on " << c.automations[i].on << ")";
    }
  }
  out << "\n"
      << Plural(static_cast<int64_t>(c.trusted_keys.size()), "trusted cloud key",
                "trusted cloud keys")
      << (c.trusted_keys.empty() ? "" : ":");
  for (size_t i = 0; i < c.trusted_keys.size(); ++i) {
    out << (i == 0 ? " " : ", ") << c.trusted_keys[i].kid;  // the kid only, never key bytes
  }
  const CloudConfig& cc = c.cloud;
  if (cc.broker.empty()) {
    out << "\ncloud: no broker (runs on the stored state)";
  } else {
    out << "\ncloud: " << cc.broker << " (MQTT " << (cc.mqtt_version == 5 ? "5" : "3.1.1")
        << (cc.cert_file.empty() ? "" : ", client certificate") << "); offline: "
        << (cc.offline == OfflinePolicy::kStaffOnly
                ? "staff only " + std::to_string(cc.staff_only_after_h) +
                      " h after the head expires"
                : std::string("keep enforcing"));
  }
  const rules::Policy& p = c.policy;
  out << "\npolicy: rent grace " << Plural(p.rent_grace_days, "day", "days") << "; PINs "
      << p.pin_min_length << "-" << p.pin_max_length << " digits, leading 9 "
      << (p.pin_allow_leading_9 ? "allowed" : "reserved") << "; keypad lockout ";
  if (p.lockout_failures == 0) {
    out << "off";
  } else {
    out << "after " << Plural(p.lockout_failures, "failure", "failures") << " within "
        << p.lockout_window_s << " s, for " << p.lockout_s << " s";
  }
  out << "\n";
  return out.str();
}

rules::Site MakeSite(const Config& c) {
  rules::Site site;
  site.id = c.site_id;
  for (const DoorConfig& d : c.doors) site.doors.push_back({d.id, d.common});
  site.policy = c.policy;
  site.zone = c.zone;
  return site;
}

const IoPointConfig* FindPoint(const Config& c, std::string_view ref,
                               const IoModuleConfig** module) {
  if (module != nullptr) *module = nullptr;
  size_t dot = ref.rfind('.');
  if (dot == std::string_view::npos) return nullptr;
  for (const IoModuleConfig& m : c.io_modules) {
    if (m.id != ref.substr(0, dot)) continue;
    if (module != nullptr) *module = &m;
    for (const IoPointConfig& p : m.points) {
      if (p.name == ref.substr(dot + 1)) return &p;
    }
  }
  return nullptr;
}

const DoorConfig* FindDoor(const Config& c, std::string_view id) {
  for (const DoorConfig& d : c.doors) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

}  // namespace lintel::config
