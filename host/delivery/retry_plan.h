// The retry policy applied to a failed attempt at a group of events, whatever
// failed: the vendor (TRANSIENT, THROTTLE), Classify, or Translate. Each event is
// retried with full-jitter backoff until BOTH its attempts reach max_attempts AND
// retry_window_s has passed since its first attempt; then it is given up.
#pragma once

#include <cstdint>
#include <vector>

#include "host/delivery/backoff.h"
#include "host/delivery/work_items.h"
#include "signal/integration/v1/integration.pb.h"

namespace signal_host::delivery {

struct RetryPlan {
  std::vector<size_t> retry;    // indexes into the items
  std::vector<size_t> give_up;  // indexes into the items
  uint32_t retry_attempt = 0;   // highest attempt count among `retry` after this one
  uint64_t delay_ms = 0;        // 0 when nothing is retried
  int64_t next_attempt_at_ms = 0;
};

// `attempted_at_ms`: when the failed attempt was made (its events' first attempt if
// they had none). `retry_after_ms`: the vendor's floor for the delay (0: none).
RetryPlan PlanRetry(const std::vector<Item>& items, int64_t attempted_at_ms, int64_t now_ms,
                    const signal::integration::v1::RetryPolicy& policy, Backoff& backoff,
                    uint64_t retry_after_ms = 0);

}  // namespace signal_host::delivery
