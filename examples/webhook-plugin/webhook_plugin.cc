// A minimal Signal integration plugin: posts batches of Signal events as JSON to one
// webhook URL. It shows the whole contract (docs/PLUGINS.md) in one file:
//   - the C ABI entry point, the only exported symbol, at the bottom;
//   - the six RPCs of signal.integration.v1.Integration, each pure except
//     CheckCredentials, none throwing (every body runs inside Guarded);
//   - no queue, no retry loop, no socket: the host owns all of that.
//
// Config: {"url": "https://example.com/hook", "authorization": "Bearer ..."} where
// authorization is optional and secret. Each request body is {"batch": [event, ...]}
// with the events' own bytes, so large integers and key order arrive unchanged.
#include <grpcpp/grpcpp.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/util/json_util.h"
#include "signal/integration/v1/integration.grpc.pb.h"
#include "signal_plugin_abi.h"

namespace webhook {
namespace {

namespace v1 = signal::integration::v1;
using google::protobuf::Struct;

constexpr char kKey[] = "webhook";
constexpr uint32_t kMaxEventsPerRequest = 100;
constexpr size_t kMaxEventBytes = 64 * 1024;
constexpr uint64_t kMaxRetryAfterSeconds = 300;

v1::CatalogEntry MakeCatalogEntry() {
  v1::CatalogEntry entry;
  entry.set_key(kKey);
  entry.set_name("Webhook");
  entry.set_description("Posts every event, in JSON batches, to an HTTP endpoint of yours.");
  entry.set_category("other");
  entry.set_status("alpha");
  entry.set_website("https://example.com/docs/webhook");
  entry.set_initials("WH");
  entry.set_brand_color("#334155");
  entry.add_delivery_modes("server_side");

  v1::ConfigField* url = entry.add_config_fields();
  url->set_key("url");
  url->set_label("Endpoint URL");
  url->set_type("string");
  url->set_required(true);
  url->set_placeholder("https://example.com/hooks/signal");
  url->set_help_text("The http:// or https:// address that receives POST requests.");

  v1::ConfigField* authorization = entry.add_config_fields();
  authorization->set_key("authorization");
  authorization->set_label("Authorization header");
  authorization->set_type("secret");
  authorization->set_placeholder("Bearer ...");
  authorization->set_help_text("Sent as the Authorization header when set.");

  v1::Variant* variant = entry.add_variants();
  variant->set_key("default");
  variant->set_name("Default");
  variant->set_description("Batches of up to 100 events.");
  variant->set_default_config_json("{}");

  for (const char* type : {"page", "track", "identify", "group"}) {
    v1::EventMapping* mapping = entry.add_event_mappings();
    mapping->set_signal_event(type);
    mapping->set_vendor_concept("JSON object in the batch");
    mapping->set_notes("The Signal event exactly as received.");
  }
  return entry;
}

// The string member `name` of a JSON object, or "" when absent or not a string.
std::string StringMember(const Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  if (it == object.fields().end() || !it->second.has_string_value()) return "";
  return it->second.string_value();
}

bool ParseObject(const std::string& json, Struct& out) {
  return google::protobuf::util::JsonStringToMessage(json, &out).ok();
}

void AddHeader(v1::HttpRequest& request, const std::string& name, const std::string& value) {
  v1::Header* header = request.add_headers();
  header->set_name(name);
  header->set_value(value);
}

// Runs one RPC body so that no exception reaches gRPC or the host.
template <typename Body>
grpc::Status Guarded(Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "unknown exception");
  }
}

class WebhookService final : public v1::Integration::Service {
 public:
  WebhookService() : entry_(MakeCatalogEntry()) {}

  grpc::Status Handshake(grpc::ServerContext*, const v1::HandshakeRequest*,
                         v1::HandshakeResponse* response) override {
    return Guarded([&] {
      response->set_interface_version(v1::INTERFACE_VERSION_CURRENT);
      response->set_plugin_name(entry_.name());
      response->set_plugin_version(WEBHOOK_PLUGIN_VERSION);
      response->set_catalog_key(kKey);
      return grpc::Status::OK;
    });
  }

  grpc::Status Describe(grpc::ServerContext*, const v1::DescribeRequest*,
                        v1::DescribeResponse* response) override {
    return Guarded([&] {
      *response->mutable_entry() = entry_;
      return grpc::Status::OK;
    });
  }

