// TimeZone: maps a UTC instant to the site's local civil time (IANA zone rules, DST included).
//
// Loaded once from the system tz database (/usr/share/zoneinfo via date-tz); afterwards Lookup()
// is pure and thread-safe, so the rules engine can hold one without doing I/O itself.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "gateway/base/status.h"
#include "gateway/base/time.h"

namespace lintel {

struct LocalTime {
  int32_t days;          // local civil date as days since 1970-01-01
  int32_t minute;        // minutes since local midnight, 0..1439
  unsigned weekday;      // 0 = Monday .. 6 = Sunday
  int32_t utc_offset_s;  // local - UTC in seconds
};

class TimeZone {
 public:
  virtual ~TimeZone() = default;
  virtual const std::string& name() const = 0;
  virtual LocalTime ToLocal(Instant t) const = 0;
};

// Errors: NotFound when the name is not an IANA zone known to this machine.
Result<std::shared_ptr<const TimeZone>> LoadTimeZone(std::string_view iana_name);

// A zone with a fixed offset from UTC (tests, and "UTC" itself).
std::shared_ptr<const TimeZone> FixedTimeZone(std::string name, int32_t utc_offset_s);

// Local fields of `t` shifted by a known offset (shared by the implementations).
LocalTime LocalFromOffset(Instant t, int32_t utc_offset_s);

}  // namespace lintel
