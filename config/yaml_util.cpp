#include "config/yaml_util.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <map>

namespace lintel::config::internal {

namespace {

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

}  // namespace

// ---- positions and problems --------------------------------------------------------------------

Pos ToPos(const YAML::Mark& m) {
  if (m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

std::string PosText(Pos p) { return std::to_string(p.line) + ":" + std::to_string(p.column); }

Pos Problems::EmptyItemPos(const YAML::Mark& m) const {
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

std::vector<ConfigProblem> Problems::Take() {
  std::stable_sort(items_.begin(), items_.end(),
                   [](const ConfigProblem& a, const ConfigProblem& b) {
                     return a.line != b.line ? a.line < b.line : a.column < b.column;
                   });
  return std::move(items_);
}

// ---- how values are shown in messages ----------------------------------------------------------

std::string Shorten(std::string_view text) {
  if (text.size() <= kMaxShown) return std::string(text);
  return std::string(text.substr(0, kMaxShown)) + "...";
}

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

// ---- value rules -------------------------------------------------------------------------------

bool IsId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// ---- the schema walker -------------------------------------------------------------------------

MapWalker::MapWalker(Problems& problems, const YAML::Node& map, std::string in_context,
                     std::string prefix, std::span<const std::string_view> keys, std::string name)
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
      problems_.Add(key_pos,
                    "keys must be plain words, got " + Describe(key) + " as a key " + in_context_);
      continue;
    }
    const std::string& text = key.Scalar();
    if (auto [first, inserted] = seen.emplace(text, key_pos); !inserted) {
      problems_.Add(key_pos,
                    "duplicate key " + Quote(text) + " (first at " + PosText(first->second) + ")");
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

bool MapWalker::Has(std::string_view key) const {
  const Entry* e = Find(key);
  return e != nullptr && !e->value.IsNull();
}

std::optional<Field<std::string>> MapWalker::String(std::string_view key, Need need,
                                                    std::string_view expected) {
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

std::optional<Field<std::string>> MapWalker::Id(std::string_view key, Need need,
                                                std::string_view expected,
                                                bool (*valid)(std::string_view)) {
  const Entry* e = Present(key, need, expected);
  if (e == nullptr) return std::nullopt;
  if (!e->value.IsScalar() || !valid(e->value.Scalar())) return Wrong(*e, expected);
  return Field<std::string>{e->value.Scalar(), ValuePos(*e)};
}

std::optional<Field<int32_t>> MapWalker::Int(std::string_view key, Need need, int32_t lo,
                                             int32_t hi, std::string_view note) {
  std::string expected =
      "an integer between " + std::to_string(lo) + " and " + std::to_string(hi) + std::string(note);
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

std::optional<Field<bool>> MapWalker::Bool(std::string_view key, Need need) {
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

std::optional<Field<std::string>> MapWalker::OneOf(std::string_view key, Need need,
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

std::optional<std::vector<Field<std::string>>> MapWalker::ScalarList(std::string_view key,
                                                                     Need need,
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
                    "each item of " + Label(key) + " must be " + std::string(expected) + ", got " +
                        Describe(item));
      ok = false;
      continue;
    }
    out.push_back({item.Scalar(), ToPos(item.Mark())});
  }
  if (!ok) return std::nullopt;
  return out;
}

void MapWalker::Mapping(std::string_view key, Need need, std::span<const std::string_view> keys,
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

void MapWalker::List(std::string_view key, Need need, const ListSpec& spec, const ParseFn& parse) {
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

std::optional<std::string> MapWalker::FirstScalar(const YAML::Node& map, std::string_view key) {
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

const MapWalker::Entry* MapWalker::Find(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

const MapWalker::Entry* MapWalker::Present(std::string_view key, Need need,
                                           std::string_view expected) {
  assert(std::find(keys_.begin(), keys_.end(), key) != keys_.end() && "key not in the schema");
  const Entry* e = Find(key);
  if (e == nullptr) {
    if (need == Need::kRequired) {
      problems_.Add(pos_, "missing required key " + Quote(key) + " " + in_context_ + "; expected " +
                              std::string(expected));
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

std::nullopt_t MapWalker::Wrong(const Entry& e, std::string_view expected, bool quoted_hint) {
  std::string message =
      Label(e.key) + " must be " + std::string(expected) + ", got " + Describe(e.value);
  if (quoted_hint && e.value.IsScalar() && e.value.Tag() == "!") {
    message += " (a quoted string; write the value without quotes)";
  }
  problems_.Add(ValuePos(e), std::move(message));
  return std::nullopt;
}

}  // namespace lintel::config::internal
