// The fake Hightouch over real loopback HTTP: ingest, REST, the control plane, every fault
// kind, and the fake-hightouch binary.
#include "fake_hightouch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace fake_hightouch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kWriteKey[] = "wk_test_123";
constexpr char kApiKey[] = "ak_test_456";

std::string Basic(std::string_view credentials) {
  return "Basic " + absl::Base64Escape(std::string(credentials));
}

std::string Event(std::string_view message_id, std::string_view type = "track") {
  return absl::StrCat(R"({"type":")", std::string(type), R"(","messageId":")",
                      std::string(message_id), R"(","userId":"user-1","event":"Test"})");
}

std::string Batch(const std::vector<std::string>& events) {
  std::string body = R"({"batch":[)";
  for (size_t i = 0; i < events.size(); ++i) body += (i > 0 ? "," : "") + events[i];
  return body + R"(],"sentAt":"2026-01-01T00:00:00.000Z"})";
}

// Polls `condition` (no fixed sleeps as synchronisation); false after `timeout`.
bool Eventually(const std::function<bool()>& condition,
                absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return condition();
}

// Parses a JSON text for assertions.
simdjson::dom::element ParseJson(simdjson::dom::parser& parser, const std::string& text) {
  simdjson::dom::element element;
  EXPECT_EQ(parser.parse(text).get(element), simdjson::SUCCESS) << text;
  return element;
}

Options TestOptions() {
  Options options;
  options.write_keys = {kWriteKey, "second-key"};
  options.api_keys = {kApiKey};
  options.sources = {{"12345", "678", "Web Events (prod)"}, {"src-abc", "ws-x", ""}};
  return options;
}

class FakeHightouchTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(TestOptions()); }

  void StartServer(Options options) {
    server_ = std::make_unique<FakeHightouch>(std::move(options));
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  std::unique_ptr<httplib::Client> NewClient() {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client->set_connection_timeout(5);
    client->set_read_timeout(10);
    return client;
  }

  httplib::Result Ingest(const std::string& path, const std::string& body,
                         std::string auth = Basic(std::string(kWriteKey) + ":"),
                         const std::string& content_type = "application/json") {
    httplib::Headers headers;
    if (!auth.empty()) headers.emplace("Authorization", auth);
    return NewClient()->Post(path.c_str(), headers, body, content_type.c_str());
  }

  httplib::Result GetSource(const std::string& id, const std::string& auth) {
    httplib::Headers headers;
    if (!auth.empty()) headers.emplace("Authorization", auth);
    return NewClient()->Get(("/api/v1/sources/" + id).c_str(), headers);
  }

  std::unique_ptr<FakeHightouch> server_;
};

// --- Ingest: authentication -------------------------------------------------------------

TEST_F(FakeHightouchTest, AcceptsBasicAuthWithColon) {
  auto res = Ingest("/v1/batch", Batch({Event("m1")}), Basic(std::string(kWriteKey) + ":"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "{}");
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("m1")));
}

TEST_F(FakeHightouchTest, AcceptsBasicAuthWithoutColon) {
  auto res = Ingest("/v1/batch", Batch({Event("m1")}), Basic(kWriteKey));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto second = Ingest("/v1/batch", Batch({Event("m2")}), Basic("second-key:"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(server_->AcceptedEvents().size(), 2u);
}

TEST_F(FakeHightouchTest, RefusesUnknownKeyWith401) {
  for (const std::string& auth : {Basic("wrong-key:"), Basic(std::string(kWriteKey) + ":password"),
                                  Basic(""), Basic(":"), std::string("Basic not*base64"),
                                  std::string("Bearer ") + kWriteKey, std::string("Basic")}) {
    auto res = Ingest("/v1/batch", Batch({Event("m1")}), auth);
    ASSERT_TRUE(res) << auth;
    EXPECT_EQ(res->status, 401) << auth;
    EXPECT_EQ(res->body, R"({"error":"invalid write key"})") << auth;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  }
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
}

TEST_F(FakeHightouchTest, RefusesMissingAuthorizationWith401) {
  auto res = Ingest("/v1/batch", Batch({Event("m1")}), "");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->body, R"({"error":"missing write key"})");
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
}

TEST_F(FakeHightouchTest, EmptyBatchIsACredentialProbe) {
  auto ok = Ingest("/v1/batch", R"({"batch":[],"sentAt":"2026-01-01T00:00:00.000Z"})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto refused = Ingest("/v1/batch", R"({"batch":[]})", Basic("nope:"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
  EXPECT_EQ(server_->GetStats().events_accepted, 0u);
}

// --- Ingest: validation -----------------------------------------------------------------

TEST_F(FakeHightouchTest, RequiresJsonContentType) {
  auto res =
      Ingest("/v1/batch", Batch({Event("m1")}), Basic(std::string(kWriteKey) + ":"), "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("Content-Type"));
  auto with_charset = Ingest("/v1/batch", Batch({Event("m1")}), Basic(std::string(kWriteKey) + ":"),
                             "application/json; charset=utf-8");
  ASSERT_TRUE(with_charset);
  EXPECT_EQ(with_charset->status, 200);
}

TEST_F(FakeHightouchTest, MalformedJsonIs400) {
  for (const std::string& body :
       {std::string("not json"), std::string(R"({"batch":[)"), std::string(""),
        std::string(R"({"batch":[{"type":"track","messageId":"m","userId":"u","x":tru}]})"),
        std::string(R"({"batch":[]} trailing)")}) {
    auto res = Ingest("/v1/batch", body);
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, 400) << body;
    EXPECT_THAT(res->body, HasSubstr("\"error\"")) << body;
  }
  auto single = Ingest("/v1/track", R"({"messageId":"m","userId":"u")");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->status, 400);
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
}

TEST_F(FakeHightouchTest, OversizedEventFailsTheWholeRequest) {
  const std::string big = absl::StrCat(R"({"type":"track","messageId":"big","userId":"u","p":")",
                                       std::string(33 * 1024, 'x'), R"("})");
  auto res = Ingest("/v1/batch", Batch({Event("small"), big}));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("batch[1]: event is"));
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
}

