// A fixed number of PostgreSQL connections shared by threads: Acquire blocks (up to a
// timeout) for a free one and hands it out exclusively until the Lease is destroyed.
//
// A connection the server dropped (a restart, pg_terminate_backend) is noticed when
// it is handed out, or fails its query with Unavailable, and is replaced on a later
// Acquire. Reconnecting backs off (100 ms doubling to 5 s) while the server stays
// unreachable: during that time Acquire answers Unavailable at once instead of
// hammering the server, so a caller's own retry loop sees a clear error.
//
// Thread-safe. Connections are made lazily, except one at Open (to fail fast on a
// bad URL or an unreachable server).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "host/store/postgres/pg_connection.h"

namespace signal_host::pg {

struct PoolOptions {
  std::string url;
  size_t size = 4;
  std::chrono::milliseconds acquire_timeout{5000};
  std::string application_name = "signal-host";
  int connect_timeout_seconds = 5;
};

class Pool {
 public:
  // Exclusive use of one connection; returns it to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) {
      other.pool_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const { return *pool_->slots_[slot_]; }
    Connection* operator->() const { return pool_->slots_[slot_].get(); }

   private:
    friend class Pool;
    Lease(Pool* pool, size_t slot) : pool_(pool), slot_(slot) {}
    Pool* pool_;
    size_t slot_;
  };

  // Unavailable when the server cannot be reached; InvalidArgument for size 0.
  static absl::StatusOr<std::unique_ptr<Pool>> Open(const PoolOptions& options);
  ~Pool();

  // Unavailable when no connection came free within the timeout or the server is
  // unreachable (backing off).
  absl::StatusOr<Lease> Acquire();

 private:
  explicit Pool(const PoolOptions& options);
  void Release(size_t slot);
  // Makes sure the slot holds a working connection; called without mu_ held.
  absl::Status Ready(size_t slot);

  const PoolOptions options_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> slots_;  // a slot is only touched by its holder
  std::vector<size_t> free_;
  // Reconnect backoff, shared by all slots.
  std::chrono::steady_clock::time_point next_connect_{};
  std::chrono::milliseconds connect_backoff_{0};
  std::string last_connect_error_;
};

}  // namespace signal_host::pg
