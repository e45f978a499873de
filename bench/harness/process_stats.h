// Memory and CPU of processes, from /proc: the bench programs' children, a process
// tree (PostgreSQL's postmaster and its backends), and the bench itself.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>

namespace bench_harness {

// A field of /proc/<pid>/status in KiB (VmRSS:, VmHWM:, RssAnon:...); 0 if gone.
int64_t RssKib(pid_t pid, std::string_view field = "VmRSS:");

// User + system CPU seconds of a process (all its threads); 0 if gone.
double CpuSeconds(pid_t pid);

// CPU seconds of `root`, its live children and the children it has reaped (PostgreSQL's
// backends that ended), so the figure only grows while the tree runs.
double TreeCpuSeconds(pid_t root);

// CPU seconds of this process.
double SelfCpuSeconds();

}  // namespace bench_harness
