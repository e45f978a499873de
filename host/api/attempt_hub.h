// Fan-out of delivery attempts to live-event streams (SSE). The delivery engine
// publishes every attempt record; each open stream holds a bounded queue and drops
// its oldest entries when a slow reader falls behind, so publishing never blocks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "host/store/attempt_log.h"

namespace signal_host::api {

class AttemptHub {
 public:
  class Subscription {
   public:
    // The next attempt, or nullopt after `timeout` or once the hub is closed.
    std::optional<AttemptRecord> Next(std::chrono::milliseconds timeout);
    bool closed() const;
    // Attempts this subscriber lost because it read too slowly.
    uint64_t dropped() const;

   private:
    friend class AttemptHub;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<AttemptRecord> queue_;
    uint64_t dropped_ = 0;
    bool closed_ = false;
  };

  explicit AttemptHub(size_t queue_limit = 1000) : queue_limit_(queue_limit) {}

  std::shared_ptr<Subscription> Subscribe();
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);
  void Publish(const AttemptRecord& attempt);
  // Wakes and ends every subscription; later subscriptions start closed.
  void Close();
  size_t subscribers() const;

 private:
  const size_t queue_limit_;
  mutable std::mutex mu_;
  std::set<std::shared_ptr<Subscription>> subscriptions_;
  bool closed_ = false;
};

}  // namespace signal_host::api
