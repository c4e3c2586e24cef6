// What a reader hands the engine: a card (by format fields or by UID) or a PIN, normalised into a
// fixed-size lookup key. Pure; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/base/status.h"
#include "rules/model.h"

namespace lintel::rules {

// The lookup key of a card or PIN. Two credentials match a presentation exactly when their keys are
// equal. UIDs and PINs keep their digit count (leading zeros are significant).
struct CredentialKey {
  // What the key identifies (one byte: the key stays 16 bytes).
  enum class Kind : uint8_t { kNone = 0, kFormattedCard = 1, kUid = 2, kPin = 3 };

  uint64_t value = 0;      // card number, UID value, or PIN digits as a decimal number
  uint32_t facility = 0;   // card facility code (0 when the format has none)
  Kind kind = Kind::kNone;
  uint8_t format = 0;      // CardFormat for formatted cards
  uint8_t length = 0;      // digits for UIDs and PINs
  uint8_t pad = 0;

  bool empty() const { return kind == Kind::kNone; }
  friend bool operator==(const CredentialKey&, const CredentialKey&) = default;
};
static_assert(sizeof(CredentialKey) == 16);

enum class PresentedKind : uint8_t { kCard, kUid, kPin };

struct Presented {
  PresentedKind kind = PresentedKind::kCard;
  CardFormat format = CardFormat::kH10301;  // kCard
  uint32_t facility = 0;                    // kCard
  uint64_t number = 0;                      // kCard
  std::string text;                         // kUid: hex digits; kPin: the digits as entered
};

// Key of a stored credential; empty for BLE keys (never presented at a reader).
CredentialKey KeyOf(const Credential& c);

// Key of a presentation; empty (and *why set) when the presentation is malformed: a UID that is not
// 1-16 hex digits, a PIN with a non-digit or more than 8 digits, card fields wider than the format.
CredentialKey KeyOf(const Presented& p, std::string* why);

// Parses the CLI/installer forms "h10301:101:251" (FORMAT:FACILITY:NUMBER; "h10302:NUMBER" for the
// format without a facility), a hex UID, or a PIN. Errors: InvalidArgument saying what is expected.
Result<Presented> ParseCardArg(std::string_view text);
Presented UidPresented(std::string_view hex);
Presented PinPresented(std::string_view digits);

// A loggable description: "card h10301:101:251", "uid 04A2B3", "pin" (never the PIN digits).
std::string Describe(const Presented& p);
std::string DescribeKey(const CredentialKey& k);  // "pin (6 digits)" for PINs

}  // namespace lintel::rules
