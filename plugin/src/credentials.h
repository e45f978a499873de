// The install-time credential check: two probes over libcurl, never an event.
#pragma once

#include "config.h"
#include "options.h"
#include "signal/integration/v1/integration.pb.h"

namespace signal_hightouch {

// 1. GET {api_base_url}/api/v1/sources/{source_id} with "Authorization: Bearer api_key":
//    401/403 invalid API key, 404 (or 422) wrong source, 429 rate limited, a
//    workspaceId different from the config's: wrong workspace.
// 2. POST {events base}/v1/batch with an empty batch and Basic auth of the ingest key:
//    401/403 invalid write key (or invalid API key when it doubles as ingest key);
//    404 is also INVALID_WRITE_KEY, with a message about the region and host; 2xx or
//    400 (an empty batch refused after the key was accepted) is OK.
// Each probe is bounded by options.probe_timeout_ms, so a check takes at most twice it.
// Transport failures, timeouts and 5xx are UNREACHABLE. Secrets never appear in the
// message.
signal::integration::v1::CheckCredentialsResponse CheckCredentials(const HightouchConfig& config,
                                                                   const PluginOptions& options);

}  // namespace signal_hightouch
