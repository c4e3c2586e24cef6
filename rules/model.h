// The records of the cloud contract (shared/contract/cloud-mqtt.md, "Records and ops") as plain
// C++ values, plus the installer's site facts the engine needs (doors, policy, time zone).
//
// These are the staging form: what a snapshot page, a delta op, a state file or a store row turns
// into before validation. The engine's decision index (index.h) is a compact, immutable copy.
// Pure data; no I/O. Optional fields use std::optional; absent Instants are std::nullopt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/time.h"
#include "gateway/base/timezone.h"

namespace lintel::rules {

// ---- schedules -------------------------------------------------------------------------------
struct Window {
  uint8_t days = 0x7f;     // bit 0 = Monday .. bit 6 = Sunday (ignored inside an exception)
  uint16_t from_min = 0;   // minutes since local midnight, 0..1439
  uint16_t to_min = 1440;  // exclusive end, 1..1440 ("24:00"); from_min < to_min
};
struct ScheduleException {
  int32_t date = 0;             // local civil date, days since 1970-01-01
  std::vector<Window> windows;  // replaces that day's windows; empty = closed (holiday)
};
struct Schedule {
  std::string id;
  std::vector<Window> windows;
  std::vector<ScheduleException> exceptions;
};
inline constexpr std::string_view kAlwaysSchedule = "always";

// ---- groups ----------------------------------------------------------------------------------
struct Group {
  std::string id;
  std::string name;
  std::vector<std::string> doors;  // door ids from the installer's YAML
  std::string schedule;            // schedule id; "always" is built in
};
inline constexpr std::string_view kDefaultGroup = "default";

// ---- people ----------------------------------------------------------------------------------
enum class Role : uint8_t { kTenant, kOccupant, kFamily, kStaff, kAlias, kGuest };
enum class PersonStatus : uint8_t { kActive, kSuspended };
struct Person {
  std::string id;
  std::string name;
  Role role = Role::kTenant;
  std::optional<std::string> primary;  // the primary tenant of a family member / occupant
  bool inherit = false;                // has every access the primary has
  std::vector<std::string> groups;     // direct access groups
  PersonStatus status = PersonStatus::kActive;
};

// ---- leases ----------------------------------------------------------------------------------
struct Lease {
  std::string id;
  std::string unit;
  std::vector<std::string> members;  // person ids
  std::vector<std::string> groups;
  Instant starts_at{};
  std::optional<Instant> ends_at;       // exclusive
  std::optional<Instant> paid_through;  // access until paid_through + grace
  std::optional<int32_t> grace_days;    // default: policy.rent_grace_days
};

// ---- credentials -----------------------------------------------------------------------------
enum class CredentialType : uint8_t { kCard, kPin, kBleKey };
enum class CredentialStatus : uint8_t { kActive, kSuspended, kRevoked };
enum class CardFormat : uint8_t { kUid = 0, kH10301, kH10306, kH10302, kH10304, kC1k35, kC1k48 };

struct CardNumber {
  CardFormat format = CardFormat::kUid;
  uint32_t facility = 0;  // 0 where the format has none (h10302)
  uint64_t number = 0;
  std::string uid;  // CardFormat::kUid only: 1-16 hex digits, stored upper case
};
struct BleKey {
  std::string lock;  // door id
  std::string key;   // base64 of 32 bytes (a public key the lock checks)
  std::string name;
};
struct Credential {
  std::string id;
  std::string person;
  CredentialType type = CredentialType::kCard;
  CredentialStatus status = CredentialStatus::kActive;
  std::optional<Instant> valid_from;
  std::optional<Instant> valid_until;  // exclusive
  CardNumber card;                     // type == kCard
  std::string pin;                     // type == kPin: digits only
  BleKey ble_key;                      // type == kBleKey
};

// ---- door modes ------------------------------------------------------------------------------
enum class DoorModeKind : uint8_t { kNormal, kLockedDown, kUnlocked };
struct DoorMode {
  std::string door;
  DoorModeKind mode = DoorModeKind::kNormal;
  std::optional<Instant> until;  // the mode holds while now < until; absent = until changed
};

// A whole state (a snapshot's `records`, or a state file).
struct Records {
  std::vector<Schedule> schedules;
  std::vector<Group> groups;
  std::vector<Person> people;
  std::vector<Lease> leases;
  std::vector<Credential> credentials;
  std::vector<DoorMode> door_modes;
};

// ---- list limits -------------------------------------------------------------------------------
// Validate() refuses a state whose lists are longer than these ("person p1: has 300 groups, at most
// 256 are allowed"); the index stores the per-person and per-lease counts in 16 bits, so these stay
// far below 65,535. IndexBuilder (tolerant, for stored states) keeps the first kMax... entries of a
// longer list and warns. rules/README.md lists them.
inline constexpr size_t kMaxGroupsPerPerson = 256;   // a person's direct `groups`
inline constexpr size_t kMaxLeasesPerPerson = 256;   // leases naming one person in `members`
inline constexpr size_t kMaxGroupsPerLease = 256;    // a lease's `groups`
inline constexpr size_t kMaxMembersPerLease = 256;   // a lease's `members`
inline constexpr size_t kMaxDoorsPerGroup = 4096;    // a group's `doors`
inline constexpr size_t kMaxWindowsPerDay = 64;      // a schedule's windows, an exception's windows
inline constexpr size_t kMaxExceptionsPerSchedule = 4096;  // a schedule's `exceptions` (dates)

// ---- the installer's side (from the YAML) ------------------------------------------------------
struct DoorInfo {
  std::string id;
  bool common = false;  // part of the built-in "default" group
};
struct Policy {
  int32_t rent_grace_days = 0;
  int32_t pin_min_length = 4;  // 2..8
  int32_t pin_max_length = 8;  // pin_min_length..8
  bool pin_allow_leading_9 = false;
  // Keypad lockout: `failures` failed PIN entries within `window_s` lock that reader's keypad for
  // `lockout_s`. failures == 0 disables it.
  int32_t lockout_failures = 5;
  int32_t lockout_window_s = 60;
  int32_t lockout_s = 300;
  // An unsynchronized wall clock more than this many days ahead of the gateway's estimate of the
  // time is suspect (rules/time_guard.h). 1..365.
  int32_t clock_max_ahead_days = 3;
};
struct Site {
  std::string id;
  std::vector<DoorInfo> doors;
  Policy policy;
  std::shared_ptr<const TimeZone> zone;  // never null once built from config
};

// ---- names -----------------------------------------------------------------------------------
// The contract's strings for each enum, and their parsers (nullopt for an unknown string).
std::string_view RoleName(Role r);
std::optional<Role> ParseRole(std::string_view s);
std::string_view PersonStatusName(PersonStatus s);
std::optional<PersonStatus> ParsePersonStatus(std::string_view s);
std::string_view CredentialTypeName(CredentialType t);
std::optional<CredentialType> ParseCredentialType(std::string_view s);
std::string_view CredentialStatusName(CredentialStatus s);
std::optional<CredentialStatus> ParseCredentialStatus(std::string_view s);
std::string_view CardFormatName(CardFormat f);  // "uid" for kUid
std::optional<CardFormat> ParseCardFormat(std::string_view s);
std::string_view DoorModeName(DoorModeKind m);
std::optional<DoorModeKind> ParseDoorMode(std::string_view s);

// Field widths of each card format: facility bits (0 = none) and card number bits.
struct CardFormatBits {
  int facility_bits;
  int number_bits;
};
CardFormatBits FormatBits(CardFormat f);

// "HH:MM" (00:00..24:00) -> minutes; nullopt when malformed.
std::optional<uint16_t> ParseHhMm(std::string_view s);
std::string FormatHhMm(uint16_t minutes);
// "mon".."sun" -> 0..6.
std::optional<unsigned> ParseWeekday(std::string_view s);
std::string_view WeekdayName(unsigned d);

}  // namespace lintel::rules
