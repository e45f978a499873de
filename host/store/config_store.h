// Configs as the admin API and the delivery engine see them: installed integrations
// (Signal's "integration templates") and their immutable revisions, whose configs
// are sealed at rest (AES-256-GCM, the revision id as associated data) and plaintext
// only in the records returned here.
//
// ConfigReader is the read side (the delivery engine, the integration directory);
// ConfigStore adds the admin API's writes. Pipelines are not stored: they come from
// the host's config file (host/daemon/config.h). An integration's delivery status
// (the hold) is written by the delivery engine through DeliveryQueue::SetStatus.
//
// Thread-safe. Every write is durable when it returns (on the disk, power loss
// included, with the SQLite store's synchronous=FULL). A write that fails changes
// nothing. Lists return InvalidArgument for a cursor they did not issue.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "host/store/page.h"

namespace signal_host {

// An installed integration (Signal's "integration template").
struct IntegrationRecord {
  std::string id;  // "tmpl_<26 chars>"
  std::string org_id;
  std::string name;    // unique within the org
  std::string vendor;  // catalog key, e.g. "hightouch"
  std::string description;
  std::string catalog_vendor_key;  // set when installed from the catalog
  std::string catalog_variant_key;
  int current_revision = 0;  // highest revision_number
  // Delivery status: "active", "held" (setup failure; events kept) or "disabled".
  std::string status = "active";
  std::string status_reason;  // why it is held, for operators
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// One immutable snapshot of an integration's config.
struct RevisionRecord {
  std::string id;  // "rev_<26 chars>"
  std::string integration_id;
  std::string org_id;
  int revision_number = 0;
  std::string config_json;  // merged config, plaintext in memory, sealed at rest
  std::vector<std::string> secret_fields;
  std::string delivery_mode;      // "server_side"
  std::string delivery_settings;  // serialized signal.integration.v1.DeliverySettings
  std::string change_summary;
  std::string created_by;  // user id (JWT sub)
  int64_t created_at_ms = 0;
};

class ConfigReader {
 public:
  virtual ~ConfigReader() = default;

  virtual absl::StatusOr<IntegrationRecord> GetIntegration(std::string_view org_id,
                                                           std::string_view id) = 0;
  // In creation order.
  virtual absl::StatusOr<PageResult<IntegrationRecord>> ListIntegrations(std::string_view org_id,
                                                                         const Page& page) = 0;
  // Every integration of every org (the delivery engine's view), in creation order.
  virtual absl::StatusOr<std::vector<IntegrationRecord>> AllIntegrations() = 0;
  virtual absl::StatusOr<RevisionRecord> GetRevision(std::string_view integration_id,
                                                     int revision_number) = 0;
  // Newest first.
  virtual absl::StatusOr<PageResult<RevisionRecord>> ListRevisions(std::string_view integration_id,
                                                                   const Page& page) = 0;
};

class ConfigStore : public ConfigReader {
 public:
  // Stores the template and its first revision together (both or neither); assigns
  // ids, numbers and times. A duplicate (org_id, name) is AlreadyExists.
  virtual absl::Status CreateIntegration(IntegrationRecord& integration,
                                         RevisionRecord& first_revision) = 0;
  // Deletes the integration, its revisions and its queued events.
  virtual absl::Status DeleteIntegration(std::string_view org_id, std::string_view id) = 0;
  // Appends a revision (number = current + 1) and makes it current; clears a hold.
  virtual absl::Status AddRevision(RevisionRecord& revision) = 0;
};

}  // namespace signal_host
