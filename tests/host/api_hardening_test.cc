// Every request the host accepts, tried the way a hostile or unlucky client would send
// it, against the real signal-delivery-host process: unauthorised (the body is never
// read), oversized by Content-Length, by chunks and by compression, malformed, slow,
// and many slow clients at once. Whatever is refused, nothing is queued.
#include <fstream>

#include "daemon_test_support.h"
#include "raw_http_client.h"

namespace signal_test {
namespace {

using namespace std::chrono_literals;

struct Endpoint {
  bool admin;
  std::string path;
  std::string good_body;  // a body the endpoint accepts (given a valid caller)
};

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = StartFake(dir_);
    HostSettings settings = Settings(dir_.Sub("data"), fake_.url);
    std::ofstream(dir_.Sub("host.yaml")) << Config();
    settings.extra_args = {"--config", dir_.Sub("host.yaml")};
    host_ = StartHost(settings);
    Reply installed = host_.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                                  FastInstallBody(), Token("editor"));
    ASSERT_EQ(installed.status, 201) << installed.body;
    id_ = IntegrationIdOf(installed);
  }

  // Short deadlines so that the slow cases end quickly.
  virtual std::string Config() const {
    return "admin:\n  header_timeout_ms: 1000\n  body_timeout_ms: 1000\n"
           "events:\n  header_timeout_ms: 1000\n  body_timeout_ms: 1000\n"
           "  max_connections_per_client: 8\n";
  }

  std::vector<Endpoint> Endpoints() const {
    const std::string track = R"({"event":"E","userId":"u1"})";
    return {
        {false, "/v1/t", track},
        {false, "/v1/p", R"({"name":"Home","userId":"u1"})"},
        {false, "/v1/i", R"({"userId":"u1","traits":{"a":1}})"},
        {false, "/v1/g", R"({"groupId":"g1","userId":"u1"})"},
        {false, "/v1/batch", R"({"batch":[{"type":"track","event":"E","userId":"u1"}]})"},
        {true, "/v1/admin/integration-catalog/hightouch/install", FastInstallBody("Second")},
        {true, "/v1/admin/integrations/" + id_ + "/revisions",
         R"({"config":{"api_key":"xxxxxxxxxxxxxxxxxxxx","workspace_id":"ws-12345",)"
         R"("source_id":"src-12345","batch_interval_ms":100}})"},
        {true, "/v1/admin/dead-letters/replay", R"({"integration_id":")" + id_ + R"("})"},
    };
  }

  int PortOf(const Endpoint& endpoint) const {
    return endpoint.admin ? host_.admin_port : host_.events_port;
  }
  std::string AuthOf(const Endpoint& endpoint) const {
    return "Authorization: Bearer " + (endpoint.admin ? Token("owner") : host_.pipeline_key) +
           "\r\n";
  }
  size_t LimitOf(const Endpoint& endpoint) const {
    return endpoint.admin ? 1024 * 1024 : 512 * 1024;
  }

  // Sends a whole request on a fresh connection and reads the answer. Each exchange
  // comes from its own loopback address, clear of the per-client connection cap.
  std::optional<RawResponse> Exchange(const Endpoint& endpoint, const std::string& request,
                                      std::chrono::milliseconds timeout = 5s) {
    const int n = ++exchanges_;
    const std::string source =
        "127.4." + std::to_string(n / 250 % 250) + "." + std::to_string(n % 250 + 1);
    RawConnection connection(PortOf(endpoint), source.c_str());
    EXPECT_TRUE(connection.ok());
    connection.Send(request);
    return connection.Read(timeout);
  }

  // Events the fake has received so far.
  size_t Delivered() const { return fake_.Events().size(); }

  TempDir dir_;
  FakeHightouch fake_;
  HostProcess host_;
  std::string id_;
  int exchanges_ = 0;
};

// The listeners' default deadlines (10 s for a head), so slow clients stay connected
// for the whole test.
class SlowClientsTest : public HardeningTest {
 protected:
  std::string Config() const override { return "events:\n  max_connections_per_client: 8\n"; }
};

