#include "process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "system_info.h"

namespace bench_harness {
namespace {

// The fields of /proc/<pid>/stat after the command name (field 3 first); empty if gone.
std::vector<std::string> StatFields(pid_t pid) {
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  // The command name (field 2) may contain spaces; count fields after its ')'.
  const size_t close = stat.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos || close + 2 > stat.size()) return fields;
  std::istringstream in(stat.substr(close + 2));
  for (std::string field; in >> field;) fields.push_back(field);
  return fields;
}

// Field `index` (1-based, as in proc(5)) of StatFields, as clock ticks.
uint64_t Ticks(const std::vector<std::string>& fields, size_t index) {
  return index >= 3 && index - 3 < fields.size()
             ? std::strtoull(fields[index - 3].c_str(), nullptr, 10)
             : 0;
}

double TicksToSeconds(uint64_t ticks) {
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int64_t RssKib(pid_t pid, std::string_view field) {
  std::istringstream lines(ReadFile(absl::StrCat("/proc/", pid, "/status")));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(field, 0) == 0) {
      int64_t kib = 0;
      std::istringstream(line.substr(field.size())) >> kib;
      return kib;
    }
  }
  return 0;
}

double CpuSeconds(pid_t pid) {
  const std::vector<std::string> fields = StatFields(pid);
  return TicksToSeconds(Ticks(fields, 14) + Ticks(fields, 15));  // utime, stime
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

double TreeCpuSeconds(pid_t root) {
  const std::vector<std::string> own = StatFields(root);
  if (own.empty()) return 0;
  // utime, stime, cutime (reaped children), cstime: fields 14-17.
  uint64_t ticks = Ticks(own, 14) + Ticks(own, 15) + Ticks(own, 16) + Ticks(own, 17);
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return TicksToSeconds(ticks);
  while (dirent* entry = readdir(proc)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid == root) continue;
    const std::vector<std::string> fields = StatFields(pid);
    if (Ticks(fields, 4) != static_cast<uint64_t>(root)) continue;  // field 4: ppid
    ticks += Ticks(fields, 14) + Ticks(fields, 15);
  }
  closedir(proc);
  return TicksToSeconds(ticks);
}

}  // namespace bench_harness
