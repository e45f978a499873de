// HttpSender against real loopback servers (cpp-httplib, plain and TLS).
#include "host/delivery/http_sender.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace signal_host::delivery {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A gate a handler can wait on until the test opens it.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Runs a server on 127.0.0.1:0 in a thread and stops it on destruction.
class ServerRunner {
 public:
  explicit ServerRunner(httplib::Server& server) : server_(server) {
    // httplib closes a keep-alive connection after 5 requests by default.
    server_.set_keep_alive_max_count(1000);
    server_.set_payload_max_length(64 * 1024 * 1024);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~ServerRunner() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server& server_;
  int port_ = 0;
  std::thread thread_;
};

// Sends one request and waits for its response.
HttpResponse SendAndWait(HttpSender& sender, HttpRequest request) {
  std::promise<HttpResponse> promise;
  auto future = promise.get_future();
  const absl::Status status = sender.Submit(
      std::move(request), [&promise](HttpResponse&& response) { promise.set_value(std::move(response)); });
  EXPECT_TRUE(status.ok()) << status;
  return future.get();
}

std::unique_ptr<HttpSender> MakeSender(HttpSender::Options options = {}) {
  auto sender = HttpSender::Create(options);
  EXPECT_TRUE(sender.ok()) << sender.status();
  return std::move(*sender);
}

TEST(HttpSenderTest, PostsBodyAndHeadersAndCapturesTheResponse) {
  httplib::Server server;
  std::string seen_body, seen_auth, seen_type, seen_expect;
  server.Post("/v1/batch", [&](const httplib::Request& req, httplib::Response& res) {
    seen_body = req.body;
    seen_auth = req.get_header_value("Authorization");
    seen_type = req.get_header_value("Content-Type");
    seen_expect = req.get_header_value("Expect");
    res.status = 429;
    res.set_header("Retry-After", "7");
    res.set_content("{\"error\":\"slow down\"}", "application/json");
  });
  ServerRunner runner(server);
  auto sender = MakeSender();
  HttpRequest request;
  request.url = runner.url("/v1/batch");
  request.headers = {{"Authorization", "Basic a2V5Og=="}, {"Content-Type", "application/json"}};
  request.body = std::string(5000, 'x');  // large enough that curl would otherwise send Expect
  const HttpResponse response = SendAndWait(*sender, request);
  EXPECT_EQ(response.status, 429);
  EXPECT_THAT(response.transport_error, IsEmpty());
  EXPECT_EQ(response.body, "{\"error\":\"slow down\"}");
  EXPECT_FALSE(response.body_truncated);
  EXPECT_THAT(response.headers, testing::Contains(std::make_pair(std::string("Retry-After"),
                                                                 std::string("7"))));
  EXPECT_EQ(seen_body, request.body);
  EXPECT_EQ(seen_auth, "Basic a2V5Og==");
  EXPECT_EQ(seen_type, "application/json");
  EXPECT_THAT(seen_expect, IsEmpty());
  EXPECT_GT(response.latency_us, 0);
}

TEST(HttpSenderTest, ReusesOneKeepAliveConnectionForSequentialRequests) {
  httplib::Server server;
  std::mutex mu;
  std::set<int> client_ports;
  server.Post("/", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    client_ports.insert(req.remote_port);
    res.set_content("ok", "text/plain");
  });
  ServerRunner runner(server);
  auto sender = MakeSender();
  for (int i = 0; i < 20; ++i) {
    HttpRequest request;
    request.url = runner.url("/");
    request.body = "n=" + std::to_string(i);
    const HttpResponse response = SendAndWait(*sender, request);
    ASSERT_EQ(response.status, 200);
    EXPECT_EQ(response.new_connections, i == 0 ? 1u : 0u) << "request " << i;
  }
  {
    std::lock_guard<std::mutex> lock(mu);  // The handler's thread wrote it.
    EXPECT_EQ(client_ports.size(), 1u);
  }
  EXPECT_EQ(sender->stats().connections_opened, 1u);
  EXPECT_EQ(sender->stats().requests_completed, 20u);
}

