// signal-delivery-host as a process: start-up, plugin loading, the token subcommand,
// the UI and operations endpoints, SIGTERM, and recovery after kill -9.
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <iterator>

#include "daemon_test_support.h"

namespace signal_test {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs the binary to completion; returns {exit code, stdout}.
std::pair<int, std::string> RunHost(const std::vector<std::string>& args, const TempDir& dir,
                                    const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> argv = {SIGNAL_HOST_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess process(argv, env, dir.Sub("run.stderr"));
  int code = process.Wait();
  std::optional<std::string> line = process.WaitForLine("", std::chrono::seconds(5));
  std::string first = line.value_or("");
  return {code, first};
}

TEST(DaemonProcessTest, SigtermDrainsAndExitsZero) {
  TempDir dir;
  FakeHightouch fake = StartFake(dir);
  HostProcess host = StartHost(Settings(dir.Sub("data"), fake.url));
  ASSERT_EQ(host.Admin("POST", "/v1/admin/integration-catalog/hightouch/install", FastInstallBody(),
                       Token("editor"))
                .status,
            201);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(host.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"term-)" +
                                      std::to_string(i) + R"("})")
                  .status,
              200);
  }
  // An open live-event stream must not keep the host from stopping.
  std::atomic<bool> stream_open{false};
  std::thread stream([&] {
    httplib::Client client("127.0.0.1", host.admin_port);
    client.set_read_timeout(120, 0);
    client.Get(("/v1/admin/live-events/stream?access_token=" + Token("viewer")).c_str(),
               [&](const char*, size_t) {
                 stream_open = true;
                 return true;
               });
  });
  ASSERT_TRUE(WaitUntil([&] { return stream_open.load(); }));
  host.process->Signal(SIGTERM);
  std::optional<int> code = host.process->WaitFor(std::chrono::seconds(60));
  stream.join();
  ASSERT_TRUE(code.has_value()) << "the host did not stop";
  EXPECT_EQ(*code, 0);
  std::string log = ReadFile(host.stderr_path);
  EXPECT_NE(log.find("received SIGTERM"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  // The listeners are closed.
  EXPECT_EQ(Send(host.admin_port, "GET", "/healthz").status, 0);

  // Whatever was not delivered before the stop is delivered after a restart.
  HostProcess again = StartHost(Settings(dir.Sub("data"), fake.url));
  EXPECT_TRUE(
      WaitUntil([&] { return fake.MessageIdCounts().size() == 20; }, std::chrono::seconds(60)));
  again.process->Signal(SIGINT);
  EXPECT_EQ(again.process->WaitFor(std::chrono::seconds(60)).value_or(-1), 0);
}

TEST(DaemonProcessTest, EveryAcknowledgedEventSurvivesKillNine) {
  TempDir dir;
  FakeHightouch fake = StartFake(dir);
  // Slow vendor answers keep requests in flight when the host dies.
  fake.SetFaults(R"({"latency_ms":40})");
  HostProcess host = StartHost(Settings(dir.Sub("data"), fake.url));
  ASSERT_EQ(host.Admin("POST", "/v1/admin/integration-catalog/hightouch/install", FastInstallBody(),
                       Token("editor"))
                .status,
            201);

  std::mutex mu;
  std::set<std::string> acknowledged;
  std::set<std::string> sent;
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    for (int b = 0; !stop.load(); ++b) {
      std::string batch = R"({"batch":[)";
      std::vector<std::string> ids;
      for (int i = 0; i < 10; ++i) {
        ids.push_back("k" + std::to_string(b) + "-" + std::to_string(i));
        batch += std::string(i ? "," : "") + R"({"type":"track","event":"E","anonymousId":"a",)" +
                 R"("messageId":")" + ids.back() + R"("})";
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        sent.insert(ids.begin(), ids.end());
      }
      Reply reply = host.Event("/v1/batch", batch + "]}");
      if (reply.status == 200 && reply.body == R"({"success":true})") {
        std::lock_guard<std::mutex> lock(mu);
        acknowledged.insert(ids.begin(), ids.end());
      }
    }
  });
  // Kill once the vendor has some events and more are acknowledged than delivered.
  bool mid_stream = WaitUntil(
      [&] {
        size_t delivered = fake.MessageIdCounts().size();
        std::lock_guard<std::mutex> lock(mu);
        return delivered >= 50 && acknowledged.size() >= delivered + 50;
      },
      std::chrono::seconds(60));
  host.process->Signal(SIGKILL);
  EXPECT_EQ(host.process->Wait(), 128 + SIGKILL);
  stop = true;
  producer.join();
  ASSERT_TRUE(mid_stream) << "the kill did not land mid-stream";
  size_t before_restart = fake.MessageIdCounts().size();
  ASSERT_LT(before_restart, acknowledged.size());

  fake.SetFaults("{}");
  HostProcess restarted = StartHost(Settings(dir.Sub("data"), fake.url));
  std::map<std::string, int> counts;
  bool all = WaitUntil(
      [&] {
        counts = fake.MessageIdCounts();
        for (const std::string& id : acknowledged) {
          if (counts.count(id) == 0) return false;
        }
        return true;
      },
      std::chrono::seconds(120));
  size_t missing = 0;
  for (const std::string& id : acknowledged) missing += counts.count(id) == 0;
  EXPECT_TRUE(all) << missing << " of " << acknowledged.size() << " acknowledged events lost";
  // Duplicates are only ever the same messageId again, and only for events that were sent.
  for (const auto& [id, count] : counts) {
    EXPECT_EQ(sent.count(id), 1u) << "unknown messageId " << id;
  }
}

