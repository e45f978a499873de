// Revision configs at rest: sealed with the host's SecretBox (AES-256-GCM under
// ENCRYPTION_KEY), the revision id as associated data, so a sealed config copied to
// another revision's row does not open. Shared by every ConfigStore implementation
// (SQLite, PostgreSQL) so both store the same form.
//
// Stateless; thread-safe as SecretBox is.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "host/crypto/secret_box.h"

namespace signal_host {

// InvalidArgument for a config too large to seal.
absl::StatusOr<std::string> SealRevisionConfig(const SecretBox& secrets,
                                               std::string_view config_json,
                                               std::string_view revision_id);

// The plaintext config; the error (DataLoss for a wrong key or a moved value) names the
// revision and never holds any of the config.
absl::StatusOr<std::string> OpenRevisionConfig(const SecretBox& secrets, std::string_view sealed,
                                               std::string_view revision_id);

}  // namespace signal_host