TEST(HttpSenderTest, TimesOutAHungRequest) {
  httplib::Server server;
  Gate gate;
  server.Post("/hang", [&](const httplib::Request&, httplib::Response& res) {
    gate.Wait();
    res.set_content("late", "text/plain");
  });
  ServerRunner runner(server);
  auto sender = MakeSender();
  HttpRequest request;
  request.url = runner.url("/hang");
  request.timeout_ms = 200;
  const HttpResponse response = SendAndWait(*sender, request);
  gate.Open();
  EXPECT_EQ(response.status, 0);
  EXPECT_TRUE(response.timed_out);
  EXPECT_THAT(response.transport_error, HasSubstr("imeout"));
}

TEST(HttpSenderTest, ReportsConnectionRefused) {
  // A port that was bound and released: nothing listens there.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  close(fd);

  auto sender = MakeSender();
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/batch";
  request.body = "{}";
  const HttpResponse response = SendAndWait(*sender, request);
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.timed_out);
  EXPECT_THAT(response.transport_error, HasSubstr("connect"));
}

TEST(HttpSenderTest, TruncatesAnOversizedResponseAndKeepsTheConnection) {
  httplib::Server server;
  server.Post("/big", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content(std::string(200 * 1024, 'b'), "text/plain");
  });
  ServerRunner runner(server);
  HttpSender::Options options;
  options.max_response_body_bytes = 64 * 1024;
  auto sender = MakeSender(options);
  HttpRequest request;
  request.url = runner.url("/big");
  const HttpResponse first = SendAndWait(*sender, request);
  EXPECT_EQ(first.status, 400);
  EXPECT_EQ(first.body.size(), 64u * 1024);
  EXPECT_TRUE(first.body_truncated);
  EXPECT_EQ(first.body_bytes_received, 200u * 1024);
  const HttpResponse second = SendAndWait(*sender, request);
  EXPECT_EQ(second.status, 400);
  EXPECT_EQ(second.new_connections, 0u);
}

TEST(HttpSenderTest, KeepsOnlyAsManyResponseHeadersAsItsLimitsAllow) {
  // A vendor (or anything in between) answering with endless headers must not grow
  // the host: the count and the bytes kept are capped, the response still counts.
  httplib::Server server;
  server.Post("/many", [&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 50; ++i) res.set_header("X-Filler-" + std::to_string(i), "v");
    res.set_content("ok", "text/plain");
  });
  server.Post("/long", [&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 4; ++i)
      res.set_header("X-Long-" + std::to_string(i), std::string(300, 'l'));
    res.set_content("ok", "text/plain");
  });
  ServerRunner runner(server);
  HttpSender::Options options;
  options.max_response_headers = 10;
  options.max_response_header_bytes = 700;
  auto sender = MakeSender(options);
  HttpRequest request;
  request.url = runner.url("/many");
  const HttpResponse many = SendAndWait(*sender, request);
  EXPECT_EQ(many.status, 200);
  EXPECT_EQ(many.body, "ok");
  EXPECT_EQ(many.headers.size(), 10u);
  request.url = runner.url("/long");
  const HttpResponse long_headers = SendAndWait(*sender, request);
  EXPECT_EQ(long_headers.status, 200);
  size_t kept_bytes = 0;
  size_t long_kept = 0;
  for (const auto& [name, value] : long_headers.headers) {
    kept_bytes += name.size() + value.size();
    if (name.rfind("X-Long-", 0) == 0) ++long_kept;
  }
  EXPECT_LE(kept_bytes, 700u);
  EXPECT_LE(long_kept, 2u);  // 4 sent, about 310 bytes each
}