TEST_F(FakeHightouchTest, RequestSizeLimitIsInclusive) {
  const size_t limit = 500 * 1024;
  std::vector<std::string> events;
  for (int i = 0; i < 40; ++i) {
    events.push_back(absl::StrCat(R"({"type":"track","messageId":"m)", i, R"(","userId":"u","p":")",
                                  std::string(12000, 'y'), R"("})"));
  }
  std::string body = Batch(events);
  ASSERT_LT(body.size(), limit);
  body.append(limit - body.size(), ' ');  // trailing whitespace is valid JSON
  auto at_limit = Ingest("/v1/batch", body);
  ASSERT_TRUE(at_limit);
  EXPECT_EQ(at_limit->status, 200);

  body.push_back(' ');
  auto over = Ingest("/v1/batch", body);
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 400);
  EXPECT_THAT(over->body, HasSubstr("over the 512000-byte limit"));
  EXPECT_EQ(server_->GetStats().events_accepted, 40u);
}

TEST_F(FakeHightouchTest, MissingMessageIdOrIdentityIs400) {
  for (const std::string& event : {std::string(R"({"type":"track","userId":"u"})"),
                                   std::string(R"({"type":"track","messageId":"m"})"),
                                   std::string(R"({"messageId":"m","userId":"u"})")}) {
    auto res = Ingest("/v1/batch", Batch({event}));
    ASSERT_TRUE(res) << event;
    EXPECT_EQ(res->status, 400) << event;
  }
  auto single = Ingest("/v1/identify", R"({"userId":"u","traits":{}})");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->status, 400);
  EXPECT_THAT(single->body, HasSubstr("missing messageId"));
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
}

TEST_F(FakeHightouchTest, BatchMustBeAnArray) {
  auto res = Ingest("/v1/batch", R"({"batch":{"type":"track"}})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("batch must be an array"));
}

// --- Ingest: recording ------------------------------------------------------------------

TEST_F(FakeHightouchTest, RecordsBatchEventsByteExactInOrder) {
  const std::string exotic =
      R"({"type":"track","messageId":"m-exotic","userId":"u",)"
      R"("properties":{"big":123456789012345678901234567890,"neg":-98765432109876543210,)"
      R"("float":1.10e-7,"uni":"é漢🙂","escaped":"q\"b\\s\/n\n\u00e9\ud83d\ude42"}})";
  const std::string spaced =
      "{ \"type\":\"identify\" ,\"messageId\":\"m-2\", \"anonymousId\":\"a\" }";
  const std::string body =
      "{\"batch\": [\n  " + exotic + " ,\n  " + spaced + "\n],\"sentAt\":\"x\"}";
  auto res = Ingest("/v1/batch", body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(exotic, spaced));
}

TEST_F(FakeHightouchTest, SingleEventEndpointsRecordTheBody) {
  const std::vector<std::string> types = {"track", "page", "identify", "group", "screen", "alias"};
  std::vector<std::string> expected;
  for (const std::string& type : types) {
    const std::string event = absl::StrCat(R"({"messageId":")", type, R"(","anonymousId":"a"})");
    auto res = Ingest("/v1/" + type, event);
    ASSERT_TRUE(res) << type;
    EXPECT_EQ(res->status, 200) << type << " " << res->body;
    expected.push_back(event);
  }
  EXPECT_EQ(server_->AcceptedEvents(), expected);
}

TEST_F(FakeHightouchTest, BatchAliasesAndTrailingSlash) {
  for (const std::string path : {"/v1/b", "/v1/batch/"}) {
    auto res = Ingest(path, Batch({Event(path)}));
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
  }
  EXPECT_THAT(server_->GetStats().requests_by_path,
              UnorderedElementsAre(Pair("/v1/b", 1u), Pair("/v1/batch", 1u)));
}

TEST_F(FakeHightouchTest, AcceptsGzipBodies) {
  const std::string event =
      R"({"type":"track","messageId":"gz","userId":"u","p":{"n":123456789012345678901234567890}})";
  auto client = NewClient();
  client->set_compress(true);
  auto res = client->Post("/v1/batch", {{"Authorization", Basic(std::string(kWriteKey) + ":")}},
                          Batch({event}), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(event));
}

