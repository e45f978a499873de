// The load of bench_e2e: keep-alive connections posting /v1/batch bodies, closed loop or
// at a target rate, counting what the event API accepted and how long it took.
//
// Thread-safety: one RunConnection per thread; SharedCounters is shared by all of them
// and read by the monitor while they run (atomics, the error list under its mutex).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "batch_bodies.h"

namespace bench_e2e {

using Clock = std::chrono::steady_clock;
using bench_harness::BodyTemplate;

// 10 s, one overflow bucket. Workers add, the monitor drains it every interval.
class IntervalHistogram {
 public:
  void Record(uint32_t us) { buckets_[Index(us)].fetch_add(1, std::memory_order_relaxed); }

  // The interval's p99 in ms (the bucket's upper edge), and resets the counts.
  double TakeP99Ms() {
    std::vector<uint64_t> counts(kBuckets);
    uint64_t total = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      counts[i] = buckets_[i].exchange(0, std::memory_order_relaxed);
      total += counts[i];
    }
    if (total == 0) return 0;
    const uint64_t rank = (total * 99 + 99) / 100;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts[i];
      if (seen >= rank) return UpperEdgeMs(i);
    }
    return UpperEdgeMs(kBuckets - 1);
  }

 private:
  static constexpr size_t kFine = 1000;    // 0.1 ms each, up to 100 ms
  static constexpr size_t kCoarse = 9900;  // 1 ms each, up to 10 s
  static constexpr size_t kBuckets = kFine + kCoarse + 1;
  static size_t Index(uint32_t us) {
    if (us < 100'000) return us / 100;
    return kFine + std::min<size_t>((us - 100'000) / 1000, kCoarse);
  }
  static double UpperEdgeMs(size_t i) {
    return i < kFine ? (i + 1) * 0.1 : 100.0 + (i - kFine + 1) * 1.0;
  }
  std::atomic<uint64_t> buckets_[kBuckets] = {};
};

struct SharedCounters {
  std::atomic<uint64_t> requests_ok{0};
  std::atomic<uint64_t> events_accepted{0};
  std::atomic<uint64_t> requests_failed{0};   // non-200 answers: nothing accepted
  std::atomic<uint64_t> transport_errors{0};  // no answer: the outcome is unknown
  std::atomic<uint64_t> events_unknown{0};    // events of requests without an answer
  std::atomic<uint64_t> partial_batches{0};   // 200 with success:false
  std::atomic<uint64_t> latency_sum_us{0};
  std::atomic<uint64_t> latency_count{0};
  IntervalHistogram interval_latency;
  std::atomic<uint64_t> next_request{0};
  std::mutex errors_mu;
  std::vector<std::string> first_errors;

  void NoteError(std::string message) {
    std::lock_guard<std::mutex> lock(errors_mu);
    if (first_errors.size() < 8) first_errors.push_back(std::move(message));
  }
};

struct WorkerResult {
  std::vector<uint32_t> latency_us;            // from the moment the request was sent
  std::vector<uint32_t> scheduled_latency_us;  // from its scheduled time (--rate only)
};

struct LoadPlan {
  std::string url;
  std::string authorization;
  const std::vector<BodyTemplate>* templates = nullptr;
  size_t batch = 0;
  double rate = 0;  // events/s, 0: closed loop
  Clock::time_point start;
  Clock::time_point end;
};

// The request bodies of a run: the seeded corpus cut into /v1/batch bodies of `batch`
// events, every messageId of this run unique. Dies (exit 2) when a body would exceed
// the event API's 512 KB limit.
struct LoadBodies {
  std::vector<BodyTemplate> templates;
  double mean_body_bytes = 0;
  size_t corpus_events = 0;
  uint32_t run_nonce = 0;
};
// `bigint_per_mille` < 0 keeps the corpus generator's default.
LoadBodies BuildLoadBodies(size_t batch, size_t corpus_events, int bigint_per_mille = -1);

// Posts requests on one connection to `url` until the plan ends.
void RunConnection(const LoadPlan& plan, const std::string& url, SharedCounters& counters,
                   WorkerResult& result);

struct Percentiles {
  size_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, mean_ms = 0;
};

// Nearest-rank percentiles of latencies in microseconds.
Percentiles Summarise(std::vector<uint32_t> samples);

}  // namespace bench_e2e
