// Reading a Prometheus text exposition page (the host's /metrics).
#pragma once

#include <string_view>

namespace bench_harness {

// The sum of every sample of metric `name` (any labels) in `page`; -1 when the page has
// no sample of it.
double MetricSum(std::string_view page, std::string_view name);

}  // namespace bench_harness
