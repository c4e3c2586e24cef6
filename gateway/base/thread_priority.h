// Thread priorities: background threads of the daemon (the state worker, the index image writer)
// give the CPU to the core loop (the doors) and the message parsers when they compete for it. On a
// 2-core gateway a snapshot's or a tenant's work on the state worker otherwise delays a revocation
// parsed right behind it by milliseconds (issue 13, point 2).
#pragma once

namespace lintel {

// Raises the calling thread's nice value by `by` (at most to 19): Linux nice values are per
// thread. Returns false (and changes nothing) when the system refuses; callers go on regardless.
bool LowerThisThreadPriority(int by);

// Bulk work that may wait for a free core (a snapshot's index build and page validation): the
// calling thread runs under SCHED_IDLE, so a waking thread of the doors' path (the MQTT client, a
// parser, the core loop) takes its core at once instead of after its time slice; with nothing else
// to run it runs at full speed. Returns false (and changes nothing) when the system refuses.
bool RunThisThreadWhenIdle();

// The calling thread's nice value (for tests).
int ThisThreadNice();
// The calling thread's scheduling policy (SCHED_OTHER, SCHED_IDLE, ...; for tests).
int ThisThreadPolicy();

}  // namespace lintel
