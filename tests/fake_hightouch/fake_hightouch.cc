#include "fake_hightouch.h"

#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/numeric/int128.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "faults.h"
#include "ingest_parse.h"

namespace fake_hightouch {
namespace {

using internal::AppendJsonString;
using internal::FaultSpec;
using internal::FaultTarget;

constexpr char kJson[] = "application/json";
constexpr size_t kRequestHistory = 256;
constexpr size_t kBodyPrefixBytes = 4096;
// Sources have no real timestamps here; a fixed one keeps answers reproducible.
constexpr char kSourceTimestamp[] = "2024-01-01T00:00:00.000Z";

std::string ErrorBody(std::string_view message) {
  std::string body = "{\"error\":";
  AppendJsonString(body, message);
  body += "}";
  return body;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Injected status";
  }
}

bool IsAllDigits(std::string_view text) {
  return !text.empty() && text.size() <= 18 && (text.size() == 1 || text[0] != '0') &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A number when the text is a plain integer, else a JSON string.
void AppendIdValue(std::string& out, std::string_view id) {
  if (IsAllDigits(id)) {
    out += id;
  } else {
    AppendJsonString(out, id);
  }
}

std::string Slug(std::string_view name) {
  std::string slug;
  for (char c : name) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      slug.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    } else if (!slug.empty() && slug.back() != '-') {
      slug.push_back('-');
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug;
}

// "Basic <base64(key:)>" or "Basic <base64(key)>" → key; nullopt when absent or malformed.
std::optional<std::string> BasicAuthKey(const httplib::Request& req) {
  if (!req.has_header("Authorization")) return std::nullopt;
  const std::string header = req.get_header_value("Authorization");
  const absl::string_view value = header;
  if (value.size() < 6 || !absl::EqualsIgnoreCase(value.substr(0, 6), "Basic ")) {
    return std::nullopt;
  }
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(value.substr(6)), &decoded)) {
    return std::nullopt;
  }
  if (!decoded.empty() && decoded.back() == ':') decoded.pop_back();
  return decoded;
}

std::optional<std::string> BearerToken(const httplib::Request& req) {
  const std::string header = req.get_header_value("Authorization");
  const absl::string_view value = header;
  if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
    return std::nullopt;
  }
  return std::string(absl::StripAsciiWhitespace(value.substr(7)));
}

std::string NumericHost(const sockaddr_storage& addr, socklen_t len, int* port) {
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), service,
                  sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "";
  }
  *port = std::atoi(service);
  return host;
}

// httplib gives handlers no access to their socket, so connections are found by address:
// every open TCP socket of the process whose local end is this server's (and, when given,
// whose peer is `peer_addr:peer_port`) is shut down. Used to drop a request without an
// answer and to end idle keep-alive connections on Stop().
void ShutdownServerSockets(std::string_view local_addr, int local_port, std::string_view peer_addr,
                           int peer_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const bool any_local_addr = local_addr.empty() || local_addr == "0.0.0.0" || local_addr == "::";
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        (local.ss_family != AF_INET && local.ss_family != AF_INET6)) {
      continue;
    }
    int port = 0;
    const std::string host = NumericHost(local, local_len, &port);
    if (port != local_port || (!any_local_addr && host != local_addr)) continue;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
      continue;  // the listening socket, or already disconnected
    }
    if (!peer_addr.empty()) {
      int remote_port = 0;
      if (NumericHost(peer, peer_len, &remote_port) != peer_addr || remote_port != peer_port) {
        continue;
      }
    }
    // Abortive close: the final close() by httplib then sends a reset.
    linger abort_on_close{1, 0};
    setsockopt(static_cast<int>(fd), SOL_SOCKET, SO_LINGER, &abort_on_close,
               sizeof(abort_on_close));
    shutdown(static_cast<int>(fd), SHUT_RDWR);
  }
  closedir(dir);
}

// Message ids are remembered by a 128-bit fingerprint from two unrelated hash functions rather
// than by their text (about 20 bytes each instead of about 90, and no allocation per id); a
// false duplicate among even 10^8 distinct ids has a probability below 10^-20.
// One line of the message id log.
void AppendIdLine(std::string& out, std::string_view message_id) {
  const size_t start = out.size();
  out.append(message_id);
  for (size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
  }
  out.push_back('\n');
}

