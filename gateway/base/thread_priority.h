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
//
// Slices. Nice alone does not make a woken door thread run: EEVDF (Linux 6.6+) lets the running
// thread finish its slice, and with HZ=250 a bulk thread ran on for 8 ms while the core loop
// (nice -10 against its 0) waited with a revocation's verified delta on the same core
// (cloud_bench, perf sched, Linux 6.18). Since Linux 6.12 a thread may ask for a shorter slice
// (sched_attr::sched_runtime), and a woken thread whose slice is shorter than the running one's
// preempts it at once. So the daemon asks for kShortSlice at start, before any thread exists
// (threads inherit it): the core loop, the door I/O threads and, by Slice::kShort, the cloud path
// keep it; bulk work goes back to the kernel's default slice when it lowers its priority.
// Kernels before 6.12 accept the request and ignore it.
#pragma once

#include <chrono>
#include <cstdint>

namespace lintel {

inline constexpr int kMessageNiceAbove = 5;
inline constexpr int kBulkNiceAbove = 10;
// A decision, a Modbus write or a small message's verification each take well under this.
inline constexpr std::chrono::microseconds kShortSlice{300};

enum class Slice : uint8_t { kDefault, kShort };

// Raises the calling thread's nice value by `by` (at most to 19): Linux nice values are per
// thread. `slice`: kDefault gives the thread the kernel's default slice (bulk work), kShort asks
// for kShortSlice. Returns false (and changes nothing) when the system refuses; callers go on
// regardless.
bool LowerThisThreadPriority(int by, Slice slice = Slice::kDefault);

// Asks for kShortSlice on the calling thread, its nice value unchanged (see above). False when the
// kernel refuses (a hint: nothing depends on it).
bool UseShortSlicesOnThisThread();

// The slice thread `tid` (0: the calling one) has, in nanoseconds, as sched_getattr reports it: the
// kernel's default or the one asked for; 0 when the kernel reports none (before Linux 6.12).
uint64_t ThreadSliceNs(int tid = 0);

// Names the calling thread (at most 15 characters are kept), as `top -H`, `ps -L`, perf and gdb
// show it: the daemon's threads say what they do.
void NameThisThread(const char* name);

// The calling thread's nice value (for tests).
int ThisThreadNice();

}  // namespace lintel
