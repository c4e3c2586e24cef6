// Internal to lintel_config: the YAML helpers every section parser shares. Positions (yaml-cpp's
// 0-based marks as 1-based line:column), the problem list, how values are quoted in messages, the
// value rules (ids, paths), and MapWalker, the schema walker that reports unknown, duplicate,
// missing and mistyped keys and reads one typed key per getter.
//
// Only config/*.cpp include this header: it exposes yaml-cpp types, which never leave the library
// (config.h is the public contract). Nothing here throws on the nodes it has checked.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace lintel::config::internal {

// ---- positions and problems --------------------------------------------------------------------

struct Pos {
  int line = 1;
  int column = 1;
};

// yaml-cpp marks are 0-based; people count from 1. A null mark (a node yaml-cpp made up) maps to
// the start of the file.
Pos ToPos(const YAML::Mark& m);

std::string PosText(Pos p);

class Problems {
 public:
  Problems(std::string file, std::string_view text) : file_(std::move(file)), text_(text) {}

  void Add(Pos p, std::string message) {
    items_.push_back({file_, p.line, p.column, std::move(message)});
  }
  bool empty() const { return items_.empty(); }

  // Where an empty list item ("-" and nothing after it) is. yaml-cpp marks such a null at the next
  // token, so look back over blanks for the "-"; when that fails, keep yaml-cpp's mark.
  Pos EmptyItemPos(const YAML::Mark& m) const;

  // Sorted by position; problems at one position keep the order they were found in.
  std::vector<ConfigProblem> Take();

 private:
  std::string file_;
  std::string_view text_;  // the whole file, for EmptyItemPos
  std::vector<ConfigProblem> items_;
};

// ---- how values are shown in messages ----------------------------------------------------------

inline constexpr size_t kMaxShown = 60;  // characters of a value quoted in a message

std::string Shorten(std::string_view text);

// `text` in double quotes, control characters escaped, long values shortened.
std::string Quote(std::string_view text);

bool IsPlain(const YAML::Node& n);

bool IsDecimalText(std::string_view s);

// What a value is, for "..., got X".
std::string Describe(const YAML::Node& n);

std::string Join(std::span<const std::string_view> words);

// ---- value rules -------------------------------------------------------------------------------

inline constexpr std::string_view kIdExpected =
    "an id of 1 to 64 characters from A-Z, a-z, 0-9, \".\", \"_\" and \"-\"";
inline constexpr std::string_view kPathExpected = "a non-empty file path";
inline constexpr std::string_view kStringExpected = "a non-empty string without control characters";
inline constexpr size_t kMaxSocketPathBytes = 107;  // sizeof(sockaddr_un::sun_path) - 1 on Linux

bool IsId(std::string_view s);

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
            std::span<const std::string_view> keys, std::string name = "");

  Pos pos() const { return pos_; }
  // Whether `key` is present with a value (not empty).
  bool Has(std::string_view key) const;
  // The item's name in messages (door "front"); empty for sections.
  const std::string& name() const { return name_; }

  std::optional<Field<std::string>> String(std::string_view key, Need need,
                                           std::string_view expected = kStringExpected);

  std::optional<Field<std::string>> Id(std::string_view key, Need need,
                                       std::string_view expected = kIdExpected,
                                       bool (*valid)(std::string_view) = IsId);

  // A plain decimal integer in [lo, hi]; `note` follows the range in messages.
  std::optional<Field<int32_t>> Int(std::string_view key, Need need, int32_t lo, int32_t hi,
                                    std::string_view note = "");

  std::optional<Field<bool>> Bool(std::string_view key, Need need);

  std::optional<Field<std::string>> OneOf(std::string_view key, Need need,
                                          std::span<const std::string_view> choices);

  // A non-empty list of scalars (`[h10301, c1k35]`), each with its position. Items are checked by
  // the caller; a non-scalar item is reported here.
  std::optional<std::vector<Field<std::string>>> ScalarList(std::string_view key, Need need,
                                                            std::string_view expected);

  // Walks the mapping under `key` with `keys` as its expected keys.
  void Mapping(std::string_view key, Need need, std::span<const std::string_view> keys,
               const ParseFn& parse);

  // Walks each mapping in the list under `key`.
  void List(std::string_view key, Need need, const ListSpec& spec, const ParseFn& parse);

 private:
  struct Entry {
    std::string key;
    Pos key_pos;
    YAML::Node value;
  };

  static std::optional<std::string> FirstScalar(const YAML::Node& map, std::string_view key);

  const Entry* Find(std::string_view key) const;

  std::string Label(std::string_view key) const { return prefix_ + std::string(key); }

  // A null value's mark points at the next token; its key is the better place to point at.
  static Pos ValuePos(const Entry& e) {
    return e.value.IsNull() ? e.key_pos : ToPos(e.value.Mark());
  }

  // The entry for `key` when it has a value. Reports a required key that is absent (at the
  // mapping) or empty (at the key).
  const Entry* Present(std::string_view key, Need need, std::string_view expected);

  // `quoted_hint`: the value would have been right without quotes (integers, booleans).
  std::nullopt_t Wrong(const Entry& e, std::string_view expected, bool quoted_hint = false);

  Problems& problems_;
  Pos pos_;
  std::string in_context_;
  std::string prefix_;
  std::string name_;
  std::vector<std::string_view> keys_;
  std::vector<Entry> entries_;
};

}  // namespace lintel::config::internal
