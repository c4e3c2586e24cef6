// The result of one access decision, with the contract's stable reason strings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/time.h"

namespace lintel::rules {

enum class Reason : uint8_t {
  kGranted,
  kUnknownCredential,
  kCredentialRevoked,
  kCredentialSuspended,
  kCredentialNotYetValid,
  kCredentialExpired,
  kPersonSuspended,
  kNoActiveLease,
  kLeaseNotStarted,
  kLeaseEnded,
  kRentOverdue,
  kNoAccessToDoor,
  kOutsideSchedule,
  kDoorLockedDown,
  kKeypadLockedOut,
  kBadFormat,
  kUnknownDoor,
  kOfflineStaffOnly,  // the offline policy admits only staff (no fresh cloud head for too long)
};

// "granted", "unknown_credential", ... exactly as in the contract's Events section.
std::string_view ReasonName(Reason r);

// One step of `lintelctl explain`: the check's name, whether it passed, and what it saw.
struct Check {
  std::string name;
  bool passed = false;
  std::string detail;
};

struct Decision {
  bool granted = false;
  Reason reason = Reason::kUnknownCredential;
  Instant at{};                  // the time the decision was evaluated at (after the clock floor)
  std::string credential;        // credential id, when one matched
  std::string person;            // the credential's holder
  std::string lease;             // the lease that granted (or whose state denied), if any
  std::string group;             // the access group that granted (or whose schedule denied), if any
  std::string via;               // person whose access was used when inherited (the primary)
  bool clock_went_back = false;  // the wall clock was below the floor; the floor was used
  bool clock_suspect = false;    // the wall clock was far ahead of trusted time (TimeGuard)
  bool lockout_started = false;  // this failure locked the reader's keypad
};

// Filled only when the caller asks for an explanation; the hot path passes nullptr.
using Trace = std::vector<Check>;

}  // namespace lintel::rules
