#include "admin_service.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "catalog_json.h"
#include "grpcpp/client_context.h"
#include "host/auth/jwt.h"
#include "host/auth/rate_limiter.h"
#include "host/auth/roles.h"
#include "host/crypto/encoding.h"
#include "host/crypto/ids.h"
#include "host/delivery/attempt_format.h"
#include "host/delivery/delivery_engine.h"
#include "log.h"
#include "names.h"
#include "plugin_registry.h"
#include "records_json.h"

namespace signal_host::api {
namespace {

namespace v1 = signal::integration::v1;

constexpr size_t kDefaultPageSize = 50;
constexpr size_t kMaxPageSize = 100;
constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxDescriptionBytes = 2000;
constexpr size_t kMaxSummaryBytes = 2000;
constexpr size_t kMaxIdentifierBytes = 100;
constexpr size_t kMaxReasonBytes = 200;
constexpr int kDefaultVendorRetryAfterSeconds = 30;

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// A list's ?limit=: digits only. 0 is refused (as a negative number or anything else
// that is not digits is); any larger number, however long, means the maximum.
absl::StatusOr<Page> ParsePage(const ApiRequest& req) {
  Page page;
  page.limit = kDefaultPageSize;
  const std::string limit = req.Query("limit");
  if (!limit.empty()) {
    size_t value = 0;
    bool digits = true;
    for (char c : limit) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      // Saturates just above the maximum, so no length of digits can overflow.
      value = std::min(value * 10 + static_cast<size_t>(c - '0'), kMaxPageSize + 1);
    }
    if (!digits || value == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("limit must be a positive integer (larger than ", kMaxPageSize, " means ",
                       kMaxPageSize, ")"));
    }
    page.limit = std::min(value, kMaxPageSize);
  }
  page.cursor = req.Query("cursor");
  return page;
}

// {"data":[ ... written by `items` ... ],"next_cursor":..., "has_more":...}
template <typename WriteItems>
std::string ListBody(const std::string& next_cursor, WriteItems write_items) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  WriteKey(writer, "data");
  writer.StartArray();
  write_items(writer);
  writer.EndArray();
  WriteKey(writer, "next_cursor");
  if (next_cursor.empty()) {
    writer.Null();
  } else {
    WriteString(writer, next_cursor);
  }
  WriteKey(writer, "has_more");
  writer.Bool(!next_cursor.empty());
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void SendStoreError(ApiResponse& res, const absl::Status& status, std::string_view what) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      SendError(res, 404, "NOT_FOUND", absl::StrCat(AbslView(what), " not found"));
      return;
    case absl::StatusCode::kAlreadyExists:
      SendError(res, 409, "CONFLICT", StdView(status.message()));
      return;
    case absl::StatusCode::kInvalidArgument:
      SendError(res, 400, "BAD_REQUEST", StdView(status.message()));
      return;
    default:
      LogError(absl::StrCat("store error (", AbslView(what), "): ", status.ToString()));
      SendError(res, 500, "INTERNAL", absl::StrCat("the store failed: ", status.message()));
  }
}

// The JSON body as an object, or a 400 already sent.
std::optional<rapidjson::Document> BodyObject(const ApiRequest& req, ApiResponse& res) {
  auto document = ParseJson(req.body);
  if (!document.ok()) {
    SendError(res, 400, "BAD_REQUEST", StdView(document.status().message()));
    return std::nullopt;
  }
  if (!document->IsObject()) {
    SendError(res, 400, "BAD_REQUEST", "the body must be a JSON object");
    return std::nullopt;
  }
  return std::move(*document);
}

// An optional string member: absent/null leaves `out` alone; another type, or a value
// that breaks the rule for its kind (names.h), is a 400 naming the field.
bool OptionalText(const rapidjson::Value& object, const char* key, TextKind kind, size_t max_bytes,
                  std::string& out, ApiResponse& res) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || it->value.IsNull()) return true;
  if (!it->value.IsString()) {
    const std::string message = absl::StrCat("\"", key, "\" must be a string");
    SendError(res, 400, "BAD_REQUEST", message, {{key, "invalid_type", message}});
    return false;
  }
  const std::string_view value(it->value.GetString(), it->value.GetStringLength());
  if (std::optional<FieldDetail> problem = CheckText(key, value, kind, max_bytes)) {
    SendError(res, 400, "BAD_REQUEST", problem->message, {*problem});
    return false;
  }
  out.assign(value);
  return true;
}

std::string OutcomeName(v1::CheckCredentialsResponse::Outcome outcome) {
  return Lower(v1::CheckCredentialsResponse::Outcome_Name(outcome));
}

void WriteCredentialCheck(JsonWriter& writer, const v1::CheckCredentialsResponse& check) {
  writer.StartObject();
  WriteKey(writer, "outcome");
  WriteString(writer, OutcomeName(check.outcome()));
  WriteKey(writer, "message");
  WriteString(writer, check.message());
  WriteKey(writer, "vendor_status");
  writer.Int(check.vendor_status());
  WriteKey(writer, "probe");
  WriteString(writer, check.probe());
  writer.EndObject();
}

std::chrono::system_clock::time_point Deadline(std::chrono::milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

// What a successful validation and credential check produced.
struct CheckedConfig {
  std::string merged_config_json;
  std::vector<std::string> secret_fields;
  std::string delivery_settings;  // serialized DeliverySettings
  std::string variant;
  std::string delivery_mode;
  v1::CheckCredentialsResponse credential_check;
};

}  // namespace

// What each route needs: its metric name, and either a guarded handler (permission,
// whether the token may come in the query string, as EventSource cannot send headers)
// or an open one (health, readiness, metrics).
struct AdminRouteSpec {
  const char* name;
  Permission permission;
  void (AdminService::Impl::*guarded)(const ApiRequest&, ApiResponse&, const Claims&) = nullptr;
  void (AdminService::Impl::*open)(ApiResponse&) = nullptr;
  bool query_token = false;
};