TEST_F(HardeningTest, UnauthorisedRequestsAreRefusedBeforeTheirBodyIsRead) {
  for (const Endpoint& endpoint : Endpoints()) {
    SCOPED_TRACE(endpoint.path);
    for (const std::string& auth :
         {std::string(), std::string("Authorization: Bearer wrong-key\r\n"),
          std::string("Authorization: Basic dXNlcjpwYXNz\r\n")}) {
      // The head declares a body within the limit and no byte of it is ever sent: an
      // answer can only come from a server that judged the caller first.
      auto response =
          Exchange(endpoint,
                   RawHead("POST", endpoint.path,
                           auth + "Content-Type: application/json\r\nContent-Length: 400000\r\n"),
                   3s);
      ASSERT_TRUE(response) << "no answer without the body: " << auth;
      EXPECT_EQ(response->status, 401) << response->body;
    }
  }
}

TEST_F(HardeningTest, AnonymousMegabyteBodiesDoNotGrowTheHost) {
  auto rss_kb = [&] {
    std::ifstream status("/proc/" + std::to_string(host_.process->pid()) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0L;
  };
  const long before = rss_kb();
  const std::string body(1024 * 1024, 'x');
  for (int i = 0; i < 50; ++i) {
    RawConnection connection(host_.events_port, ("127.0.5." + std::to_string(i + 1)).c_str());
    connection.Send(RawHead("POST", "/v1/batch", "Content-Length: 1048576\r\n") + body);
    auto response = connection.Read(3s);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401);
  }
  // 50 MB were sent; none of it may stay (the old listener kept hundreds of MB).
  EXPECT_LT(rss_kb() - before, 32 * 1024) << "before " << before << " kB";
}

TEST_F(HardeningTest, OversizedBodiesAreRefusedWhateverTheirFraming) {
  for (const Endpoint& endpoint : Endpoints()) {
    SCOPED_TRACE(endpoint.path);
    const std::string auth = AuthOf(endpoint);
    const size_t limit = LimitOf(endpoint);
    // Declared: refused from the head.
    auto declared =
        Exchange(endpoint, RawHead("POST", endpoint.path,
                                   auth + "Content-Length: " + std::to_string(limit * 4) + "\r\n"));
    ASSERT_TRUE(declared);
    EXPECT_EQ(declared->status, 413);
    // Chunked, with no end in sight: refused once the limit is passed.
    const std::string chunks = Chunked(std::string(limit * 2, ' '), 16384);
    auto chunked =
        Exchange(endpoint, RawHead("POST", endpoint.path, auth + "Transfer-Encoding: chunked\r\n") +
                               chunks.substr(0, chunks.size() - 5));
    ASSERT_TRUE(chunked);
    EXPECT_EQ(chunked->status, 413);
    // Compressed: a small gzip body that inflates past the limit.
    const std::string bomb = Compress("{\"batch\":[" + std::string(limit * 20, ' ') + "]}");
    auto inflated = Exchange(endpoint, RawHead("POST", endpoint.path,
                                               auth + "Content-Encoding: gzip\r\nContent-Length: " +
                                                   std::to_string(bomb.size()) + "\r\n") +
                                           bomb);
    ASSERT_TRUE(inflated);
    EXPECT_EQ(inflated->status, 413) << inflated->body;
    EXPECT_EQ(inflated->Header("connection"), "close");
  }
  // The inflating body of the old probe: 204 KB of gzip inflating to 200 MB.
  const std::string big_bomb = Compress(std::string(200 * 1024 * 1024, ' '));
  auto probe = Exchange(Endpoints()[4], RawHead("POST", "/v1/batch",
                                                AuthOf(Endpoints()[4]) +
                                                    "Content-Encoding: gzip\r\nContent-Length: " +
                                                    std::to_string(big_bomb.size()) + "\r\n") +
                                            big_bomb);
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->status, 413);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Delivered(), 0u) << "a refused body was queued";
}