TEST(HttpSenderTest, SendsTheMethodThePluginAsksFor) {
  httplib::Server server;
  std::mutex mu;
  std::vector<std::string> seen;  // method and body, written on the server's thread
  auto record = [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(req.method + " " + req.body);
    res.set_content("ok", "text/plain");
  };
  server.Get("/r", record);
  server.Put("/r", record);
  server.Delete("/r", record);
  ServerRunner runner(server);
  auto sender = MakeSender();
  for (const auto& [method, body] : std::vector<std::pair<std::string, std::string>>{
           {"GET", ""}, {"PUT", "{\"a\":1}"}, {"DELETE", ""}}) {
    HttpRequest request;
    request.method = method;
    request.url = runner.url("/r");
    request.body = body;
    const HttpResponse response = SendAndWait(*sender, request);
    EXPECT_EQ(response.status, 200) << method << " " << response.transport_error;
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(seen, testing::ElementsAre("GET ", "PUT {\"a\":1}", "DELETE "));
}

TEST(HttpSenderTest, SendsAnOversizedRequestBodyWhole) {
  httplib::Server server;
  std::atomic<size_t> received{0};  // Written on the server's thread.
  server.Post("/", [&](const httplib::Request& req, httplib::Response& res) {
    received = req.body.size();
    res.set_content("ok", "text/plain");
  });
  ServerRunner runner(server);
  auto sender = MakeSender();
  HttpRequest request;
  request.url = runner.url("/");
  request.headers = {{"Content-Type", "application/json"}};
  request.body = std::string(3 * 1024 * 1024, 'z');
  EXPECT_EQ(SendAndWait(*sender, request).status, 200);
  EXPECT_EQ(received, 3u * 1024 * 1024);
}

TEST(HttpSenderTest, RefusesMalformedRequestsWithoutSendingThem) {
  httplib::Server server;
  std::atomic<int> hits{0};
  server.Post("/", [&](const httplib::Request&, httplib::Response& res) {
    ++hits;
    res.set_content("ok", "text/plain");
  });
  ServerRunner runner(server);
  auto sender = MakeSender();

  HttpRequest injected;
  injected.url = runner.url("/");
  injected.headers = {{"X-Evil", "a\r\nX-Injected: 1"}};
  HttpResponse response = SendAndWait(*sender, injected);
  EXPECT_EQ(response.status, 0);
  EXPECT_THAT(response.transport_error, HasSubstr("invalid request header"));

  HttpRequest nameless;
  nameless.url = runner.url("/");
  nameless.headers = {{"", "value"}};
  EXPECT_THAT(SendAndWait(*sender, nameless).transport_error, HasSubstr("invalid request header"));

  HttpRequest wrong_scheme;
  wrong_scheme.url = "ftp://127.0.0.1:" + std::to_string(runner.port()) + "/";
  response = SendAndWait(*sender, wrong_scheme);
  EXPECT_EQ(response.status, 0);
  EXPECT_THAT(response.transport_error, Not(IsEmpty()));

  HttpRequest no_url;
  EXPECT_THAT(SendAndWait(*sender, no_url).transport_error, Not(IsEmpty()));
  EXPECT_EQ(hits.load(), 0);
}

TEST(HttpSenderTest, BoundsTheRequestsInFlight) {
  httplib::Server server;
  Gate gate;
  std::mutex mu;
  int concurrent = 0;
  int max_concurrent = 0;
  int arrived = 0;
  std::condition_variable arrived_cv;
  server.Post("/", [&](const httplib::Request&, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++arrived;
      max_concurrent = std::max(max_concurrent, ++concurrent);
    }
    arrived_cv.notify_all();
    gate.Wait();
    {
      std::lock_guard<std::mutex> lock(mu);
      --concurrent;
    }
    res.set_content("ok", "text/plain");
  });
  ServerRunner runner(server);
  HttpSender::Options options;
  options.max_in_flight = 2;
  auto sender = MakeSender(options);

  std::atomic<int> done{0};
  std::thread submitter([&] {
    for (int i = 0; i < 6; ++i) {
      HttpRequest request;
      request.url = runner.url("/");
      ASSERT_TRUE(sender->Submit(std::move(request), [&](HttpResponse&& r) {
        EXPECT_EQ(r.status, 200);
        ++done;
      }).ok());
    }
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    arrived_cv.wait(lock, [&] { return arrived >= 2; });
  }
  EXPECT_EQ(sender->in_flight(), 2u);
  gate.Open();
  submitter.join();
  sender->Shutdown();
  EXPECT_EQ(done.load(), 6);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_LE(max_concurrent, 2);
}

TEST(HttpSenderTest, ShutdownFinishesRequestsInFlight) {
  httplib::Server server;
  std::atomic<bool> entered{false};
  server.Post("/", [&](const httplib::Request&, httplib::Response& res) {
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a slow vendor
    res.set_content("ok", "text/plain");
  });
  ServerRunner runner(server);
  auto sender = MakeSender();
  std::atomic<int> status{-1};
  HttpRequest request;
  request.url = runner.url("/");
  ASSERT_TRUE(sender->Submit(std::move(request), [&](HttpResponse&& r) { status = r.status; }).ok());
  sender->Shutdown(absl::Seconds(30));
  EXPECT_EQ(status.load(), 200);
  EXPECT_EQ(sender->in_flight(), 0u);
  HttpRequest after;
  after.url = runner.url("/");
  EXPECT_EQ(sender->Submit(std::move(after), [](HttpResponse&&) { ADD_FAILURE(); }).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(HttpSenderTest, ShutdownAbortsWhatOutlivesTheDrainDeadline) {
  httplib::Server server;
  Gate gate;
  std::atomic<bool> entered{false};
  server.Post("/", [&](const httplib::Request&, httplib::Response& res) {
    entered = true;
    gate.Wait();
    res.set_content("late", "text/plain");
  });
  ServerRunner runner(server);
  auto sender = MakeSender();
  HttpResponse seen;
  bool called = false;
  HttpRequest request;
  request.url = runner.url("/");
  request.timeout_ms = 0;  // no request timeout: only the drain deadline ends it
  ASSERT_TRUE(sender->Submit(std::move(request), [&](HttpResponse&& r) {
    seen = std::move(r);
    called = true;
  }).ok());
  while (!entered.load()) std::this_thread::yield();
  sender->Shutdown(absl::Milliseconds(100));
  gate.Open();
  ASSERT_TRUE(called);
  EXPECT_TRUE(seen.aborted);
  EXPECT_EQ(seen.status, 0);
  EXPECT_THAT(seen.transport_error, HasSubstr("aborted"));
}

// ---- TLS: verification is always on ------------------------------------------------

struct TestCertificate {
  std::string cert_path;
  std::string key_path;
};

// A self-signed certificate for 127.0.0.1 (subjectAltName IP), written to `dir`.
TestCertificate MakeCertificate(const std::filesystem::path& dir) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("signal-test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  TestCertificate paths{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  FILE* file = std::fopen(paths.cert_path.c_str(), "w");
  PEM_write_X509(file, cert);
  std::fclose(file);
  file = std::fopen(paths.key_path.c_str(), "w");
  PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(file);
  X509_free(cert);
  EVP_PKEY_free(key);
  return paths;
}

class TlsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sender_tls_" + std::to_string(getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    cert_ = MakeCertificate(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  TestCertificate cert_;
};

TEST_F(TlsTest, RefusesAnUntrustedCertificateAndAcceptsItOnceTrusted) {
  httplib::SSLServer server(cert_.cert_path.c_str(), cert_.key_path.c_str());
  ASSERT_TRUE(server.is_valid());
  std::atomic<int> hits{0};
  server.Post("/", [&](const httplib::Request&, httplib::Response& res) {
    ++hits;
    res.set_content("ok", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/";

  auto untrusting = MakeSender();
  HttpRequest request;
  request.url = url;
  const HttpResponse refused = SendAndWait(*untrusting, request);
  EXPECT_EQ(refused.status, 0);
  EXPECT_THAT(refused.transport_error, Not(IsEmpty()));
  EXPECT_EQ(hits.load(), 0);

  HttpSender::Options options;
  options.ca_file = cert_.cert_path;
  auto trusting = MakeSender(options);
  const HttpResponse accepted = SendAndWait(*trusting, request);
  EXPECT_EQ(accepted.status, 200) << accepted.transport_error;
  EXPECT_EQ(hits.load(), 1);

  untrusting->Shutdown();
  trusting->Shutdown();
  server.stop();
  thread.join();
}

TEST(HttpSenderTest, RejectsAZeroInFlightBound) {
  HttpSender::Options options;
  options.max_in_flight = 0;
  EXPECT_EQ(HttpSender::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace signal_host::delivery