class AdminService::Impl {
 public:
  Impl(AdminServiceOptions options, AdminServiceDeps deps)
      : options_(std::move(options)),
        deps_(deps),
        limiter_(RateLimiterOptions{options_.rate_limit_per_minute, absl::Minutes(1), 10000}) {
    if (deps_.registry != nullptr) {
      auto requests = deps_.registry->AddCounter("signal_admin_requests_total",
                                                 "Management API requests by route and status.",
                                                 {"route", "method", "status"});
      if (requests.ok()) requests_ = *requests;
      auto duration = deps_.registry->AddHistogram("signal_admin_request_duration_seconds",
                                                   "Management API request latency.", {"route"},
                                                   metrics::LatencyBucketsSeconds());
      if (duration.ok()) duration_ = *duration;
    }
  }

  ApiResponse Handle(AdminRoute route, const ApiRequest& req);
  AdminAdmission Admit(AdminRoute route, const ApiRequest& head);
  ApiResponse Dispatch(AdminRoute route, const ApiRequest& req, const AdminAdmission& admission);

 private:
  // Authenticates, rate-limits and authorises; nullopt with the refusal in `res`.
  std::optional<Claims> Authorize(Permission permission, bool allow_query_token,
                                  const ApiRequest& req, ApiResponse& res);
  static const AdminRouteSpec& SpecOf(AdminRoute route);
  void Health(ApiResponse& res);
  void Ready(ApiResponse& res);
  void Metrics(ApiResponse& res);
  void Observe(const std::string& route, const ApiRequest& req, const ApiResponse& res,
               std::chrono::steady_clock::time_point start);

