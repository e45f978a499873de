// The hardened HTTP server (host/http) on real sockets: limits on what is read (not
// what is declared), admission before the body, encodings, deadlines, connection caps,
// streams and shutdown. Each test plays its clients with raw sockets.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "host/http/server.h"
#include "raw_http_client.h"

namespace signal_host::http {
namespace {

using namespace std::chrono_literals;
using signal_test::Chunked;
using signal_test::Compress;
using signal_test::RawConnection;
using signal_test::RawHead;
using signal_test::RawResponse;

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

class CountingStream : public BodyStream {
 public:
  explicit CountingStream(int chunks, std::atomic<int>* closed) : left_(chunks), closed_(closed) {}
  bool Next(std::string& chunk) override {
    if (left_ == 0) return false;
    std::this_thread::sleep_for(5ms);
    chunk = "data: " + std::to_string(left_--) + "\n\n";
    return true;
  }
  void Close() override { ++*closed_; }

 private:
  int left_;
  std::atomic<int>* closed_;
};

// A stream that never ends by itself (a live-event stream with no events).
class EndlessStream : public BodyStream {
 public:
  explicit EndlessStream(std::atomic<int>* closed) : closed_(closed) {}
  bool Next(std::string&) override {
    std::this_thread::sleep_for(20ms);
    return true;
  }
  void Close() override { ++*closed_; }

 private:
  std::atomic<int>* closed_;
};

class TestHandler : public Handler {
 public:
  Admission Admit(const RequestHead& head) override {
    ++admitted;
    const std::string path = head.target.substr(0, head.target.find('?'));
    if (path == "/hello") {
      return Admission::Accept([](std::string) { return Text(200, "hello"); });
    }
    if (path == "/echo" || path == "/small") {
      Admission admission = Admission::Accept([this](std::string body) {
        ++bodies_handled;
        last_body_size = body.size();
        return Text(200, body);
      });
      if (path == "/small") admission.max_body_bytes = 100;
      return admission;
    }
    if (path == "/secret") {
      if (head.HeaderValue("Authorization") != "Bearer ok") {
        Response refusal = Error(401, "UNAUTHENTICATED", "no key");
        return Admission::Refuse(std::move(refusal));
      }
      return Admission::Accept([this](std::string body) {
        ++bodies_handled;
        return Text(200, std::to_string(body.size()));
      });
    }
    if (path == "/throw-admit") throw std::runtime_error("admission failed");
    if (path == "/throw") {
      return Admission::Accept([](std::string) -> Response { throw std::runtime_error("boom"); });
    }
    if (path == "/slow") {
      return Admission::Accept([](std::string) {
        std::this_thread::sleep_for(300ms);
        return Text(200, "slow");
      });
    }
    if (path == "/stream") {
      return Admission::Accept([this](std::string) {
        Response response;
        response.content_type = "text/event-stream";
        response.stream = std::make_shared<CountingStream>(3, &streams_closed);
        return response;
      });
    }
    if (path == "/endless") {
      return Admission::Accept([this](std::string) {
        Response response;
        response.content_type = "text/event-stream";
        response.stream = std::make_shared<EndlessStream>(&streams_closed);
        return response;
      });
    }
    return Admission::Refuse(Error(404, "NOT_FOUND", "no route"));
  }

  Response Error(int status, std::string_view code, std::string_view message) override {
    Response response;
    response.status = status;
    response.body = "{\"error\":{\"code\":\"" + std::string(code) + "\",\"message\":\"" +
                    std::string(message) + "\"}}";
    return response;
  }

  static Response Text(int status, std::string body) {
    Response response;
    response.status = status;
    response.content_type = "text/plain";
    response.body = std::move(body);
    return response;
  }

  std::atomic<int> admitted{0};
  std::atomic<int> bodies_handled{0};
  std::atomic<size_t> last_body_size{0};
  std::atomic<int> streams_closed{0};
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    options.name = "test";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, &handler_);
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  static ServerOptions Small() {
    ServerOptions options;
    options.limits.max_body_bytes = 64 * 1024;
    options.limits.header_timeout = 1s;
    options.limits.body_timeout = 1s;
    options.limits.idle_timeout = 1s;
    options.worker_threads = 4;
    return options;
  }

