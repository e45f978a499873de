// The admin API's JSON for stored records: integrations, revisions (secrets masked),
// dead letters and delivery attempts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/store/attempt_log.h"
#include "host/store/config_store.h"
#include "host/store/dead_letter_store.h"
#include "json_util.h"

namespace signal_host::api {

inline constexpr std::string_view kMaskedSecret = "***";

// Writes the members of an integration object (without braces, so callers can add
// queue_depth or the current revision).
void WriteIntegrationMembers(JsonWriter& writer, const IntegrationRecord& integration);

// `config_json` with every non-empty secret field replaced by "***". Fails only when
// the stored config is not a JSON object.
absl::StatusOr<std::string> MaskedConfigJson(std::string_view config_json,
                                             const std::vector<std::string>& secret_fields);

void WriteRevision(JsonWriter& writer, const RevisionRecord& revision);

// A serialized signal.integration.v1.DeliverySettings as an object.
void WriteDeliverySettings(JsonWriter& writer, std::string_view serialized);

// "dl_<n>" and back; nullopt for anything else.
std::string DeadLetterId(int64_t id);
std::optional<int64_t> ParseDeadLetterId(std::string_view text);
void WriteDeadLetter(JsonWriter& writer, const DeadLetter& dead_letter);

std::string AttemptId(int64_t id);
void WriteAttempt(JsonWriter& writer, const AttemptRecord& attempt,
                  std::string_view integration_name);

}  // namespace signal_host::api
