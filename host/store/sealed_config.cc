#include "host/store/sealed_config.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace signal_host {

absl::StatusOr<std::string> SealRevisionConfig(const SecretBox& secrets,
                                               std::string_view config_json,
                                               std::string_view revision_id) {
  return secrets.Seal(config_json, revision_id);
}

absl::StatusOr<std::string> OpenRevisionConfig(const SecretBox& secrets, std::string_view sealed,
                                               std::string_view revision_id) {
  absl::StatusOr<std::string> config = secrets.Open(sealed, revision_id);
  if (!config.ok()) {
    return absl::Status(
        config.status().code(),
        absl::StrCat("revision ", absl::string_view(revision_id.data(), revision_id.size()),
                     " config: ", config.status().message()));
  }
  return *std::move(config);
}

}  // namespace signal_host
