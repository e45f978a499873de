#include "host/store/postgres/pg_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace signal_host::pg {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

}  // namespace

Pool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_);
}

Pool::Pool(const PoolOptions& options) : options_(options), slots_(options.size) {
  for (size_t i = options.size; i > 0; --i) free_.push_back(i - 1);
}

Pool::~Pool() = default;

absl::StatusOr<std::unique_ptr<Pool>> Pool::Open(const PoolOptions& options) {
  if (options.size == 0) return absl::InvalidArgumentError("a pool needs at least 1 connection");
  std::unique_ptr<Pool> pool(new Pool(options));
  absl::StatusOr<std::unique_ptr<Connection>> first =
      Connection::Open(options.url, options.application_name, options.connect_timeout_seconds);
  if (!first.ok()) return first.status();
  pool->slots_[0] = *std::move(first);
  return pool;
}

absl::StatusOr<Pool::Lease> Pool::Acquire() {
  size_t slot = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!freed_.wait_for(lock, options_.acquire_timeout, [this] { return !free_.empty(); })) {
      return absl::UnavailableError(absl::StrCat("postgres: all ", options_.size,
                                                 " connections stayed busy for ",
                                                 options_.acquire_timeout.count(), " ms"));
    }
    slot = free_.back();
    free_.pop_back();
  }
  Lease lease(this, slot);  // gives the slot back on every path out
  if (absl::Status ready = Ready(slot); !ready.ok()) return ready;
  return lease;
}

absl::Status Pool::Ready(size_t slot) {
  std::unique_ptr<Connection>& conn = slots_[slot];
  if (conn != nullptr) {
    conn->CheckIdle();
    if (!conn->Broken()) return absl::OkStatus();
    conn.reset();
  }
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now < next_connect_) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_connect_ - now);
      return absl::UnavailableError(absl::StrCat("postgres: unreachable (", last_connect_error_,
                                                 "); next try in ", wait.count(), " ms"));
    }
  }
  absl::StatusOr<std::unique_ptr<Connection>> fresh =
      Connection::Open(options_.url, options_.application_name, options_.connect_timeout_seconds);
  std::lock_guard<std::mutex> lock(mu_);
  if (!fresh.ok()) {
    connect_backoff_ = std::clamp(connect_backoff_ * 2, kFirstBackoff, kMaxBackoff);
    next_connect_ = std::chrono::steady_clock::now() + connect_backoff_;
    last_connect_error_ = std::string(fresh.status().message());
    return fresh.status();
  }
  connect_backoff_ = std::chrono::milliseconds(0);
  next_connect_ = {};
  conn = *std::move(fresh);
  return absl::OkStatus();
}

void Pool::Release(size_t slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
  }
  freed_.notify_one();
}

}  // namespace signal_host::pg
