// ConfigChangeFeed over PostgreSQL LISTEN/NOTIFY: one dedicated connection LISTENs on
// channel `signal_config_changes` (every write that changes an integration sends a
// NOTIFY with its id in the same transaction, so a notice arrives only once the
// change is committed and visible). A background thread waits on the socket (and on a
// wake-up pipe, so the destructor returns promptly) and calls the listener per notice.
// When the connection is lost it reconnects with backoff (100 ms doubling to 5 s) and
// then calls the listener with "" once: notices sent while it was away are lost, so
// the listener re-reads everything.
//
// Thread-safe. The listener runs on the feed's thread; SetListener waits for a call in
// progress, so once it returns the old listener is never called again (so a listener
// must not call SetListener itself). The destructor returns within ~a poll interval,
// or after an in-flight connect attempt (connect_timeout 5 s) while the server is away.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "host/store/config_changes.h"
#include "host/store/postgres/pg_connection.h"

namespace signal_host::pg {

inline constexpr char kConfigChangesChannel[] = "signal_config_changes";
inline constexpr char kFeedApplicationName[] = "signal-config-feed";

class PgChangeFeed : public ConfigChangeFeed {
 public:
  // Connects and LISTENs before returning, so no change committed after Start
  // returns is missed. Unavailable when the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<PgChangeFeed>> Start(const std::string& url);
  ~PgChangeFeed() override;

  void SetListener(Listener listener) override;

  // Times the feed has re-established its connection (for tests and metrics).
  int reconnects() const { return reconnects_.load(); }

 private:
  PgChangeFeed(std::string url, std::unique_ptr<Connection> conn, int wake_read, int wake_write);
  void Run();
  // Waits for notices until the connection fails or the feed stops.
  void Drain();
  // Reconnects with backoff; false when the feed stops first.
  bool Reconnect();
  void Deliver(std::string_view integration_id);
  // Sleeps up to `ms`; false when woken to stop.
  bool SleepUnlessStopped(int ms);

  const std::string url_;
  std::unique_ptr<Connection> conn_;  // only the feed thread uses it after Start
  const int wake_read_;
  const int wake_write_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> reconnects_{0};
  std::mutex listener_mu_;  // held while the listener runs
  Listener listener_;
  std::thread thread_;
};

}  // namespace signal_host::pg