  std::optional<RawResponse> Post(const std::string& path, const std::string& body,
                                  const std::string& extra = {}) {
    RawConnection connection(port_);
    EXPECT_TRUE(connection.ok());
    connection.Send(
        RawHead("POST", path, extra + "Content-Length: " + std::to_string(body.size()) + "\r\n") +
        body);
    return connection.Read();
  }

  TestHandler handler_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

TEST_F(HttpServerTest, ServesRequestsAndKeepsTheConnectionAlive) {
  StartServer(Small());
  RawConnection connection(port_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connection.Send(RawHead("GET", "/hello")));
    auto response = connection.Read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "hello");
    EXPECT_NE(response->Header("connection"), "close");
  }
  EXPECT_EQ(server_->Stats().connections_accepted, 1u);
}

TEST_F(HttpServerTest, AnswersPipelinedRequestsInOrder) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("POST", "/echo", "Content-Length: 3\r\n") + "one" +
                  RawHead("POST", "/echo", "Content-Length: 3\r\n") + "two" +
                  RawHead("GET", "/hello"));
  for (const char* expected : {"one", "two", "hello"}) {
    auto response = connection.Read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, expected);
  }
}

TEST_F(HttpServerTest, HeadAnswersTheLengthWithoutTheBody) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("HEAD", "/hello") + RawHead("GET", "/hello"));
  auto head = connection.Read(10s, /*head_request=*/true);
  ASSERT_TRUE(head);
  // Had the HEAD answer carried a body, the next read would start inside it.
  EXPECT_EQ(head->Header("content-length"), "5");
  auto get = connection.Read();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "hello");
}

TEST_F(HttpServerTest, DeclaredLengthOverTheLimitIsRefusedUnread) {
  StartServer(Small());
  RawConnection connection(port_);
  // Only the head is sent: the answer must not wait for a body.
  connection.Send(RawHead("POST", "/echo", "Content-Length: 10000000\r\n"));
  auto response = connection.Read(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find("PAYLOAD_TOO_LARGE"), std::string::npos);
  EXPECT_EQ(handler_.bodies_handled, 0);
  EXPECT_TRUE(connection.ClosedWithin(5s));
}

TEST_F(HttpServerTest, ChunkedBodyIsCutOffOnceItPassesTheLimit) {
  StartServer(Small());
  RawConnection connection(port_);
  // 200 KiB of chunks, three times the limit, and no last chunk: a server that waited
  // for the end of the body before judging its size would never answer.
  const std::string chunks = Chunked(std::string(200 * 1024, 'x'), 4096);
  connection.Send(RawHead("POST", "/echo", "Transfer-Encoding: chunked\r\n") +
                  chunks.substr(0, chunks.size() - 5));
  auto response = connection.Read(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(handler_.bodies_handled, 0);
  EXPECT_EQ(server_->Stats().bodies_too_large, 1u);
}

TEST_F(HttpServerTest, ChunkedBodyWithinTheLimitIsDecoded) {
  StartServer(Small());
  const std::string body(20000, 'c');
  RawConnection connection(port_);
  connection.Send(RawHead("POST", "/echo", "Transfer-Encoding: chunked\r\n") + Chunked(body, 777));
  auto response = connection.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, body);
}

TEST_F(HttpServerTest, ChunkFramingCountsAgainstTheWireLimit) {
  StartServer(Small());
  // 40 KB of payload in one-byte chunks is ~240 KB on the wire: over the wire limit
  // although the payload is under the body limit.
  RawConnection connection(port_);
  connection.Send(RawHead("POST", "/echo", "Transfer-Encoding: chunked\r\n") +
                  Chunked(std::string(40000, 'y'), 1));
  auto response = connection.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
}

TEST_F(HttpServerTest, GzipAndDeflateBodiesAreDecoded) {
  StartServer(Small());
  const std::string body = "{\"batch\":[" + std::string(30000, ' ') + "]}";
  struct Case {
    const char* coding;
    int window_bits;
  };
  for (const Case& c : {Case{"gzip", 31}, Case{"x-gzip", 31}, Case{"deflate", 15},
                        Case{"deflate", -15}, Case{"GZIP", 31}}) {
    auto response = Post("/echo", Compress(body, c.window_bits),
                         std::string("Content-Encoding: ") + c.coding + "\r\n");
    ASSERT_TRUE(response) << c.coding;
    EXPECT_EQ(response->status, 200) << c.coding << " " << c.window_bits;
    EXPECT_EQ(response->body, body) << c.coding << " " << c.window_bits;
  }
}