// Writes all of `text` (nothing to do for fd -1); false with errno on failure.
bool WriteAll(int fd, std::string_view text) {
  while (fd >= 0 && !text.empty()) {
    const ssize_t written = write(fd, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    text.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

absl::uint128 MessageIdFingerprint(std::string_view message_id) {
  return absl::MakeUint128(absl::Hash<std::string_view>{}(message_id),
                           std::hash<std::string_view>{}(message_id));
}

// One connection's socket as httplib reads and writes it. httplib's own stream reads request
// bodies 4 KB at a time, each read behind a poll(), and its keep-alive wait wakes every few
// milliseconds: receiving one 300 KB batch took ~150 system calls, about a third of the fake's
// CPU time under load. This one reads whatever the socket holds (up to 256 KB) per call, keeps
// unread bytes for the connection's next request, and waits in a single poll().
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int sock, int read_timeout_ms, int write_timeout_ms)
      : sock_(sock),
        read_timeout_ms_(read_timeout_ms),
        write_timeout_ms_(write_timeout_ms),
        buffer_(kBufferBytes) {}

  // True when a request has started to arrive (or the peer closed) within `timeout_ms`.
  bool WaitForRequest(int timeout_ms) const { return begin_ < end_ || Poll(POLLIN, timeout_ms); }

  bool is_readable() const override { return begin_ < end_ || Poll(POLLIN, read_timeout_ms_); }
  bool is_writable() const override { return Poll(POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, size_t size) override {
    if (begin_ == end_) {
      const ssize_t filled = Fill();
      if (filled <= 0) return filled;
    }
    const size_t count = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.data() + begin_, count);
    begin_ += count;
    return static_cast<ssize_t>(count);
  }

  ssize_t write(const char* ptr, size_t size) override {
    while (true) {
      const ssize_t sent = send(sock_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent >= 0) return sent;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !is_writable()) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(getsockname, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  static constexpr size_t kBufferBytes = 256 * 1024;

  bool Poll(short events, int timeout_ms) const {
    pollfd descriptor{sock_, events, 0};
    while (true) {
      const int ready = poll(&descriptor, 1, timeout_ms);
      if (ready >= 0) return ready > 0;
      if (errno != EINTR) return false;
    }
  }

  // Refills the empty buffer: > 0 bytes read, 0 at end of stream, -1 on error or timeout.
  ssize_t Fill() {
    begin_ = end_ = 0;
    while (true) {
      const ssize_t received = recv(sock_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
      if (received >= 0) {
        end_ = static_cast<size_t>(received);
        return received;
      }
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !Poll(POLLIN, read_timeout_ms_)) return -1;
    }
  }

  void SocketAddress(int (*get)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    port = 0;
    ip.clear();
    if (get(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      ip = NumericHost(address, length, &port);
    }
  }

  const int sock_;
  const int read_timeout_ms_;
  const int write_timeout_ms_;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
  size_t end_ = 0;
};

// httplib's server with each connection served through a ConnectionStream; routing, parsing
// and answers stay httplib's.
class BufferedServer final : public httplib::Server {
 private:
  bool process_and_close_socket(socket_t sock) override {
    const auto milliseconds = [](time_t seconds, time_t microseconds) {
      return static_cast<int>(seconds * 1000 + microseconds / 1000);
    };
    bool served = false;
    {
      ConnectionStream stream(sock, milliseconds(read_timeout_sec_, read_timeout_usec_),
                              milliseconds(write_timeout_sec_, write_timeout_usec_));
      for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET;
           --left) {
        if (!stream.WaitForRequest(milliseconds(keep_alive_timeout_sec_, 0))) break;
        bool connection_closed = false;
        served = process_request(stream, left == 1, connection_closed, nullptr);
        if (!served || connection_closed) break;
      }
    }
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return served;
  }
};

std::string HttpDateAfter(int64_t seconds) {
  const int64_t now =
      static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch())));
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::FromUnixSeconds(now + seconds),
                          absl::UTCTimeZone());
}

}  // namespace