TEST_F(FakeHightouchTest, CountsDuplicateMessageIds) {
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("a"), Event("b")}))->status, 200);
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("a"), Event("c"), Event("c")}))->status, 200);
  const Stats stats = server_->GetStats();
  EXPECT_EQ(stats.events_accepted, 5u);
  EXPECT_EQ(stats.events_recorded, 5u);
  EXPECT_EQ(stats.duplicate_message_ids, 2u);
}

std::string TempPath(std::string_view name) {
  const char* dir = std::getenv("TMPDIR");
  return absl::StrCat(dir != nullptr && *dir != '\0' ? dir : "/tmp", "/", std::string(name), ".",
                      getpid());
}

std::string FileText(const std::string& path) {
  std::string text;
  if (FILE* file = std::fopen(path.c_str(), "rb")) {
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, file)) text.append(buffer, n);
    std::fclose(file);
  }
  return text;
}

TEST_F(FakeHightouchTest, MessageIdLogHasEveryAcceptedEventAndAppendsAcrossRestarts) {
  const std::string log = TempPath("fake_message_ids");
  std::remove(log.c_str());
  Options options = TestOptions();
  options.message_id_log_path = log;
  options.max_recorded_events = 1;  // the log does not depend on the stored events
  StartServer(options);
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("a"), Event("b"), Event("a")}))->status, 200);
  ASSERT_EQ(Ingest("/v1/track", Event("c"))->status, 200);
  // Refused requests log nothing: a bad key, a poisoned batch, an injected status.
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("x")}), Basic("nope:"))->status, 401);
  ASSERT_TRUE(server_->SetFaults(R"({"poison_message_ids":["bad"]})").ok());
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("y"), Event("bad")}))->status, 400);
  ASSERT_TRUE(server_->SetFaults(R"({"statuses":[503]})").ok());
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("z")}))->status, 503);
  // An id with an escaped line break stays on one line.
  ASSERT_EQ(Ingest("/v1/track", Event("d\\ne"))->status, 200);
  EXPECT_EQ(FileText(log), "a\nb\na\nc\nd e\n");

  // A second fake on the same file (as after a restart) appends.
  server_->Stop();
  StartServer(options);
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("f")}))->status, 200);
  EXPECT_EQ(FileText(log), "a\nb\na\nc\nd e\nf\n");
  std::remove(log.c_str());
}

TEST_F(FakeHightouchTest, StartFailsWhenTheMessageIdLogCannotBeOpened) {
  Options options = TestOptions();
  options.message_id_log_path = "/nonexistent-dir-for-the-fake/ids";
  FakeHightouch fake(options);
  const absl::Status status = fake.Start();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("message id log"));
}

TEST_F(FakeHightouchTest, StopsStoringBeyondMaxRecordedEvents) {
  Options options = TestOptions();
  options.max_recorded_events = 2;
  StartServer(options);
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("1"), Event("2"), Event("3")}))->status, 200);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("1"), Event("2")));
  const Stats stats = server_->GetStats();
  EXPECT_EQ(stats.events_accepted, 3u);
  EXPECT_EQ(stats.events_recorded, 2u);
}

TEST_F(FakeHightouchTest, MessageIdWindowIsSeparateFromRecordedEvents) {
  Options options = TestOptions();
  options.max_recorded_events = 1;
  options.message_id_window = 3;
  StartServer(options);
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("a"), Event("b"), Event("c"), Event("d")}))->status,
            200);
  // "a" and "c" are within the window of three ids; "d" came fourth and is not remembered.
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("a"), Event("d"), Event("c")}))->status, 200);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("a")));
  Stats stats = server_->GetStats();
  EXPECT_EQ(stats.events_accepted, 7u);
  EXPECT_EQ(stats.events_recorded, 1u);
  EXPECT_EQ(stats.duplicate_message_ids, 2u);

  // Reset forgets the ids as well as the events.
  server_->Reset();
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("a")}))->status, 200);
  stats = server_->GetStats();
  EXPECT_EQ(stats.duplicate_message_ids, 0u);
  EXPECT_EQ(stats.events_recorded, 1u);
}

TEST_F(FakeHightouchTest, DuplicatesAreFoundBeyondTheRecordedEvents) {
  Options options = TestOptions();
  options.max_recorded_events = 0;
  StartServer(options);
  std::vector<std::string> events;
  for (int i = 0; i < 300; ++i) events.push_back(Event(absl::StrCat("id-", i)));
  ASSERT_EQ(Ingest("/v1/batch", Batch(events))->status, 200);
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("id-7"), Event("id-299"), Event("id-300")}))->status,
            200);
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
  const Stats stats = server_->GetStats();
  EXPECT_EQ(stats.events_accepted, 303u);
  EXPECT_EQ(stats.events_recorded, 0u);
  EXPECT_EQ(stats.duplicate_message_ids, 2u);
}