  // Routes.
  void ListCatalog(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void GetCatalogEntry(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void Install(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void ListIntegrations(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void GetIntegration(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void DeleteIntegration(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void ListRevisions(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void GetRevision(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void CreateRevision(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void ListDeadLetters(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void ReplayDeadLetters(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void ListLiveEvents(const ApiRequest& req, ApiResponse& res, const Claims& caller);
  void StreamLiveEvents(const ApiRequest& req, ApiResponse& res, const Claims& caller);

  // Validates `config_json` with the plugin (plus the delivery mode), then checks its
  // credentials. On failure the error response is sent and nullopt returned.
  std::optional<CheckedConfig> ValidateAndCheck(const daemon::RegisteredPlugin& plugin,
                                                const std::string& variant,
                                                const std::string& config_json,
                                                const std::string& delivery_mode,
                                                std::vector<FieldDetail> extra_details,
                                                ApiResponse& res);
  // True when another integration of the org already has `name`.
  bool NameTaken(const std::string& org_id, const std::string& name) const;
  size_t QueueDepth(const std::string& integration_id) const;
  void AfterChange(const std::string& integration_id);
  std::string IntegrationJson(const IntegrationRecord& integration, const RevisionRecord* revision,
                              const v1::CheckCredentialsResponse* check) const;
  // The org's integration (404 sent when it is not the caller's).
  std::optional<IntegrationRecord> OwnIntegration(const std::string& id, const Claims& caller,
                                                  ApiResponse& res);

  const AdminServiceOptions options_;
  const AdminServiceDeps deps_;
  RateLimiter limiter_;
  metrics::Family<metrics::Counter>* requests_ = nullptr;
  metrics::Family<metrics::Histogram>* duration_ = nullptr;
  std::atomic<int> open_streams_{0};
};

AdminService::AdminService(AdminServiceOptions options, AdminServiceDeps deps)
    : impl_(std::make_unique<Impl>(std::move(options), deps)) {}
AdminService::~AdminService() = default;
ApiResponse AdminService::Handle(AdminRoute route, const ApiRequest& request) {
  return impl_->Handle(route, request);
}
AdminAdmission AdminService::Admit(AdminRoute route, const ApiRequest& head) {
  return impl_->Admit(route, head);
}
ApiResponse AdminService::Handle(AdminRoute route, const ApiRequest& request,
                                 const AdminAdmission& admission) {
  return impl_->Dispatch(route, request, admission);
}

// --- plumbing --------------------------------------------------------------------------

void AdminService::Impl::Observe(const std::string& route, const ApiRequest& req,
                                 const ApiResponse& res,
                                 std::chrono::steady_clock::time_point start) {
  if (requests_ != nullptr) {
    requests_->WithLabels({route, req.method, absl::StrCat(res.status)}).Inc();
  }
  if (duration_ != nullptr) {
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    duration_->WithLabels({route}).Observe(elapsed.count());
  }
  if (LogEnabled(LogLevel::kDebug)) {
    LogDebug(absl::StrCat("admin ", req.method, " ", req.path, " -> ", res.status));
  }
}

std::optional<Claims> AdminService::Impl::Authorize(Permission permission, bool allow_query_token,
                                                    const ApiRequest& req, ApiResponse& res) {
  std::string token;
  if (!req.authorization.empty()) {
    std::optional<std::string_view> bearer = BearerToken(req.authorization);
    if (!bearer) {
      res.SetHeader("WWW-Authenticate", "Bearer");
      SendError(res, 401, "INVALID_TOKEN", "the Authorization header must be \"Bearer <token>\"");
      return std::nullopt;
    }
    token = std::string(*bearer);
  } else if (allow_query_token) {
    token = req.Query("access_token");
  }
  if (token.empty()) {
    res.SetHeader("WWW-Authenticate", "Bearer");
    SendError(res, 401, "UNAUTHENTICATED",
              "this endpoint needs an \"Authorization: Bearer <token>\" header");
    return std::nullopt;
  }
  auto claims = VerifyToken(token, options_.jwt_secret, absl::Now());
  if (!claims.ok()) {
    std::optional<TokenError> error = TokenErrorOf(claims.status());
    res.SetHeader("WWW-Authenticate", "Bearer");
    if (!error) {
      LogError(absl::StrCat("token verification failed: ", claims.status().ToString()));
      SendError(res, 401, "INVALID_TOKEN", "the token cannot be verified");
      return std::nullopt;
    }
    SendError(res, 401, TokenErrorCode(*error), std::string(StdView(claims.status().message())));
    return std::nullopt;
  }
  RateDecision decision = limiter_.Acquire(absl::StrCat(claims->org_id, "/", claims->sub));
  if (!decision.allowed) {
    res.SetHeader("Retry-After", absl::StrCat(decision.retry_after_seconds));
    SendError(
        res, 429, "RATE_LIMITED",
        absl::StrCat("more than ", options_.rate_limit_per_minute,
                     " requests in a minute; retry in ", decision.retry_after_seconds, " seconds"));
    return std::nullopt;
  }
  if (!Allows(claims->role, permission)) {
    const char* action = permission == Permission::kWrite
                             ? "install integrations or create revisions (editor or above)"
                         : permission == Permission::kDelete
                             ? "delete integrations or replay dead letters (admin or owner)"
                             : "read";
    SendError(res, 403, "FORBIDDEN",
              absl::StrCat("the ", std::string(RoleName(claims->role)), " role may not ", action));
    return std::nullopt;
  }
  return *std::move(claims);
}

AdminAdmission AdminService::Impl::Admit(AdminRoute route, const ApiRequest& head) {
  AdminAdmission admission;
  admission.start = std::chrono::steady_clock::now();
  const AdminRouteSpec& spec = SpecOf(route);
  if (spec.guarded == nullptr) {
    admission.admitted = true;
    return admission;
  }
  std::optional<Claims> caller =
      Authorize(spec.permission, spec.query_token, head, admission.refusal);
  if (!caller) {
    Observe(spec.name, head, admission.refusal, admission.start);
    return admission;
  }
  admission.admitted = true;
  admission.caller = *std::move(caller);
  return admission;
}

ApiResponse AdminService::Impl::Dispatch(AdminRoute route, const ApiRequest& req,
                                         const AdminAdmission& admission) {
  ApiResponse res;
  if (!admission.admitted) return admission.refusal;
  const AdminRouteSpec& spec = SpecOf(route);
  if (spec.guarded != nullptr) {
    (this->*spec.guarded)(req, res, admission.caller);
  } else {
    (this->*spec.open)(res);
  }
  Observe(spec.name, req, res, admission.start);
  return res;
}

ApiResponse AdminService::Impl::Handle(AdminRoute route, const ApiRequest& req) {
  AdminAdmission admission = Admit(route, req);
  if (!admission.admitted) return std::move(admission.refusal);
  return Dispatch(route, req, admission);
}

const AdminRouteSpec& AdminService::Impl::SpecOf(AdminRoute route) {
  using I = AdminService::Impl;
  static const AdminRouteSpec kCatalogList{
      .name = "catalog_list", .permission = Permission::kRead, .guarded = &I::ListCatalog};
  static const AdminRouteSpec kCatalogGet{
      .name = "catalog_get", .permission = Permission::kRead, .guarded = &I::GetCatalogEntry};
  static const AdminRouteSpec kInstall{
      .name = "catalog_install", .permission = Permission::kWrite, .guarded = &I::Install};
  static const AdminRouteSpec kIntegrationsList{.name = "integrations_list",
                                                .permission = Permission::kRead,
                                                .guarded = &I::ListIntegrations};
  static const AdminRouteSpec kIntegrationGet{
      .name = "integration_get", .permission = Permission::kRead, .guarded = &I::GetIntegration};
  static const AdminRouteSpec kIntegrationDelete{.name = "integration_delete",
                                                 .permission = Permission::kDelete,
                                                 .guarded = &I::DeleteIntegration};
  static const AdminRouteSpec kRevisionsList{
      .name = "revisions_list", .permission = Permission::kRead, .guarded = &I::ListRevisions};
  static const AdminRouteSpec kRevisionGet{
      .name = "revision_get", .permission = Permission::kRead, .guarded = &I::GetRevision};
  static const AdminRouteSpec kRevisionCreate{
      .name = "revision_create", .permission = Permission::kWrite, .guarded = &I::CreateRevision};
  static const AdminRouteSpec kDeadLettersList{
      .name = "dead_letters_list", .permission = Permission::kRead, .guarded = &I::ListDeadLetters};
  static const AdminRouteSpec kDeadLettersReplay{.name = "dead_letters_replay",
                                                 .permission = Permission::kDelete,
                                                 .guarded = &I::ReplayDeadLetters};
  static const AdminRouteSpec kLiveEventsList{
      .name = "live_events_list", .permission = Permission::kRead, .guarded = &I::ListLiveEvents};
  static const AdminRouteSpec kLiveEventsStream{.name = "live_events_stream",
                                                .permission = Permission::kRead,
                                                .guarded = &I::StreamLiveEvents,
                                                .query_token = true};
  static const AdminRouteSpec kHealth{
      .name = "healthz", .permission = Permission::kRead, .open = &I::Health};
  static const AdminRouteSpec kReady{
      .name = "readyz", .permission = Permission::kRead, .open = &I::Ready};
  static const AdminRouteSpec kMetrics{
      .name = "metrics", .permission = Permission::kRead, .open = &I::Metrics};
  switch (route) {
    case AdminRoute::kCatalogList:
      return kCatalogList;
    case AdminRoute::kCatalogGet:
      return kCatalogGet;
    case AdminRoute::kCatalogInstall:
      return kInstall;
    case AdminRoute::kIntegrationsList:
      return kIntegrationsList;
    case AdminRoute::kIntegrationGet:
      return kIntegrationGet;
    case AdminRoute::kIntegrationDelete:
      return kIntegrationDelete;
    case AdminRoute::kRevisionsList:
      return kRevisionsList;
    case AdminRoute::kRevisionGet:
      return kRevisionGet;
    case AdminRoute::kRevisionCreate:
      return kRevisionCreate;
    case AdminRoute::kDeadLettersList:
      return kDeadLettersList;
    case AdminRoute::kDeadLettersReplay:
      return kDeadLettersReplay;
    case AdminRoute::kLiveEventsList:
      return kLiveEventsList;
    case AdminRoute::kLiveEventsStream:
      return kLiveEventsStream;
    case AdminRoute::kHealth:
      return kHealth;
    case AdminRoute::kReady:
      return kReady;
    case AdminRoute::kMetrics:
      return kMetrics;
  }
  return kHealth;
}

void AdminService::Impl::Health(ApiResponse& res) { SendJson(res, 200, R"({"status":"ok"})"); }

void AdminService::Impl::Ready(ApiResponse& res) {
  bool started = deps_.ready != nullptr && deps_.ready->load();
  size_t plugins = deps_.plugins->size();
  // While the store cannot take delivery outcomes the engine has paused delivery.
  absl::Status store = deps_.engine != nullptr ? deps_.engine->StoreHealth() : absl::OkStatus();
  // In the scale-out mode: the database and the brokers must answer.
  if (store.ok() && deps_.backend_health) store = deps_.backend_health();
  bool ready = started && plugins > 0 && store.ok();
  std::string reason = !started       ? "starting or shutting down"
                       : plugins == 0 ? "no plugin is loaded"
                       : !store.ok()  ? std::string(store.message())
                                      : "";
  std::string body = absl::StrCat(R"({"status":")", ready ? "ready" : "not_ready",
                                  R"(","plugins":)", plugins, R"(,"reason":)");
  delivery::AppendJsonString(body, reason);
  body += "}";
  SendJson(res, ready ? 200 : 503, body);
}

void AdminService::Impl::Metrics(ApiResponse& res) {
  if (deps_.registry == nullptr) {
    return SendError(res, 404, "NOT_FOUND", "metrics are not enabled");
  }
  res.status = 200;
  res.content_type = std::string(metrics::Registry::kContentType);
  res.body = deps_.registry->Render();
  res.SetHeader("Cache-Control", "no-store");
}

// --- helpers --------------------------------------------------------------------------

bool AdminService::Impl::NameTaken(const std::string& org_id, const std::string& name) const {
  auto snapshot = deps_.directory->Current();
  for (const DirectoryEntry& entry : snapshot->entries) {
    if (entry.org_id == org_id && entry.name == name) return true;
  }
  return false;
}

size_t AdminService::Impl::QueueDepth(const std::string& integration_id) const {
  auto depth = deps_.queue->QueueDepth(integration_id);
  return depth.ok() ? *depth : 0;
}

void AdminService::Impl::AfterChange(const std::string& integration_id) {
  if (absl::Status status = deps_.directory->Reload(); !status.ok()) {
    LogError(absl::StrCat("reloading the integration directory failed: ", status.ToString()));
  }
  if (deps_.engine != nullptr) {
    if (absl::Status status = deps_.engine->Refresh(integration_id); !status.ok()) {
      LogError(
          absl::StrCat("delivery refresh of ", integration_id, " failed: ", status.ToString()));
    }
  }
  if (deps_.after_change) deps_.after_change(integration_id);
}

std::string AdminService::Impl::IntegrationJson(const IntegrationRecord& integration,
                                                const RevisionRecord* revision,
                                                const v1::CheckCredentialsResponse* check) const {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  WriteKey(writer, "integration");
  writer.StartObject();
  WriteIntegrationMembers(writer, integration);
  WriteKey(writer, "queue_depth");
  writer.Uint64(QueueDepth(integration.id));
  writer.EndObject();
  if (revision != nullptr) {
    WriteKey(writer, "revision");
    WriteRevision(writer, *revision);
  }
  if (check != nullptr) {
    WriteKey(writer, "credential_check");
    WriteCredentialCheck(writer, *check);
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<IntegrationRecord> AdminService::Impl::OwnIntegration(const std::string& id,
                                                                    const Claims& caller,
                                                                    ApiResponse& res) {
  auto integration = deps_.configs->GetIntegration(caller.org_id, id);
  if (!integration.ok()) {
    SendStoreError(res, integration.status(), absl::StrCat("integration ", id));
    return std::nullopt;
  }
  return std::move(*integration);
}

std::optional<CheckedConfig> AdminService::Impl::ValidateAndCheck(
    const daemon::RegisteredPlugin& plugin, const std::string& variant,
    const std::string& config_json, const std::string& delivery_mode,
    std::vector<FieldDetail> details, ApiResponse& res) {
  const v1::CatalogEntry& entry = plugin.entry;
  CheckedConfig checked;
  checked.delivery_mode = delivery_mode.empty() && entry.delivery_modes_size() > 0
                              ? entry.delivery_modes(0)
                              : delivery_mode;
  if (std::find(entry.delivery_modes().begin(), entry.delivery_modes().end(),
                checked.delivery_mode) == entry.delivery_modes().end()) {
    details.push_back({"delivery_mode", "unknown_option",
                       absl::StrCat("delivery_mode \"", checked.delivery_mode,
                                    "\" is not supported; use one of: ",
                                    absl::StrJoin(entry.delivery_modes(), ", "))});
  }

  v1::ValidateConfigRequest validate_request;
  validate_request.set_variant(variant);
  validate_request.set_config_json(config_json);
  v1::ValidateConfigResponse validated;
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline(options_.validate_timeout));
    grpc::Status status = plugin.stub()->ValidateConfig(&context, validate_request, &validated);
    if (!status.ok()) {
      LogError(
          absl::StrCat("plugin ", entry.key(), " ValidateConfig failed: ", status.error_message()));
      SendError(res, 500, "INTERNAL",
                absl::StrCat("the ", entry.key(),
                             " plugin could not validate the config: ", status.error_message()));
      return std::nullopt;
    }
  }
  for (const v1::FieldViolation& violation : validated.violations()) {
    details.push_back({violation.field(), violation.code(), violation.message()});
  }
  if (!details.empty() || !validated.valid()) {
    if (details.empty()) details.push_back({"config", "invalid", "the plugin refused the config"});
    SendError(res, 422, "VALIDATION_FAILED",
              details.size() == 1
                  ? absl::StrCat("the config is not valid: ", details[0].message)
                  : absl::StrCat("the config is not valid (", details.size(), " problems)"),
              details);
    return std::nullopt;
  }
  checked.merged_config_json = validated.merged_config_json();
  checked.secret_fields.assign(validated.secret_fields().begin(), validated.secret_fields().end());
  checked.delivery_settings = validated.delivery().SerializeAsString();
  checked.variant = validated.variant().empty() ? variant : validated.variant();

  v1::CheckCredentialsRequest check_request;
  check_request.set_config_json(validated.merged_config_json());
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline(options_.credentials_timeout));
    grpc::Status status =
        plugin.stub()->CheckCredentials(&context, check_request, &checked.credential_check);
    if (!status.ok()) {
      LogError(absl::StrCat("plugin ", entry.key(),
                            " CheckCredentials failed: ", status.error_message()));
      SendError(res, 502, "VENDOR_UNREACHABLE",
                absl::StrCat("the credential check did not complete: ", status.error_message()));
      return std::nullopt;
    }
  }
  const v1::CheckCredentialsResponse& check = checked.credential_check;
  std::string extra = absl::StrCat(R"("vendor_status":)", check.vendor_status(), R"(,"outcome":")",
                                   OutcomeName(check.outcome()), R"(")");
  switch (check.outcome()) {
    case v1::CheckCredentialsResponse::OK:
      return checked;
    case v1::CheckCredentialsResponse::INVALID_API_KEY:
    case v1::CheckCredentialsResponse::INVALID_WRITE_KEY:
    case v1::CheckCredentialsResponse::WRONG_WORKSPACE:
    case v1::CheckCredentialsResponse::WRONG_SOURCE:
      SendError(res, 422, "CREDENTIALS_REJECTED", check.message(), {}, extra);
      return std::nullopt;
    case v1::CheckCredentialsResponse::RATE_LIMITED: {
      uint32_t retry_after =
          check.retry_after_s() > 0 ? check.retry_after_s() : kDefaultVendorRetryAfterSeconds;
      res.SetHeader("Retry-After", absl::StrCat(retry_after));
      SendError(res, 503, "VENDOR_RATE_LIMITED", check.message(), {}, extra);
      return std::nullopt;
    }
    case v1::CheckCredentialsResponse::UNREACHABLE:
      SendError(res, 502, "VENDOR_UNREACHABLE", check.message(), {}, extra);
      return std::nullopt;
    default:
      SendError(res, 500, "INTERNAL",
                absl::StrCat("the ", entry.key(), " plugin gave no credential-check outcome"));
      return std::nullopt;
  }
}

// --- catalog ---------------------------------------------------------------------------

void AdminService::Impl::ListCatalog(const ApiRequest& req, ApiResponse& res, const Claims&) {
  auto page = ParsePage(req);
  if (!page.ok()) return SendError(res, 400, "BAD_REQUEST", StdView(page.status().message()));
  std::string after;
  if (!page->cursor.empty()) {
    std::optional<std::string> decoded = Base64UrlDecode(page->cursor);
    if (!decoded || decoded->rfind("k:", 0) != 0) {
      return SendError(res, 400, "BAD_REQUEST", "cursor is not one this API returned");
    }
    after = decoded->substr(2);
  }
  std::string category = req.Query("category");
  std::string query = req.Query("q");
  std::vector<const v1::CatalogEntry*> matches;
  for (const daemon::RegisteredPlugin* plugin : deps_.plugins->All()) {
    if (!after.empty() && plugin->key() <= after) continue;
    if (CatalogEntryMatches(plugin->entry, category, query)) matches.push_back(&plugin->entry);
  }
  std::string next_cursor;
  if (matches.size() > page->limit) {
    matches.resize(page->limit);
    next_cursor = Base64UrlEncode(absl::StrCat("k:", matches.back()->key()));
  }
  SendJson(res, 200, ListBody(next_cursor, [&](JsonWriter& writer) {
             for (const v1::CatalogEntry* entry : matches) WriteCatalogEntry(writer, *entry);
           }));
}

void AdminService::Impl::GetCatalogEntry(const ApiRequest& req, ApiResponse& res, const Claims&) {
  std::string key = req.path_params[0];
  const daemon::RegisteredPlugin* plugin = deps_.plugins->Find(key);
  if (plugin == nullptr) {
    return SendError(res, 404, "NOT_FOUND", absl::StrCat("no catalog entry \"", key, "\""));
  }
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  WriteCatalogEntry(writer, plugin->entry);
  SendJson(res, 200, std::string(buffer.GetString(), buffer.GetSize()));
}

void AdminService::Impl::Install(const ApiRequest& req, ApiResponse& res, const Claims& caller) {
  std::string key = req.path_params[0];
  const daemon::RegisteredPlugin* plugin = deps_.plugins->Find(key);
  if (plugin == nullptr) {
    return SendError(res, 404, "NOT_FOUND", absl::StrCat("no catalog entry \"", key, "\""));
  }
  std::optional<rapidjson::Document> body = BodyObject(req, res);
  if (!body) return;
  const v1::CatalogEntry& entry = plugin->entry;

  std::string name = entry.name();
  std::string variant = entry.variants_size() > 0 ? entry.variants(0).key() : "";
  std::string delivery_mode;
  std::string description;
  if (!OptionalText(*body, "name", TextKind::kName, kMaxNameBytes, name, res) ||
      !OptionalText(*body, "variant", TextKind::kIdentifier, kMaxIdentifierBytes, variant, res) ||
      !OptionalText(*body, "delivery_mode", TextKind::kIdentifier, kMaxIdentifierBytes,
                    delivery_mode, res) ||
      !OptionalText(*body, "description", TextKind::kFreeText, kMaxDescriptionBytes, description,
                    res)) {
    return;
  }
  std::string config_json = "{}";
  if (auto it = body->FindMember("config"); it != body->MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsObject()) {
      return SendError(res, 400, "BAD_REQUEST", "\"config\" must be a JSON object");
    }
    config_json = ToJson(it->value);
  }
  if (NameTaken(caller.org_id, name)) {
    return SendError(res, 409, "CONFLICT",
                     absl::StrCat("an integration named \"", name, "\" already exists"));
  }

  std::optional<CheckedConfig> checked =
      ValidateAndCheck(*plugin, variant, config_json, delivery_mode, {}, res);
  if (!checked) return;

  int64_t now = NowMillis();
  IntegrationRecord integration;
  integration.id = NewId("tmpl");
  integration.org_id = caller.org_id;
  integration.name = name;
  integration.vendor = entry.key();
  integration.description = description;
  integration.catalog_vendor_key = entry.key();
  integration.catalog_variant_key = checked->variant;
  integration.current_revision = 1;
  integration.status = "active";
  integration.created_at_ms = now;
  integration.updated_at_ms = now;
  RevisionRecord revision;
  revision.id = NewId("rev");
  revision.integration_id = integration.id;
  revision.org_id = caller.org_id;
  revision.revision_number = 1;
  revision.config_json = std::move(checked->merged_config_json);
  revision.secret_fields = std::move(checked->secret_fields);
  revision.delivery_mode = checked->delivery_mode;
  revision.delivery_settings = std::move(checked->delivery_settings);
  revision.change_summary = "Installed from the catalog";
  revision.created_by = caller.sub;
  revision.created_at_ms = now;
  if (absl::Status status = deps_.configs->CreateIntegration(integration, revision); !status.ok()) {
    if (status.code() == absl::StatusCode::kAlreadyExists) {
      return SendError(res, 409, "CONFLICT",
                       absl::StrCat("an integration named \"", name, "\" already exists"));
    }
    return SendStoreError(res, status, "integration");
  }
  AfterChange(integration.id);
  LogInfo(absl::StrCat("installed ", entry.key(), " as ", integration.id, " (\"", name, "\") for ",
                       caller.org_id, " by ", caller.sub));
  SendJson(res, 201, IntegrationJson(integration, &revision, &checked->credential_check));
}

// --- integrations and revisions ---------------------------------------------------------

void AdminService::Impl::ListIntegrations(const ApiRequest& req, ApiResponse& res,
                                          const Claims& caller) {
  auto page = ParsePage(req);
  if (!page.ok()) return SendError(res, 400, "BAD_REQUEST", StdView(page.status().message()));
  auto result = deps_.configs->ListIntegrations(caller.org_id, *page);
  if (!result.ok()) return SendStoreError(res, result.status(), "integrations");
  SendJson(res, 200, ListBody(result->next_cursor, [&](JsonWriter& writer) {
             for (const IntegrationRecord& integration : result->items) {
               writer.StartObject();
               WriteIntegrationMembers(writer, integration);
               WriteKey(writer, "queue_depth");
               writer.Uint64(QueueDepth(integration.id));
               writer.EndObject();
             }
           }));
}

void AdminService::Impl::GetIntegration(const ApiRequest& req, ApiResponse& res,
                                        const Claims& caller) {
  std::optional<IntegrationRecord> integration = OwnIntegration(req.path_params[0], caller, res);
  if (!integration) return;
  auto revision = deps_.configs->GetRevision(integration->id, integration->current_revision);
  if (!revision.ok()) return SendStoreError(res, revision.status(), "current revision");
  SendJson(res, 200, IntegrationJson(*integration, &*revision, nullptr));
}

void AdminService::Impl::DeleteIntegration(const ApiRequest& req, ApiResponse& res,
                                           const Claims& caller) {
  std::optional<IntegrationRecord> integration = OwnIntegration(req.path_params[0], caller, res);
  if (!integration) return;
  if (absl::Status status = deps_.configs->DeleteIntegration(caller.org_id, integration->id);
      !status.ok()) {
    return SendStoreError(res, status, absl::StrCat("integration ", integration->id));
  }
  AfterChange(integration->id);
  LogInfo(absl::StrCat("deleted integration ", integration->id, " (\"", integration->name,
                       "\") by ", caller.sub));
  res.status = 204;
}

void AdminService::Impl::ListRevisions(const ApiRequest& req, ApiResponse& res,
                                       const Claims& caller) {
  auto page = ParsePage(req);
  if (!page.ok()) return SendError(res, 400, "BAD_REQUEST", StdView(page.status().message()));
  std::optional<IntegrationRecord> integration = OwnIntegration(req.path_params[0], caller, res);
  if (!integration) return;
  auto result = deps_.configs->ListRevisions(integration->id, *page);
  if (!result.ok()) return SendStoreError(res, result.status(), "revisions");
  SendJson(res, 200, ListBody(result->next_cursor, [&](JsonWriter& writer) {
             for (const RevisionRecord& revision : result->items) WriteRevision(writer, revision);
           }));
}

void AdminService::Impl::GetRevision(const ApiRequest& req, ApiResponse& res,
                                     const Claims& caller) {
  const std::string& text = req.path_params[1];
  const bool digits = !text.empty() && std::all_of(text.begin(), text.end(),
                                                   [](char c) { return c >= '0' && c <= '9'; });
  int number = 0;
  if (!digits || text.find_first_not_of('0') == std::string::npos) {
    return SendError(res, 400, "BAD_REQUEST", "the revision number must be a positive integer");
  }
  std::optional<IntegrationRecord> integration = OwnIntegration(req.path_params[0], caller, res);
  if (!integration) return;
  // A positive number too large for any revision is simply not there.
  if (!absl::SimpleAtoi(text, &number)) {
    return SendError(res, 404, "NOT_FOUND", absl::StrCat("revision ", text, " not found"));
  }
  auto revision = deps_.configs->GetRevision(integration->id, number);
  if (!revision.ok()) {
    return SendStoreError(res, revision.status(), absl::StrCat("revision ", number));
  }
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  WriteRevision(writer, *revision);
  SendJson(res, 200, std::string(buffer.GetString(), buffer.GetSize()));
}

void AdminService::Impl::CreateRevision(const ApiRequest& req, ApiResponse& res,
                                        const Claims& caller) {
  std::optional<rapidjson::Document> body = BodyObject(req, res);
  if (!body) return;
  std::optional<IntegrationRecord> integration = OwnIntegration(req.path_params[0], caller, res);
  if (!integration) return;
  const daemon::RegisteredPlugin* plugin = deps_.plugins->Find(integration->vendor);
  if (plugin == nullptr) {
    return SendError(res, 409, "CONFLICT",
                     absl::StrCat("no loaded plugin serves \"", integration->vendor,
                                  "\"; load it before changing this integration"));
  }
  auto previous = deps_.configs->GetRevision(integration->id, integration->current_revision);
  if (!previous.ok()) return SendStoreError(res, previous.status(), "current revision");

  std::string change_summary;
  std::string delivery_mode = previous->delivery_mode;
  if (!OptionalText(*body, "change_summary", TextKind::kFreeText, kMaxSummaryBytes, change_summary,
                    res) ||
      !OptionalText(*body, "delivery_mode", TextKind::kIdentifier, kMaxIdentifierBytes,
                    delivery_mode, res)) {
    return;
  }
  auto config_it = body->FindMember("config");
  if (config_it == body->MemberEnd() || !config_it->value.IsObject()) {
    return SendError(res, 400, "BAD_REQUEST", "\"config\" must be a JSON object");
  }
  rapidjson::Value& config = config_it->value;

  // A secret sent back as "***" keeps the previous revision's value.
  std::vector<FieldDetail> details;
  auto previous_config = ParseJson(previous->config_json);
  if (!previous_config.ok() || !previous_config->IsObject()) {
    return SendError(res, 500, "INTERNAL", "the current revision's config cannot be read");
  }
  for (const std::string& field : previous->secret_fields) {
    auto it = config.FindMember(rapidjson::StringRef(field.data(), field.size()));
    if (it == config.MemberEnd() || !it->value.IsString() ||
        std::string_view(it->value.GetString(), it->value.GetStringLength()) != kMaskedSecret) {
      continue;
    }
    auto old = previous_config->FindMember(rapidjson::StringRef(field.data(), field.size()));
    if (old == previous_config->MemberEnd() || !old->value.IsString() ||
        old->value.GetStringLength() == 0) {
      details.push_back({field, "required",
                         absl::StrCat(field,
                                      " is \"***\" but no previous value exists; "
                                      "enter the secret")});
      continue;
    }
    it->value.SetString(old->value.GetString(), old->value.GetStringLength(), body->GetAllocator());
  }
  std::string config_json = ToJson(config);

  std::optional<CheckedConfig> checked =
      ValidateAndCheck(*plugin, integration->catalog_variant_key, config_json, delivery_mode,
                       std::move(details), res);
  if (!checked) return;

  RevisionRecord revision;
  revision.id = NewId("rev");
  revision.integration_id = integration->id;
  revision.org_id = caller.org_id;
  revision.revision_number = integration->current_revision + 1;
  revision.config_json = std::move(checked->merged_config_json);
  revision.secret_fields = std::move(checked->secret_fields);
  revision.delivery_mode = checked->delivery_mode;
  revision.delivery_settings = std::move(checked->delivery_settings);
  revision.change_summary = change_summary;
  revision.created_by = caller.sub;
  revision.created_at_ms = NowMillis();
  if (absl::Status status = deps_.configs->AddRevision(revision); !status.ok()) {
    return SendStoreError(res, status, "integration");
  }
  AfterChange(integration->id);
  auto updated = deps_.configs->GetIntegration(caller.org_id, integration->id);
  if (!updated.ok()) return SendStoreError(res, updated.status(), "integration");
  LogInfo(absl::StrCat("integration ", integration->id, " now at revision ",
                       revision.revision_number, " by ", caller.sub));
  SendJson(res, 201, IntegrationJson(*updated, &revision, &checked->credential_check));
}

// --- dead letters -----------------------------------------------------------------------

void AdminService::Impl::ListDeadLetters(const ApiRequest& req, ApiResponse& res,
                                         const Claims& caller) {
  auto page = ParsePage(req);
  if (!page.ok()) return SendError(res, 400, "BAD_REQUEST", StdView(page.status().message()));
  std::string integration_id = req.Query("integration_id");
  if (!integration_id.empty() && !OwnIntegration(integration_id, caller, res)) return;
  auto result = deps_.dead_letters->ListDeadLetters(integration_id, req.Query("reason"), *page);
  if (!result.ok()) return SendStoreError(res, result.status(), "dead letters");
  auto snapshot = deps_.directory->Current();
  SendJson(res, 200, ListBody(result->next_cursor, [&](JsonWriter& writer) {
             for (const DeadLetter& dead_letter : result->items) {
               const DirectoryEntry* owner =
                   deps_.directory->Find(*snapshot, dead_letter.integration_id);
               if (owner == nullptr || owner->org_id != caller.org_id) continue;
               WriteDeadLetter(writer, dead_letter);
             }
           }));
}

void AdminService::Impl::ReplayDeadLetters(const ApiRequest& req, ApiResponse& res,
                                           const Claims& caller) {
  std::optional<rapidjson::Document> body = BodyObject(req, res);
  if (!body) return;
  std::vector<int64_t> ids;
  std::string integration_id;
  std::string reason;
  if (auto it = body->FindMember("ids"); it != body->MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsArray()) {
      return SendError(res, 400, "BAD_REQUEST", "\"ids\" must be an array of dead-letter ids");
    }
    for (const rapidjson::Value& id : it->value.GetArray()) {
      std::optional<int64_t> parsed =
          id.IsString() ? ParseDeadLetterId(std::string_view(id.GetString(), id.GetStringLength()))
                        : std::nullopt;
      if (!parsed) {
        return SendError(res, 400, "BAD_REQUEST",
                         "every entry of \"ids\" must be a dead-letter id (\"dl_...\")");
      }
      ids.push_back(*parsed);
    }
    if (ids.empty()) return SendError(res, 400, "BAD_REQUEST", "\"ids\" is empty");
  }
  if (!OptionalText(*body, "integration_id", TextKind::kIdentifier, kMaxIdentifierBytes,
                    integration_id, res) ||
      !OptionalText(*body, "reason", TextKind::kIdentifier, kMaxReasonBytes, reason, res)) {
    return;
  }
  if (ids.empty() && integration_id.empty()) {
    return SendError(res, 400, "BAD_REQUEST",
                     "give \"ids\", or \"integration_id\" (and optionally \"reason\")");
  }
  if (!integration_id.empty() && !OwnIntegration(integration_id, caller, res)) return;
  // Scoped to the caller's org: dead-letter ids are sequential and easy to guess.
  auto replayed = deps_.dead_letters->ReplayDeadLetters(
      caller.org_id, ids.empty() ? integration_id : "", ids.empty() ? reason : "", ids);
  if (!replayed.ok()) return SendStoreError(res, replayed.status(), "dead letters");
  if (deps_.engine != nullptr && *replayed > 0) {
    auto snapshot = deps_.directory->Current();
    for (const DirectoryEntry& entry : snapshot->entries) {
      if (entry.org_id == caller.org_id) deps_.engine->Notify(entry.id);
    }
  }
  LogInfo(absl::StrCat("replayed ", *replayed, " dead letters by ", caller.sub));
  SendJson(res, 200, absl::StrCat(R"({"replayed":)", *replayed, "}"));
}

// --- live events ------------------------------------------------------------------------

void AdminService::Impl::ListLiveEvents(const ApiRequest& req, ApiResponse& res,
                                        const Claims& caller) {
  auto page = ParsePage(req);
  if (!page.ok()) return SendError(res, 400, "BAD_REQUEST", StdView(page.status().message()));
  std::string integration_id = req.Query("integration_id");
  if (!integration_id.empty() && !OwnIntegration(integration_id, caller, res)) return;
  auto result = deps_.attempts->ListAttempts(integration_id, req.Query("message_id"),
                                             req.Query("outcome"), *page);
  if (!result.ok()) return SendStoreError(res, result.status(), "live events");
  auto snapshot = deps_.directory->Current();
  SendJson(res, 200, ListBody(result->next_cursor, [&](JsonWriter& writer) {
             for (const AttemptRecord& attempt : result->items) {
               const DirectoryEntry* owner =
                   deps_.directory->Find(*snapshot, attempt.integration_id);
               if (owner == nullptr || owner->org_id != caller.org_id) continue;
               WriteAttempt(writer, attempt, owner->name);
             }
           }));
}

namespace {

// One live-event stream: attempts from the hub, filtered and framed as SSE.
class LiveEventStream final : public ResponseStream {
 public:
  LiveEventStream(AttemptHub* hub, IntegrationDirectory* directory, std::string org_id,
                  std::string integration_id, std::string outcome,
                  std::chrono::milliseconds keepalive, std::atomic<int>* open_streams)
      : open_streams_(open_streams),
        hub_(hub),
        directory_(directory),
        subscription_(hub->Subscribe()),
        org_id_(std::move(org_id)),
        integration_id_(std::move(integration_id)),
        outcome_(std::move(outcome)),
        keepalive_(keepalive) {}

  bool Next(std::string& chunk) override {
    if (!greeted_) {
      // A comment first, so the client sees the stream open at once.
      greeted_ = true;
      chunk += ": live events\n\n";
      last_write_ = std::chrono::steady_clock::now();
      return true;
    }
    std::optional<AttemptRecord> attempt = subscription_->Next(std::chrono::milliseconds(500));
    if (subscription_->closed()) return false;
    auto now = std::chrono::steady_clock::now();
    if (attempt && Wanted(*attempt)) {
      auto snapshot = directory_->Current();
      const DirectoryEntry* owner = directory_->Find(*snapshot, attempt->integration_id);
      rapidjson::StringBuffer buffer;
      JsonWriter writer(buffer);
      WriteAttempt(writer, *attempt, owner != nullptr ? owner->name : "");
      chunk += "event: attempt\ndata: ";
      chunk.append(buffer.GetString(), buffer.GetSize());
      chunk += "\n\n";
      last_write_ = now;
    } else if (now - last_write_ >= keepalive_) {
      chunk += ": keep-alive\n\n";
      last_write_ = now;
    }
    return true;
  }

  void Close() override {
    hub_->Unsubscribe(subscription_);
    if (!closed_) {
      closed_ = true;
      open_streams_->fetch_sub(1);
    }
  }

 private:
  bool Wanted(const AttemptRecord& attempt) const {
    if (!integration_id_.empty() && attempt.integration_id != integration_id_) return false;
    if (!outcome_.empty() && attempt.outcome != outcome_) return false;
    auto snapshot = directory_->Current();
    const DirectoryEntry* owner = directory_->Find(*snapshot, attempt.integration_id);
    return owner != nullptr && owner->org_id == org_id_;
  }

  std::atomic<int>* const open_streams_;  // counted by the caller, released in Close()
  bool closed_ = false;
  AttemptHub* const hub_;
  IntegrationDirectory* const directory_;
  const std::shared_ptr<AttemptHub::Subscription> subscription_;
  const std::string org_id_;
  const std::string integration_id_;
  const std::string outcome_;
  const std::chrono::milliseconds keepalive_;
  bool greeted_ = false;
  std::chrono::steady_clock::time_point last_write_;
};

}  // namespace

void AdminService::Impl::StreamLiveEvents(const ApiRequest& req, ApiResponse& res,
                                          const Claims& caller) {
  std::string integration_id = req.Query("integration_id");
  if (!integration_id.empty() && !OwnIntegration(integration_id, caller, res)) return;
  if (open_streams_.fetch_add(1) >= options_.max_live_streams) {
    open_streams_.fetch_sub(1);
    return SendError(res, 503, "UNAVAILABLE",
                     absl::StrCat("already ", options_.max_live_streams,
                                  " live-event streams are open; close one, or poll "
                                  "/v1/admin/live-events"));
  }
  res.status = 200;
  res.content_type = "text/event-stream";
  res.SetHeader("Cache-Control", "no-cache");
  res.SetHeader("X-Accel-Buffering", "no");
  res.stream = std::make_shared<LiveEventStream>(deps_.hub, deps_.directory, caller.org_id,
                                                 integration_id, req.Query("outcome"),
                                                 options_.stream_keepalive, &open_streams_);
}

}  // namespace signal_host::api
