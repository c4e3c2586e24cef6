// A small building for the rules tests: maple-court in Europe/Berlin.
#pragma once

#include <gtest/gtest.h>

#include "gateway/base/timezone.h"
#include "rules/engine.h"

namespace lintel::rules::testing {

inline Instant T(const char* rfc3339) { return ParseRfc3339(rfc3339).value(); }

inline Site MapleCourt() {
  Site s;
  s.id = "maple-court";
  s.doors = {{"front", true},     {"garage", true},    {"bike-room", false},
             {"unit-101", false}, {"unit-102", false}, {"roof", false}};
  s.policy.rent_grace_days = 5;
  s.policy.pin_min_length = 4;
  s.policy.pin_max_length = 8;
  s.policy.lockout_failures = 3;
  s.policy.lockout_window_s = 60;
  s.policy.lockout_s = 300;
  s.zone = LoadTimeZone("Europe/Berlin").value();
  return s;
}

inline Schedule WeekdaysNineToFive() {
  Schedule s;
  s.id = "office";
  s.windows = {Window{0x1f, 9 * 60, 17 * 60}};
  return s;
}

inline Group MakeGroup(std::string id, std::vector<std::string> doors,
                       std::string schedule = "always") {
  return Group{id, id, std::move(doors), std::move(schedule)};
}

inline Person MakePerson(std::string id, Role role = Role::kTenant) {
  Person p;
  p.id = std::move(id);
  p.name = "Name of " + p.id;
  p.role = role;
  return p;
}

inline Credential Card(std::string id, std::string person, uint32_t facility, uint64_t number) {
  Credential c;
  c.id = std::move(id);
  c.person = std::move(person);
  c.type = CredentialType::kCard;
  c.card.format = CardFormat::kH10301;
  c.card.facility = facility;
  c.card.number = number;
  return c;
}

inline Credential Pin(std::string id, std::string person, std::string digits) {
  Credential c;
  c.id = std::move(id);
  c.person = std::move(person);
  c.type = CredentialType::kPin;
  c.pin = std::move(digits);
  return c;
}

inline Presented CardAt(uint32_t facility, uint64_t number) {
  Presented p;
  p.kind = PresentedKind::kCard;
  p.format = CardFormat::kH10301;
  p.facility = facility;
  p.number = number;
  return p;
}

}  // namespace lintel::rules::testing
