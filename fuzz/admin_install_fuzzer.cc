// Fuzz target: the body of POST /v1/admin/integration-catalog/hightouch/install.
//
// The body is parsed inside AdminService's install handler (no separable function), so
// the target drives AdminService::Handle as the HTTP frontend does, over real parts: a
// SQLite store in a temporary directory, the built plugin loaded by the PluginRegistry
// (dlopen, in-process gRPC) and a fake Hightouch on loopback that knows one API key, one
// write key and one source, so that a well-formed body really installs. After each
// install the integration is read back and deleted, so every input starts from an empty
// store and a finding reproduces from its input alone.
//
// Invariants: the answer is one of the documented statuses (never 500), a valid JSON
// body with the error envelope for refusals; an install shows the API key masked, and
// the answer never holds the API key or the write key when only a secret field held it;
// an installed integration can be read back and deleted.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "admin_service.h"
#include "fake_hightouch.h"
#include "fuzz_check.h"
#include "host/auth/jwt.h"
#include "host/crypto/secret_box.h"
#include "host/store/store.h"
#include "integration_directory.h"
#include "log.h"
#include "plugin_registry.h"
#include "rapidjson/document.h"
#include "strict_json.h"

namespace {

namespace api = signal_host::api;

// The fake's credentials; corpus/admin_install/ uses them.
constexpr std::string_view kApiKey = "htk_fuzz_0123456789abcdef";
constexpr std::string_view kWriteKey = "hwk_fuzz_0123456789abcdef";
constexpr char kJwtSecret[] = "fuzz-admin-jwt-secret";

// Everything a request needs, built once per process and never torn down: tearing down
// gRPC and a dlopened plugin at exit would only add noise to the findings.
struct Harness {
  std::string dir;
  std::unique_ptr<fake_hightouch::FakeHightouch> fake;
  std::optional<signal_host::SecretBox> secrets;
  std::unique_ptr<signal_host::Store> store;
  signal_host::daemon::PluginRegistry plugins;
  std::unique_ptr<api::IntegrationDirectory> directory;
  std::atomic<bool> ready{true};
  std::unique_ptr<api::AdminService> admin;
  std::string authorization;
};

void Must(const absl::Status& status, const char* what) {
  FUZZ_CHECK(status.ok(), std::string(what) + ": " + status.ToString());
}

std::string& DirToRemove() {
  static std::string dir;
  return dir;
}

Harness& TheHarness();

Harness* StartHarness() {
  auto* h = new Harness;
  api::SetLogLevel("error");  // an install is logged at info; the fuzzer makes thousands
  // The store fsyncs every install: keep it in memory when /dev/shm exists.
  const std::string base = std::filesystem::is_directory("/dev/shm")
                               ? std::string("/dev/shm")
                               : std::filesystem::temp_directory_path().string();
  std::string pattern = base + "/signal-fuzz-install-XXXXXX";
  FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr, pattern);
  h->dir = pattern;
  DirToRemove() = h->dir;
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(DirToRemove(), ignored);
  });

  fake_hightouch::Options fake_options;
  fake_options.api_keys = {std::string(kApiKey)};
  fake_options.write_keys = {std::string(kWriteKey), std::string(kApiKey)};
  fake_options.sources = {{"src-12345", "12345", ""}};
  fake_options.rest_rate_limit = 1 << 30;
  fake_options.worker_threads = 4;
  fake_options.max_recorded_events = 0;
  h->fake = std::make_unique<fake_hightouch::FakeHightouch>(fake_options);
  Must(h->fake->Start(), "starting the fake Hightouch");

  auto secrets = signal_host::SecretBox::FromRawKey(std::string(32, 'k'));
  Must(secrets.status(), "secret box");
  h->secrets.emplace(*secrets);
  signal_host::StoreOptions store_options;
  store_options.path = h->dir + "/signal.db";
  auto store = signal_host::Store::Open(store_options, &*h->secrets);
  Must(store.status(), "opening the store");
  h->store = std::move(*store);

  const std::string fake_url = h->fake->base_url();
  signal_host::daemon::PluginLoadSettings load;
  load.options_by_key = {{"hightouch",
                          {{"events_base_url", fake_url},
                           {"api_base_url", fake_url},
                           {"probe_connect_timeout_ms", "2000"},
                           {"probe_timeout_ms", "5000"}}}};
  load.runtime_dir = h->dir;
  load.host_agent = "fuzz-install";
  Must(h->plugins.LoadFile(SIGNAL_HIGHTOUCH_PLUGIN, load), "loading the plugin");
  h->directory = std::make_unique<api::IntegrationDirectory>(h->store.get());
  Must(h->directory->Reload(), "directory");

  api::AdminServiceOptions options;
  options.jwt_secret = kJwtSecret;
  options.rate_limit_per_minute = 1 << 30;
  api::AdminServiceDeps deps;
  deps.configs = h->store.get();
  deps.dead_letters = h->store.get();
  deps.attempts = h->store.get();
  deps.queue = h->store.get();
  deps.plugins = &h->plugins;
  deps.directory = h->directory.get();
  deps.ready = &h->ready;
  h->admin = std::make_unique<api::AdminService>(options, deps);

  signal_host::Claims claims;
  claims.sub = "usr_fuzz";
  claims.org_id = "org_fuzz";
  claims.role = signal_host::Role::kAdmin;  // may install and delete
  claims.iat = absl::ToUnixSeconds(absl::Now());
  claims.exp = claims.iat + int64_t{10} * 365 * 24 * 3600;
  auto token = signal_host::SignToken(claims, kJwtSecret);
  Must(token.status(), "signing a token");
  h->authorization = "Bearer " + *token;
  // A run ends by returning from main with the harness still running, and a credential
  // check abandoned at its deadline may still be running on a plugin thread, reading
  // statics that exit destroys (the plugin's catalog; TSan saw it). Registered after the
  // plugin and the fake made theirs, this runs before them at exit: it shuts the plugin's
  // server down, which waits for its handlers, and stops the fake.
  std::atexit([] {
    Harness& harness = TheHarness();
    harness.admin.reset();
    harness.directory.reset();
    harness.plugins.Clear();
    harness.fake->Stop();
  });
  return h;
}