TEST_F(HttpServerTest, ChunkedGzipIsDecoded) {
  StartServer(Small());
  const std::string body(50000, 'z');
  RawConnection connection(port_);
  connection.Send(
      RawHead("POST", "/echo", "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n") +
      Chunked(Compress(body), 10));
  auto response = connection.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body.size(), body.size());
}

TEST_F(HttpServerTest, AGzipBombStopsAtTheDecodedLimit) {
  ServerOptions options = Small();
  options.limits.max_inflate_ratio = 1e9;  // only the decoded limit applies here
  StartServer(options);
  // 200 MB of zeros compresses to about 200 KB; the decoded limit is 64 KiB.
  const std::string bomb = Compress(std::string(200 * 1024 * 1024, '\0'));
  ASSERT_LT(bomb.size(), 300u * 1024u);
  auto response = Post("/echo", bomb.substr(0, 60 * 1024), "Content-Encoding: gzip\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find("decompressed"), std::string::npos);
  EXPECT_EQ(handler_.bodies_handled, 0);
}

TEST_F(HttpServerTest, ACompressionRatioAboveTheBoundIsRefused) {
  ServerOptions options = Small();
  options.limits.max_body_bytes = 1024 * 1024;
  options.limits.max_inflate_ratio = 50;
  StartServer(options);
  // 500 KB of one byte: within the decoded limit, but a ratio of several hundred.
  const std::string body(500 * 1024, 'a');
  auto response = Post("/echo", Compress(body), "Content-Encoding: gzip\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find("ratio"), std::string::npos);
  // Ordinary JSON compresses far less and passes.
  std::string varied;
  for (int i = 0; varied.size() < 300 * 1024; ++i)
    varied += "{\"i\":" + std::to_string(i * 7919) + "},";
  auto ok = Post("/echo", Compress(varied), "Content-Encoding: gzip\r\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpServerTest, CorruptOrTruncatedCompressedBodiesAreBadRequests) {
  StartServer(Small());
  const std::string gz = Compress(std::string(5000, 'q'));
  auto truncated = Post("/echo", gz.substr(0, gz.size() / 2), "Content-Encoding: gzip\r\n");
  ASSERT_TRUE(truncated);
  EXPECT_EQ(truncated->status, 400);
  auto garbage = Post("/echo", "this is not gzip at all", "Content-Encoding: gzip\r\n");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400);
  auto trailing = Post("/echo", Compress("abc", 15) + "junk", "Content-Encoding: deflate\r\n");
  ASSERT_TRUE(trailing);
  EXPECT_EQ(trailing->status, 400);
  EXPECT_EQ(handler_.bodies_handled, 0);
}

TEST_F(HttpServerTest, UnsupportedEncodingsAreRefused) {
  StartServer(Small());
  for (const char* coding : {"br", "zstd", "gzip, gzip", "compress"}) {
    auto response = Post("/echo", "abc", std::string("Content-Encoding: ") + coding + "\r\n");
    ASSERT_TRUE(response) << coding;
    EXPECT_EQ(response->status, 415) << coding;
  }
}

TEST_F(HttpServerTest, RouteLimitIsLowerThanTheListeners) {
  StartServer(Small());
  auto ok = Post("/small", std::string(100, 's'));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto big = Post("/small", std::string(200, 's'));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
}

TEST_F(HttpServerTest, RefusalComesBeforeAnyBodyByteIsRead) {
  StartServer(Small());
  RawConnection connection(port_);
  // Declares a body within the limit but sends none: the refusal cannot depend on it.
  connection.Send(RawHead("POST", "/secret", "Content-Length: 60000\r\n"));
  auto response = connection.Read(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(handler_.bodies_handled, 0);
  // The unread body means the connection cannot be reused.
  EXPECT_EQ(response->Header("connection"), "close");
}

TEST_F(HttpServerTest, RefusedClientStillReadsTheAnswerAfterSendingItsBody) {
  StartServer(Small());
  RawConnection connection(port_);
  // The whole body arrives with the head; closing at once would reset the connection
  // and the client could lose the answer. Lingering keeps it readable.
  ASSERT_TRUE(connection.Send(RawHead("POST", "/secret", "Content-Length: 60000\r\n") +
                              std::string(60000, 'b')));
  auto response = connection.Read(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
}

TEST_F(HttpServerTest, ExpectContinueOnlyAfterAdmission) {
  StartServer(Small());
  {
    RawConnection connection(port_);
    connection.Send(RawHead("POST", "/secret",
                            "Authorization: Bearer ok\r\nExpect: 100-continue\r\n"
                            "Content-Length: 5\r\n"));
    auto interim = connection.Read(3s);
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    connection.Send("12345");
    auto final_response = connection.Read(3s);
    ASSERT_TRUE(final_response);
    EXPECT_EQ(final_response->status, 200);
    EXPECT_EQ(final_response->body, "5");
  }
  {
    RawConnection connection(port_);
    connection.Send(RawHead("POST", "/secret", "Expect: 100-continue\r\nContent-Length: 5\r\n"));
    auto response = connection.Read(3s);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401);  // never 100 Continue for a refused request
  }
}

TEST_F(HttpServerTest, SlowHeadIsCutOffAtTheHeadDeadline) {
  StartServer(Small());
  RawConnection connection(port_);
  const std::string head = RawHead("GET", "/hello");
  // One byte every 200 ms keeps every single read short; only a deadline for the
  // whole head ends it.
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < head.size() - 2; ++i) {
    if (!connection.Send(head.substr(i, 1))) break;
    pollfd p{connection.fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) > 0) break;
  }
  auto response = connection.Read(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 408);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  EXPECT_EQ(server_->Stats().header_timeouts, 1u);
}

TEST_F(HttpServerTest, SlowBodyIsCutOffAtTheBodyDeadline) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("POST", "/echo", "Content-Length: 1000\r\n") + "only a little");
  auto response = connection.Read(5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 408);
  EXPECT_EQ(handler_.bodies_handled, 0);
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("GET", "/hello"));
  ASSERT_TRUE(connection.Read());
  EXPECT_TRUE(connection.ClosedWithin(4s));
  EXPECT_TRUE(WaitFor([&] { return server_->Stats().idle_closes == 1; }));
}

