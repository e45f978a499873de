// The plugin loader against the real libsignal_hightouch.so and the broken fixtures.
// Every RPC is called over the in-process channel and over the unix socket.

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "plugin_loader.h"
#include "signal_plugin_abi.h"

namespace signal_host {
namespace {

namespace v1 = signal::integration::v1;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApiKey[] = "test-api-key-5f1c9e";
constexpr char kGoodConfig[] =
    R"({"api_key":"test-api-key-5f1c9e","workspace_id":"12345","source_id":"67890"})";
// Loopback port 1: nothing listens there, so probes fail fast with "refused".
constexpr char kDeadBase[] = "http://127.0.0.1:1";

std::string TrackEvent(const std::string& message_id) {
  return absl::StrCat(
      R"({"type":"track","event":"Order Completed","anonymousId":"anon-1","userId":"user-1",)",
      R"("messageId":")", message_id,
      R"(","timestamp":"2026-02-25T14:30:00.000Z","properties":{"total":12.5},)",
      R"("context":{"consent":{"analytics":true}}})");
}

// A socket path unique to this process and test, short enough for sun_path.
std::string SocketPath(const std::string& tag) {
  return absl::StrCat("/tmp/sigld-", getpid(), "-", tag, ".sock");
}

bool PathExists(const std::string& path) {
  struct stat info {};
  return lstat(path.c_str(), &info) == 0;
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

std::unique_ptr<LoadedPlugin> MustLoad(
    const std::vector<std::pair<std::string, std::string>>& options = {},
    const LoadOptions& load_options = {}) {
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin =
      LoadPlugin(SIGNAL_HIGHTOUCH_PLUGIN, options, load_options);
  EXPECT_TRUE(plugin.ok()) << plugin.status();
  return plugin.ok() ? *std::move(plugin) : nullptr;
}

// The real plugin answers a Handshake over the in-process channel.
void ExpectHandshakeWorks(const LoadedPlugin& plugin) {
  v1::HandshakeRequest request;
  request.set_host_interface_version(v1::INTERFACE_VERSION_CURRENT);
  v1::HandshakeResponse response;
  auto context = Context();
  grpc::Status status = plugin.stub()->Handshake(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.catalog_key(), "hightouch");
}

TEST(LoadPluginTest, ReportsTheDescriptorFacts) {
  std::unique_ptr<LoadedPlugin> plugin = MustLoad();
  ASSERT_NE(plugin, nullptr);
  EXPECT_EQ(plugin->path(), SIGNAL_HIGHTOUCH_PLUGIN);
  EXPECT_EQ(plugin->catalog_key(), "hightouch");
  EXPECT_EQ(plugin->plugin_version(), SIGNAL_PROJECT_VERSION);
  EXPECT_EQ(plugin->protobuf_version(), HostProtobufVersion());
  EXPECT_EQ(plugin->grpc_version(), HostGrpcVersion());
  EXPECT_EQ(plugin->plugin_name(), "Hightouch");
  EXPECT_TRUE(plugin->socket_path().empty());
  EXPECT_NE(plugin->channel(), nullptr);
  ExpectHandshakeWorks(*plugin);
}

// ---------------------------------------------------------------------------------
// Every RPC, over both transports.

enum class Transport { kInProcess, kUnixSocket };

class PluginRpcTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    socket_path_ = SocketPath(GetParam() == Transport::kInProcess ? "inproc" : "unix");
    LoadOptions load_options;
    load_options.unix_socket_path = socket_path_;
    plugin_ = MustLoad({{"api_base_url", kDeadBase},
                        {"events_base_url", "http://127.0.0.1:9/ingest"},
                        {"probe_connect_timeout_ms", "2000"},
                        {"probe_timeout_ms", "3000"}},
                       load_options);
    ASSERT_NE(plugin_, nullptr);
    ASSERT_EQ(plugin_->socket_path(), socket_path_);
    if (GetParam() == Transport::kInProcess) {
      channel_ = plugin_->channel();
    } else {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
      channel_ = grpc::CreateCustomChannel("unix:" + socket_path_,
                                           grpc::InsecureChannelCredentials(), args);
    }
    stub_ = v1::Integration::NewStub(channel_);
  }

  void TearDown() override {
    stub_.reset();
    channel_.reset();
    plugin_.reset();
    EXPECT_FALSE(PathExists(socket_path_)) << "unloading leaves the socket file behind";
  }

  // The merged config for `user_config`, which must be valid.
  std::string Merged(const std::string& user_config) {
    v1::ValidateConfigRequest request;
    request.set_config_json(user_config);
    v1::ValidateConfigResponse response;
    auto context = Context();
    grpc::Status status = stub_->ValidateConfig(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.valid());
    return response.merged_config_json();
  }

  std::string socket_path_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Integration::Stub> stub_;
};