TEST_F(FakeHightouchTest, EscapedMessageIdsAreComparedUnescaped) {
  const std::string escaped = R"({"type":"track","messageId":"m1","userId":"u"})";
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("m1"), escaped}))->status, 200);
  EXPECT_EQ(server_->GetStats().duplicate_message_ids, 1u);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("m1"), escaped));
}

TEST_F(FakeHightouchTest, StatsCountStatusesPathsAndBytes) {
  const std::string good = Batch({Event("s1")});
  const std::string bad = "{";
  ASSERT_EQ(Ingest("/v1/batch", good)->status, 200);
  ASSERT_EQ(Ingest("/v1/batch", bad)->status, 400);
  ASSERT_EQ(Ingest("/v1/track", Event("s2"), Basic("nope"))->status, 401);
  ASSERT_EQ(NewClient()->Get("/v2/unknown")->status, 404);
  const Stats stats = server_->GetStats();
  EXPECT_THAT(stats.requests_by_status,
              UnorderedElementsAre(Pair(200, 1u), Pair(400, 1u), Pair(401, 1u), Pair(404, 1u)));
  EXPECT_THAT(
      stats.requests_by_path,
      UnorderedElementsAre(Pair("/v1/batch", 2u), Pair("/v1/track", 1u), Pair("(unmatched)", 1u)));
  EXPECT_EQ(stats.bytes_received, good.size() + bad.size() + Event("s2").size());
  EXPECT_EQ(stats.events_accepted, 1u);
}

TEST_F(FakeHightouchTest, ManyConcurrentClientsLoseNothing) {
  constexpr int kThreads = 8;
  constexpr int kRequests = 25;
  constexpr int kEventsPerRequest = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server_->port());
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      for (int r = 0; r < kRequests; ++r) {
        std::vector<std::string> events;
        for (int e = 0; e < kEventsPerRequest; ++e) {
          events.push_back(Event(absl::StrCat(t, "-", r, "-", e)));
        }
        auto res = client.Post("/v1/batch", {{"Authorization", Basic(kWriteKey)}}, Batch(events),
                               "application/json");
        if (!res || res->status != 200) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const std::vector<std::string> events = server_->AcceptedEvents();
  EXPECT_EQ(events.size(), static_cast<size_t>(kThreads * kRequests * kEventsPerRequest));
  EXPECT_EQ(std::set<std::string>(events.begin(), events.end()).size(), events.size());
  EXPECT_EQ(server_->GetStats().duplicate_message_ids, 0u);
}

// Two requests written back to back in one segment: the bytes of the second one, read along
// with the first, are kept for the connection's next request.
TEST_F(FakeHightouchTest, PipelinedRequestsOnOneConnectionAreBothAnswered) {
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server_->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  std::string requests;
  for (const char* id : {"p1", "p2"}) {
    const std::string body = Batch({Event(id)});
    absl::StrAppend(&requests, "POST /v1/batch HTTP/1.1\r\nHost: fake\r\nAuthorization: ",
                    Basic(kWriteKey), "\r\nContent-Type: application/json\r\nContent-Length: ",
                    body.size(), "\r\n\r\n", body);
  }
  ASSERT_EQ(send(sock, requests.data(), requests.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(requests.size()));
  std::string answers;
  char buffer[4096];
  pollfd readable{sock, POLLIN, 0};
  auto count_answers = [&answers] {
    size_t count = 0;
    for (size_t at = answers.find("HTTP/1.1 200"); at != std::string::npos;
         at = answers.find("HTTP/1.1 200", at + 1)) {
      ++count;
    }
    return count;
  };
  while (count_answers() < 2 || !absl::EndsWith(answers, "{}")) {
    ASSERT_EQ(poll(&readable, 1, 10'000), 1) << answers;
    const ssize_t received = recv(sock, buffer, sizeof(buffer), 0);
    ASSERT_GT(received, 0) << answers;
    answers.append(buffer, static_cast<size_t>(received));
  }
  close(sock);
  EXPECT_EQ(count_answers(), 2u);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("p1"), Event("p2")));
}

TEST_F(FakeHightouchTest, WaitForAcceptedEvents) {
  EXPECT_FALSE(server_->WaitForAcceptedEvents(1, absl::Milliseconds(1)));
  std::thread sender([this] { Ingest("/v1/batch", Batch({Event("w1"), Event("w2")})); });
  EXPECT_TRUE(server_->WaitForAcceptedEvents(2, absl::Seconds(10)));
  sender.join();
}

// --- REST -------------------------------------------------------------------------------

TEST_F(FakeHightouchTest, GetSourceAnswersTheSource) {
  auto res = GetSource("12345", "Bearer " + std::string(kApiKey));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  simdjson::dom::parser parser;
  simdjson::dom::element source = ParseJson(parser, res->body);
  EXPECT_EQ(int64_t(source["id"]), 12345);
  EXPECT_EQ(int64_t(source["workspaceId"]), 678);
  EXPECT_EQ(std::string_view(source["name"]), "Web Events (prod)");
  EXPECT_EQ(std::string_view(source["slug"]), "web-events-prod");
  EXPECT_EQ(std::string_view(source["type"]), "http_events");
  EXPECT_TRUE(source["createdAt"].is_string());
  EXPECT_TRUE(source["updatedAt"].is_string());
  EXPECT_TRUE(source["configuration"].is_object());

  auto named = GetSource("src-abc", "Bearer " + std::string(kApiKey));
  ASSERT_TRUE(named);
  ASSERT_EQ(named->status, 200);
  simdjson::dom::element other = ParseJson(parser, named->body);
  EXPECT_EQ(std::string_view(other["id"]), "src-abc");
  EXPECT_EQ(std::string_view(other["workspaceId"]), "ws-x");
  EXPECT_EQ(std::string_view(other["name"]), "HTTP Events src-abc");
}

TEST_F(FakeHightouchTest, GetSourceRefusesBadTokensWith401) {
  auto missing = GetSource("12345", "");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(missing->body,
            R"({"message":"Authentication error","details":"No authorization header found"})");
  for (const std::string& auth :
       {std::string("Bearer wrong"), std::string("Basic ") + kApiKey, std::string("Bearer ")}) {
    auto res = GetSource("12345", auth);
    ASSERT_TRUE(res) << auth;
    EXPECT_EQ(res->status, 401) << auth;
    EXPECT_EQ(res->body, R"({"message":"Authentication error","details":"Token is invalid"})");
  }
}

TEST_F(FakeHightouchTest, GetSourceUnknownIdIs404) {
  auto res = GetSource("99999", "Bearer " + std::string(kApiKey));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_THAT(server_->GetStats().requests_by_path, ElementsAre(Pair("/api/v1/sources/{id}", 1u)));
}

TEST_F(FakeHightouchTest, GetSourceIsRateLimitedPerKey) {
  Options options = TestOptions();
  options.rest_rate_limit = 3;
  options.rest_rate_window = std::chrono::hours(1);  // no request leaves the window mid-test
  options.api_keys.push_back("other-workspace-key");
  StartServer(options);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(GetSource(i == 1 ? "404404" : "12345", "Bearer " + std::string(kApiKey))->status,
              i == 1 ? 404 : 200);
  }
  auto limited = GetSource("12345", "Bearer " + std::string(kApiKey));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(GetSource("12345", "Bearer other-workspace-key")->status, 200);
  // Unauthenticated requests neither count nor get throttled.
  EXPECT_EQ(GetSource("12345", "Bearer wrong")->status, 401);

  server_->Reset();
  EXPECT_EQ(GetSource("12345", "Bearer " + std::string(kApiKey))->status, 200);
}

