#include "host/delivery/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace signal_host::delivery {

TokenBucket::TokenBucket(double rate_per_s, double burst, int64_t now_ns)
    : rate_per_s_(rate_per_s), burst_(std::max(1.0, burst)), tokens_(burst_), last_ns_(now_ns) {}

void TokenBucket::Refill(int64_t now_ns) {
  // A clock that steps back refills nothing instead of draining the bucket.
  if (now_ns <= last_ns_) return;
  if (rate_per_s_ > 0) {
    tokens_ = std::min(burst_, tokens_ + (now_ns - last_ns_) * rate_per_s_ / 1e9);
  }
  last_ns_ = now_ns;
}

bool TokenBucket::TryTake(int64_t now_ns) {
  if (unlimited()) return true;
  Refill(now_ns);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

int64_t TokenBucket::WaitNanos(int64_t now_ns) {
  if (unlimited()) return 0;
  Refill(now_ns);
  if (tokens_ >= 1.0) return 0;
  const double missing = 1.0 - tokens_;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(missing * 1e9 / rate_per_s_)));
}

void TokenBucket::Reconfigure(double rate_per_s, double burst, int64_t now_ns) {
  Refill(now_ns);
  rate_per_s_ = rate_per_s;
  burst_ = std::max(1.0, burst);
  tokens_ = std::min(tokens_, burst_);
}

}  // namespace signal_host::delivery
