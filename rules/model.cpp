#include "rules/model.h"

#include <array>

namespace lintel::rules {
namespace {

template <typename E, size_t N>
std::optional<E> Lookup(const std::array<std::string_view, N>& names, std::string_view s) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 6> kRoles = {"tenant", "occupant", "family",
                                                    "staff",  "alias",    "guest"};
constexpr std::array<std::string_view, 2> kPersonStatus = {"active", "suspended"};
constexpr std::array<std::string_view, 3> kCredTypes = {"card", "pin", "ble_key"};
constexpr std::array<std::string_view, 3> kCredStatus = {"active", "suspended", "revoked"};
constexpr std::array<std::string_view, 7> kFormats = {"uid",    "h10301", "h10306", "h10302",
                                                      "h10304", "c1k35",  "c1k48"};
constexpr std::array<std::string_view, 3> kModes = {"normal", "locked_down", "unlocked"};
constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

}  // namespace

std::string_view RoleName(Role r) { return kRoles[static_cast<size_t>(r)]; }
std::optional<Role> ParseRole(std::string_view s) { return Lookup<Role>(kRoles, s); }
std::string_view PersonStatusName(PersonStatus s) { return kPersonStatus[static_cast<size_t>(s)]; }
std::optional<PersonStatus> ParsePersonStatus(std::string_view s) {
  return Lookup<PersonStatus>(kPersonStatus, s);
}
std::string_view CredentialTypeName(CredentialType t) { return kCredTypes[static_cast<size_t>(t)]; }
std::optional<CredentialType> ParseCredentialType(std::string_view s) {
  return Lookup<CredentialType>(kCredTypes, s);
}
std::string_view CredentialStatusName(CredentialStatus s) {
  return kCredStatus[static_cast<size_t>(s)];
}
std::optional<CredentialStatus> ParseCredentialStatus(std::string_view s) {
  return Lookup<CredentialStatus>(kCredStatus, s);
}
std::string_view CardFormatName(CardFormat f) { return kFormats[static_cast<size_t>(f)]; }
std::optional<CardFormat> ParseCardFormat(std::string_view s) {
  return Lookup<CardFormat>(kFormats, s);
}
std::string_view DoorModeName(DoorModeKind m) { return kModes[static_cast<size_t>(m)]; }
std::optional<DoorModeKind> ParseDoorMode(std::string_view s) {
  return Lookup<DoorModeKind>(kModes, s);
}
std::optional<unsigned> ParseWeekday(std::string_view s) { return Lookup<unsigned>(kDays, s); }
std::string_view WeekdayName(unsigned d) { return kDays[d % 7]; }

CardFormatBits FormatBits(CardFormat f) {
  switch (f) {
    case CardFormat::kUid:
      return {0, 64};
    case CardFormat::kH10301:
      return {8, 16};
    case CardFormat::kH10306:
      return {16, 16};
    case CardFormat::kH10302:
      return {0, 35};
    case CardFormat::kH10304:
      return {16, 19};
    case CardFormat::kC1k35:
      return {12, 20};
    case CardFormat::kC1k48:
      return {22, 23};
  }
  return {0, 0};
}

std::optional<uint16_t> ParseHhMm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  auto digit = [&](size_t i) { return s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1; };
  int h1 = digit(0), h2 = digit(1), m1 = digit(3), m2 = digit(4);
  if (h1 < 0 || h2 < 0 || m1 < 0 || m2 < 0) return std::nullopt;
  int h = h1 * 10 + h2, m = m1 * 10 + m2;
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return std::nullopt;
  return static_cast<uint16_t>(h * 60 + m);
}

std::string FormatHhMm(uint16_t minutes) {
  char buf[8];
  buf[0] = static_cast<char>('0' + minutes / 600);
  buf[1] = static_cast<char>('0' + minutes / 60 % 10);
  buf[2] = ':';
  buf[3] = static_cast<char>('0' + minutes % 60 / 10);
  buf[4] = static_cast<char>('0' + minutes % 10);
  return std::string(buf, 5);
}

}  // namespace lintel::rules