// --- Faults -----------------------------------------------------------------------------

TEST_F(FakeHightouchTest, StatusSequenceThenNormal) {
  ASSERT_TRUE(server_->SetFaults(R"({"statuses":[503,429,200,500]})").ok());
  std::vector<int> statuses;
  for (int i = 0; i < 6; ++i) {
    auto res = Ingest("/v1/batch", Batch({Event(absl::StrCat("seq", i))}));
    ASSERT_TRUE(res);
    statuses.push_back(res->status);
  }
  EXPECT_THAT(statuses, ElementsAre(503, 429, 200, 500, 200, 200));
  // Only the normally answered requests recorded their events.
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("seq2"), Event("seq4"), Event("seq5")));
}

TEST_F(FakeHightouchTest, RepeatCyclesStatuses) {
  ASSERT_TRUE(server_->SetFaults(R"({"statuses":[503,502],"repeat":true})").ok());
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i) statuses.push_back(Ingest("/v1/batch", Batch({Event("r")}))->status);
  EXPECT_THAT(statuses, ElementsAre(503, 502, 503, 502, 503));
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
}

TEST_F(FakeHightouchTest, RetryAfterSecondsOnInjected429And503Only) {
  ASSERT_TRUE(server_->SetFaults(R"({"statuses":[429,503,500],"retry_after":"7"})").ok());
  auto throttled = Ingest("/v1/batch", Batch({Event("a")}));
  ASSERT_TRUE(throttled);
  EXPECT_EQ(throttled->status, 429);
  EXPECT_EQ(throttled->get_header_value("Retry-After"), "7");
  EXPECT_EQ(throttled->body, R"({"error":"Too Many Requests"})");
  auto unavailable = Ingest("/v1/batch", Batch({Event("a")}));
  ASSERT_TRUE(unavailable);
  EXPECT_EQ(unavailable->status, 503);
  EXPECT_EQ(unavailable->get_header_value("Retry-After"), "7");
  auto error = Ingest("/v1/batch", Batch({Event("a")}));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 500);
  EXPECT_FALSE(error->has_header("Retry-After"));
}

