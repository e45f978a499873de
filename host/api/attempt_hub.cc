#include "attempt_hub.h"

namespace signal_host::api {

std::optional<AttemptRecord> AttemptHub::Subscription::Next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); });
  if (closed_ || queue_.empty()) return std::nullopt;
  AttemptRecord attempt = std::move(queue_.front());
  queue_.pop_front();
  return attempt;
}

bool AttemptHub::Subscription::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

uint64_t AttemptHub::Subscription::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

std::shared_ptr<AttemptHub::Subscription> AttemptHub::Subscribe() {
  auto subscription = std::make_shared<Subscription>();
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) {
    subscription->closed_ = true;
  } else {
    subscriptions_.insert(subscription);
  }
  return subscription;
}

void AttemptHub::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  std::lock_guard<std::mutex> lock(mu_);
  subscriptions_.erase(subscription);
}

void AttemptHub::Publish(const AttemptRecord& attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& subscription : subscriptions_) {
    {
      std::lock_guard<std::mutex> inner(subscription->mu_);
      if (subscription->queue_.size() >= queue_limit_) {
        subscription->queue_.pop_front();
        ++subscription->dropped_;
      }
      subscription->queue_.push_back(attempt);
    }
    subscription->cv_.notify_one();
  }
}

void AttemptHub::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  for (const auto& subscription : subscriptions_) {
    {
      std::lock_guard<std::mutex> inner(subscription->mu_);
      subscription->closed_ = true;
    }
    subscription->cv_.notify_all();
  }
  subscriptions_.clear();
}

size_t AttemptHub::subscribers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subscriptions_.size();
}

}  // namespace signal_host::api
