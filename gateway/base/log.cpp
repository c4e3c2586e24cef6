#include "gateway/base/log.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "gateway/base/clock.h"
#include "gateway/base/mutex.h"

namespace lintel {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_timestamps{false};
Mutex g_mu;  // one line at a time on stderr
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
void SetLogTimestamps(bool on) { g_timestamps = on; }

void Log(LogLevel level, std::string_view component, std::string_view message) {
  if (static_cast<int>(level) > g_level.load()) return;
  // Appended piece by piece into one string: `"<" + std::to_string(n) + ">"` inserts at the front
  // of a temporary, which GCC 12 at -O3 misreads as an overlapping memcpy (-Wrestrict).
  std::string line;
  line.reserve(component.size() + message.size() + 40);
  line.push_back('<');
  line.append(std::to_string(static_cast<int>(level)));
  line.push_back('>');
  if (g_timestamps) line.append(FormatRfc3339(SystemClock().Wall())).push_back(' ');
  line.append(component).append(": ").append(message).push_back('\n');
  MutexLock lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace lintel