TEST_F(HardeningTest, CompressedAndChunkedBodiesAreAccepted) {
  size_t events = 0;
  for (const Endpoint& endpoint : Endpoints()) {
    SCOPED_TRACE(endpoint.path);
    const std::string auth = AuthOf(endpoint);
    const int expected = endpoint.path.find("/install") != std::string::npos     ? 201
                         : endpoint.path.find("/revisions") != std::string::npos ? 201
                                                                                 : 200;
    std::string body = endpoint.good_body;
    if (endpoint.path.find("/install") != std::string::npos) body = FastInstallBody("Gzipped");
    const std::string gz = Compress(body);
    auto gzipped = Exchange(endpoint, RawHead("POST", endpoint.path,
                                              auth + "Content-Encoding: gzip\r\nContent-Length: " +
                                                  std::to_string(gz.size()) + "\r\n") +
                                          gz);
    ASSERT_TRUE(gzipped);
    EXPECT_EQ(gzipped->status, expected) << gzipped->body;
    if (endpoint.path.find("/install") != std::string::npos) body = FastInstallBody("Chunked");
    auto chunked =
        Exchange(endpoint, RawHead("POST", endpoint.path, auth + "Transfer-Encoding: chunked\r\n") +
                               Chunked(body, 7));
    ASSERT_TRUE(chunked);
    EXPECT_EQ(chunked->status, expected) << chunked->body;
    if (!endpoint.admin) events += 2;
  }
  // Every accepted event reaches Hightouch (three integrations now route them).
  EXPECT_TRUE(WaitUntil([&] { return Delivered() >= events; }, 30s))
      << Delivered() << " of " << events;
}

TEST_F(HardeningTest, MalformedBodiesAreBadRequestsAndQueueNothing) {
  for (const Endpoint& endpoint : Endpoints()) {
    SCOPED_TRACE(endpoint.path);
    const std::string auth = AuthOf(endpoint);
    for (const std::string& body : {std::string("{"), std::string("not json"),
                                    std::string(100, '[') + std::string(100, ']')}) {
      auto plain = Exchange(
          endpoint, RawHead("POST", endpoint.path,
                            auth + "Content-Length: " + std::to_string(body.size()) + "\r\n") +
                        body);
      ASSERT_TRUE(plain);
      EXPECT_EQ(plain->status, 400) << body;
      auto chunked = Exchange(
          endpoint, RawHead("POST", endpoint.path, auth + "Transfer-Encoding: chunked\r\n") +
                        Chunked(body, 3));
      ASSERT_TRUE(chunked);
      EXPECT_EQ(chunked->status, 400) << body;
    }
    auto corrupt_gzip = Exchange(endpoint, RawHead("POST", endpoint.path,
                                                   auth + "Content-Encoding: gzip\r\n"
                                                          "Content-Length: 9\r\n") +
                                               "not gzip!");
    ASSERT_TRUE(corrupt_gzip);
    EXPECT_EQ(corrupt_gzip->status, 400);
    auto unknown_coding = Exchange(endpoint, RawHead("POST", endpoint.path,
                                                     auth + "Content-Encoding: br\r\n"
                                                            "Content-Length: 2\r\n") +
                                                 "{}");
    ASSERT_TRUE(unknown_coding);
    EXPECT_EQ(unknown_coding->status, 415);
  }
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Delivered(), 0u);
}

TEST_F(HardeningTest, SlowRequestsAreCutOffWithATimeout) {
  for (const Endpoint& endpoint : Endpoints()) {
    SCOPED_TRACE(endpoint.path);
    // A head that never ends.
    RawConnection head(PortOf(endpoint));
    head.Send("POST " + endpoint.path + " HTTP/1.1\r\nHost: x\r\n");
    auto head_reply = head.Read(4s);
    ASSERT_TRUE(head_reply);
    EXPECT_EQ(head_reply->status, 408);
    // A body that stops halfway.
    RawConnection body(PortOf(endpoint));
    body.Send(RawHead("POST", endpoint.path, AuthOf(endpoint) + "Content-Length: 100\r\n") +
              "{\"batch\":");
    auto body_reply = body.Read(4s);
    ASSERT_TRUE(body_reply);
    EXPECT_EQ(body_reply->status, 408);
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Delivered(), 0u);
}

