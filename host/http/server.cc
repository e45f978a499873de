#include "host/http/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/strand.hpp>
#include <cstdio>

#include "host/http/ascii.h"
#include "host/http/connection.h"
#include "host/http/server_core.h"
#include "host/http/text.h"

namespace signal_host::http {

namespace net = boost::asio;
using net::ip::tcp;

namespace {

// Accept failures (out of descriptors, out of memory) are retried after this pause,
// never in a tight loop.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HttpServer::Core::Core(ServerOptions options, Handler* handler)
    : options_(std::move(options)),
      handler_(handler),
      accept_strand_(net::make_strand(io_)),
      acceptor_(accept_strand_),
      accept_backoff_(accept_strand_) {}

HttpServer::Core::~Core() { Stop(); }

void HttpServer::Core::Log(std::string_view line) const {
  if (options_.log) return options_.log(line);
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
}

absl::Status HttpServer::Core::Start() {
  boost::system::error_code ec;
  const net::ip::address address = net::ip::make_address(options_.bind_address, ec);
  if (ec) {
    return absl::InvalidArgumentError(Cat("\"", options_.bind_address, "\" is not an IP address"));
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
  auto fail = [&](std::string_view what) {
    return absl::UnavailableError(Cat("cannot listen on ", options_.bind_address, ":",
                                      options_.port, " (", options_.name, " API): ", what, ": ",
                                      ec.message()));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  // SO_REUSEADDR allows a quick restart over connections in TIME_WAIT; SO_REUSEPORT
  // is left off so that a second host cannot silently share the port.
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(options_.backlog, ec);
  if (ec) return fail("listen");
  port_ = acceptor_.local_endpoint(ec).port();
  workers_ = std::make_unique<net::thread_pool>(std::max(1, options_.worker_threads));
  started_ = true;
  // Keeps the I/O threads running while no socket operation is pending (every
  // connection waiting for a handler, the acceptor closed at shutdown).
  io_work_.emplace(io_.get_executor());
  Accept();
  const int io_threads = std::max(1, options_.io_threads);
  for (int i = 0; i < io_threads; ++i) {
    io_threads_.emplace_back([this] { io_.run(); });
  }
  return absl::OkStatus();
}

void HttpServer::Core::Accept() {
  acceptor_.async_accept(net::make_strand(io_),
                         [this](boost::system::error_code ec, tcp::socket socket) {
                           OnAccept(ec, std::move(socket));
                         });
}

void HttpServer::Core::OnAccept(boost::system::error_code ec, tcp::socket socket) {
  if (stopping()) return;
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    ++counters_.accept_errors;
    const int64_t now = SteadyMillis();
    if (now - last_accept_error_log_ms_ >= 10000) {
      last_accept_error_log_ms_ = now;
      Log(Cat(options_.name, " listener: accept failed (", ec.message(), "); pausing accepts for ",
              kAcceptBackoff.count(), " ms"));
    }
    accept_backoff_.expires_after(kAcceptBackoff);
    accept_backoff_.async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec && !stopping()) Accept();
    });
    return;
  }
  ++counters_.connections_accepted;
  boost::system::error_code ignored;
  // Small responses must not wait for the client's delayed ACK (Nagle): a 44 ms floor
  // on every request otherwise.
  socket.set_option(tcp::no_delay(true), ignored);
  const tcp::endpoint peer = socket.remote_endpoint(ignored);
  std::string client = peer.address().to_string();
  std::string why;
  if (AdmitConnection(client, &why)) {
    auto connection =
        std::make_shared<Connection>(std::move(socket), this, std::move(client), /*counted=*/true);
    Track(connection);
    connection->Start();
  } else {
    ++counters_.refused_connection_limit;
    Response busy = handler_->Error(503, "TOO_MANY_CONNECTIONS", why);
    busy.SetHeader("Retry-After", "1");
    busy.close = true;
    auto connection =
        std::make_shared<Connection>(std::move(socket), this, std::move(client), /*counted=*/false);
    connection->Refuse(std::move(busy));
  }
  Accept();
}

bool HttpServer::Core::AdmitConnection(const std::string& client, std::string* why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_ >= options_.max_connections) {
    *why = Cat("the ", options_.name, " API has ", open_,
               " open connections, its limit; try again shortly");
    return false;
  }
  size_t& mine = per_client_[client];
  if (options_.max_connections_per_client != 0 && mine >= options_.max_connections_per_client) {
    *why = Cat("this client has ", mine, " open connections to the ", options_.name,
               " API, the limit per client; reuse them or try again shortly");
    if (mine == 0) per_client_.erase(client);
    return false;
  }
  ++mine;
  ++open_;
  return true;
}

