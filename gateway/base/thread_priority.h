// Thread priorities: background threads of the daemon (the state worker, the index image writer)
// give the CPU to the core loop (the doors) and the message parsers when they compete for it. On a
// 2-core gateway a snapshot's or a tenant's work on the state worker otherwise delays a revocation
// parsed right behind it by milliseconds (issue 13, point 2).
#pragma once

namespace lintel {

// Raises the calling thread's nice value by `by` (at most to 19): Linux nice values are per
// thread. Returns false (and changes nothing) when the system refuses; callers go on regardless.
bool LowerThisThreadPriority(int by);

// The calling thread's nice value (for tests).
int ThisThreadNice();

}  // namespace lintel
