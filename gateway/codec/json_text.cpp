#include "gateway/codec/json_text.h"

#include <algorithm>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lintel::codec {
namespace {

using json = nlohmann::json;

// Builds the json value from nlohmann's SAX events, stopping at the first duplicate field.
//
// Not nlohmann's callback parser: its end_object/end_array scan the whole parent container for
// discarded values, which makes an array of n objects cost O(n^2) (minutes for a snapshot page).
// The SAX path is linear, and std::map's emplace tells a duplicate for free.
class DomBuilder {
 public:
  // The SAX interface (nlohmann::json_sax). Returning false stops the parse.
  bool null() { return Put(nullptr) != nullptr; }
  bool boolean(bool v) { return Put(v) != nullptr; }
  bool number_integer(json::number_integer_t v) { return Put(v) != nullptr; }
  bool number_unsigned(json::number_unsigned_t v) { return Put(v) != nullptr; }
  bool number_float(json::number_float_t v, const json::string_t& /*text*/) {
    return Put(v) != nullptr;
  }
  bool string(json::string_t& v) { return Put(std::move(v)) != nullptr; }
  bool binary(json::binary_t& v) { return Put(json::binary(std::move(v))) != nullptr; }
  bool start_object(std::size_t /*size*/) { return Open(json::object()); }
  bool start_array(std::size_t /*size*/) { return Open(json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(json::string_t& k) {
    Frame& f = frames_.back();
    auto [it, inserted] = f.container->get_ref<json::object_t&>().emplace(std::move(k), nullptr);
    f.key = &it->first;
    slot_ = &it->second;
    if (!inserted) {
      duplicate_ = "duplicate field " + Quoted(it->first) + " in " + Path();
      return false;
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const json::exception& ex) {
    error_position_ = position;
    error_what_ = ex.what();
    return false;
  }

  json& root() { return root_; }
  const std::optional<std::string>& duplicate() const { return duplicate_; }
  size_t error_position() const { return error_position_; }
  const std::string& error_what() const { return error_what_; }

 private:
  struct Frame {
    json* container;
    const std::string* key = nullptr;  // objects: the field being read (a key of the map)
  };

  // Stores a value where the parser is: the root, the next array element, or the pending field.
  template <typename V>
  json* Put(V&& v) {
    if (frames_.empty()) {
      root_ = json(std::forward<V>(v));
      return &root_;
    }
    json* top = frames_.back().container;
    if (top->is_array()) {
      auto& array = top->get_ref<json::array_t&>();
      array.emplace_back(std::forward<V>(v));
      return &array.back();
    }
    *slot_ = json(std::forward<V>(v));
    return slot_;
  }
  bool Open(json container) {
    json* at = Put(std::move(container));
    frames_.push_back(Frame{at});
    return true;
  }
  bool Close() {
    frames_.pop_back();
    return true;
  }

  static std::string Quoted(const std::string& s) {
    return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  // Where the innermost object (the one with the duplicate) sits: "credentials[4].card".
  std::string Path() const {
    std::string path;
    for (size_t i = 0; i + 1 < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.container->is_object()) {
        if (!path.empty()) path += '.';
        path += f.key != nullptr ? *f.key : std::string();
      } else {
        path += '[' + std::to_string(f.container->size() - 1) + ']';
      }
    }
    return path.empty() ? "the top-level object" : path;
  }

  json root_;
  std::vector<Frame> frames_;
  json* slot_ = nullptr;
  std::optional<std::string> duplicate_;
  size_t error_position_ = 0;
  std::string error_what_;
};

// Line and column (1-based, in bytes) of the byte at `offset`.
std::pair<size_t, size_t> LineColumn(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + offset, '\n'));
  size_t last_nl = text.substr(0, offset).rfind('\n');
  size_t column = last_nl == std::string_view::npos ? offset + 1 : offset - last_nl;
  return {line, column};
}

// nlohmann's explanation without its "[json.exception...] parse error at line L, column C: " prefix
// (its own line/column are off by one at line ends, so Lintel computes them from the byte).
std::string Reason(const std::string& what) {
  size_t at = what.find("parse error");
  if (at != std::string::npos) {
    size_t colon = what.find(": ", at);
    if (colon != std::string::npos) return what.substr(colon + 2);
  }
  return what;
}

}  // namespace

Result<nlohmann::json> ParseJsonText(std::string_view text, std::string_view source_name) {
  DomBuilder builder;
  try {
    const bool ok = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json,
                                    /*strict=*/true, /*ignore_comments=*/false);
    if (ok) return std::move(builder.root());
  } catch (const json::exception& e) {  // not expected: errors come through parse_error()
    return Status::InvalidArgument(std::string(source_name) + ": " + e.what());
  }
  if (builder.duplicate()) {
    return Status::InvalidArgument(std::string(source_name) + ": " + *builder.duplicate());
  }
  // The position is the 1-based count of bytes read, so the offending byte is at position - 1.
  const size_t position = builder.error_position();
  auto [line, column] = LineColumn(text, position > 0 ? position - 1 : 0);
  return Status::InvalidArgument(std::string(source_name) + ":" + std::to_string(line) + ":" +
                                 std::to_string(column) + ": " + Reason(builder.error_what()));
}

}  // namespace lintel::codec
