#include "service.h"

#include <exception>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "catalog.h"
#include "classify.h"
#include "credentials.h"

namespace signal_hightouch {
namespace {

namespace v1 = signal::integration::v1;

// Enough for every install a host is likely to drive at once; beyond it the least
// recently used parsed config is dropped and simply parsed again when it returns.
constexpr size_t kConfigCacheSize = 16;
// Idle Translators kept for reuse; more concurrent calls than this just build new ones.
constexpr size_t kMaxIdleSlots = 16;

// Runs one RPC body so that no exception reaches gRPC (or the host behind it).
template <typename Body>
grpc::Status Guarded(absl::string_view rpc, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat(rpc, " failed: ", e.what()));
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat(rpc, " failed with an unknown exception"));
  }
}

grpc::Status InvalidConfig(const absl::Status& status) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("invalid config: ", status.message()));
}

void AddHeader(v1::HttpRequest& request, std::string_view name, std::string_view value) {
  v1::Header* header = request.add_headers();
  header->set_name(std::string(name));
  header->set_value(std::string(value));
}

}  // namespace

IntegrationService::IntegrationService(PluginOptions options, const v1::CatalogEntry* entry)
    : options_(std::move(options)),
      entry_(entry),
      user_agent_(absl::StrCat("signal-hightouch/", SIGNAL_HIGHTOUCH_VERSION)) {}

IntegrationService::~IntegrationService() = default;

grpc::Status IntegrationService::Handshake(grpc::ServerContext*, const v1::HandshakeRequest*,
                                           v1::HandshakeResponse* response) {
  return Guarded("Handshake", [&] {
    response->set_interface_version(v1::INTERFACE_VERSION_CURRENT);
    response->set_plugin_name(entry_->name());
    response->set_plugin_version(SIGNAL_HIGHTOUCH_VERSION);
    response->set_catalog_key(entry_->key());
    return grpc::Status::OK;
  });
}

grpc::Status IntegrationService::Describe(grpc::ServerContext*, const v1::DescribeRequest*,
                                          v1::DescribeResponse* response) {
  return Guarded("Describe", [&] {
    *response->mutable_entry() = *entry_;
    return grpc::Status::OK;
  });
}

grpc::Status IntegrationService::ValidateConfig(grpc::ServerContext*,
                                                const v1::ValidateConfigRequest* request,
                                                v1::ValidateConfigResponse* response) {
  return Guarded("ValidateConfig", [&] {
    *response =
        signal_hightouch::ValidateConfig(*entry_, request->variant(), request->config_json());
    return grpc::Status::OK;
  });
}

grpc::Status IntegrationService::CheckCredentials(grpc::ServerContext*,
                                                  const v1::CheckCredentialsRequest* request,
                                                  v1::CheckCredentialsResponse* response) {
  return Guarded("CheckCredentials", [&] {
    absl::StatusOr<HightouchConfig> config = ParseMergedConfig(*entry_, request->config_json());
    if (!config.ok()) return InvalidConfig(config.status());
    *response = signal_hightouch::CheckCredentials(*config, options_);
    return grpc::Status::OK;
  });
}

grpc::Status IntegrationService::Translate(grpc::ServerContext*,
                                           const v1::TranslateRequest* request,
                                           v1::TranslateResponse* response) {
  return Guarded("Translate", [&] { return TranslateUnguarded(*request, *response); });
}

grpc::Status IntegrationService::Classify(grpc::ServerContext*, const v1::ClassifyRequest* request,
                                          v1::ClassifyResponse* response) {
  return Guarded("Classify", [&] {
    *response = signal_hightouch::Classify(*request, kDefaultMaxRetryAfterSeconds);
    return grpc::Status::OK;
  });
}

