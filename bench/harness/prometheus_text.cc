#include "prometheus_text.h"

#include <string>

#include "absl/strings/numbers.h"

namespace bench_harness {

double MetricSum(std::string_view page, std::string_view name) {
  double sum = -1;
  size_t start = 0;
  while (start < page.size()) {
    size_t end = page.find('\n', start);
    if (end == std::string_view::npos) end = page.size();
    const std::string_view line = page.substr(start, end - start);
    start = end + 1;
    // "name value" or "name{labels} value"; not "name_suffix ..." nor "# HELP name".
    if (line.size() <= name.size() || line.substr(0, name.size()) != name) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    const std::string_view text = line.substr(space + 1);
    if (!absl::SimpleAtod(absl::string_view(text.data(), text.size()), &value)) continue;
    sum = (sum < 0 ? 0 : sum) + value;
  }
  return sum;
}

}  // namespace bench_harness
