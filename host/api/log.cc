#include "log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "json_util.h"

namespace signal_host::api {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mutex;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

}  // namespace

void SetLogLevel(std::string_view level) {
  if (level == "debug") g_level = static_cast<int>(LogLevel::kDebug);
  if (level == "info") g_level = static_cast<int>(LogLevel::kInfo);
  if (level == "warn") g_level = static_cast<int>(LogLevel::kWarn);
  if (level == "error") g_level = static_cast<int>(LogLevel::kError);
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void Log(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  std::string line = IsoMillis(NowMillis());
  line += ' ';
  line += LevelName(level);
  line += ' ';
  line += message;
  line += '\n';
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace signal_host::api