std::string Stats::ToJson() const {
  std::string out = "{\"requests_by_status\":{";
  bool first = true;
  for (const auto& [status, count] : requests_by_status) {
    absl::StrAppend(&out, first ? "" : ",", "\"", status, "\":", count);
    first = false;
  }
  out += "},\"requests_by_path\":{";
  first = true;
  for (const auto& [path, count] : requests_by_path) {
    if (!first) out += ",";
    AppendJsonString(out, path);
    absl::StrAppend(&out, ":", count);
    first = false;
  }
  absl::StrAppend(
      &out, "},\"events_accepted\":", events_accepted, ",\"events_recorded\":", events_recorded,
      ",\"duplicate_message_ids\":", duplicate_message_ids, ",\"bytes_received\":", bytes_received,
      ",\"connections_reset\":", connections_reset, ",\"requests_hung\":", requests_hung, "}");
  return out;
}

std::string RequestRecord::ToJson() const {
  std::string out = "{\"method\":";
  AppendJsonString(out, method);
  out += ",\"path\":";
  AppendJsonString(out, path);
  absl::StrAppend(&out, ",\"status\":", status, ",\"body_bytes\":", body_bytes,
                  ",\"event_count\":", event_count, ",\"headers\":{");
  bool first = true;
  for (const auto& [name, value] : headers) {
    if (!first) out += ",";
    AppendJsonString(out, name);
    out += ":";
    AppendJsonString(out, value);
    first = false;
  }
  out += "},\"body_prefix\":";
  AppendJsonString(out, body_prefix);
  out += "}";
  return out;
}

