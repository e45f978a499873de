// What the engine needs to know about a failed plugin call (Translate, Classify,
// CheckCredentials) and how it says so.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace signal_host::delivery {

// Sets the call's deadline `timeout` from now.
void SetDeadline(grpc::ClientContext& context, absl::Duration timeout);

// True when a failed call tells nothing about the events it carried: the plugin is
// not reachable (UNAVAILABLE), did not answer in time (DEADLINE_EXCEEDED), the call
// was cancelled, or the plugin does not implement it. Splitting the batch cannot
// help then; the whole batch waits with backoff. Any other code (INTERNAL for a
// plugin that threw, INVALID_ARGUMENT, RESOURCE_EXHAUSTED for a message over the
// gRPC limit, ...) may come from one event, so the batch is bisected.
bool IsCallLevelFailure(grpc::StatusCode code);

// "INTERNAL (13): Translate failed: ..." for logs, attempt records and dead letters.
std::string DescribeCallStatus(const grpc::Status& status);

}  // namespace signal_host::delivery
