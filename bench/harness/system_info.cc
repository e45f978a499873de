#include "system_info.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace bench_harness {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string LoadAverage() {
  std::string text = ReadFile("/proc/loadavg");
  // "0.52 0.58 0.59 1/123 4567": keep the three averages.
  size_t end = 0;
  for (int fields = 0; fields < 3 && end != std::string::npos; ++fields) {
    end = text.find(' ', end == 0 ? 0 : end + 1);
  }
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string CpuModel() {
  std::istringstream lines(ReadFile("/proc/cpuinfo"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
  }
  return "unknown";
}

std::string WithCommas(uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::pair<int64_t, int64_t> ListenOverflowsAndDrops() {
  const std::string text = ReadFile("/proc/net/netstat");
  size_t header = text.find("TcpExt:");
  if (header == std::string::npos) return {-1, -1};
  const size_t header_end = text.find('\n', header);
  const size_t values = text.find("TcpExt:", header_end);
  if (values == std::string::npos) return {-1, -1};
  const size_t values_end = text.find('\n', values);
  std::vector<std::string> names = absl::StrSplit(text.substr(header, header_end - header), ' ');
  std::vector<std::string> numbers = absl::StrSplit(text.substr(values, values_end - values), ' ');
  int64_t overflows = -1, drops = -1;
  for (size_t i = 0; i < names.size() && i < numbers.size(); ++i) {
    if (names[i] == "ListenOverflows") absl::SimpleAtoi(numbers[i], &overflows);
    if (names[i] == "ListenDrops") absl::SimpleAtoi(numbers[i], &drops);
  }
  return {overflows, drops};
}

}  // namespace bench_harness