  grpc::Status ValidateConfig(grpc::ServerContext*, const v1::ValidateConfigRequest* request,
                              v1::ValidateConfigResponse* response) override {
    return Guarded([&] {
      response->set_variant("default");
      if (!request->variant().empty() && request->variant() != "default") {
        Violation(*response, "variant", "unknown_option", "the only variant is \"default\"");
      }
      Struct config;
      if (!ParseObject(request->config_json(), config)) {
        Violation(*response, "config", "wrong_type", "the config must be a JSON object");
      } else {
        for (const auto& [name, value] : config.fields()) {
          if (name != "url" && name != "authorization") {
            Violation(*response, name, "unknown_field", "not a setting of this integration");
          }
        }
        const std::string url = StringMember(config, "url");
        if (url.empty()) {
          Violation(*response, "url", "required", "the endpoint URL is required");
        } else if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
          Violation(*response, "url", "invalid_format", "the URL must start with http(s)://");
        }
      }
      response->set_valid(response->violations_size() == 0);
      // The default variant adds nothing, so the merged config is the user's.
      response->set_merged_config_json(request->config_json());
      response->add_secret_fields("authorization");
      FillDeliverySettings(*response->mutable_delivery());
      return grpc::Status::OK;
    });
  }

  // A webhook has no credential to probe without sending an event, which this RPC must
  // never do; the first delivery's answer tells (401/403 hold the integration).
  grpc::Status CheckCredentials(grpc::ServerContext*, const v1::CheckCredentialsRequest*,
                                v1::CheckCredentialsResponse* response) override {
    return Guarded([&] {
      response->set_outcome(v1::CheckCredentialsResponse::OK);
      response->set_message("not probed: the first delivery checks the endpoint");
      response->set_probe("none");
      return grpc::Status::OK;
    });
  }

  grpc::Status Translate(grpc::ServerContext*, const v1::TranslateRequest* request,
                         v1::TranslateResponse* response) override {
    return Guarded([&] {
      Struct config;
      if (!ParseObject(request->config_json(), config) || StringMember(config, "url").empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid config");
      }
      const std::string url = StringMember(config, "url");
      const std::string authorization = StringMember(config, "authorization");

      v1::HttpRequest* current = nullptr;
      std::string* body = nullptr;
      for (int index = 0; index < request->events_size(); ++index) {
        const std::string& event = request->events(index);
        Struct parsed;
        if (event.size() > kMaxEventBytes) {
          Reject(*response, index, "", "event_too_large", "the event is over 64 KiB");
          continue;
        }
        if (!ParseObject(event, parsed)) {
          Reject(*response, index, "", "invalid_json", "the event is not a JSON object");
          continue;
        }
        if (current == nullptr || current->event_indexes_size() == kMaxEventsPerRequest) {
          if (body != nullptr) body->append("]}");
          current = response->add_requests();
          current->set_method("POST");
          current->set_url(url);
          AddHeader(*current, "Content-Type", "application/json");
          AddHeader(*current, "User-Agent", "signal-webhook/" WEBHOOK_PLUGIN_VERSION);
          if (!authorization.empty()) AddHeader(*current, "Authorization", authorization);
          body = current->mutable_body();
          body->append("{\"batch\":[");
        } else {
          body->push_back(',');
        }
        body->append(event);
        current->add_message_ids(StringMember(parsed, "messageId"));
        current->add_event_indexes(static_cast<uint32_t>(index));
      }
      if (body != nullptr) body->append("]}");
      return grpc::Status::OK;
    });
  }

  grpc::Status Classify(grpc::ServerContext*, const v1::ClassifyRequest* request,
                        v1::ClassifyResponse* response) override {
    return Guarded([&] {
      const int status = request->http_status();
      response->set_code(status == 0 ? "network_error" : "http_" + std::to_string(status));
      if (status >= 200 && status < 300) {
        response->set_outcome(v1::ClassifyResponse::DELIVERED);
      } else if (status == 0 || status >= 500) {
        response->set_outcome(v1::ClassifyResponse::TRANSIENT);
        response->set_message(status == 0 ? request->transport_error() : "the endpoint failed");
      } else if (status == 408 || status == 429) {
        response->set_outcome(v1::ClassifyResponse::THROTTLE);
        response->set_retry_after_ms(RetryAfterSeconds(*request) * 1000);
        response->set_message("the endpoint asked to slow down");
      } else if (status == 401 || status == 403 || status == 404) {
        response->set_outcome(v1::ClassifyResponse::SETUP_FAILURE);
        response->set_message("the endpoint refused the request: check the URL and header");
      } else if (request->event_count() > 1) {
        response->set_outcome(v1::ClassifyResponse::SPLIT);
      } else {
        response->set_outcome(v1::ClassifyResponse::REJECT);
        response->set_message("the endpoint refused the event");
      }
      return grpc::Status::OK;
    });
  }

 private:
  static void Violation(v1::ValidateConfigResponse& response, const std::string& field,
                        const std::string& code, const std::string& message) {
    v1::FieldViolation* violation = response.add_violations();
    violation->set_field(field);
    violation->set_code(code);
    violation->set_message(message);
  }

  static void Reject(v1::TranslateResponse& response, int index, const std::string& message_id,
                     const std::string& reason, const std::string& message) {
    v1::Rejection* rejection = response.add_rejections();
    rejection->set_event_index(static_cast<uint32_t>(index));
    rejection->set_message_id(message_id);
    rejection->set_reason(reason);
    rejection->set_message(message);
  }

  static void FillDeliverySettings(v1::DeliverySettings& delivery) {
    delivery.set_max_events_per_request(kMaxEventsPerRequest);
    delivery.set_max_bytes_per_request(8 * 1024 * 1024);
    delivery.set_max_event_bytes(kMaxEventBytes);
    delivery.set_batch_interval_ms(1000);
    delivery.set_rate_limit_rps(50);
    delivery.set_rate_limit_burst(100);
    delivery.set_connect_timeout_ms(5000);
    delivery.set_request_timeout_ms(15000);
    v1::RetryPolicy* retry = delivery.mutable_retry();
    retry->set_max_attempts(5);
    retry->set_retry_window_s(3600);
    retry->set_initial_backoff_ms(1000);
    retry->set_max_backoff_ms(60000);
    retry->set_max_retry_after_s(kMaxRetryAfterSeconds);
  }

  // Retry-After in whole seconds (an HTTP-date is treated as 1 s), capped.
  static uint64_t RetryAfterSeconds(const v1::ClassifyRequest& request) {
    for (const v1::Header& header : request.headers()) {
      if (header.name().size() != 11) continue;
      std::string name = header.name();
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name != "retry-after") continue;
      char* end = nullptr;
      const unsigned long long seconds = std::strtoull(header.value().c_str(), &end, 10);
      if (end == header.value().c_str()) return 1;
      return seconds < kMaxRetryAfterSeconds ? seconds : kMaxRetryAfterSeconds;
    }
    return 1;
  }

  const v1::CatalogEntry entry_;
};