TEST_F(FakeHightouchTest, RetryAfterHttpDateIsGeneratedAhead) {
  ASSERT_TRUE(server_->SetFaults(R"({"statuses":[503],"retry_after_http_date_in_s":5})").ok());
  const absl::Time before = absl::Now();
  auto res = Ingest("/v1/batch", Batch({Event("a")}));
  const absl::Time after = absl::Now();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  const std::string header = res->get_header_value("Retry-After");
  absl::Time when;
  std::string error;
  ASSERT_TRUE(
      absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", header, absl::UTCTimeZone(), &when, &error))
      << header << ": " << error;
  EXPECT_GE(when, before + absl::Seconds(5)) << header;
  EXPECT_LE(when, after + absl::Seconds(6)) << header;
}

TEST_F(FakeHightouchTest, LatencyFaultStillAnswersNormally) {
  ASSERT_TRUE(server_->SetFaults(R"({"latency_ms":20})").ok());
  EXPECT_EQ(server_->FaultsJson(), R"({"latency_ms":20})");
  auto res = Ingest("/v1/batch", Batch({Event("slow")}));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("slow")));
}

TEST_F(FakeHightouchTest, HangTimesOutTheClientUntilCleared) {
  ASSERT_TRUE(server_->SetFaults(R"({"hang":true})").ok());
  auto client = NewClient();
  client->set_read_timeout(0, 300'000);
  auto hung = client->Post("/v1/batch", {{"Authorization", Basic(kWriteKey)}}, Batch({Event("h")}),
                           "application/json");
  EXPECT_FALSE(hung);
  EXPECT_EQ(hung.error(), httplib::Error::Read);
  EXPECT_EQ(server_->GetStats().requests_hung, 1u);

  server_->ClearFaults();
  ASSERT_TRUE(Eventually([&] { return server_->RecentRequests().size() == 1; }));
  EXPECT_EQ(server_->RecentRequests()[0].status, 0);  // released without an answer
  auto res = Ingest("/v1/batch", Batch({Event("after")}));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("after")));
}

TEST_F(FakeHightouchTest, StopReleasesHungRequests) {
  ASSERT_TRUE(server_->SetFaults(R"({"hang":true})").ok());
  std::atomic<bool> answered{true};
  std::thread client_thread([&] {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(60);
    answered = static_cast<bool>(client.Post("/v1/batch", {{"Authorization", Basic(kWriteKey)}},
                                             Batch({Event("h")}), "application/json"));
  });
  ASSERT_TRUE(Eventually([&] { return server_->GetStats().requests_hung == 1; }));
  server_->Stop();  // must return although a request is hung
  client_thread.join();
  EXPECT_FALSE(answered);
  server_->Stop();  // idempotent
}

TEST_F(FakeHightouchTest, ResetConnectionsDropsTheNextRequests) {
  ASSERT_TRUE(server_->SetFaults(R"({"reset_connections":2,"statuses":[503]})").ok());
  for (int i = 0; i < 2; ++i) {
    auto res = Ingest("/v1/batch", Batch({Event("x")}));
    EXPECT_FALSE(res) << "request " << i << " got " << res->status;
  }
  auto after = Ingest("/v1/batch", Batch({Event("x")}));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 503);  // statuses only start once the resets are used up
  EXPECT_EQ(Ingest("/v1/batch", Batch({Event("y")}))->status, 200);
  const Stats stats = server_->GetStats();
  EXPECT_EQ(stats.connections_reset, 2u);
  EXPECT_EQ(stats.requests_by_path.at("/v1/batch"), 4u);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("y")));
}

TEST_F(FakeHightouchTest, PoisonMessageIdFailsTheWholeBatch) {
  ASSERT_TRUE(server_->SetFaults(R"({"poison_message_ids":["bad-1"]})").ok());
  auto poisoned = Ingest("/v1/batch", Batch({Event("ok-1"), Event("bad-1"), Event("ok-2")}));
  ASSERT_TRUE(poisoned);
  EXPECT_EQ(poisoned->status, 400);
  EXPECT_THAT(server_->AcceptedEvents(), IsEmpty());
  auto clean = Ingest("/v1/batch", Batch({Event("ok-1"), Event("ok-2")}));
  ASSERT_TRUE(clean);
  EXPECT_EQ(clean->status, 200);
  EXPECT_EQ(Ingest("/v1/track", Event("bad-1"))->status, 400);
  EXPECT_THAT(server_->AcceptedEvents(), ElementsAre(Event("ok-1"), Event("ok-2")));
}

TEST_F(FakeHightouchTest, FaultsTargetRestOrIngest) {
  ASSERT_TRUE(server_->SetFaults(R"({"target":"rest","statuses":[503],"retry_after":"2"})").ok());
  EXPECT_EQ(Ingest("/v1/batch", Batch({Event("i")}))->status, 200);
  auto rest = GetSource("12345", "Bearer " + std::string(kApiKey));
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->status, 503);
  EXPECT_EQ(rest->get_header_value("Retry-After"), "2");
  EXPECT_EQ(GetSource("12345", "Bearer " + std::string(kApiKey))->status, 200);

  ASSERT_TRUE(server_->SetFaults(R"({"statuses":[500]})").ok());
  EXPECT_EQ(GetSource("12345", "Bearer " + std::string(kApiKey))->status, 200);
  EXPECT_EQ(Ingest("/v1/batch", Batch({Event("j")}))->status, 500);
}