class FakeHightouch::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {
    write_keys_.insert(options_.write_keys.begin(), options_.write_keys.end());
    api_keys_.insert(options_.api_keys.begin(), options_.api_keys.end());
    for (const Source& source : options_.sources) sources_[source.id] = source;
  }

  ~Impl() {
    Stop();
    if (message_id_log_fd_ >= 0) close(message_id_log_fd_);
  }

  absl::Status Start();
  void Stop();
  int port() const { return port_; }

  // The host part of base_url(): wildcard binds are reached through loopback.
  std::string UrlHost() const {
    const std::string& host = options_.host;
    if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
    if (host == "::") return "[::1]";
    if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]");
    return host;
  }

  std::vector<std::string> AcceptedEvents() const {
    std::lock_guard<std::mutex> lock(records_mu_);
    return events_;
  }

  std::vector<RequestRecord> RecentRequests() const {
    std::lock_guard<std::mutex> lock(records_mu_);
    return {requests_.begin(), requests_.end()};
  }

  Stats GetStats() const {
    std::lock_guard<std::mutex> lock(records_mu_);
    return stats_;
  }

  bool WaitForAcceptedEvents(uint64_t count, absl::Duration timeout) const {
    std::unique_lock<std::mutex> lock(records_mu_);
    return records_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                                [&] { return stats_.events_accepted >= count; });
  }

  absl::Status SetFaults(std::string_view json) {
    auto spec = internal::ParseFaults(json);
    if (!spec.ok()) return spec.status();
    InstallFaults(*std::move(spec));
    return absl::OkStatus();
  }

  void ClearFaults() { InstallFaults(FaultSpec{}); }

  std::string FaultsJson() const {
    std::lock_guard<std::mutex> lock(faults_mu_);
    return internal::FaultsToJson(*faults_, statuses_used_, resets_left_);
  }

  void Reset() {
    ClearFaults();
    {
      std::lock_guard<std::mutex> lock(records_mu_);
      events_.clear();
      events_.shrink_to_fit();
      seen_message_ids_ = {};
      requests_.clear();
      stats_ = Stats{};
    }
    std::lock_guard<std::mutex> lock(rest_mu_);
    rest_calls_.clear();
  }

 private:
  // What the faults say about one request.
  struct FaultDecision {
    bool reset = false;
    bool hang = false;
    std::chrono::milliseconds latency{0};
    int status = 0;  // 0 or 200: normal processing
    std::optional<std::string> retry_after;
    uint64_t faults_generation = 0;  // a hang lasts until the faults change
    std::shared_ptr<const absl::flat_hash_set<std::string>> poison_ids;
  };

  void InstallFaults(FaultSpec spec) {
    {
      std::lock_guard<std::mutex> lock(faults_mu_);
      resets_left_ = spec.reset_connections;
      statuses_used_ = 0;
      poison_ids_ = std::make_shared<const absl::flat_hash_set<std::string>>(
          spec.poison_message_ids.begin(), spec.poison_message_ids.end());
      faults_ = std::make_shared<const FaultSpec>(std::move(spec));
      ++faults_generation_;
    }
    faults_cv_.notify_all();
  }

  void RegisterRoutes();
  FaultDecision DecideFaults(FaultTarget endpoint);
  // Applies the connection-level faults and latency. Returns true when the request is
  // finished (dropped or answered with an injected status).
  // A dropped request is noted under path_key BEFORE its connection is shut down, so a
  // client that sees the reset and then reads the stats always finds it counted.
  bool ApplyFaults(FaultTarget endpoint, const std::string& path_key,
                   const httplib::Request& req, httplib::Response& res,
                   std::shared_ptr<const absl::flat_hash_set<std::string>>* poison_ids,
                   int* status_out, bool* noted);
  // Sleeps, returning early when the server stops.
  void Delay(std::chrono::milliseconds duration);
  void DropConnection(const httplib::Request& req, httplib::Response& res);

  void HandleIngest(const httplib::Request& req, httplib::Response& res,
                    std::string_view implied_type);
  int ProcessIngest(const httplib::Request& req, httplib::Response& res,
                    std::string_view implied_type,
                    const absl::flat_hash_set<std::string>* poison_ids, size_t* recorded);
  void HandleGetSource(const httplib::Request& req, httplib::Response& res);
  int ProcessGetSource(const httplib::Request& req, httplib::Response& res);
  void HandleUnmatched(const httplib::Request& req, httplib::Response& res);

  // Counts one API request in the stats and the history. status 0 = no answer was sent.
  void NoteRequest(const httplib::Request& req, std::string path_key, int status,
                   size_t recorded_events);

  const Options options_;
  absl::flat_hash_set<std::string> write_keys_;
  absl::flat_hash_set<std::string> api_keys_;
  absl::flat_hash_map<std::string, Source> sources_;

  std::unique_ptr<httplib::Server> server_;
  std::thread listen_thread_;
  std::atomic<bool> listen_done_{false};
  bool started_ = false;
  int port_ = 0;

  mutable std::mutex records_mu_;
  mutable std::condition_variable records_cv_;
  std::vector<std::string> events_;
  absl::flat_hash_set<absl::uint128> seen_message_ids_;  // see MessageIdFingerprint
  int message_id_log_fd_ = -1;                           // Options::message_id_log_path
  std::deque<RequestRecord> requests_;
  Stats stats_;

  mutable std::mutex faults_mu_;
  std::condition_variable faults_cv_;
  std::shared_ptr<const FaultSpec> faults_ = std::make_shared<const FaultSpec>();
  std::shared_ptr<const absl::flat_hash_set<std::string>> poison_ids_ =
      std::make_shared<const absl::flat_hash_set<std::string>>();
  uint64_t statuses_used_ = 0;
  int64_t resets_left_ = 0;
  uint64_t faults_generation_ = 0;
  bool stopping_ = false;

  std::mutex rest_mu_;
  absl::flat_hash_map<std::string, std::deque<std::chrono::steady_clock::time_point>> rest_calls_;
};