TEST_F(HttpServerTest, SlowClientsDoNotStarveOthers) {
  ServerOptions options = Small();
  options.limits.header_timeout = 30s;  // the slow clients stay for the whole test
  options.limits.idle_timeout = 30s;
  options.worker_threads = 2;
  options.max_connections_per_client = 0;
  StartServer(options);
  // 200 clients each holding a half-sent head: ten times more than there are threads.
  std::vector<RawConnection> slow;
  for (int i = 0; i < 200; ++i) {
    slow.emplace_back(port_, "127.0.0.2");
    ASSERT_TRUE(slow.back().ok());
    slow.back().Send("POST /echo HTTP/1.1\r\nHost: x\r\n");
  }
  ASSERT_TRUE(WaitFor([&] { return server_->Stats().connections_open >= 200; }));
  for (int i = 0; i < 20; ++i) {
    RawConnection connection(port_);
    connection.Send(RawHead("GET", "/hello"));
    auto response = connection.Read(2s);
    ASSERT_TRUE(response) << "request " << i << " waited behind the slow clients";
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_GE(server_->Stats().connections_open, 200u);  // they were all still there
}

TEST_F(HttpServerTest, ConnectionsPerClientAreCapped) {
  ServerOptions options = Small();
  options.max_connections_per_client = 5;
  StartServer(options);
  std::vector<RawConnection> held;
  for (int i = 0; i < 5; ++i) {
    held.emplace_back(port_, "127.0.0.3");
    held.back().Send(RawHead("GET", "/hello"));
    ASSERT_TRUE(held.back().Read());
  }
  RawConnection sixth(port_, "127.0.0.3");
  auto refused = sixth.Read(3s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("TOO_MANY_CONNECTIONS"), std::string::npos);
  EXPECT_EQ(refused->Header("retry-after"), "1");
  // Another client is not affected.
  RawConnection other(port_, "127.0.0.4");
  other.Send(RawHead("GET", "/hello"));
  auto response = other.Read(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  // A slot freed is a slot usable again.
  held.pop_back();
  ASSERT_TRUE(WaitFor([&] { return server_->Stats().connections_open <= 5; }));
  RawConnection again(port_, "127.0.0.3");
  again.Send(RawHead("GET", "/hello"));
  auto later = again.Read(3s);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 200);
}

TEST_F(HttpServerTest, TotalConnectionsAreCapped) {
  ServerOptions options = Small();
  options.max_connections = 3;
  options.max_connections_per_client = 0;
  StartServer(options);
  std::vector<RawConnection> held;
  for (int i = 0; i < 3; ++i) {
    held.emplace_back(port_);
    held.back().Send(RawHead("GET", "/hello"));
    ASSERT_TRUE(held.back().Read());
  }
  RawConnection fourth(port_);
  auto refused = fourth.Read(3s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_GE(server_->Stats().refused_connection_limit, 1u);
}

TEST_F(HttpServerTest, OversizedHeadIsRefused) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("GET", "/hello", "X-Big: " + std::string(40000, 'h') + "\r\n"));
  auto response = connection.Read(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
}

TEST_F(HttpServerTest, MalformedRequestsAreBadRequests) {
  StartServer(Small());
  for (const std::string& request :
       {std::string("NOT HTTP AT ALL\r\n\r\n"),
        std::string("GET /hello HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n"),
        // Both framings at once is how requests are smuggled past proxies.
        RawHead("POST", "/echo", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n") +
            "0\r\n\r\n",
        RawHead("POST", "/echo", "Transfer-Encoding: chunked\r\n") + "zz\r\nabc\r\n",
        RawHead("POST", "/echo", "Content-Length: 3\r\nContent-Length: 4\r\n") + "abcd"}) {
    RawConnection connection(port_);
    connection.Send(request);
    auto response = connection.Read(3s);
    ASSERT_TRUE(response) << request;
    EXPECT_EQ(response->status, 400) << request;
  }
  EXPECT_EQ(handler_.bodies_handled, 0);
}

TEST_F(HttpServerTest, AThrowingHandlerAnswers500AndTheServerCarriesOn) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("GET", "/throw"));
  auto response = connection.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  connection.Send(RawHead("GET", "/hello"));
  auto next = connection.Read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, AThrowingAdmissionAnswers500AndClosesWithoutReadingTheBody) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("POST", "/throw-admit", "Content-Length: 5\r\n") + "hello");
  auto response = connection.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_NE(response->body.find("INTERNAL"), std::string::npos);
  EXPECT_TRUE(connection.ClosedWithin(3s));
  EXPECT_EQ(handler_.bodies_handled, 0);
  // Other requests are not affected.
  RawConnection next(port_);
  next.Send(RawHead("GET", "/hello"));
  auto hello = next.Read();
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
}

