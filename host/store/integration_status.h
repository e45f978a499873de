// An integration's delivery status (the hold) as the delivery engine writes it:
// "active", "held" (a setup failure such as a revoked credential; events kept, not
// retried) or "disabled", with the reason operators see. A new revision
// (ConfigStore::AddRevision) clears a hold. With state shared between hosts
// (PostgreSQL), a hold written by one host is seen by all of them
// (config_changes.h), so every host stops sending for that integration.
//
// Thread-safe. Durable when it returns.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace signal_host {

class IntegrationStatusStore {
 public:
  virtual ~IntegrationStatusStore() = default;

  // NotFound for an unknown integration.
  virtual absl::Status SetStatus(std::string_view integration_id, std::string_view status,
                                 std::string_view reason) = 0;
};

}  // namespace signal_host
