// Counts heap allocations made by this process: the benchmark binaries replace the
// global operator new/delete (alloc_counter.cc) so that a benchmark can report
// allocations per event. Frees are not counted; every allocation is.
#pragma once

#include <cstdint>

namespace signal_bench {

// Calls to any form of operator new so far (direct malloc calls, e.g. from C
// libraries, are not seen).
uint64_t AllocationCount();

}  // namespace signal_bench