absl::Status FakeHightouch::Impl::Start() {
  if (started_) return absl::FailedPreconditionError("the fake Hightouch was already started");
  started_ = true;
  if (!options_.message_id_log_path.empty()) {
    message_id_log_fd_ =
        open(options_.message_id_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (message_id_log_fd_ < 0) {
      return absl::UnavailableError(absl::StrCat("cannot open the message id log ",
                                                 options_.message_id_log_path, ": ",
                                                 std::strerror(errno)));
    }
  }
  server_ = std::make_unique<BufferedServer>();
  const size_t threads = static_cast<size_t>(std::max(options_.worker_threads, 2));
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Benchmarks keep connections busy; don't make them reconnect every few requests.
  // httplib's default also sets SO_REUSEPORT, which would let two fakes share a port.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Responses go out as two writes (head, body); Nagle would hold the body back for a
  // delayed ACK on keep-alive connections.
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(1'000'000);
  server_->set_keep_alive_timeout(5);
  // Bodies up to the limit get a Hightouch-style 400 from the handler; far larger ones are
  // refused by httplib (413) before being buffered.
  server_->set_payload_max_length(std::max<size_t>(options_.max_request_bytes * 4, 16 << 20));
  RegisterRoutes();

  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
  } else {
    port_ = server_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    port_ = 0;
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.host, ":", options_.port));
  }
  listen_thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_done_ = true;
  });
  // stop() is a no-op until the server runs; wait so that Stop() right after Start() works.
  while (!server_->is_running() && !listen_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (listen_done_) return absl::InternalError("the fake Hightouch stopped while starting");
  return absl::OkStatus();
}

void FakeHightouch::Impl::Stop() {
  if (!listen_thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(faults_mu_);
    stopping_ = true;
  }
  faults_cv_.notify_all();
  server_->stop();
  // Workers wait on idle keep-alive connections; closing them lets the pool join.
  while (!listen_done_) {
    ShutdownServerSockets(options_.host, port_, "", 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  listen_thread_.join();
}

void FakeHightouch::Impl::RegisterRoutes() {
  httplib::Server& s = *server_;
  s.Post(R"(/v1/(track|page|identify|group|screen|alias|batch|b)/?)",
         [this](const httplib::Request& req, httplib::Response& res) {
           const std::string type = req.matches[1];
           HandleIngest(req, res, type == "batch" || type == "b" ? "" : type);
         });
  s.Get(R"(/api/v1/sources/([^/]+))",
        [this](const httplib::Request& req, httplib::Response& res) { HandleGetSource(req, res); });

  s.Get("/_fake/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", kJson);
  });
  s.Get("/_fake/events", [this](const httplib::Request&, httplib::Response& res) {
    std::string body;
    {
      std::lock_guard<std::mutex> lock(records_mu_);
      size_t size = 0;
      for (const std::string& event : events_) size += event.size() + 1;
      body.reserve(size);
      for (const std::string& event : events_) {
        body += event;
        body += '\n';
      }
    }
    res.set_content(body, "application/x-ndjson");
  });
  s.Get("/_fake/requests", [this](const httplib::Request&, httplib::Response& res) {
    std::string body;
    for (const RequestRecord& record : RecentRequests()) {
      body += record.ToJson();
      body += '\n';
    }
    res.set_content(body, "application/x-ndjson");
  });
  s.Get("/_fake/stats", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(GetStats().ToJson(), kJson);
  });
  s.Get("/_fake/faults", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(FaultsJson(), kJson);
  });
  s.Post("/_fake/faults", [this](const httplib::Request& req, httplib::Response& res) {
    if (absl::Status status = SetFaults(req.body); !status.ok()) {
      res.status = 400;
      res.set_content(ErrorBody(std::string(status.message())), kJson);
      return;
    }
    res.set_content(FaultsJson(), kJson);
  });
  s.Delete("/_fake/faults", [this](const httplib::Request&, httplib::Response& res) {
    ClearFaults();
    res.set_content("{}", kJson);
  });
  s.Post("/_fake/reset", [this](const httplib::Request&, httplib::Response& res) {
    Reset();
    res.set_content("{}", kJson);
  });

  // Anything else: a counted JSON 404.
  auto unmatched = [this](const httplib::Request& req, httplib::Response& res) {
    HandleUnmatched(req, res);
  };
  s.Get(".*", unmatched);
  s.Post(".*", unmatched);
  s.Put(".*", unmatched);
  s.Patch(".*", unmatched);
  s.Delete(".*", unmatched);
}

