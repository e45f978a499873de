// Small helpers shared by the bench programs: files, the load average, shell commands,
// number formatting.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace bench_harness {

// The whole file, or "" when it cannot be read.
std::string ReadFile(const std::string& path);

// The three load averages of /proc/loadavg, e.g. "0.52 0.58 0.59".
std::string LoadAverage();

// "Intel(R) Xeon(R) ..." from /proc/cpuinfo, or "unknown".
std::string CpuModel();

// ListenOverflows and ListenDrops of /proc/net/netstat (machine-wide); -1 if unknown.
std::pair<int64_t, int64_t> ListenOverflowsAndDrops();

// 1234567 -> "1,234,567".
std::string WithCommas(uint64_t value);

// Runs `command` with /bin/sh and returns its stdout without trailing line breaks.
std::string RunCommand(const std::string& command);

// `text` as one single-quoted shell word.
std::string ShellQuote(const std::string& text);

}  // namespace bench_harness
