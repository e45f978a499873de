// Full-jitter exponential backoff with a floor from the vendor's Retry-After:
//   delay = max(retry_after, random(0, min(max_backoff, initial * 2^(attempt-1)))).
// The random source is injectable so tests are deterministic.
#pragma once

#include <cstdint>
#include <functional>
#include <random>

namespace signal_host::delivery {

class Backoff {
 public:
  // Returns a uniformly chosen integer in [0, upper]. Must be safe to call from the
  // thread that owns the Backoff.
  using RandomFn = std::function<uint64_t(uint64_t upper)>;

  // An empty `random` uses a generator seeded from std::random_device.
  Backoff(uint64_t initial_ms, uint64_t max_ms, RandomFn random = nullptr);
  // The default random source refers to this object's engine.
  Backoff(const Backoff&) = delete;
  Backoff& operator=(const Backoff&) = delete;

  // The cap before jitter for a retry after the `attempt`-th failed attempt (>= 1).
  uint64_t CeilingMs(uint32_t attempt) const;
  // The delay before the next attempt, never below retry_after_ms.
  uint64_t DelayMs(uint32_t attempt, uint64_t retry_after_ms = 0);

  void Reconfigure(uint64_t initial_ms, uint64_t max_ms) {
    initial_ms_ = initial_ms;
    max_ms_ = max_ms;
  }

 private:
  uint64_t initial_ms_;
  uint64_t max_ms_;
  RandomFn random_;
  std::mt19937_64 engine_;
};

}  // namespace signal_host::delivery
