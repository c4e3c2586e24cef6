// Wall-clock instants and their RFC 3339 text form.
//
// Lintel keeps wall time as whole seconds since the Unix epoch (UTC). Everything here is pure and
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel {

using Instant = std::chrono::sys_seconds;

inline constexpr Instant kInstantMin{std::chrono::seconds{std::numeric_limits<int64_t>::min()}};
inline constexpr Instant kInstantMax{std::chrono::seconds{std::numeric_limits<int64_t>::max()}};

inline int64_t ToUnix(Instant t) { return t.time_since_epoch().count(); }
inline Instant FromUnix(int64_t s) { return Instant{std::chrono::seconds{s}}; }

// Parses "2026-11-23T10:00:00Z", "2026-11-23T10:00:00.250+01:00" (fractions are truncated),
// or a bare date "2026-11-23" (midnight UTC). Errors: InvalidArgument naming what is wrong.
Result<Instant> ParseRfc3339(std::string_view text);

// Formats as "2026-11-23T10:00:00Z".
std::string FormatRfc3339(Instant t);

// Days since 1970-01-01 for a civil date, and back (proleptic Gregorian).
int32_t DaysFromCivil(int32_t year, unsigned month, unsigned day);
struct CivilDate {
  int32_t year;
  unsigned month;
  unsigned day;
};
CivilDate CivilFromDays(int32_t days);

// Parses "YYYY-MM-DD" into days since the epoch; rejects impossible dates (2026-02-30).
Result<int32_t> ParseDate(std::string_view text);

}  // namespace lintel