TEST_F(FakeHightouchTest, InvalidFaultsAreRefused) {
  const absl::Status status = server_->SetFaults(R"({"statuses":"503"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  auto res = NewClient()->Post("/_fake/faults", R"({"hang":"forever"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("\\\"hang\\\" must be true or false"));
  auto malformed = NewClient()->Post("/_fake/faults", "{", "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(server_->FaultsJson(), "{}");  // a refused set changes nothing
}

// --- Control plane ----------------------------------------------------------------------

TEST_F(FakeHightouchTest, ControlEndpoints) {
  auto client = NewClient();
  auto health = client->Get("/_fake/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("c1"), Event("c1")}))->status, 200);
  ASSERT_EQ(Ingest("/v1/page", Event("c2", "page"))->status, 200);
  auto events = client->Get("/_fake/events");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 200);
  EXPECT_EQ(events->body, Event("c1") + "\n" + Event("c1") + "\n" + Event("c2", "page") + "\n");

  auto stats = client->Get("/_fake/stats");
  ASSERT_TRUE(stats);
  simdjson::dom::parser parser;
  simdjson::dom::element json = ParseJson(parser, stats->body);
  EXPECT_EQ(uint64_t(json["requests_by_status"]["200"]), 2u);
  EXPECT_EQ(uint64_t(json["requests_by_path"]["/v1/batch"]), 1u);
  EXPECT_EQ(uint64_t(json["requests_by_path"]["/v1/page"]), 1u);
  EXPECT_EQ(uint64_t(json["events_accepted"]), 3u);
  EXPECT_EQ(uint64_t(json["duplicate_message_ids"]), 1u);
  EXPECT_EQ(uint64_t(json["bytes_received"]),
            Batch({Event("c1"), Event("c1")}).size() + Event("c2", "page").size());

  auto set = client->Post("/_fake/faults", R"({"statuses":[503]})", "application/json");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->status, 200);
  auto shown = client->Get("/_fake/faults");
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->body, R"({"statuses":[503],"statuses_used":0})");
  auto cleared = client->Delete("/_fake/faults");
  ASSERT_TRUE(cleared);
  EXPECT_EQ(cleared->status, 200);
  EXPECT_EQ(client->Get("/_fake/faults")->body, "{}");
  EXPECT_EQ(Ingest("/v1/batch", Batch({Event("c3")}))->status, 200);

  ASSERT_TRUE(server_->SetFaults(R"({"statuses":[500]})").ok());
  auto reset = client->Post("/_fake/reset", "", "application/json");
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->status, 200);
  EXPECT_EQ(client->Get("/_fake/events")->body, "");
  EXPECT_EQ(server_->FaultsJson(), "{}");
  // Empty although /_fake/events was just read: control requests are not API traffic.
  const Stats after = server_->GetStats();
  EXPECT_EQ(after.events_accepted, 0u);
  EXPECT_THAT(after.requests_by_status, IsEmpty());
  EXPECT_THAT(after.requests_by_path, IsEmpty());
  EXPECT_THAT(server_->RecentRequests(), IsEmpty());
  EXPECT_EQ(Ingest("/v1/batch", Batch({Event("c1")}))->status, 200);
  EXPECT_EQ(server_->GetStats().duplicate_message_ids, 0u);  // reset forgot "c1"
}