// Copies a message into the host's buffer, NUL-terminated and truncated to fit.
void WriteError(std::string_view message, char* error, size_t capacity) {
  if (error == nullptr || capacity == 0) return;
  const size_t length = message.size() < capacity - 1 ? message.size() : capacity - 1;
  message.copy(error, length);
  error[length] = '\0';
}

void* CreateService(const signal_plugin_option*, size_t option_count, char* error,
                    size_t error_capacity) {
  if (option_count > 0) {
    WriteError("the webhook plugin takes no options", error, error_capacity);
    return nullptr;
  }
  try {
    return static_cast<grpc::Service*>(new WebhookService());
  } catch (const std::exception& e) {
    WriteError(e.what(), error, error_capacity);
    return nullptr;
  }
}

void DestroyService(void* service) { delete static_cast<grpc::Service*>(service); }

}  // namespace
}  // namespace webhook

extern "C" __attribute__((visibility("default"))) const signal_plugin_descriptor*
signal_plugin_descriptor_v1(void) {
  try {
    static const std::string protobuf_version = std::to_string(GOOGLE_PROTOBUF_VERSION);
    static const std::string grpc_version = grpc::Version();
    static const signal_plugin_descriptor descriptor = {
        SIGNAL_PLUGIN_ABI_VERSION,   SIGNAL_PLUGIN_INTERFACE_NAME, webhook::kKey,
        WEBHOOK_PLUGIN_VERSION,      protobuf_version.c_str(),     grpc_version.c_str(),
        &webhook::CreateService,     &webhook::DestroyService,
    };
    return &descriptor;
  } catch (...) {
    return nullptr;
  }
}