TEST_F(SlowClientsTest, StallNeitherApiNorTheProbes) {
  // More slow clients than either listener has worker threads, each dripping a header
  // byte: the old listeners (a thread per connection) stalled at 16-40 of them.
  std::vector<RawConnection> slow;
  for (int i = 0; i < 8; ++i) {  // the per-client cap of this host's event listener
    slow.emplace_back(host_.events_port, ("127.0.1." + std::to_string(i + 1)).c_str());
  }
  for (int i = 0; i < 200; ++i) {
    slow.emplace_back(i % 2 ? host_.admin_port : host_.events_port,
                      ("127.0.2." + std::to_string(i + 1)).c_str());
  }
  for (RawConnection& connection : slow) connection.Send("POST /v1/batch HTTP/1.1\r\n");
  for (int round = 0; round < 3; ++round) {
    for (RawConnection& connection : slow) connection.Send("X");
    const auto start = std::chrono::steady_clock::now();
    Reply event = host_.Event("/v1/t", R"({"event":"E","userId":"u"})", host_.pipeline_key);
    EXPECT_EQ(event.status, 200);
    Reply admin = host_.Admin("GET", "/v1/admin/integrations", "", Token("viewer"));
    EXPECT_EQ(admin.status, 200);
    Reply ready = host_.Admin("GET", "/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "round " << round;
    std::this_thread::sleep_for(200ms);
  }
}

TEST_F(HardeningTest, ConnectionsPerClientAreCapped) {
  std::vector<RawConnection> held;
  for (int i = 0; i < 8; ++i) {
    held.emplace_back(host_.events_port, "127.0.3.1");
    held.back().Send(RawHead("GET", "/healthz"));
    ASSERT_TRUE(held.back().Read(3s));
  }
  RawConnection ninth(host_.events_port, "127.0.3.1");
  auto refused = ninth.Read(3s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  Reply as_reply;
  as_reply.status = refused->status;
  as_reply.body = refused->body;
  EXPECT_EQ(as_reply.ErrorCode(), "TOO_MANY_CONNECTIONS");
  // The cap and the refusals are visible to operators.
  Reply metrics = host_.Admin("GET", "/metrics");
  EXPECT_NE(metrics.body.find(
                "signal_http_refused_total{listener=\"event\",reason=\"connection_limit\"} 1"),
            std::string::npos)
      << metrics.body.substr(0, 4000);
}

TEST_F(HardeningTest, UnknownRoutesAndMethodsAnswerInTheEnvelope) {
  Reply missing = host_.Admin("GET", "/v1/admin/nothing-here", "", Token("owner"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.ErrorCode(), "NOT_FOUND");
  RawConnection wrong_method(host_.admin_port);
  wrong_method.Send(RawHead("PUT", "/v1/admin/integrations", "Content-Length: 0\r\n"));
  auto response = wrong_method.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->Header("allow"), "GET");
  RawConnection bad_escape(host_.admin_port);
  bad_escape.Send(RawHead("GET", "/v1/admin/integrations/%zz"));
  auto bad = bad_escape.Read();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  RawConnection nul(host_.admin_port);
  nul.Send(RawHead("GET", "/v1/admin/integrations?limit=%00"));
  auto nul_reply = nul.Read();
  ASSERT_TRUE(nul_reply);
  EXPECT_EQ(nul_reply->status, 400);
}

TEST_F(HardeningTest, TheEventListenerAnswersWrongMethodsAndBadTargetsBeforeAnyKeyCheck) {
  // GET on an event route: 405 naming what is allowed, in the error envelope, with the
  // CORS headers browsers need to read it; no key was sent and none is asked for.
  RawConnection wrong_method(host_.events_port);
  wrong_method.Send(RawHead("GET", "/v1/batch"));
  auto response = wrong_method.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->Header("allow"), "POST, OPTIONS");
  EXPECT_EQ(response->Header("access-control-allow-origin"), "*");
  Reply method_reply;
  method_reply.status = response->status;
  method_reply.body = response->body;
  EXPECT_EQ(method_reply.ErrorCode(), "METHOD_NOT_ALLOWED");

  // A malformed escape or an encoded NUL in the target: 400, even with a body announced.
  for (const char* target : {"/v1/ba%zzch", "/v1/batch%00", "/v1/batch?x=%G1"}) {
    RawConnection bad(host_.events_port);
    bad.Send(RawHead("POST", target, "Content-Length: 100000\r\n"));
    auto bad_reply = bad.Read();
    ASSERT_TRUE(bad_reply) << target;
    EXPECT_EQ(bad_reply->status, 400) << target;
  }
}

}  // namespace
}  // namespace signal_test
