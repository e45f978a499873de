// Counts heap allocations made by this process: the benchmark binaries replace the
// global operator new/delete (alloc_counter.cc) so that a benchmark can report
// allocations per event. Frees are not counted; every allocation is.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

namespace signal_bench {

// Calls to any form of operator new so far (direct malloc calls, e.g. from C
// libraries, are not seen).
uint64_t AllocationCount();

// The figures every Translate benchmark reports for its timed loop: events and input
// bytes per second, and `allocations` (counted over the loop) per event.
inline void ReportEvents(benchmark::State& state, size_t events, size_t bytes,
                         uint64_t allocations) {
  state.SetItemsProcessed(static_cast<int64_t>(events));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["allocs_per_event"] =
      benchmark::Counter(events == 0 ? 0.0 : static_cast<double>(allocations) / events);
}

}  // namespace signal_bench