Harness& TheHarness() {
  static Harness* harness = StartHarness();
  return *harness;
}

api::ApiResponse Call(api::AdminRoute route, std::string method, std::string path,
                      std::vector<std::string> params, std::string body = {}) {
  api::ApiRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.path_params = std::move(params);
  request.authorization = TheHarness().authorization;
  request.body = std::move(body);
  return TheHarness().admin->Handle(route, request);
}

std::string Shown(std::string_view body, const api::ApiResponse& response) {
  return "request " + std::string(body.substr(0, 1000)) + "\nanswer " +
         std::to_string(response.status) + " " + response.body.substr(0, 2000);
}

rapidjson::Document ParseAnswer(std::string_view body, const api::ApiResponse& response) {
  const std::string error = signal_fuzz::StrictJsonError(response.body);
  FUZZ_CHECK(error.empty(), error + "\n" + Shown(body, response));
  rapidjson::Document document;
  document.Parse(response.body.c_str(), response.body.size());
  FUZZ_CHECK(document.IsObject(), Shown(body, response));
  return document;
}

// How many strings of the request (names and values, decoded) contain `secret`.
size_t StringsContaining(const rapidjson::Value& value, std::string_view secret) {
  auto contains = [&](const rapidjson::Value& text) {
    return std::string_view(text.GetString(), text.GetStringLength()).find(secret) !=
           std::string_view::npos;
  };
  if (value.IsString()) return contains(value) ? 1 : 0;
  size_t count = 0;
  if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      count += (contains(member.name) ? 1 : 0) + StringsContaining(member.value, secret);
    }
  } else if (value.IsArray()) {
    for (const auto& item : value.GetArray()) count += StringsContaining(item, secret);
  }
  return count;
}

