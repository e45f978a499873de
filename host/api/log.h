// A minimal leveled logger to stderr, one line per message with a UTC timestamp.
// Thread-safe. Messages must never contain secrets.
#pragma once

#include <string_view>

namespace signal_host::api {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn" or "error"; anything else leaves the level unchanged.
void SetLogLevel(std::string_view level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view message);

inline void LogDebug(std::string_view message) { Log(LogLevel::kDebug, message); }
inline void LogInfo(std::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarn(std::string_view message) { Log(LogLevel::kWarn, message); }
inline void LogError(std::string_view message) { Log(LogLevel::kError, message); }

}  // namespace signal_host::api
