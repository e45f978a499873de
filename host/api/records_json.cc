#include "records_json.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "signal/integration/v1/integration.pb.h"

namespace signal_host::api {
namespace {

void Member(JsonWriter& writer, std::string_view key, std::string_view value) {
  WriteKey(writer, key);
  WriteString(writer, value);
}

// Embeds `text` as JSON when it is a valid JSON value, else as a string.
void WriteJsonOrString(JsonWriter& writer, std::string_view text) {
  if (!text.empty()) {
    auto parsed = ParseJson(text);
    if (parsed.ok()) {
      parsed->Accept(writer);
      return;
    }
  }
  WriteString(writer, text);
}

}  // namespace

void WriteIntegrationMembers(JsonWriter& writer, const IntegrationRecord& integration) {
  Member(writer, "id", integration.id);
  Member(writer, "org_id", integration.org_id);
  Member(writer, "name", integration.name);
  Member(writer, "vendor", integration.vendor);
  Member(writer, "description", integration.description);
  Member(writer, "catalog_vendor_key", integration.catalog_vendor_key);
  Member(writer, "catalog_variant_key", integration.catalog_variant_key);
  WriteKey(writer, "current_revision");
  writer.Int(integration.current_revision);
  Member(writer, "status", integration.status);
  Member(writer, "status_reason", integration.status_reason);
  Member(writer, "created_at", IsoMillis(integration.created_at_ms));
  Member(writer, "updated_at", IsoMillis(integration.updated_at_ms));
}

absl::StatusOr<std::string> MaskedConfigJson(std::string_view config_json,
                                             const std::vector<std::string>& secret_fields) {
  auto document = ParseJson(config_json);
  if (!document.ok()) return document.status();
  if (!document->IsObject()) return absl::InternalError("stored config is not a JSON object");
  for (const std::string& field : secret_fields) {
    auto it = document->FindMember(rapidjson::StringRef(field.data(), field.size()));
    if (it == document->MemberEnd()) continue;
    // An empty secret is shown as empty: masking it would claim a value is set.
    if (it->value.IsString() && it->value.GetStringLength() == 0) continue;
    if (it->value.IsNull()) continue;
    it->value.SetString(kMaskedSecret.data(), kMaskedSecret.size());
  }
  return ToJson(*document);
}

void WriteDeliverySettings(JsonWriter& writer, std::string_view serialized) {
  signal::integration::v1::DeliverySettings settings;
  writer.StartObject();
  if (settings.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) {
    WriteKey(writer, "max_events_per_request");
    writer.Uint(settings.max_events_per_request());
    WriteKey(writer, "max_bytes_per_request");
    writer.Uint(settings.max_bytes_per_request());
    WriteKey(writer, "max_event_bytes");
    writer.Uint(settings.max_event_bytes());
    WriteKey(writer, "batch_interval_ms");
    writer.Uint(settings.batch_interval_ms());
    WriteKey(writer, "rate_limit_rps");
    writer.Double(settings.rate_limit_rps());
    WriteKey(writer, "rate_limit_burst");
    writer.Uint(settings.rate_limit_burst());
    WriteKey(writer, "retry");
    writer.StartObject();
    WriteKey(writer, "max_attempts");
    writer.Uint(settings.retry().max_attempts());
    WriteKey(writer, "retry_window_s");
    writer.Uint64(settings.retry().retry_window_s());
    WriteKey(writer, "initial_backoff_ms");
    writer.Uint(settings.retry().initial_backoff_ms());
    WriteKey(writer, "max_backoff_ms");
    writer.Uint(settings.retry().max_backoff_ms());
    WriteKey(writer, "max_retry_after_s");
    writer.Uint(settings.retry().max_retry_after_s());
    writer.EndObject();
    Member(writer, "consent_category", settings.consent_category());
    WriteKey(writer, "connect_timeout_ms");
    writer.Uint(settings.connect_timeout_ms());
    WriteKey(writer, "request_timeout_ms");
    writer.Uint(settings.request_timeout_ms());
  }
  writer.EndObject();
}

void WriteRevision(JsonWriter& writer, const RevisionRecord& revision) {
  writer.StartObject();
  Member(writer, "id", revision.id);
  Member(writer, "integration_id", revision.integration_id);
  Member(writer, "org_id", revision.org_id);
  WriteKey(writer, "revision_number");
  writer.Int(revision.revision_number);
  WriteKey(writer, "config");
  auto masked = MaskedConfigJson(revision.config_json, revision.secret_fields);
  if (masked.ok()) {
    WriteRawJson(writer, *masked);
  } else {
    // Never fall back to the raw config: it holds secrets.
    writer.StartObject();
    writer.EndObject();
  }
  WriteKey(writer, "secret_fields");
  writer.StartArray();
  for (const std::string& field : revision.secret_fields) WriteString(writer, field);
  writer.EndArray();
  Member(writer, "delivery_mode", revision.delivery_mode);
  WriteKey(writer, "delivery_settings");
  WriteDeliverySettings(writer, revision.delivery_settings);
  Member(writer, "change_summary", revision.change_summary);
  Member(writer, "created_by", revision.created_by);
  Member(writer, "created_at", IsoMillis(revision.created_at_ms));
  writer.EndObject();
}

std::string DeadLetterId(int64_t id) { return absl::StrCat("dl_", id); }

std::optional<int64_t> ParseDeadLetterId(std::string_view text) {
  if (text.substr(0, 3) != "dl_") return std::nullopt;
  int64_t id = 0;
  if (!absl::SimpleAtoi(AbslView(text.substr(3)), &id) || id <= 0) return std::nullopt;
  return id;
}

void WriteDeadLetter(JsonWriter& writer, const DeadLetter& dead_letter) {
  writer.StartObject();
  Member(writer, "id", DeadLetterId(dead_letter.id));
  Member(writer, "integration_id", dead_letter.integration_id);
  Member(writer, "message_id", dead_letter.message_id);
  Member(writer, "reason", dead_letter.reason);
  Member(writer, "message", dead_letter.message);
  WriteKey(writer, "last_status");
  writer.Int(dead_letter.last_status);
  Member(writer, "last_response", dead_letter.last_response);
  WriteKey(writer, "attempts");
  writer.Uint(dead_letter.attempts);
  Member(writer, "created_at", IsoMillis(dead_letter.created_at_ms));
  WriteKey(writer, "replayed");
  writer.Bool(dead_letter.replayed);
  WriteKey(writer, "event");
  WriteJsonOrString(writer, dead_letter.payload);
  writer.EndObject();
}

std::string AttemptId(int64_t id) { return absl::StrCat("att_", id); }

void WriteAttempt(JsonWriter& writer, const AttemptRecord& attempt,
                  std::string_view integration_name) {
  writer.StartObject();
  Member(writer, "id", AttemptId(attempt.id));
  Member(writer, "integration_id", attempt.integration_id);
  Member(writer, "integration_name", integration_name);
  WriteKey(writer, "message_ids");
  writer.StartArray();
  for (const std::string& id : attempt.message_ids) WriteString(writer, id);
  writer.EndArray();
  WriteKey(writer, "event_types");
  writer.StartArray();
  for (absl::string_view type : absl::StrSplit(attempt.event_types, ',', absl::SkipEmpty())) {
    WriteString(writer, StdView(type));
  }
  writer.EndArray();
  WriteKey(writer, "attempt");
  writer.Uint(attempt.attempt);
  WriteKey(writer, "http_status");
  writer.Int(attempt.http_status);
  WriteKey(writer, "latency_ms");
  writer.Int64(attempt.latency_ms);
  Member(writer, "outcome", attempt.outcome);
  Member(writer, "message", attempt.message);
  WriteKey(writer, "request");
  WriteJsonOrString(writer, attempt.request);
  Member(writer, "response", attempt.response);
  Member(writer, "created_at", IsoMillis(attempt.created_at_ms));
  writer.EndObject();
}

}  // namespace signal_host::api