// True when `secret` appears in the request only as the value of a secret config field,
// so any copy of it in the answer is a leak.
bool OnlyInSecretField(const rapidjson::Document& request, std::string_view secret) {
  if (StringsContaining(request, secret) != 1) return false;
  const auto config = request.FindMember("config");
  if (config == request.MemberEnd() || !config->value.IsObject()) return false;
  for (const char* field : {"api_key", "write_key"}) {
    const auto value = config->value.FindMember(field);
    if (value != config->value.MemberEnd() && value->value.IsString() &&
        std::string_view(value->value.GetString(), value->value.GetStringLength()) == secret) {
      return true;
    }
  }
  return false;
}

void CheckNoLeak(std::string_view body, const api::ApiResponse& response) {
  rapidjson::Document request;
  request.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (request.HasParseError() || !request.IsObject()) return;
  for (std::string_view secret : {kApiKey, kWriteKey}) {
    if (OnlyInSecretField(request, secret)) {
      FUZZ_CHECK(response.body.find(secret) == std::string::npos, Shown(body, response));
    }
  }
}

void CheckInstalled(std::string_view body, const api::ApiResponse& response,
                    const rapidjson::Document& answer) {
  const auto integration = answer.FindMember("integration");
  FUZZ_CHECK(integration != answer.MemberEnd() && integration->value.IsObject() &&
                 integration->value.HasMember("id") && integration->value["id"].IsString(),
             Shown(body, response));
  const std::string id = integration->value["id"].GetString();
  FUZZ_CHECK(id.starts_with("tmpl_"), Shown(body, response));
  const auto revision = answer.FindMember("revision");
  FUZZ_CHECK(revision != answer.MemberEnd() && revision->value.IsObject(), Shown(body, response));
  const auto config = revision->value.FindMember("config");
  FUZZ_CHECK(config != revision->value.MemberEnd() && config->value.IsObject(),
             Shown(body, response));
  const auto api_key = config->value.FindMember("api_key");
  FUZZ_CHECK(api_key != config->value.MemberEnd() && api_key->value.IsString() &&
                 std::string_view(api_key->value.GetString()) == "***",
             Shown(body, response));

  const api::ApiResponse read =
      Call(api::AdminRoute::kIntegrationGet, "GET", "/v1/admin/integrations/" + id, {id});
  FUZZ_CHECK(read.status == 200 && read.body.find(id) != std::string::npos,
             "read back: " + Shown(body, read));
  const api::ApiResponse removed =
      Call(api::AdminRoute::kIntegrationDelete, "DELETE", "/v1/admin/integrations/" + id, {id});
  FUZZ_CHECK(removed.status == 204, "delete: " + Shown(body, removed));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(signal_fuzz::AsText(data, size));
  const api::ApiResponse response =
      Call(api::AdminRoute::kCatalogInstall, "POST",
           "/v1/admin/integration-catalog/hightouch/install", {"hightouch"}, body);
  // 201 installed; 400 bad body; 422 invalid config or refused credentials; 502 and 503
  // vendor unreachable or rate limiting. Never 409: each install is deleted again.
  const int status = response.status;
  FUZZ_CHECK(status == 201 || status == 400 || status == 422 || status == 502 || status == 503,
             Shown(body, response));
  const rapidjson::Document answer = ParseAnswer(body, response);
  CheckNoLeak(body, response);
  if (status == 201) {
    CheckInstalled(body, response, answer);
    return 0;
  }
  const auto error = answer.FindMember("error");
  FUZZ_CHECK(error != answer.MemberEnd() && error->value.IsObject() &&
                 error->value.HasMember("code") && error->value["code"].IsString() &&
                 error->value.HasMember("message") && error->value["message"].IsString(),
             Shown(body, response));
  return 0;
}