grpc::Status IntegrationService::TranslateUnguarded(const v1::TranslateRequest& request,
                                                    v1::TranslateResponse& response) {
  absl::StatusOr<std::shared_ptr<const ParsedConfig>> parsed =
      ParsedConfigFor(request.config_json());
  if (!parsed.ok()) return InvalidConfig(parsed.status());
  const ParsedConfig& config = **parsed;

  // A slot that throws mid-call is dropped rather than returned half-used.
  std::unique_ptr<TranslateSlot> slot = AcquireSlot();
  slot->events.clear();
  slot->events.reserve(request.events_size());
  for (const std::string& event : request.events()) slot->events.emplace_back(event);
  TranslateOutput& out = slot->output;
  out.Clear();
  slot->translator.Translate(config.config, options_, slot->events, request.sent_at_unix_ms(), out);

  response.mutable_requests()->Reserve(static_cast<int>(out.request_count));
  for (size_t i = 0; i < out.request_count; ++i) {
    const TranslatedRequest& translated = out.requests[i];
    v1::HttpRequest* http = response.add_requests();
    http->set_method("POST");
    http->set_url(translated.url);
    AddHeader(*http, "Authorization", config.authorization);
    AddHeader(*http, "Content-Type", "application/json");
    AddHeader(*http, "User-Agent", user_agent_);
    http->set_body(translated.body);
    const size_t event_count = translated.event_indexes.size();
    http->mutable_message_ids()->Reserve(static_cast<int>(event_count));
    http->mutable_event_indexes()->Reserve(static_cast<int>(event_count));
    for (size_t e = 0; e < event_count; ++e) {
      http->add_message_ids(std::string(translated.message_id(e)));
      http->add_event_indexes(translated.event_indexes[e]);
    }
  }
  response.mutable_rejections()->Reserve(static_cast<int>(out.rejection_count));
  for (size_t i = 0; i < out.rejection_count; ++i) {
    const TranslatedRejection& translated = out.rejections[i];
    v1::Rejection* rejection = response.add_rejections();
    rejection->set_event_index(translated.event_index);
    rejection->set_message_id(translated.message_id);
    rejection->set_reason(std::string(translated.reason));
    rejection->set_message(translated.message);
  }
  ReleaseSlot(std::move(slot));
  return grpc::Status::OK;
}

absl::StatusOr<std::shared_ptr<const IntegrationService::ParsedConfig>>
IntegrationService::ParsedConfigFor(const std::string& json) {
  {
    std::lock_guard<std::mutex> lock(config_mutex_);
    for (size_t i = 0; i < config_cache_.size(); ++i) {
      if (config_cache_[i]->config_json == json) {
        std::shared_ptr<const ParsedConfig> hit = config_cache_[i];
        // Move to the front so the next lookup for the same install is the first compare.
        for (size_t j = i; j > 0; --j) config_cache_[j] = std::move(config_cache_[j - 1]);
        config_cache_[0] = hit;
        return hit;
      }
    }
  }
  // Parsed outside the lock: a miss must not stall other installs' translations.
  absl::StatusOr<HightouchConfig> config = ParseMergedConfig(*entry_, json);
  if (!config.ok()) return config.status();
  auto parsed = std::make_shared<ParsedConfig>();
  parsed->config_json = json;
  parsed->authorization = Translator::AuthorizationHeader(*config);
  parsed->config = *std::move(config);

  std::lock_guard<std::mutex> lock(config_mutex_);
  // Another call may have parsed the same bytes meanwhile; keep one entry per config.
  for (const auto& cached : config_cache_) {
    if (cached->config_json == json) return cached;
  }
  config_cache_.insert(config_cache_.begin(), parsed);
  if (config_cache_.size() > kConfigCacheSize) config_cache_.pop_back();
  return parsed;
}

std::unique_ptr<IntegrationService::TranslateSlot> IntegrationService::AcquireSlot() {
  {
    std::lock_guard<std::mutex> lock(slot_mutex_);
    if (!free_slots_.empty()) {
      std::unique_ptr<TranslateSlot> slot = std::move(free_slots_.back());
      free_slots_.pop_back();
      return slot;
    }
  }
  return std::make_unique<TranslateSlot>();
}

void IntegrationService::ReleaseSlot(std::unique_ptr<TranslateSlot> slot) {
  std::lock_guard<std::mutex> lock(slot_mutex_);
  if (free_slots_.size() < kMaxIdleSlots) free_slots_.push_back(std::move(slot));
}

}  // namespace signal_hightouch