void HttpServer::Core::ReleaseConnection(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  --open_;
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  if (open_ == 0 && refused_open_ == 0) idle_cv_.notify_all();
}

void HttpServer::Core::Track(const std::shared_ptr<Connection>& connection) {
  std::lock_guard<std::mutex> lock(mu_);
  connections_.push_back(connection);
  // Forget ended connections now and then, so the list stays about as long as the
  // number of open ones.
  if (++track_sweep_ >= 256) {
    track_sweep_ = 0;
    connections_.remove_if([](const std::weak_ptr<Connection>& c) { return c.expired(); });
  }
}

void HttpServer::Core::BeginRefused() {
  std::lock_guard<std::mutex> lock(mu_);
  ++refused_open_;
}

void HttpServer::Core::EndRefused() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--refused_open_ == 0 && open_ == 0) idle_cv_.notify_all();
}

void HttpServer::Core::BeginWork() {
  std::lock_guard<std::mutex> lock(mu_);
  ++work_in_progress_;
}

void HttpServer::Core::EndWork() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--work_in_progress_ == 0) idle_cv_.notify_all();
}

bool HttpServer::Core::TryReserveStream() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping() || streams_open_ >= options_.max_streams) return false;
  ++streams_open_;
  return true;
}

void HttpServer::Core::ReleaseStream() {
  std::lock_guard<std::mutex> lock(mu_);
  --streams_open_;
  streams_cv_.notify_all();
}

void HttpServer::Core::RunStream(std::function<void()> pump) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stream_threads_running_;
  }
  // Detached, and waited for by Stop() through the count.
  std::thread([this, pump = std::move(pump)]() mutable {
    pump();
    pump = nullptr;  // drop the connection before announcing the end
    std::lock_guard<std::mutex> lock(mu_);
    --streams_open_;
    --stream_threads_running_;
    streams_cv_.notify_all();
  }).detach();
}

void HttpServer::Core::CloseAllConnections() {
  std::list<std::weak_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    connections.swap(connections_);
  }
  for (const auto& weak : connections) {
    if (auto connection = weak.lock()) connection->Close();
  }
}

void HttpServer::Core::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  stopping_.store(true, std::memory_order_release);
  net::post(accept_strand_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_backoff_.cancel();
  });
  std::unique_lock<std::mutex> lock(mu_);
  // Requests being handled finish and their answers go out; streams notice the stop
  // at their next step (a stream pump waits at most its write timeout).
  idle_cv_.wait_until(lock, std::chrono::steady_clock::now() + options_.drain_timeout,
                      [this] { return work_in_progress_ == 0; });
  streams_cv_.wait(lock, [this] { return stream_threads_running_ == 0; });
  lock.unlock();
  // Then every connection closes; their pending operations end at once.
  CloseAllConnections();
  lock.lock();
  idle_cv_.wait_until(lock, std::chrono::steady_clock::now() + std::chrono::seconds(5),
                      [this] { return open_ == 0 && refused_open_ == 0; });
  lock.unlock();
  workers_->join();
  io_work_.reset();
  io_.stop();
  for (std::thread& thread : io_threads_) thread.join();
}

ServerStats HttpServer::Core::Stats() const {
  ServerStats stats;
  stats.connections_accepted = counters_.connections_accepted.load();
  stats.refused_connection_limit = counters_.refused_connection_limit.load();
  stats.header_timeouts = counters_.header_timeouts.load();
  stats.body_timeouts = counters_.body_timeouts.load();
  stats.idle_closes = counters_.idle_closes.load();
  stats.bodies_too_large = counters_.bodies_too_large.load();
  stats.headers_too_large = counters_.headers_too_large.load();
  stats.malformed_requests = counters_.malformed_requests.load();
  stats.requests = counters_.requests.load();
  stats.accept_errors = counters_.accept_errors.load();
  std::lock_guard<std::mutex> lock(mu_);
  stats.connections_open = open_;
  return stats;
}

// ---- HttpServer -------------------------------------------------------------------

HttpServer::HttpServer(ServerOptions options, Handler* handler)
    : core_(std::make_unique<Core>(std::move(options), handler)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() { return core_->Start(); }
int HttpServer::port() const { return core_->port(); }
void HttpServer::Stop() { core_->Stop(); }
ServerStats HttpServer::Stats() const { return core_->Stats(); }

}  // namespace signal_host::http
