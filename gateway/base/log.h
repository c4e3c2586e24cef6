// Logging to stderr in a form journald understands: each line starts with "<N>", the syslog
// priority, which journald strips and records as PRIORITY when stderr is the journal.
//
// Thread-safe. Never pass key material or PIN digits to these functions: log credential ids.
#pragma once

#include <string_view>

namespace lintel {

enum class LogLevel { kError = 3, kWarning = 4, kInfo = 6, kDebug = 7 };

void SetLogLevel(LogLevel level);
// Prefix every line with a local wall-clock timestamp (for interactive use; off under journald).
void SetLogTimestamps(bool on);
void Log(LogLevel level, std::string_view component, std::string_view message);

inline void LogError(std::string_view c, std::string_view m) { Log(LogLevel::kError, c, m); }
inline void LogWarning(std::string_view c, std::string_view m) { Log(LogLevel::kWarning, c, m); }
inline void LogInfo(std::string_view c, std::string_view m) { Log(LogLevel::kInfo, c, m); }
inline void LogDebug(std::string_view c, std::string_view m) { Log(LogLevel::kDebug, c, m); }

}  // namespace lintel
