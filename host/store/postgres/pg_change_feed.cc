#include "host/store/postgres/pg_change_feed.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"

namespace signal_host::pg {
namespace {

constexpr int kFirstBackoffMs = 100;
constexpr int kMaxBackoffMs = 5000;

absl::StatusOr<std::unique_ptr<Connection>> ConnectAndListen(const std::string& url) {
  absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(url, kFeedApplicationName);
  if (!conn.ok()) return conn.status();
  // LISTEN takes an identifier, not a parameter; the channel name is a constant.
  if (absl::Status listen = (*conn)->Run(absl::StrCat("LISTEN ", kConfigChangesChannel));
      !listen.ok()) {
    return listen;
  }
  return conn;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgChangeFeed>> PgChangeFeed::Start(const std::string& url) {
  absl::StatusOr<std::unique_ptr<Connection>> conn = ConnectAndListen(url);
  if (!conn.ok()) return conn.status();
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError("config change feed: cannot create its wake-up pipe");
  }
  std::unique_ptr<PgChangeFeed> feed(
      new PgChangeFeed(url, *std::move(conn), pipe_fds[0], pipe_fds[1]));
  feed->thread_ = std::thread([raw = feed.get()] { raw->Run(); });
  return feed;
}

PgChangeFeed::PgChangeFeed(std::string url, std::unique_ptr<Connection> conn, int wake_read,
                           int wake_write)
    : url_(std::move(url)),
      conn_(std::move(conn)),
      wake_read_(wake_read),
      wake_write_(wake_write) {}

PgChangeFeed::~PgChangeFeed() {
  stopping_ = true;
  const char byte = 1;
  if (write(wake_write_, &byte, 1) < 0) {
    // The pipe is full: the thread has a wake-up pending anyway.
  }
  if (thread_.joinable()) thread_.join();
  conn_.reset();
  close(wake_read_);
  close(wake_write_);
}

void PgChangeFeed::SetListener(Listener listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  listener_ = std::move(listener);
}

void PgChangeFeed::Deliver(std::string_view integration_id) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  if (listener_) listener_(integration_id);
}

void PgChangeFeed::Run() {
  while (!stopping_) {
    Drain();
    if (stopping_ || !Reconnect()) return;
    ++reconnects_;
    Deliver("");  // notices may have been sent while the connection was down
  }
}

void PgChangeFeed::Drain() {
  while (!stopping_) {
    pollfd fds[2] = {{.fd = PQsocket(conn_->handle()), .events = POLLIN, .revents = 0},
                     {.fd = wake_read_, .events = POLLIN, .revents = 0}};
    if (fds[0].fd < 0) return;
    int ready = poll(fds, 2, /*timeout_ms=*/1000);
    if (ready < 0) continue;  // EINTR
    if (fds[1].revents != 0) return;
    if (ready == 0) continue;
    if (PQconsumeInput(conn_->handle()) == 0 || conn_->Broken()) return;
    while (PGnotify* notify = PQnotifies(conn_->handle())) {
      std::string id = notify->extra ? notify->extra : "";
      PQfreemem(notify);
      Deliver(id);
    }
    if (conn_->Broken()) return;
  }
}

bool PgChangeFeed::Reconnect() {
  conn_.reset();
  int backoff_ms = kFirstBackoffMs;
  for (;;) {
    if (!SleepUnlessStopped(backoff_ms)) return false;
    absl::StatusOr<std::unique_ptr<Connection>> conn = ConnectAndListen(url_);
    if (conn.ok()) {
      conn_ = *std::move(conn);
      return true;
    }
    std::fprintf(stderr, "config change feed: %s; retrying in %d ms\n",
                 std::string(conn.status().message()).c_str(),
                 std::min(backoff_ms * 2, kMaxBackoffMs));
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
  }
}

bool PgChangeFeed::SleepUnlessStopped(int ms) {
  pollfd fd{.fd = wake_read_, .events = POLLIN, .revents = 0};
  if (stopping_) return false;
  poll(&fd, 1, ms);
  return !stopping_;
}

}  // namespace signal_host::pg