TEST_F(HttpServerTest, StartRefusesAnAddressThatIsNotAnIpOrIsTaken) {
  ServerOptions options = Small();
  options.name = "probe";
  options.bind_address = "localhost";
  HttpServer named(options, &handler_);
  const absl::Status not_ip = named.Start();
  EXPECT_EQ(not_ip.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(not_ip.message(), "\"localhost\" is not an IP address");

  StartServer(Small());
  options.bind_address = "127.0.0.1";
  options.port = port_;
  HttpServer second(options, &handler_);
  const absl::Status taken = second.Start();
  EXPECT_EQ(taken.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(taken.message().find("cannot listen on 127.0.0.1:" + std::to_string(port_) +
                                 " (probe API): bind"),
            std::string_view::npos)
      << taken;
  // The running listener is untouched.
  RawConnection connection(port_);
  connection.Send(RawHead("GET", "/hello"));
  auto response = connection.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

// Holds every free descriptor of this process but one, so that the listener's
// accept fails with EMFILE (a host out of descriptors), until Release().
class DescriptorExhaustion {
 public:
  DescriptorExhaustion() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      highest = std::max(highest, std::stoi(entry.path().filename().string()));
    }
    // A low soft limit keeps the number of descriptors to fill small.
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(highest) + 32;
    ::setrlimit(RLIMIT_NOFILE, &lowered);
    for (;;) {
      const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      fillers_.push_back(fd);
    }
  }
  ~DescriptorExhaustion() { Release(); }

  // Frees one descriptor for the caller's next socket.
  void FreeOne() {
    ::close(fillers_.back());
    fillers_.pop_back();
  }
  void Release() {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  bool exhausted() const { return !fillers_.empty(); }

 private:
  rlimit saved_{};
  std::vector<int> fillers_;
};

TEST_F(HttpServerTest, AcceptFailuresBackOffAndTheListenerRecovers) {
  std::mutex logs_mu;
  std::vector<std::string> logs;
  ServerOptions options = Small();
  options.log = [&](std::string_view line) {
    std::lock_guard<std::mutex> lock(logs_mu);
    logs.emplace_back(line);
  };
  StartServer(options);

  DescriptorExhaustion exhaustion;
  ASSERT_TRUE(exhaustion.exhausted());
  exhaustion.FreeOne();
  RawConnection client(port_);  // the kernel completes it; the listener cannot take it
  ASSERT_TRUE(client.ok());
  const auto failing_since = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return server_->Stats().accept_errors >= 2; }));
  std::this_thread::sleep_for(300ms);
  const uint64_t errors = server_->Stats().accept_errors;
  const auto failing_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - failing_since)
                              .count();
  // At least 100 ms between two tries: a pause, not a loop.
  EXPECT_LE(errors, static_cast<uint64_t>(failing_ms / 100 + 2)) << failing_ms << " ms";
  {
    std::lock_guard<std::mutex> lock(logs_mu);
    ASSERT_EQ(logs.size(), 1u);  // one line, not one per try
    EXPECT_NE(logs[0].find("test listener: accept failed"), std::string::npos) << logs[0];
    EXPECT_NE(logs[0].find("pausing accepts for 100 ms"), std::string::npos) << logs[0];
  }
  EXPECT_EQ(server_->Stats().connections_accepted, 0u);

  exhaustion.Release();
  client.Send(RawHead("GET", "/hello"));
  auto response = client.Read(5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(server_->Stats().connections_accepted, 1u);
}

