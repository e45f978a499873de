// A deliberately low-level HTTP/1.1 client for the hardening tests: it sends exactly
// the bytes it is given (malformed heads, chunked bodies, bodies sent byte by byte,
// bodies never sent) from a chosen loopback source address, and reads one response at
// a time with a deadline. Library clients would "fix" much of what these tests send.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace signal_test {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:port from `source` (any 127.x.y.z address works on Linux),
  // so that tests can play several clients. fd() < 0 when the connection failed.
  explicit RawConnection(int port, const char* source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &local.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      Reset();
      return;
    }
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
      Reset();
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawConnection() { Reset(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  RawConnection(RawConnection&& other) noexcept
      : fd_(other.fd_), pending_(std::move(other.pending_)) {
    other.fd_ = -1;
  }

  int fd() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

  // False once the peer has closed or reset the connection.
  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length or chunked body, or up to the close). nullopt
  // when nothing complete arrived within `timeout` or the connection ended first.
  // `head_request`: the answer to a HEAD, which has no body whatever its headers say.
  std::optional<RawResponse> Read(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                  bool head_request = false) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto parsed = Parse(/*closed=*/false, head_request)) return parsed;
      if (!Fill(deadline)) return Parse(/*closed=*/true, head_request);
    }
  }

  // True when the server closed the connection (reads EOF or a reset) within `timeout`.
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      switch (Receive(deadline)) {
        case Received::kData: continue;
        case Received::kClosed: return true;
        case Received::kTimeout: return false;
      }
    }
  }

  const std::string& pending() const { return pending_; }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  enum class Received { kData, kClosed, kTimeout };

  // Appends what arrives before `deadline` to pending_.
  Received Receive(std::chrono::steady_clock::time_point deadline) {
    const int remaining = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               deadline - std::chrono::steady_clock::now())
                                               .count());
    if (remaining <= 0) return Received::kTimeout;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining) <= 0) return Received::kTimeout;
    char buffer[16384];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return Received::kClosed;
    pending_.append(buffer, static_cast<size_t>(n));
    return Received::kData;
  }

  bool Fill(std::chrono::steady_clock::time_point deadline) {
    return Receive(deadline) == Received::kData;
  }

  std::optional<RawResponse> Parse(bool closed, bool head_request) {
    const size_t end = pending_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    RawResponse response;
    std::string_view head(pending_.data(), end);
    const size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    response.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string_view::npos) next = head.size();
      std::string_view line = head.substr(pos, next - pos);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        response.headers[name] = std::string(value);
      }
      pos = next + 2;
    }
    const size_t body_start = end + 4;
    if (response.status == 100 || head_request) {
      pending_.erase(0, body_start);
      return response;
    }
    if (response.Header("transfer-encoding") == "chunked") {
      size_t at = body_start;
      std::string body;
      while (true) {
        const size_t size_end = pending_.find("\r\n", at);
        if (size_end == std::string::npos) return std::nullopt;
        const size_t size = std::strtoul(pending_.substr(at, size_end - at).c_str(), nullptr, 16);
        if (pending_.size() < size_end + 2 + size + 2) return std::nullopt;
        body.append(pending_, size_end + 2, size);
        at = size_end + 2 + size + 2;
        if (size == 0) break;
      }
      response.body = std::move(body);
      pending_.erase(0, at);
      return response;
    }
    const std::string length = response.Header("content-length");
    if (!length.empty()) {
      const size_t size = std::strtoul(length.c_str(), nullptr, 10);
      if (pending_.size() < body_start + size) return std::nullopt;
      response.body = pending_.substr(body_start, size);
      pending_.erase(0, body_start + size);
      return response;
    }
    if (!closed) return std::nullopt;
    response.body = pending_.substr(body_start);
    pending_.clear();
    return response;
  }

  int fd_ = -1;
  std::string pending_;
};

// A request head with the given extra header lines (each ending in \r\n).
inline std::string RawHead(std::string_view method, std::string_view target,
                           std::string_view extra_headers = {}) {
  std::string head;
  head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  head.append(extra_headers);
  head.append("\r\n");
  return head;
}

// `body` as one chunk per `chunk_size` bytes, with the last chunk.
inline std::string Chunked(std::string_view body, size_t chunk_size) {
  std::string out;
  char size_line[32];
  for (size_t at = 0; at < body.size(); at += chunk_size) {
    const size_t n = std::min(chunk_size, body.size() - at);
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
    out.append(size_line).append(body.substr(at, n)).append("\r\n");
  }
  out.append("0\r\n\r\n");
  return out;
}

// zlib's gzip (window_bits 31), zlib (15) or raw deflate (-15) encoding of `data`.
inline std::string Compress(std::string_view data, int window_bits = 31) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

}  // namespace signal_test
