#include "host/delivery/backoff.h"

#include <algorithm>

namespace signal_host::delivery {

Backoff::Backoff(uint64_t initial_ms, uint64_t max_ms, RandomFn random)
    : initial_ms_(initial_ms), max_ms_(max_ms), random_(std::move(random)) {
  if (!random_) {
    std::random_device device;
    engine_.seed((static_cast<uint64_t>(device()) << 32) ^ device());
    random_ = [this](uint64_t upper) {
      return std::uniform_int_distribution<uint64_t>(0, upper)(engine_);
    };
  }
}

uint64_t Backoff::CeilingMs(uint32_t attempt) const {
  const uint32_t doublings = attempt == 0 ? 0 : attempt - 1;
  uint64_t ceiling = initial_ms_;
  // Doubling stops at the cap, so no shift can overflow.
  for (uint32_t i = 0; i < doublings && ceiling < max_ms_; ++i) {
    ceiling = ceiling > max_ms_ / 2 ? max_ms_ : ceiling * 2;
  }
  return std::min(ceiling, max_ms_);
}

uint64_t Backoff::DelayMs(uint32_t attempt, uint64_t retry_after_ms) {
  const uint64_t ceiling = CeilingMs(attempt);
  const uint64_t jittered = ceiling == 0 ? 0 : std::min(random_(ceiling), ceiling);
  return std::max(jittered, retry_after_ms);
}

}  // namespace signal_host::delivery