FakeHightouch::Impl::FaultDecision FakeHightouch::Impl::DecideFaults(FaultTarget endpoint) {
  FaultDecision decision;
  decision.latency = options_.base_latency;
  std::lock_guard<std::mutex> lock(faults_mu_);
  const FaultSpec& spec = *faults_;
  if (!spec.AppliesTo(endpoint)) return decision;
  decision.faults_generation = faults_generation_;
  decision.poison_ids = poison_ids_;
  if (resets_left_ > 0) {
    --resets_left_;
    decision.reset = true;
    return decision;
  }
  if (spec.hang) {
    decision.hang = true;
    return decision;
  }
  decision.latency += std::chrono::milliseconds(spec.latency_ms);
  if (!spec.statuses.empty() && (spec.repeat || statuses_used_ < spec.statuses.size())) {
    decision.status = spec.statuses[statuses_used_ % spec.statuses.size()];
    ++statuses_used_;
  }
  if (decision.status == 429 || decision.status == 503) {
    if (spec.retry_after_http_date_in_s) {
      decision.retry_after = HttpDateAfter(*spec.retry_after_http_date_in_s);
    } else {
      decision.retry_after = spec.retry_after;
    }
  }
  return decision;
}

void FakeHightouch::Impl::Delay(std::chrono::milliseconds duration) {
  if (duration <= std::chrono::milliseconds::zero()) return;
  std::unique_lock<std::mutex> lock(faults_mu_);
  faults_cv_.wait_for(lock, duration, [this] { return stopping_; });
}

void FakeHightouch::Impl::DropConnection(const httplib::Request& req, httplib::Response& res) {
  ShutdownServerSockets(req.local_addr, port_, req.remote_addr, req.remote_port);
  // Nothing reaches the client: the socket is already shut down for writing.
  res.status = 500;
  res.set_header("Connection", "close");
}

bool FakeHightouch::Impl::ApplyFaults(
    FaultTarget endpoint, const std::string& path_key, const httplib::Request& req,
    httplib::Response& res, std::shared_ptr<const absl::flat_hash_set<std::string>>* poison_ids,
    int* status_out, bool* noted) {
  FaultDecision decision = DecideFaults(endpoint);
  if (decision.reset) {
    {
      std::lock_guard<std::mutex> lock(records_mu_);
      ++stats_.connections_reset;
    }
    NoteRequest(req, path_key, 0, 0);
    *noted = true;
    DropConnection(req, res);
    *status_out = 0;
    return true;
  }
  if (decision.hang) {
    {
      std::lock_guard<std::mutex> lock(records_mu_);
      ++stats_.requests_hung;
    }
    std::unique_lock<std::mutex> lock(faults_mu_);
    faults_cv_.wait(lock,
                    [&] { return stopping_ || faults_generation_ != decision.faults_generation; });
    lock.unlock();
    NoteRequest(req, path_key, 0, 0);
    *noted = true;
    DropConnection(req, res);
    *status_out = 0;
    return true;
  }
  Delay(decision.latency);
  if (poison_ids != nullptr) *poison_ids = std::move(decision.poison_ids);
  if (decision.status != 0 && decision.status != 200) {
    res.status = decision.status;
    if (decision.retry_after) res.set_header("Retry-After", *decision.retry_after);
    res.set_content(ErrorBody(ReasonPhrase(decision.status)), kJson);
    *status_out = decision.status;
    return true;
  }
  return false;
}

void FakeHightouch::Impl::HandleIngest(const httplib::Request& req, httplib::Response& res,
                                       std::string_view implied_type) {
  std::string path_key = req.path;
  if (path_key.size() > 1 && path_key.back() == '/') path_key.pop_back();
  std::shared_ptr<const absl::flat_hash_set<std::string>> poison_ids;
  int status = 0;
  size_t recorded = 0;
  bool noted = false;
  if (!ApplyFaults(FaultTarget::kIngest, path_key, req, res, &poison_ids, &status, &noted)) {
    status = ProcessIngest(req, res, implied_type, poison_ids.get(), &recorded);
  }
  if (!noted) NoteRequest(req, std::move(path_key), status, recorded);
}

