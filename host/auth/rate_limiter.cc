#include "host/auth/rate_limiter.h"

#include <algorithm>

namespace signal_host {

RateLimiter::RateLimiter(RateLimiterOptions options) : options_(options) {}

void RateLimiter::DropExpired(UserLog& log, absl::Time now) const {
  while (!log.allowed.empty() && log.allowed.front() <= now - options_.window) {
    log.allowed.pop_front();
  }
}

void RateLimiter::EvictLocked(absl::Time now) {
  // Idle users (nothing allowed within the window) carry no state worth keeping.
  absl::erase_if(
      users_, [&](const auto& entry) { return entry.second.last_seen <= now - options_.window; });
  while (users_.size() >= options_.max_tracked_users && !users_.empty()) {
    auto oldest = users_.begin();
    for (auto it = users_.begin(); it != users_.end(); ++it) {
      if (it->second.last_seen < oldest->second.last_seen) oldest = it;
    }
    users_.erase(oldest);
  }
}

RateDecision RateLimiter::Acquire(std::string_view user, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  // An amortised sweep keeps idle users from lingering even below the cap.
  if (++calls_since_sweep_ >= 4096) {
    calls_since_sweep_ = 0;
    EvictLocked(now);
  }
  auto it = users_.find(absl::string_view(user.data(), user.size()));
  if (it == users_.end()) {
    if (users_.size() >= options_.max_tracked_users) EvictLocked(now);
    it = users_.emplace(std::string(user), UserLog{}).first;
  }
  UserLog& log = it->second;
  DropExpired(log, now);
  RateDecision decision;
  if (options_.limit <= 0) {
    decision.retry_after_seconds = std::max<int64_t>(1, absl::ToInt64Seconds(options_.window));
    return decision;
  }
  if (log.allowed.size() < static_cast<size_t>(options_.limit)) {
    log.allowed.push_back(now);
    log.last_seen = now;
    decision.allowed = true;
    decision.remaining = options_.limit - static_cast<int>(log.allowed.size());
    return decision;
  }
  absl::Duration wait = log.allowed.front() + options_.window - now;
  decision.retry_after_seconds =
      std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))));
  return decision;
}

size_t RateLimiter::TrackedUsers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return users_.size();
}

}  // namespace signal_host