TEST_F(HttpServerTest, ManyShortConnectionsGiveBackEverySlot) {
  ServerOptions options = Small();
  options.max_connections = 8;
  options.max_connections_per_client = 4;
  StartServer(options);
  for (int i = 0; i < 300; ++i) {
    RawConnection connection(port_);
    connection.Send(RawHead("GET", "/hello", "Connection: close\r\n"));
    auto response = connection.Read();
    ASSERT_TRUE(response) << i;
    ASSERT_EQ(response->status, 200) << i;  // never refused: closed ones count no more
  }
  EXPECT_TRUE(WaitFor([&] { return server_->Stats().connections_open == 0; }));
  EXPECT_EQ(server_->Stats().connections_accepted, 300u);
  EXPECT_EQ(server_->Stats().refused_connection_limit, 0u);
}

TEST_F(HttpServerTest, StreamsAreChunkedAndCapped) {
  ServerOptions options = Small();
  options.max_streams = 1;
  StartServer(options);
  RawConnection first(port_);
  first.Send(RawHead("GET", "/endless"));
  pollfd started{first.fd(), POLLIN, 0};
  ASSERT_GT(::poll(&started, 1, 3000), 0);  // its head went out: the one slot is taken
  RawConnection second(port_);
  second.Send(RawHead("GET", "/stream"));
  auto busy = second.Read(3s);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
}

TEST_F(HttpServerTest, AStreamEndsWithItsLastChunk) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("GET", "/stream"));
  auto response = connection.Read(5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "data: 3\n\ndata: 2\n\ndata: 1\n\n");
  EXPECT_TRUE(WaitFor([&] { return handler_.streams_closed == 1; }));
}

TEST_F(HttpServerTest, StopEndsStreamsAndIdleConnectionsPromptly) {
  StartServer(Small());
  RawConnection stream(port_);
  stream.Send(RawHead("GET", "/endless"));
  RawConnection idle(port_);
  RawConnection half(port_);
  half.Send("GET /hel");
  std::this_thread::sleep_for(200ms);
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(handler_.streams_closed, 1);
  EXPECT_TRUE(idle.ClosedWithin(1s));
}

TEST_F(HttpServerTest, SlowHandlerAnswers) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("GET", "/slow"));
  auto response = connection.Read(5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "slow");
}

TEST_F(HttpServerTest, StopLetsARequestInProgressFinish) {
  StartServer(Small());
  RawConnection connection(port_);
  connection.Send(RawHead("GET", "/slow"));
  std::this_thread::sleep_for(100ms);
  std::thread stopper([&] { server_->Stop(); });
  auto response = connection.Read(5s);
  stopper.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "slow");
}

}  // namespace
}  // namespace signal_host::http
