// Per-user request limit over a rolling window (Signal: 100 requests per minute per
// authenticated user). Exact sliding log: a request is allowed when fewer than
// `limit` of the user's allowed requests fall in the last `window`. Refused requests
// do not count. Thread-safe. Memory is bounded: users idle for a whole window hold no
// state and are dropped, and at most `max_tracked_users` are tracked (beyond that the
// least recently active user is forgotten, which can only grant them extra requests).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace signal_host {

struct RateLimiterOptions {
  int limit = 100;
  absl::Duration window = absl::Minutes(1);
  size_t max_tracked_users = 10000;
};

struct RateDecision {
  bool allowed = false;
  // When refused: whole seconds until a slot frees (>= 1), for Retry-After.
  int64_t retry_after_seconds = 0;
  // When allowed: requests left in the current window.
  int remaining = 0;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimiterOptions options = {});

  RateDecision Acquire(std::string_view user, absl::Time now);
  RateDecision Acquire(std::string_view user) { return Acquire(user, absl::Now()); }

  size_t TrackedUsers() const;

 private:
  struct UserLog {
    std::deque<absl::Time> allowed;  // times of allowed requests in the window, oldest first
    absl::Time last_seen;
  };
  void DropExpired(UserLog& log, absl::Time now) const;
  void EvictLocked(absl::Time now);

  const RateLimiterOptions options_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, UserLog> users_;
  uint64_t calls_since_sweep_ = 0;
};

}  // namespace signal_host
