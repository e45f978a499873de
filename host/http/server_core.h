// The state one listener shares with its connections: I/O context, worker pool,
// connection accounting, stream threads and statistics. Internal to host/http.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "host/http/server.h"

namespace signal_host::http {

class Connection;

class HttpServer::Core {
 public:
  Core(ServerOptions options, Handler* handler);
  ~Core();  // Stop()

  absl::Status Start();
  void Stop();

  const ServerOptions& options() const { return options_; }
  Handler* handler() const { return handler_; }
  boost::asio::io_context& io() { return io_; }
  boost::asio::thread_pool& workers() { return *workers_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  int port() const { return port_; }

  // Connection accounting. Admit() is false when a limit is reached (the caller then
  // refuses the connection); every admitted connection calls Release() exactly once.
  bool AdmitConnection(const std::string& client, std::string* why);
  void ReleaseConnection(const std::string& client);
  // Refused connections are not counted against the limits but are waited for.
  void BeginRefused();
  void EndRefused();
  void Track(const std::shared_ptr<Connection>& connection);

  // Work handed to the pool, counted so Stop() can wait for it.
  void BeginWork();
  void EndWork();

  // Streams: a thread each, at most max_streams. A reserved slot is either run
  // (the thread releases it when the pump returns) or released.
  bool TryReserveStream();
  void ReleaseStream();
  void RunStream(std::function<void()> pump);

  void Log(std::string_view line) const;

  struct Counters {
    std::atomic<uint64_t> connections_accepted{0};
    std::atomic<uint64_t> refused_connection_limit{0};
    std::atomic<uint64_t> header_timeouts{0};
    std::atomic<uint64_t> body_timeouts{0};
    std::atomic<uint64_t> idle_closes{0};
    std::atomic<uint64_t> bodies_too_large{0};
    std::atomic<uint64_t> headers_too_large{0};
    std::atomic<uint64_t> malformed_requests{0};
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> accept_errors{0};
  };
  Counters& counters() { return counters_; }
  ServerStats Stats() const;

 private:
  void Accept();
  void OnAccept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  void CloseAllConnections();

  const ServerOptions options_;
  Handler* const handler_;

  // Declared before the I/O objects so that it outlives them: destroying the
  // io_context destroys handlers that hold the last references to connections, whose
  // destructors give their slots back here.
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::condition_variable streams_cv_;
  size_t open_ = 0;
  size_t refused_open_ = 0;
  std::unordered_map<std::string, size_t> per_client_;
  std::list<std::weak_ptr<Connection>> connections_;
  size_t track_sweep_ = 0;
  size_t work_in_progress_ = 0;
  size_t streams_open_ = 0;
  size_t stream_threads_running_ = 0;
  Counters counters_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;
  int port_ = -1;
  int64_t last_accept_error_log_ms_ = 0;

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> io_work_;
  std::unique_ptr<boost::asio::thread_pool> workers_;
  // The acceptor and its backoff timer are used by the accept handlers and by Stop()'s
  // close; with two I/O threads those could run at once, so they share a strand.
  boost::asio::strand<boost::asio::io_context::executor_type> accept_strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_backoff_;
  std::vector<std::thread> io_threads_;
};

}  // namespace signal_host::http
