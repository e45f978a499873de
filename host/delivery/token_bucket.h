// A token bucket: `rate` tokens per second refill up to `burst`; one vendor request
// takes one token. Time is passed in by the caller (a steady clock in nanoseconds),
// which makes the bucket deterministic under test.
#pragma once

#include <cstdint>

namespace signal_host::delivery {

class TokenBucket {
 public:
  // rate_per_s <= 0 means unlimited. burst < 1 is raised to 1. The bucket starts full.
  TokenBucket(double rate_per_s, double burst, int64_t now_ns);

  // Takes a token if one is available at now_ns.
  bool TryTake(int64_t now_ns);
  // Nanoseconds from now_ns until a token is available (0: available now).
  int64_t WaitNanos(int64_t now_ns);
  // Changes the rate and burst, keeping the tokens held (capped at the new burst).
  void Reconfigure(double rate_per_s, double burst, int64_t now_ns);

  bool unlimited() const { return rate_per_s_ <= 0; }
  double tokens(int64_t now_ns) {
    Refill(now_ns);
    return tokens_;
  }

 private:
  void Refill(int64_t now_ns);

  double rate_per_s_;
  double burst_;
  double tokens_;
  int64_t last_ns_;
};

}  // namespace signal_host::delivery