TEST_P(PluginRpcTest, Handshake) {
  v1::HandshakeRequest request;
  request.set_host_interface_version(v1::INTERFACE_VERSION_CURRENT);
  request.set_host_agent("loader-test");
  v1::HandshakeResponse response;
  auto context = Context();
  ASSERT_TRUE(stub_->Handshake(context.get(), request, &response).ok());
  EXPECT_EQ(response.interface_version(), static_cast<uint32_t>(v1::INTERFACE_VERSION_CURRENT));
  EXPECT_EQ(response.plugin_name(), "Hightouch");
  EXPECT_EQ(response.plugin_version(), SIGNAL_PROJECT_VERSION);
  EXPECT_EQ(response.catalog_key(), "hightouch");
}

TEST_P(PluginRpcTest, Describe) {
  v1::DescribeResponse response;
  auto context = Context();
  ASSERT_TRUE(stub_->Describe(context.get(), v1::DescribeRequest(), &response).ok());
  const v1::CatalogEntry& entry = response.entry();
  EXPECT_EQ(entry.key(), "hightouch");
  EXPECT_EQ(entry.category(), "cdp");
  EXPECT_THAT(entry.delivery_modes(), ElementsAre("server_side"));
  ASSERT_GE(entry.config_fields_size(), 3);
  EXPECT_EQ(entry.config_fields(0).key(), "api_key");
  EXPECT_EQ(entry.config_fields(0).type(), "secret");
  ASSERT_GE(entry.variants_size(), 1);
  EXPECT_EQ(entry.variants(0).key(), "default");
}

TEST_P(PluginRpcTest, ValidateConfigAcceptsAGoodConfig) {
  v1::ValidateConfigRequest request;
  request.set_config_json(kGoodConfig);
  v1::ValidateConfigResponse response;
  auto context = Context();
  ASSERT_TRUE(stub_->ValidateConfig(context.get(), request, &response).ok());
  EXPECT_TRUE(response.valid());
  EXPECT_EQ(response.violations_size(), 0);
  EXPECT_EQ(response.variant(), "default");
  EXPECT_THAT(response.secret_fields(), testing::Contains("api_key"));
  EXPECT_THAT(response.merged_config_json(), HasSubstr("\"batch_size\""));
  EXPECT_GT(response.delivery().max_events_per_request(), 0u);
}

TEST_P(PluginRpcTest, ValidateConfigReportsViolationsWithoutSecrets) {
  v1::ValidateConfigRequest request;
  request.set_config_json(R"({"api_key":"test-api-key-5f1c9e","workspace_id":"not digits"})");
  v1::ValidateConfigResponse response;
  auto context = Context();
  ASSERT_TRUE(stub_->ValidateConfig(context.get(), request, &response).ok());
  EXPECT_FALSE(response.valid());
  std::vector<std::string> fields;
  for (const v1::FieldViolation& violation : response.violations()) {
    fields.push_back(violation.field());
    EXPECT_THAT(violation.message(), Not(HasSubstr(kApiKey)));
  }
  EXPECT_THAT(fields, testing::IsSupersetOf({"workspace_id", "source_id"}));
}

TEST_P(PluginRpcTest, ValidateConfigRefusesMalformedJsonAndUnknownVariant) {
  for (const auto& [variant, config] : std::vector<std::pair<std::string, std::string>>{
           {"", "{not json"}, {"", "[1,2,3]"}, {"no-such-variant", kGoodConfig}}) {
    v1::ValidateConfigRequest request;
    request.set_variant(variant);
    request.set_config_json(config);
    v1::ValidateConfigResponse response;
    auto context = Context();
    ASSERT_TRUE(stub_->ValidateConfig(context.get(), request, &response).ok());
    EXPECT_FALSE(response.valid()) << config;
    EXPECT_GT(response.violations_size(), 0) << config;
  }
}

