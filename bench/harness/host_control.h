// signal-delivery-host as a child process: its printed endpoints, an admin token, and
// the Hightouch install through the admin API.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "child_process.h"
#include "http_client.h"

namespace bench_harness {

// What the host prints on stdout once it serves.
struct HostEndpoints {
  std::string admin_url;   // "http://127.0.0.1:N"
  std::string events_url;  // "http://127.0.0.1:M"
  std::string pipeline_key;
};

absl::StatusOr<HostEndpoints> WaitForHostEndpoints(ChildProcess& host,
                                                   std::chrono::seconds timeout);

// An editor token minted by `host_bin token` from the data directory's signing key;
// "" if the command printed nothing.
std::string MintEditorToken(const std::string& host_bin, const std::string& data_dir);

// The install config's members for the fake's credentials (the product page's body).
inline constexpr char kHightouchCredentials[] =
    R"("api_key":"xxxxxxxxxxxxxxxxxxxx","workspace_id":"ws-12345","source_id":"src-12345")";
// Delivery tuned for throughput: full batches, the highest rate the config allows.
inline constexpr char kTunedDelivery[] =
    R"("batch_size":500,"rate_limit_rps":1000,"rate_limit_burst":2000)";

struct Installed {
  HttpResult answer;               // 201 on success
  std::string integration_id;      // "tmpl_..."
  std::string delivery_settings;   // the revision's delivery_settings, as JSON text
};

// POST /v1/admin/integration-catalog/hightouch/install with `config_members` (JSON object
// members without braces) as the config.
Installed InstallHightouch(HttpClient& admin, const std::string& admin_url,
                           const std::string& config_members);

}  // namespace bench_harness