int FakeHightouch::Impl::ProcessIngest(const httplib::Request& req, httplib::Response& res,
                                       std::string_view implied_type,
                                       const absl::flat_hash_set<std::string>* poison_ids,
                                       size_t* recorded) {
  auto answer = [&res](int status, std::string_view message) {
    res.status = status;
    res.set_content(ErrorBody(message), kJson);
    return status;
  };
  if (!req.has_header("Authorization")) return answer(401, "missing write key");
  const std::optional<std::string> key = BasicAuthKey(req);
  if (!key || !write_keys_.contains(*key)) return answer(401, "invalid write key");

  const std::string content_type = absl::AsciiStrToLower(req.get_header_value("Content-Type"));
  if (!absl::StartsWith(content_type, "application/json")) {
    return answer(400, "Content-Type must be application/json");
  }
  if (req.body.size() > options_.max_request_bytes) {
    return answer(400, absl::StrCat("request body is ", req.body.size(), " bytes, over the ",
                                    options_.max_request_bytes, "-byte limit"));
  }
  auto events = internal::ParseIngestBody(req.body, implied_type, options_.max_event_bytes);
  if (!events.ok()) return answer(400, std::string(events.status().message()));
  if (poison_ids != nullptr && !poison_ids->empty()) {
    for (size_t i = 0; i < events->size(); ++i) {
      if (poison_ids->contains((*events)[i].message_id)) {
        return answer(400, absl::StrCat("event ", i, " was rejected"));
      }
    }
  }

  // Fingerprints are computed outside the lock. A window of millions of ids lives mostly
  // outside the CPU caches, so each probe is prefetched a few ids ahead.
  std::vector<absl::uint128> fingerprints;
  fingerprints.reserve(events->size());
  std::string id_lines;
  for (const internal::IngestEvent& event : *events) {
    fingerprints.push_back(MessageIdFingerprint(event.message_id));
    if (message_id_log_fd_ >= 0) AppendIdLine(id_lines, event.message_id);
  }
  {
    constexpr size_t kPrefetchAhead = 8;
    std::lock_guard<std::mutex> lock(records_mu_);
    // Logged under the lock so the file's order is the order of acceptance; an event that
    // cannot be logged is not accepted either.
    if (!WriteAll(message_id_log_fd_, id_lines)) {
      return answer(500, absl::StrCat("message id log: ", std::strerror(errno)));
    }
    for (size_t i = 0; i < fingerprints.size() && i < kPrefetchAhead; ++i) {
      seen_message_ids_.prefetch(fingerprints[i]);
    }
    for (size_t i = 0; i < events->size(); ++i) {
      if (i + kPrefetchAhead < fingerprints.size()) {
        seen_message_ids_.prefetch(fingerprints[i + kPrefetchAhead]);
      }
      ++stats_.events_accepted;
      const bool duplicate = seen_message_ids_.size() < options_.message_id_window
                                 ? !seen_message_ids_.insert(fingerprints[i]).second
                                 : seen_message_ids_.contains(fingerprints[i]);
      if (duplicate) ++stats_.duplicate_message_ids;
      if (events_.size() < options_.max_recorded_events) {
        events_.emplace_back((*events)[i].json);
        ++stats_.events_recorded;
        ++*recorded;
      }
    }
  }
  records_cv_.notify_all();
  res.status = 200;
  res.set_content("{}", kJson);
  return 200;
}

void FakeHightouch::Impl::HandleGetSource(const httplib::Request& req, httplib::Response& res) {
  // Not a static std::string: a process that exits with a request in flight (the
  // admin_install fuzzer keeps its fake for the process's life) would destroy it under
  // the worker reading it (TSan).
  constexpr char kPathKey[] = "/api/v1/sources/{id}";
  int status = 0;
  bool noted = false;
  if (!ApplyFaults(FaultTarget::kRest, kPathKey, req, res, nullptr, &status, &noted)) {
    status = ProcessGetSource(req, res);
  }
  if (!noted) NoteRequest(req, kPathKey, status, 0);
}