TEST_P(PluginRpcTest, CheckCredentialsReportsAnUnreachableVendor) {
  v1::CheckCredentialsRequest request;
  request.set_config_json(Merged(kGoodConfig));
  v1::CheckCredentialsResponse response;
  auto context = Context();
  grpc::Status status = stub_->CheckCredentials(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.outcome(), v1::CheckCredentialsResponse::UNREACHABLE);
  EXPECT_EQ(response.vendor_status(), 0);
  EXPECT_FALSE(response.message().empty());
  EXPECT_THAT(response.message(), Not(HasSubstr(kApiKey)));
}

TEST_P(PluginRpcTest, CheckCredentialsRefusesAnInvalidConfig) {
  v1::CheckCredentialsRequest request;
  request.set_config_json(R"({"api_key":"test-api-key-5f1c9e","source_id":"67890"})");
  v1::CheckCredentialsResponse response;
  auto context = Context();
  grpc::Status status = stub_->CheckCredentials(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("workspace_id"));
  EXPECT_THAT(status.error_message(), Not(HasSubstr(kApiKey)));
}

TEST_P(PluginRpcTest, TranslateBuildsRequestsAndRejections) {
  v1::TranslateRequest request;
  request.set_config_json(Merged(kGoodConfig));
  request.add_events(TrackEvent("msg-1"));
  request.add_events("{this is not json");
  request.add_events(TrackEvent("msg-3"));
  request.set_sent_at_unix_ms(1772030000000);
  v1::TranslateResponse response;
  auto context = Context();
  grpc::Status status = stub_->Translate(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  ASSERT_EQ(response.requests_size(), 1);
  const v1::HttpRequest& http = response.requests(0);
  EXPECT_EQ(http.method(), "POST");
  EXPECT_EQ(http.url(), "http://127.0.0.1:9/ingest/v1/batch");
  std::map<std::string, std::string> headers;
  for (const v1::Header& header : http.headers()) headers[header.name()] = header.value();
  EXPECT_EQ(headers["Authorization"], "Basic " + absl::Base64Escape(absl::StrCat(kApiKey, ":")));
  EXPECT_EQ(headers["Content-Type"], "application/json");
  EXPECT_EQ(headers["User-Agent"], absl::StrCat("signal-hightouch/", SIGNAL_PROJECT_VERSION));
  EXPECT_THAT(http.message_ids(), ElementsAre("msg-1", "msg-3"));
  EXPECT_THAT(http.event_indexes(), ElementsAre(0u, 2u));
  EXPECT_THAT(http.body(), AllOf(HasSubstr("\"batch\""), HasSubstr("msg-1"), HasSubstr("msg-3")));

  ASSERT_EQ(response.rejections_size(), 1);
  EXPECT_EQ(response.rejections(0).event_index(), 1u);
  EXPECT_EQ(response.rejections(0).reason(), "invalid_json");
  EXPECT_FALSE(response.rejections(0).message().empty());
}

TEST_P(PluginRpcTest, TranslateRefusesAnInvalidConfig) {
  for (const std::string config : {"", "{}", "{broken", R"({"api_key":"x"})"}) {
    v1::TranslateRequest request;
    request.set_config_json(config);
    request.add_events(TrackEvent("msg-1"));
    v1::TranslateResponse response;
    auto context = Context();
    grpc::Status status = stub_->Translate(context.get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << config;
    EXPECT_THAT(status.error_message(), HasSubstr("invalid config")) << config;
  }
}

TEST_P(PluginRpcTest, TranslateOfNoEventsGivesNothing) {
  v1::TranslateRequest request;
  request.set_config_json(Merged(kGoodConfig));
  v1::TranslateResponse response;
  auto context = Context();
  ASSERT_TRUE(stub_->Translate(context.get(), request, &response).ok());
  EXPECT_EQ(response.requests_size(), 0);
  EXPECT_EQ(response.rejections_size(), 0);
}

TEST_P(PluginRpcTest, Classify) {
  {
    v1::ClassifyRequest request;
    request.set_http_status(200);
    request.set_event_count(2);
    v1::ClassifyResponse response;
    auto context = Context();
    ASSERT_TRUE(stub_->Classify(context.get(), request, &response).ok());
    EXPECT_EQ(response.outcome(), v1::ClassifyResponse::DELIVERED);
  }
  {
    v1::ClassifyRequest request;
    request.set_http_status(429);
    request.set_event_count(2);
    v1::Header* header = request.add_headers();
    header->set_name("Retry-After");
    header->set_value("7");
    v1::ClassifyResponse response;
    auto context = Context();
    ASSERT_TRUE(stub_->Classify(context.get(), request, &response).ok());
    EXPECT_EQ(response.outcome(), v1::ClassifyResponse::THROTTLE);
    EXPECT_EQ(response.retry_after_ms(), 7000u);
  }
  {
    v1::ClassifyRequest request;
    request.set_transport_error("connection refused");
    request.set_event_count(1);
    v1::ClassifyResponse response;
    auto context = Context();
    ASSERT_TRUE(stub_->Classify(context.get(), request, &response).ok());
    EXPECT_EQ(response.outcome(), v1::ClassifyResponse::TRANSIENT);
  }
}

TEST_P(PluginRpcTest, HealthCheckServes) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const std::string service : {"", SIGNAL_PLUGIN_INTERFACE_NAME}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    auto context = Context();
    grpc::Status status = health->Check(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no.such.Service");
  grpc::health::v1::HealthCheckResponse response;
  auto context = Context();
  EXPECT_EQ(health->Check(context.get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

INSTANTIATE_TEST_SUITE_P(BothTransports, PluginRpcTest,
                         ::testing::Values(Transport::kInProcess, Transport::kUnixSocket),
                         [](const ::testing::TestParamInfo<Transport>& info) {
                           return info.param == Transport::kInProcess ? "InProcess" : "UnixSocket";
                         });

// ---------------------------------------------------------------------------------
// Options, limits, concurrency, lifecycle.

TEST(LoadPluginTest, PassesOptionsThroughToThePlugin) {
  for (const std::string base : {"http://127.0.0.1:9", "http://127.0.0.1:19/prefix"}) {
    std::unique_ptr<LoadedPlugin> plugin = MustLoad({{"events_base_url", base}});
    ASSERT_NE(plugin, nullptr);
    v1::ValidateConfigRequest validate;
    validate.set_config_json(kGoodConfig);
    v1::ValidateConfigResponse validated;
    auto context = Context();
    ASSERT_TRUE(plugin->stub()->ValidateConfig(context.get(), validate, &validated).ok());
    v1::TranslateRequest request;
    request.set_config_json(validated.merged_config_json());
    request.add_events(TrackEvent("msg-opt"));
    v1::TranslateResponse response;
    auto translate_context = Context();
    ASSERT_TRUE(plugin->stub()->Translate(translate_context.get(), request, &response).ok());
    ASSERT_EQ(response.requests_size(), 1);
    EXPECT_EQ(response.requests(0).url(), base + "/v1/batch");
  }
}

TEST(LoadPluginTest, RefusesBadOptions) {
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
      {{"no_such_option", "1"}, "no_such_option"},
      {{"probe_timeout_ms", "soon"}, "probe_timeout_ms"},
      {{"tls_verify", "perhaps"}, "tls_verify"},
  };
  for (const auto& [option, named] : cases) {
    absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin =
        LoadPlugin(SIGNAL_HIGHTOUCH_PLUGIN, {option}, {});
    ASSERT_FALSE(plugin.ok()) << option.first;
    EXPECT_EQ(plugin.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plugin.status().message(),
                AllOf(HasSubstr("create_service failed"), HasSubstr(named)));
  }
  ExpectHandshakeWorks(*MustLoad());
}

// The plugin's C entry point called directly, as a loader other than ours might: a
// null option key is refused, and the error never overruns the buffer it is given.
TEST(PluginEntryTest, CreateServiceRefusesANullKeyAndKeepsToTheErrorBuffer) {
  void* handle = dlopen(SIGNAL_HIGHTOUCH_PLUGIN, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  using Entry = const signal_plugin_descriptor* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, SIGNAL_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr);
  const signal_plugin_descriptor* descriptor = entry();
  ASSERT_NE(descriptor, nullptr);

  const signal_plugin_option null_key[] = {{"probe_timeout_ms", "500"}, {nullptr, "x"}};
  char error[64];
  EXPECT_EQ(descriptor->create_service(null_key, 2, error, sizeof(error)), nullptr);
  EXPECT_STREQ(error, "plugin option 1 has a null key");

  // A short buffer gets a truncated, terminated message and nothing past its end.
  std::memset(error, 'X', sizeof(error));
  EXPECT_EQ(descriptor->create_service(null_key, 2, error, 12), nullptr);
  EXPECT_STREQ(error, "plugin opti");
  EXPECT_EQ(error[12], 'X');
  // No buffer at all: still refused, nothing written.
  std::memset(error, 'X', sizeof(error));
  EXPECT_EQ(descriptor->create_service(null_key, 2, error, 0), nullptr);
  EXPECT_EQ(error[0], 'X');
  EXPECT_EQ(descriptor->create_service(null_key, 2, nullptr, 64), nullptr);

  // A null value reads as empty, which this option does not accept.
  const signal_plugin_option null_value[] = {{"tls_verify", nullptr}};
  EXPECT_EQ(descriptor->create_service(null_value, 1, error, sizeof(error)), nullptr);
  EXPECT_THAT(std::string(error), AllOf(HasSubstr("bad plugin option"), HasSubstr("tls_verify")));

  // Without options it creates a service, which its own function destroys.
  void* service = descriptor->create_service(nullptr, 0, error, sizeof(error));
  ASSERT_NE(service, nullptr) << error;
  descriptor->destroy_service(service);
  dlclose(handle);
}

TEST(LoadPluginTest, RefusesMessagesOverTheLimitAndKeepsServing) {
  LoadOptions load_options;
  load_options.max_message_bytes = 256 * 1024;
  load_options.unix_socket_path = SocketPath("limit");
  std::unique_ptr<LoadedPlugin> plugin = MustLoad({}, load_options);
  ASSERT_NE(plugin, nullptr);
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  auto socket_stub = v1::Integration::NewStub(grpc::CreateCustomChannel(
      "unix:" + load_options.unix_socket_path, grpc::InsecureChannelCredentials(), args));

  v1::TranslateRequest oversized;
  oversized.set_config_json(kGoodConfig);
  oversized.add_events(std::string(300 * 1024, 'x'));
  for (v1::Integration::Stub* stub : {plugin->stub(), socket_stub.get()}) {
    v1::TranslateResponse response;
    auto context = Context();
    grpc::Status status = stub->Translate(context.get(), oversized, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  ExpectHandshakeWorks(*plugin);
}

TEST(LoadPluginTest, TranslatesConcurrentlyForDifferentConfigs) {
  std::unique_ptr<LoadedPlugin> plugin = MustLoad();
  ASSERT_NE(plugin, nullptr);
  // Two installs that differ only in their credential: the cached parse of one
  // must never leak into the other's requests.
  std::vector<std::string> keys = {"key-alpha-111", "key-beta-222"};
  std::vector<std::string> merged;
  for (const std::string& key : keys) {
    v1::ValidateConfigRequest request;
    request.set_config_json(
        absl::StrCat(R"({"api_key":")", key, R"(","workspace_id":"1","source_id":"2"})"));
    v1::ValidateConfigResponse response;
    auto context = Context();
    ASSERT_TRUE(plugin->stub()->ValidateConfig(context.get(), request, &response).ok());
    ASSERT_TRUE(response.valid());
    merged.push_back(response.merged_config_json());
  }
  std::atomic<int> mismatches{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const size_t which = (t + i) % keys.size();
        v1::TranslateRequest request;
        request.set_config_json(merged[which]);
        for (int e = 0; e < 20; ++e)
          request.add_events(TrackEvent(absl::StrCat("m", t, "-", i, "-", e)));
        v1::TranslateResponse response;
        auto context = Context();
        if (!plugin->stub()->Translate(context.get(), request, &response).ok() ||
            response.requests_size() != 1 || response.requests(0).message_ids_size() != 20) {
          ++failures;
          continue;
        }
        const std::string expected = "Basic " + absl::Base64Escape(absl::StrCat(keys[which], ":"));
        for (const v1::Header& header : response.requests(0).headers()) {
          if (header.name() == "Authorization" && header.value() != expected) ++mismatches;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(LoadPluginTest, LoadsUnloadsAndLoadsAgainOnTheSameSocket) {
  LoadOptions load_options;
  load_options.unix_socket_path = SocketPath("again");
  for (int round = 0; round < 3; ++round) {
    std::unique_ptr<LoadedPlugin> plugin = MustLoad({}, load_options);
    ASSERT_NE(plugin, nullptr) << "round " << round;
    struct stat info {};
    ASSERT_EQ(lstat(load_options.unix_socket_path.c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(info.st_mode & 0777, 0600u) << "socket must be private to its user";
    auto stub = v1::Integration::NewStub(grpc::CreateChannel(
        "unix:" + load_options.unix_socket_path, grpc::InsecureChannelCredentials()));
    v1::HandshakeResponse response;
    auto context = Context();
    ASSERT_TRUE(stub->Handshake(context.get(), v1::HandshakeRequest(), &response).ok());
    EXPECT_EQ(response.catalog_key(), "hightouch");
    plugin.reset();
    EXPECT_FALSE(PathExists(load_options.unix_socket_path));
  }
}

TEST(LoadPluginTest, TwoInstancesOfOnePluginServeSideBySide) {
  std::unique_ptr<LoadedPlugin> first = MustLoad();
  std::unique_ptr<LoadedPlugin> second = MustLoad();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ExpectHandshakeWorks(*first);
  ExpectHandshakeWorks(*second);
  first.reset();
  ExpectHandshakeWorks(*second);
}

TEST(LoadPluginTest, ReplacesAStaleSocketButNotALiveOneOrAFile) {
  const std::string path = SocketPath("stale");
  unlink(path.c_str());
  {
    // A socket file with no listener, as a crashed process leaves it.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    close(fd);
    ASSERT_TRUE(PathExists(path));
  }
  LoadOptions load_options;
  load_options.unix_socket_path = path;
  std::unique_ptr<LoadedPlugin> live = MustLoad({}, load_options);
  ASSERT_NE(live, nullptr);

  absl::StatusOr<std::unique_ptr<LoadedPlugin>> clash =
      LoadPlugin(SIGNAL_HIGHTOUCH_PLUGIN, {}, load_options);
  ASSERT_FALSE(clash.ok());
  EXPECT_THAT(clash.status().message(), HasSubstr("in use"));
  ExpectHandshakeWorks(*live);
  live.reset();

  const std::string file_path = SocketPath("regular");
  std::ofstream(file_path) << "keep me";
  load_options.unix_socket_path = file_path;
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> refused =
      LoadPlugin(SIGNAL_HIGHTOUCH_PLUGIN, {}, load_options);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("not a socket"));
  std::ifstream kept(file_path);
  std::string contents;
  std::getline(kept, contents);
  EXPECT_EQ(contents, "keep me");
  unlink(file_path.c_str());
}

TEST(LoadPluginTest, RefusesASocketPathTooLongForUnixSockets) {
  LoadOptions load_options;
  load_options.unix_socket_path = "/tmp/" + std::string(200, 's') + ".sock";
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin =
      LoadPlugin(SIGNAL_HIGHTOUCH_PLUGIN, {}, load_options);
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(), HasSubstr("too long"));
}

// ---------------------------------------------------------------------------------
// Broken plugins: each refused with a message naming the problem; the loader lives on.

struct BrokenCase {
  std::string name;
  std::string path;
  std::vector<std::string> expected;
  absl::StatusCode code = absl::StatusCode::kFailedPrecondition;
};

std::vector<BrokenCase> BrokenCases() {
  const std::string protobuf = HostProtobufVersion();
  const std::string grpc = HostGrpcVersion();
  return {
      {"missing_file", "/nonexistent/libnothing.so", {"cannot open"}, absl::StatusCode::kNotFound},
      {"not_a_library", SIGNAL_SOURCE_DIR "/catalog/hightouch.yaml", {"dlopen failed"}},
      {"no_entry", BROKEN_PLUGIN_NO_ENTRY, {"missing entry symbol signal_plugin_descriptor_v1"}},
      {"null_descriptor", BROKEN_PLUGIN_NULL_DESCRIPTOR, {"null descriptor"}},
      {"throwing_entry",
       BROKEN_PLUGIN_THROWING_ENTRY,
       {"entry point threw", "exploded on purpose"}},
      {"wrong_abi",
       BROKEN_PLUGIN_WRONG_ABI,
       {"ABI version mismatch", "plugin has 999", "host expects 1"}},
      {"wrong_interface",
       BROKEN_PLUGIN_WRONG_INTERFACE,
       {"wrong interface", "signal.integration.v0.Legacy", "signal.integration.v1.Integration"}},
      {"null_interface", BROKEN_PLUGIN_NULL_INTERFACE, {"interface_name is null"}},
      {"null_catalog_key", BROKEN_PLUGIN_NULL_CATALOG_KEY, {"catalog_key is null"}},
      {"empty_plugin_version", BROKEN_PLUGIN_EMPTY_PLUGIN_VERSION, {"plugin_version is empty"}},
      {"version_mismatch",
       BROKEN_PLUGIN_VERSION_MISMATCH,
       {"protobuf version mismatch", "plugin built with 1,", "host has " + protobuf}},
      {"grpc_version_mismatch",
       BROKEN_PLUGIN_GRPC_VERSION_MISMATCH,
       {"gRPC version mismatch", "plugin built with 0.0.1", "host has " + grpc}},
      {"null_factory", BROKEN_PLUGIN_NULL_FACTORY, {"create_service is null"}},
      {"null_destroy", BROKEN_PLUGIN_NULL_DESTROY, {"destroy_service is null"}},
      {"throwing_factory",
       BROKEN_PLUGIN_THROWING_FACTORY,
       {"create_service threw an exception", "fixture factory exploded on purpose"}},
      {"throwing_unknown",
       BROKEN_PLUGIN_THROWING_UNKNOWN,
       {"create_service threw an unknown exception"}},
      {"factory_returns_null",
       BROKEN_PLUGIN_FACTORY_RETURNS_NULL,
       {"create_service failed", "fixture refuses to create a service", "first key 'color'"},
       absl::StatusCode::kInvalidArgument},
      {"factory_overflows_error",
       BROKEN_PLUGIN_FACTORY_OVERFLOWS_ERROR,
       {"create_service failed", "xxxxxxxx"},
       absl::StatusCode::kInvalidArgument},
      {"lying_catalog_key",
       BROKEN_PLUGIN_LYING_CATALOG_KEY,
       {"Handshake catalog key 'somebody-else'", "descriptor's 'liar'"}},
      {"lying_interface_version",
       BROKEN_PLUGIN_LYING_INTERFACE_VERSION,
       {"interface version mismatch", "plugin speaks 2", "host speaks 1"}},
  };
}

class BrokenPluginTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenPluginTest, IsRefusedWithAMessageNamingTheProblem) {
  const BrokenCase& broken = GetParam();
  LoadOptions load_options;
  load_options.unix_socket_path = SocketPath("broken-" + broken.name);
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin =
      LoadPlugin(broken.path, {{"color", "blue"}}, load_options);
  ASSERT_FALSE(plugin.ok());
  EXPECT_EQ(plugin.status().code(), broken.code) << plugin.status();
  const std::string message(plugin.status().message());
  EXPECT_THAT(message, HasSubstr(broken.path));
  for (const std::string& part : broken.expected) EXPECT_THAT(message, HasSubstr(part));
  // The factory's message is cut to the loader's buffer, whatever the plugin wrote.
  EXPECT_LT(message.size(), 4096u);
  EXPECT_FALSE(PathExists(load_options.unix_socket_path)) << "a refused plugin left its socket";

  // The loader process is intact and the real plugin still loads and serves.
  std::unique_ptr<LoadedPlugin> real = MustLoad({}, load_options);
  ASSERT_NE(real, nullptr);
  ExpectHandshakeWorks(*real);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BrokenPluginTest, ::testing::ValuesIn(BrokenCases()),
                         [](const ::testing::TestParamInfo<BrokenCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace signal_host
