// Fuzz target: raw bytes sent to the listeners' HTTP server (host/http) over a real
// loopback connection: request lines, heads, chunked and compressed bodies, pipelined
// requests, all malformed in every way the fuzzer finds. The server under test is the
// one both APIs use, with small limits so that every limit path is reachable.
//
// Invariants: the server never crashes or hangs (each exchange ends within a few
// seconds once the client stops sending); everything it writes is a sequence of
// well-formed HTTP/1.1 responses (status line with a 3-digit status, a head ended by an
// empty line, a body framed by Content-Length or chunks); a body handed to a handler
// is within the limit; a request refused at admission never reaches its body handler.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "host/http/server.h"

namespace {

using namespace signal_host::http;

constexpr size_t kMaxBody = 2048;

class FuzzHandler : public Handler {
 public:
  Admission Admit(const RequestHead& head) override {
    FUZZ_CHECK(!head.method.empty(), "a request without a method was admitted");
    {
      std::lock_guard<std::mutex> lock(mu);
      methods.push_back(head.method);
    }
    if (head.target.rfind("/secret", 0) == 0 && head.HeaderValue("Authorization") != "Bearer k") {
      return Admission::Refuse(Error(401, "UNAUTHENTICATED", "no key"));
    }
    if (head.target.rfind("/echo", 0) == 0 || head.target.rfind("/secret", 0) == 0) {
      const bool secret = head.target.rfind("/secret", 0) == 0;
      const bool authorised = head.HeaderValue("Authorization") == "Bearer k";
      return Admission::Accept([secret, authorised](std::string body) {
        FUZZ_CHECK(body.size() <= kMaxBody, "a body over the limit reached its handler");
        FUZZ_CHECK(!secret || authorised, "a refused request reached its body handler");
        Response response;
        response.body = std::to_string(body.size());
        return response;
      });
    }
    return Admission::Refuse(Error(404, "NOT_FOUND", "no route"));
  }
  Response Error(int status, std::string_view code, std::string_view message) override {
    Response response;
    response.status = status;
    response.body = std::string(code) + ": " + std::string(message);
    return response;
  }

  // The methods of the heads admitted on the current connection, in order: the i-th
  // answer belongs to the i-th of them (the server answers requests one at a time).
  std::mutex mu;
  std::vector<std::string> methods;
};

FuzzHandler* handler = nullptr;
HttpServer* server = nullptr;

// Checks that `out` is a sequence of complete HTTP/1.1 responses (the last one may be
// cut short only if the server closed mid-write, which it never does here).
void CheckResponses(std::string_view out, const std::vector<std::string>& methods) {
  size_t index = 0;
  while (!out.empty()) {
    FUZZ_CHECK(out.substr(0, 9) == "HTTP/1.1 " || out.substr(0, 9) == "HTTP/1.0 ",
               "not a status line: " + std::string(out.substr(0, 40)));
    FUZZ_CHECK(out.size() >= 12 && out[9] >= '1' && out[9] <= '5' && isdigit(out[10]) &&
                   isdigit(out[11]),
               "no 3-digit status: " + std::string(out.substr(0, 40)));
    const size_t head_end = out.find("\r\n\r\n");
    FUZZ_CHECK(head_end != std::string_view::npos, "a head without its end");
    const std::string_view head = out.substr(0, head_end);
    const int status = std::atoi(std::string(out.substr(9, 3)).c_str());
    out.remove_prefix(head_end + 4);
    if (status == 100) continue;
    const bool head_request = index < methods.size() && methods[index] == "HEAD";
    ++index;
    if (head_request) continue;  // a HEAD answer has a length and no body
    const size_t length_at = head.find("Content-Length: ");
    if (length_at != std::string_view::npos) {
      const size_t length = std::strtoul(std::string(head.substr(length_at + 16, 12)).c_str(),
                                         nullptr, 10);
      FUZZ_CHECK(out.size() >= length, "a body shorter than its Content-Length");
      out.remove_prefix(length);
    } else {
      FUZZ_CHECK(status == 204 || status == 304, "a response without framing");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  handler = new FuzzHandler();
  ServerOptions options;
  options.name = "fuzz";
  options.port = 0;
  options.worker_threads = 2;
  options.max_connections_per_client = 0;
  options.limits.max_body_bytes = kMaxBody;
  options.limits.max_header_bytes = 1024;
  options.limits.header_timeout = std::chrono::milliseconds(500);
  options.limits.body_timeout = std::chrono::milliseconds(500);
  options.limits.idle_timeout = std::chrono::milliseconds(500);
  options.limits.linger_timeout = std::chrono::milliseconds(100);
  server = new HttpServer(options, handler);
  if (!server->Start().ok()) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::lock_guard<std::mutex> lock(handler->mu);
    handler->methods.clear();
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server->port()));
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0,
             "cannot connect to the server");
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (a refusal); that is allowed
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool closed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      closed = true;
      break;
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  // An abortive close: at a thousand connections a second, TIME_WAIT states would use
  // up the loopback's ephemeral ports within a minute.
  const linger abort_on_close{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  ::close(fd);
  FUZZ_CHECK(closed, "the server neither answered nor closed within 5 s");
  std::vector<std::string> methods;
  {
    std::lock_guard<std::mutex> lock(handler->mu);
    methods = handler->methods;
  }
  CheckResponses(out, methods);
  return 0;
}
