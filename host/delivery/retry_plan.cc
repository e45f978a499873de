#include "host/delivery/retry_plan.h"

#include <algorithm>

namespace signal_host::delivery {

RetryPlan PlanRetry(const std::vector<Item>& items, int64_t attempted_at_ms, int64_t now_ms,
                    const signal::integration::v1::RetryPolicy& policy, Backoff& backoff,
                    uint64_t retry_after_ms) {
  RetryPlan plan;
  const int64_t window_ms = static_cast<int64_t>(policy.retry_window_s()) * 1000;
  for (size_t i = 0; i < items.size(); ++i) {
    const QueuedEvent& event = items[i].event;
    const uint32_t attempts_after = event.attempts + 1;
    const int64_t first =
        event.first_attempt_at_ms > 0 ? event.first_attempt_at_ms : attempted_at_ms;
    if (attempts_after >= policy.max_attempts() && now_ms - first >= window_ms) {
      plan.give_up.push_back(i);
    } else {
      plan.retry.push_back(i);
      plan.retry_attempt = std::max(plan.retry_attempt, attempts_after);
    }
  }
  if (!plan.retry.empty()) {
    plan.delay_ms = backoff.DelayMs(plan.retry_attempt, retry_after_ms);
    plan.next_attempt_at_ms = now_ms + static_cast<int64_t>(plan.delay_ms);
  }
  return plan;
}

}  // namespace signal_host::delivery
