// Thread priorities: the daemon's threads take a core in this order when they compete for one
// (nice values relative to the process's; systemd/lintel.service starts it at Nice=-10):
//   1. the core loop (the doors), at the process's own;
//   2. the cloud path: the MQTT link's receiving and sending threads and the message parsers,
//      kMessageNiceAbove: a flood on the broker or a drain of a million events takes CPU from the
//      cloud path, never from a door (broker_flood_bench, door_latency_bench);
//   3. bulk work: the state worker and the threads it starts, the index copier and image writer,
//      kBulkNiceAbove: a snapshot's or a tenant's work never keeps a revocation waiting in a
//      parser (issue 13, point 2). Linux's scheduler (EEVDF) lets a running thread finish its
//      slice unless the woken one's deadline is earlier; with the parsers below the state worker
//      (absolute nice 10 against its -5) a revocation's parser waited 4.7 ms for one core while
//      the worker applied a snapshot on it (perf sched timehist).
#pragma once

namespace lintel {

inline constexpr int kMessageNiceAbove = 5;
inline constexpr int kBulkNiceAbove = 10;

// Raises the calling thread's nice value by `by` (at most to 19): Linux nice values are per
// thread. Returns false (and changes nothing) when the system refuses; callers go on regardless.
bool LowerThisThreadPriority(int by);

// Names the calling thread (at most 15 characters are kept), as `top -H`, `ps -L`, perf and gdb
// show it: the daemon's threads say what they do.
void NameThisThread(const char* name);

// The calling thread's nice value (for tests).
int ThisThreadNice();

}  // namespace lintel
