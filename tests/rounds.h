// Round counts for property and differential tests.
//
// The plain build runs every round. A sanitizer build (tools/test builds ASan/UBSan at -O0, TSan at
// -O1) runs each round 5-20x slower; the sanitizers look for memory, undefined-behaviour and race
// faults, and a fifth of the rounds reaches the same code with the same seeds, so it runs a fifth.
// Thresholds that count outcomes scale with the rounds (TestRounds(150) of them, not 150).
#pragma once

#include <algorithm>

namespace lintel {

#ifdef LINTEL_SANITIZED_BUILD
inline constexpr int kRoundsDivisor = 5;
#else
inline constexpr int kRoundsDivisor = 1;
#endif

constexpr int TestRounds(int full) { return std::max(1, full / kRoundsDivisor); }

}  // namespace lintel