int FakeHightouch::Impl::ProcessGetSource(const httplib::Request& req, httplib::Response& res) {
  auto answer = [&res](int status, std::string body) {
    res.status = status;
    res.set_content(body, kJson);
    return status;
  };
  if (!req.has_header("Authorization")) {
    return answer(
        401, R"({"message":"Authentication error","details":"No authorization header found"})");
  }
  const std::optional<std::string> token = BearerToken(req);
  if (!token || !api_keys_.contains(*token)) {
    return answer(401, R"({"message":"Authentication error","details":"Token is invalid"})");
  }
  {
    // A sliding window per key (Hightouch counts per workspace; a key stands for one).
    std::lock_guard<std::mutex> lock(rest_mu_);
    auto& calls = rest_calls_[*token];
    const auto now = std::chrono::steady_clock::now();
    while (!calls.empty() && now - calls.front() >= options_.rest_rate_window) calls.pop_front();
    if (calls.size() >= static_cast<size_t>(std::max(options_.rest_rate_limit, 0))) {
      return answer(429, ErrorBody("Too many requests"));
    }
    calls.push_back(now);
  }
  const std::string id = req.matches[1];
  const auto found = sources_.find(id);
  if (found == sources_.end()) return answer(404, R"({"message":"Not found"})");
  const Source& source = found->second;
  const std::string name = source.name.empty() ? absl::StrCat("HTTP Events ", id) : source.name;
  std::string body = "{\"id\":";
  AppendIdValue(body, source.id);
  body += ",\"name\":";
  AppendJsonString(body, name);
  body += ",\"slug\":";
  AppendJsonString(body, Slug(name));
  body += ",\"workspaceId\":";
  AppendIdValue(body, source.workspace_id);
  absl::StrAppend(&body, ",\"type\":\"http_events\",\"createdAt\":\"", kSourceTimestamp,
                  "\",\"updatedAt\":\"", kSourceTimestamp, "\",\"configuration\":{}}");
  return answer(200, std::move(body));
}

void FakeHightouch::Impl::HandleUnmatched(const httplib::Request& req, httplib::Response& res) {
  res.status = 404;
  res.set_content(ErrorBody("not found"), kJson);
  if (!absl::StartsWith(req.path, "/_fake/")) NoteRequest(req, "(unmatched)", 404, 0);
}

void FakeHightouch::Impl::NoteRequest(const httplib::Request& req, std::string path_key, int status,
                                      size_t recorded_events) {
  RequestRecord record;
  record.method = req.method;
  record.path = req.path;
  record.status = status;
  record.body_bytes = req.body.size();
  record.event_count = recorded_events;
  for (const auto& [name, value] : req.headers) {
    std::string lower = absl::AsciiStrToLower(name);
    if (lower == "remote_addr" || lower == "remote_port" || lower == "local_addr" ||
        lower == "local_port") {
      continue;  // added by httplib, not sent by the client
    }
    if (lower == "authorization") {
      // Keys stay inside the fake: keep the scheme only.
      record.headers[lower] = std::string(value.substr(0, value.find(' ')));
    } else {
      record.headers[lower] = value;
    }
  }
  record.body_prefix = req.body.substr(0, kBodyPrefixBytes);

  std::lock_guard<std::mutex> lock(records_mu_);
  if (status != 0) ++stats_.requests_by_status[status];
  ++stats_.requests_by_path[path_key];
  stats_.bytes_received += req.body.size();
  requests_.push_back(std::move(record));
  if (requests_.size() > kRequestHistory) requests_.pop_front();
}

FakeHightouch::FakeHightouch(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
FakeHightouch::~FakeHightouch() = default;
absl::Status FakeHightouch::Start() { return impl_->Start(); }
void FakeHightouch::Stop() { impl_->Stop(); }
int FakeHightouch::port() const { return impl_->port(); }
std::string FakeHightouch::base_url() const {
  return absl::StrCat("http://", impl_->UrlHost(), ":", impl_->port());
}
std::vector<std::string> FakeHightouch::AcceptedEvents() const { return impl_->AcceptedEvents(); }
std::vector<RequestRecord> FakeHightouch::RecentRequests() const { return impl_->RecentRequests(); }
Stats FakeHightouch::GetStats() const { return impl_->GetStats(); }
bool FakeHightouch::WaitForAcceptedEvents(uint64_t count, absl::Duration timeout) const {
  return impl_->WaitForAcceptedEvents(count, timeout);
}
absl::Status FakeHightouch::SetFaults(std::string_view faults_json) {
  return impl_->SetFaults(faults_json);
}
void FakeHightouch::ClearFaults() { impl_->ClearFaults(); }
std::string FakeHightouch::FaultsJson() const { return impl_->FaultsJson(); }
void FakeHightouch::Reset() { impl_->Reset(); }

}  // namespace fake_hightouch
