#include "gateway/base/time.h"

#include <cstdio>

namespace lintel {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

unsigned DaysInMonth(int32_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

Result<int32_t> ParseDatePrefix(std::string_view text) {
  int y, mo, d;
  if (text.size() < 10 || !Digits(text, 0, 4, &y) || text[4] != '-' || !Digits(text, 5, 2, &mo) ||
      text[7] != '-' || !Digits(text, 8, 2, &d)) {
    return Status::InvalidArgument("expected a date YYYY-MM-DD, got \"" + std::string(text) + "\"");
  }
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, mo)) {
    return Status::InvalidArgument("no such date: \"" + std::string(text.substr(0, 10)) + "\"");
  }
  return DaysFromCivil(y, mo, d);
}

}  // namespace

// Howard Hinnant's days_from_civil / civil_from_days.
int32_t DaysFromCivil(int32_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int32_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int32_t>(doe) - 719468;
}

CivilDate CivilFromDays(int32_t z) {
  z += 719468;
  const int32_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int32_t y = static_cast<int32_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

Result<int32_t> ParseDate(std::string_view text) {
  if (text.size() != 10) {
    return Status::InvalidArgument("expected a date YYYY-MM-DD, got \"" + std::string(text) + "\"");
  }
  return ParseDatePrefix(text);
}

Result<Instant> ParseRfc3339(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument(std::string(why) + " in timestamp \"" + std::string(text) +
                                   "\" (expected RFC 3339, e.g. 2026-11-23T10:00:00Z)");
  };
  Result<int32_t> days = ParseDatePrefix(text);
  if (!days.ok()) return days.status();
  int64_t secs = int64_t{*days} * 86400;
  if (text.size() == 10) return FromUnix(secs);
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return bad("missing 'T'");
  int h, mi, s;
  if (!Digits(text, 11, 2, &h) || text.size() < 19 || text[13] != ':' ||
      !Digits(text, 14, 2, &mi) || text[16] != ':' || !Digits(text, 17, 2, &s)) {
    return bad("bad time of day");
  }
  if (h > 23 || mi > 59 || s > 60) return bad("time of day out of range");
  secs += h * 3600 + mi * 60 + (s == 60 ? 59 : s);
  size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return bad("empty fraction");
  }
  if (pos >= text.size()) return bad("missing time zone offset (Z or +hh:mm)");
  char z = text[pos];
  if (z == 'Z' || z == 'z') {
    if (pos + 1 != text.size()) return bad("trailing characters");
    return FromUnix(secs);
  }
  int oh, om;
  if ((z != '+' && z != '-') || pos + 6 != text.size() || !Digits(text, pos + 1, 2, &oh) ||
      text[pos + 3] != ':' || !Digits(text, pos + 4, 2, &om) || oh > 23 || om > 59) {
    return bad("bad time zone offset");
  }
  int64_t offset = oh * 3600 + om * 60;
  return FromUnix(z == '+' ? secs - offset : secs + offset);
}

std::string FormatRfc3339(Instant t) {
  int64_t s = ToUnix(t);
  int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
  int64_t rem = s - days * 86400;
  CivilDate c = CivilFromDays(static_cast<int32_t>(days));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", c.year, c.month, c.day,
                static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60),
                static_cast<int>(rem % 60));
  return buf;
}

}  // namespace lintel