TEST(DaemonProcessTest, BrokenPluginIsSkippedAndTheHostKeepsRunning) {
  TempDir dir;
  fs::create_directories(dir.Sub("plugins"));
  fs::create_symlink(SIGNAL_HIGHTOUCH_PLUGIN, dir.Sub("plugins/libsignal_hightouch.so"));
  fs::copy_file(BROKEN_PLUGIN, dir.Sub("plugins/libbroken.so"));
  std::ofstream(dir.Sub("plugins/not-a-library.so")) << "this is not an ELF file";
  FakeHightouch fake = StartFake(dir);
  HostSettings settings = Settings(dir.Sub("data"), fake.url);
  settings.plugin_dir = dir.Sub("plugins");
  HostProcess host = StartHost(settings);
  ASSERT_TRUE(host.process->Running());
  std::string log = ReadFile(host.stderr_path);
  // One line per broken file, naming it and the reason.
  auto line_with = [&](const std::string& text) {
    size_t at = log.find(text);
    if (at == std::string::npos) return std::string();
    size_t begin = log.rfind('\n', at);
    return log.substr(begin == std::string::npos ? 0 : begin + 1,
                      log.find('\n', at) - (begin == std::string::npos ? 0 : begin + 1));
  };
  // (The refusal, not the "loading plugin" line logged before each file is opened.)
  std::string broken = line_with("failed to load: plugin " + dir.Sub("plugins/libbroken.so"));
  EXPECT_NE(broken.find("skipped"), std::string::npos) << log;
  EXPECT_NE(broken.find("missing entry symbol"), std::string::npos) << log;
  std::string junk = line_with("failed to load: plugin " + dir.Sub("plugins/not-a-library.so"));
  EXPECT_NE(junk.find("skipped"), std::string::npos) << log;
  EXPECT_NE(junk.find("dlopen"), std::string::npos) << log;
  Reply catalog = host.Admin("GET", "/v1/admin/integration-catalog", "", Token("viewer"));
  ASSERT_EQ(catalog.status, 200);
  ASSERT_EQ(catalog.Json()["data"].Size(), 1u);
  EXPECT_STREQ(catalog.Json()["data"][0]["key"].GetString(), "hightouch");
  EXPECT_EQ(host.Admin("GET", "/readyz").status, 200);
  // The plugin also serves its gRPC interface on <runtime dir>/<key>.sock.
  struct stat info {};
  ASSERT_EQ(stat(dir.Sub("data/run/hightouch.sock").c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
}

TEST(DaemonProcessTest, NoPluginMeansNotReadyButAlive) {
  TempDir dir;
  fs::create_directories(dir.Sub("empty"));
  HostSettings settings = Settings(dir.Sub("data"), "");
  settings.plugin_dir = dir.Sub("empty");
  HostProcess host = StartHost(settings);
  EXPECT_EQ(host.Admin("GET", "/healthz").status, 200);
  Reply ready = host.Admin("GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("no plugin"), std::string::npos);
  EXPECT_EQ(Send(host.events_port, "GET", "/healthz").status, 200);
  EXPECT_EQ(
      host.Admin("GET", "/v1/admin/integration-catalog", "", Token("viewer")).Json()["data"].Size(),
      0u);
}

TEST(DaemonProcessTest, ServesTheUiAndMetrics) {
  TempDir dir;
  FakeHightouch fake = StartFake(dir);
  HostProcess host = StartHost(Settings(dir.Sub("data"), fake.url));
  Reply index = host.Admin("GET", "/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<html"), std::string::npos);
  EXPECT_EQ(index.Header("Cache-Control"), "no-cache");
  Reply script = host.Admin("GET", "/ui/app.js");
  ASSERT_EQ(script.status, 200);
  EXPECT_EQ(script.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(script.body, ReadFile(std::string(SIGNAL_SOURCE_DIR) + "/host/ui/app.js"))
      << "served byte for byte";
  EXPECT_EQ(host.Admin("GET", "/ui/app.css").Header("Content-Type"), "text/css; charset=utf-8");
  Reply missing = host.Admin("GET", "/ui/nothing.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.ErrorCode(), "NOT_FOUND");
  httplib::Client client("127.0.0.1", host.admin_port);
  auto revalidated = client.Get("/ui/app.js", {{"If-None-Match", script.Header("ETag")}});
  ASSERT_TRUE(revalidated);
  EXPECT_EQ(revalidated->status, 304);

  host.Admin("GET", "/v1/admin/integrations", "", Token("viewer"));
  Reply metrics = host.Admin("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.Header("Content-Type").find("text/plain"), std::string::npos);
  EXPECT_NE(metrics.body.find("signal_admin_requests_total{route=\"integrations_list\""),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("signal_events_accepted_total"), std::string::npos);
}

TEST(DaemonProcessTest, TokenSubcommandUsesTheGeneratedSecret) {
  TempDir dir;
  // No JWT_SECRET in the environment: the first run generates the secret file.
  auto [code, token] = RunHost({"token", "--role", "admin", "--data-dir", dir.Sub("data"), "--sub",
                                "usr_cli", "--ttl", "120"},
                               dir);
  ASSERT_EQ(code, 0);
  std::string secret = ReadFile(dir.Sub("data/jwt_secret"));
  while (!secret.empty() && secret.back() == '\n') secret.pop_back();
  ASSERT_GE(secret.size(), 32u);
  struct stat info {};
  ASSERT_EQ(stat(dir.Sub("data/jwt_secret").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto claims = signal_host::VerifyToken(token, secret, absl::Now());
  ASSERT_TRUE(claims.ok()) << claims.status() << " token: " << token;
  EXPECT_EQ(claims->role, signal_host::Role::kAdmin);
  EXPECT_EQ(claims->sub, "usr_cli");
  EXPECT_EQ(claims->org_id, "org_default");
  EXPECT_EQ(claims->exp - claims->iat, 120);

  // The daemon started on the same data dir (no JWT_SECRET) accepts that token.
  std::map<std::string, std::string> no_env;
  ChildProcess daemon({SIGNAL_HOST_BINARY, "--data-dir", dir.Sub("data"), "--admin-port", "0",
                       "--events-port", "0"},
                      no_env, dir.Sub("daemon.stderr"));
  std::optional<std::string> admin = daemon.WaitForLine("admin listening on ");
  ASSERT_TRUE(admin);
  int port = std::stoi(admin->substr(admin->rfind(':') + 1));
  EXPECT_EQ(Send(port, "GET", "/v1/admin/integrations", "", token).status, 200);

  // JWT_SECRET, when set, wins over the file.
  auto [env_code, env_token] = RunHost({"token", "--role", "viewer", "--data-dir", dir.Sub("data")},
                                       dir, {{"JWT_SECRET", kJwtSecret}});
  ASSERT_EQ(env_code, 0);
  EXPECT_TRUE(signal_host::VerifyToken(env_token, kJwtSecret, absl::Now()).ok());
  EXPECT_EQ(Send(port, "GET", "/v1/admin/integrations", "", env_token).status, 401);
}

TEST(DaemonProcessTest, ConfigFilePipelinesAndStreamLimit) {
  TempDir dir;
  FakeHightouch fake = StartFake(dir);
  std::ofstream(dir.Sub("host.yaml")) << R"(
admin:
  threads: 4
pipelines:
  - name: default
  - name: web
    key: dk_web_only
    integrations: [Second]
)";
  HostSettings settings = Settings(dir.Sub("data"), fake.url);
  settings.extra_args = {"--config", dir.Sub("host.yaml")};
  HostProcess host = StartHost(settings);
  Reply first = host.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                           FastInstallBody("First"), Token("editor"));
  Reply second = host.Admin("POST", "/v1/admin/integration-catalog/hightouch/install",
                            FastInstallBody("Second"), Token("editor"));
  ASSERT_EQ(first.status, 201);
  ASSERT_EQ(second.status, 201);
  const std::string second_id = IntegrationIdOf(second);

  // The web pipeline routes to Second only; the default pipeline to both.
  ASSERT_EQ(
      host.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"web-1"})", "dk_web_only")
          .status,
      200);
  ASSERT_EQ(host.Event("/v1/t", R"({"event":"E","anonymousId":"a","messageId":"all-1"})").status,
            200);
  auto integrations_of = [&](const std::string& message_id) {
    std::set<std::string> ids;
    Reply reply =
        host.Admin("GET", "/v1/admin/live-events?outcome=delivered&message_id=" + message_id, "",
                   Token("viewer"));
    rapidjson::Document body = reply.Json();
    if (!body.IsObject()) return ids;
    for (const rapidjson::Value& attempt : body["data"].GetArray()) {
      ids.insert(attempt["integration_id"].GetString());
    }
    return ids;
  };
  EXPECT_TRUE(WaitUntil([&] { return integrations_of("all-1").size() == 2; }));
  EXPECT_EQ(integrations_of("web-1"), std::set<std::string>{second_id});

  // admin.threads 4 allows two live streams; the third is refused, not queued.
  std::atomic<int> opened{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> streams;
  for (int i = 0; i < 2; ++i) {
    streams.emplace_back([&] {
      httplib::Client client("127.0.0.1", host.admin_port);
      client.set_read_timeout(60, 0);
      bool counted = false;
      client.Get(("/v1/admin/live-events/stream?access_token=" + Token("viewer")).c_str(),
                 [&](const char*, size_t) {
                   if (!counted) {
                     counted = true;
                     ++opened;
                   }
                   return !stop.load();
                 });
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return opened.load() == 2; }));
  Reply third = host.Admin("GET", "/v1/admin/live-events/stream", "", Token("viewer"));
  EXPECT_EQ(third.status, 503);
  EXPECT_EQ(third.ErrorCode(), "UNAVAILABLE");
  EXPECT_EQ(host.Admin("GET", "/v1/admin/integrations", "", Token("viewer")).status, 200);
  stop = true;
  // The streams end when the host stops.
  host.process->Signal(SIGTERM);
  for (std::thread& stream : streams) stream.join();
  EXPECT_EQ(host.process->WaitFor(std::chrono::seconds(60)).value_or(-1), 0);
}

TEST(DaemonProcessTest, HelpAndBadArguments) {
  TempDir dir;
  auto [help_code, help_first] = RunHost({"--help"}, dir);
  EXPECT_EQ(help_code, 0);
  EXPECT_NE(help_first.find("signal-delivery-host"), std::string::npos);
  EXPECT_EQ(RunHost({"--admin-port", "nope"}, dir).first, 2);
  EXPECT_EQ(RunHost({"token", "--role", "emperor"}, dir).first, 2);
  EXPECT_EQ(RunHost({"--no-such-flag"}, dir).first, 2);
}

TEST(DaemonProcessTest, BusyPortFailsWithAMessage) {
  TempDir dir;
  HostProcess first = StartHost(Settings(dir.Sub("a"), ""));
  ChildProcess second({SIGNAL_HOST_BINARY, "--data-dir", dir.Sub("b"), "--admin-port",
                       std::to_string(first.admin_port), "--events-port", "0"},
                      {{"JWT_SECRET", kJwtSecret}}, dir.Sub("b.stderr"));
  std::optional<int> code = second.WaitFor(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_NE(ReadFile(dir.Sub("b.stderr")).find("cannot listen"), std::string::npos);
}

}  // namespace
}  // namespace signal_test