TEST_F(FakeHightouchTest, RequestHistoryHidesKeys) {
  ASSERT_EQ(Ingest("/v1/batch", Batch({Event("k1")}))->status, 200);
  ASSERT_EQ(GetSource("12345", "Bearer " + std::string(kApiKey))->status, 200);
  const std::vector<RequestRecord> records = server_->RecentRequests();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].path, "/v1/batch");
  EXPECT_EQ(records[0].status, 200);
  EXPECT_EQ(records[0].event_count, 1u);
  EXPECT_EQ(records[0].headers.at("authorization"), "Basic");
  EXPECT_EQ(records[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(records[0].body_prefix, Batch({Event("k1")}));
  EXPECT_EQ(records[1].headers.at("authorization"), "Bearer");

  auto listed = NewClient()->Get("/_fake/requests");
  ASSERT_TRUE(listed);
  EXPECT_THAT(listed->body, HasSubstr("\"path\":\"/v1/batch\""));
  EXPECT_THAT(listed->body, Not(HasSubstr(kApiKey)));
  EXPECT_THAT(listed->body, Not(HasSubstr(absl::Base64Escape(std::string(kWriteKey) + ":"))));
}

TEST_F(FakeHightouchTest, StartFailsOnAPortInUse) {
  Options options = TestOptions();
  options.port = server_->port();
  FakeHightouch second(options);
  EXPECT_EQ(second.Start().code(), absl::StatusCode::kUnavailable);
}

TEST_F(FakeHightouchTest, StopClosesIdleKeepAliveConnections) {
  httplib::Client client("127.0.0.1", server_->port());
  client.set_keep_alive(true);
  auto res = client.Get("/_fake/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(server_->base_url(), absl::StrCat("http://127.0.0.1:", server_->port()));
  server_->Stop();  // returns although the client keeps its connection open
  EXPECT_FALSE(client.Get("/_fake/healthz"));
}

// --- The fake-hightouch binary ----------------------------------------------------------

TEST(FakeHightouchBinary, HelpDocumentsEverythingAndExitsZero) {
  FILE* pipe = popen(FAKE_HIGHTOUCH_BINARY " --help", "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Every flag main.cc accepts.
  for (const char* text : {"--port", "--host", "--write-key", "--api-key", "--source",
                           "--max-event-bytes", "--max-request-bytes", "--max-recorded-events",
                           "--message-id-window", "--message-id-log", "--rest-rate-limit", "--latency-ms", "--threads",
                           "--faults", "--help"}) {
    EXPECT_THAT(output, HasSubstr(text));
  }
  // Every endpoint, with its auth and limits.
  for (const char* text :
       {"/v1/track", "/v1/page", "/v1/identify", "/v1/group", "/v1/screen", "/v1/alias",
        "/v1/batch", "/v1/b", "Basic base64(WRITE_KEY:)", "Content-Type", "gzip",
        "/api/v1/sources/{id}", "Bearer API_KEY",
        "\"workspaceId\"", "401", "404", "429", "/_fake/healthz", "/_fake/events",
        "/_fake/requests", "/_fake/stats", "/_fake/faults", "/_fake/reset"}) {
    EXPECT_THAT(output, HasSubstr(text));
  }
  // The documented limits are the ones the server applies by default.
  const Options defaults;
  EXPECT_THAT(output, HasSubstr(absl::StrCat("(default ", defaults.max_event_bytes, ")")));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("(default ", defaults.max_request_bytes, ")")));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("(default ", defaults.rest_rate_limit, ")")));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("(default ", defaults.worker_threads, ")")));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("(default ", defaults.message_id_window, ")")));
  // What /_fake/stats counts.
  for (const char* text : {"requests_by_status", "events_accepted", "duplicate_message_ids"}) {
    EXPECT_THAT(output, HasSubstr(text));
  }
  // Every key of the fault language.
  for (const char* text : {"\"target\"", "\"statuses\"", "\"repeat\"", "\"retry_after\"",
                           "\"retry_after_http_date_in_s\"", "\"latency_ms\"", "\"hang\"",
                           "\"reset_connections\"", "\"poison_message_ids\""}) {
    EXPECT_THAT(output, HasSubstr(text));
  }
}

TEST(FakeHightouchBinary, RefusesUnknownFlagsAndBadFaults) {
  for (const char* args :
       {" --bogus 1", " --port", " --faults '{\"hang\":1}'", " --source nocolon",
        " --message-id-window -1", " --message-id-window many", " --max-recorded-events x"}) {
    const int status =
        std::system((std::string(FAKE_HIGHTOUCH_BINARY) + args + " 2>/dev/null").c_str());
    ASSERT_TRUE(WIFEXITED(status)) << args;
    EXPECT_EQ(WEXITSTATUS(status), 2) << args;
  }
}

// Runs the binary with --port 0, reads its first line, uses it, and stops it with SIGTERM.
TEST(FakeHightouchBinary, PortZeroPrintsTheUrlAndServes) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execl(FAKE_HIGHTOUCH_BINARY, FAKE_HIGHTOUCH_BINARY, "--port", "0", "--write-key", "bin-key",
          "--api-key", "bin-api", "--source", "77:88:Bin Source", "--faults",
          R"({"statuses":[503]})", "--max-recorded-events", "0", "--message-id-window=1",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c;
  pollfd readable{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&readable, 1, 10'000) == 1 &&
         read(out[0], &c, 1) == 1) {
    line.push_back(c);
  }
  close(out[0]);
  ASSERT_THAT(line, HasSubstr("listening on http://127.0.0.1:"));
  int port = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(line.substr(line.rfind(':') + 1, line.size() - line.rfind(':') - 2), &port))
      << line;

  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  const httplib::Headers auth = {{"Authorization", Basic("bin-key:")}};
  EXPECT_EQ(client.Post("/v1/batch", auth, R"({"batch":[]})", "application/json")->status, 503);
  EXPECT_EQ(client.Post("/v1/batch", auth, R"({"batch":[]})", "application/json")->status, 200);
  auto source = client.Get("/api/v1/sources/77", {{"Authorization", "Bearer bin-api"}});
  ASSERT_TRUE(source);
  EXPECT_EQ(source->status, 200);
  EXPECT_THAT(source->body, HasSubstr(R"("workspaceId":88)"));
  EXPECT_THAT(source->body, HasSubstr(R"("name":"Bin Source")"));
  // One id remembered, no events stored.
  for (const char* id : {"x1", "x2", "x1", "x2"}) {
    EXPECT_EQ(client.Post("/v1/batch", auth, Batch({Event(id)}), "application/json")->status, 200);
  }
  auto stats = client.Get("/_fake/stats");
  ASSERT_TRUE(stats);
  EXPECT_THAT(stats->body, HasSubstr(R"("events_accepted":4,"events_recorded":0,)"
                                     R"("duplicate_message_ids":1,)"));

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace fake_hightouch
