// The text forms the store uses for the few record fields that are not scalars. Internal to
// lintel_store (and its tests); other readers of the file find the format in README.md.
//
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rules/model.h"

namespace lintel::store::internal {

// Lists of ids are stored joined with the ASCII unit separator. Ids never contain control
// characters, so no escaping is needed; an empty list is the empty string.
inline constexpr char kIdSeparator = '\x1f';

// Writes `ids` joined with kIdSeparator into *out (replacing its contents). Returns false, leaving
// *out unspecified, when an id is empty or contains kIdSeparator: such a list would not read back
// as itself.
bool JoinIds(const std::vector<std::string>& ids, std::string* out);

// Splits `text` at kIdSeparator into *ids, reusing the storage of the strings already in it.
// The empty string gives the empty list.
void SplitIds(std::string_view text, std::vector<std::string>* ids);

// Schedule windows: "days:from-to" joined with ',', in decimal; days is the rules::Window bit mask.
// Example: "127:0-1440,31:480-1080". No windows: "".
void EncodeWindows(const std::vector<rules::Window>& windows, std::string* out);
// Returns false when `text` is not of that form or a value does not fit its field.
bool DecodeWindows(std::string_view text, std::vector<rules::Window>* windows);

// Schedule exceptions: "date=windows" joined with ';', date in days since 1970-01-01 (may be
// negative), windows as above. Example: "20500=127:480-720;20501=" (the second is a closed day).
void EncodeExceptions(const std::vector<rules::ScheduleException>& exceptions, std::string* out);
bool DecodeExceptions(std::string_view text, std::vector<rules::ScheduleException>* exceptions);

}  // namespace lintel::store::internal
