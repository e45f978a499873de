// The admin API calls the fault matrix makes: an integration's delivery state, its dead
// letters (every page), and a new revision.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "http_client.h"

namespace fault_matrix {

struct IntegrationState {
  std::string status;  // "active", "held", ...
  std::string status_reason;
  uint64_t queue_depth = 0;
};

absl::StatusOr<IntegrationState> GetIntegrationState(bench_harness::HttpClient& admin,
                                                     const std::string& admin_url,
                                                     const std::string& integration_id);

struct DeadLetter {
  std::string message_id;
  std::string reason;
};

// GET /v1/admin/dead-letters?integration_id=..., following next_cursor to the end.
absl::StatusOr<std::vector<DeadLetter>> ListDeadLetters(bench_harness::HttpClient& admin,
                                                        const std::string& admin_url,
                                                        const std::string& integration_id);

// POST /v1/admin/integrations/{id}/revisions with `config_members` as the config.
bench_harness::HttpResult PostRevision(bench_harness::HttpClient& admin,
                                       const std::string& admin_url,
                                       const std::string& integration_id,
                                       const std::string& config_members);

}  // namespace fault_matrix
