#include "host/delivery/hold_control.h"

#include <algorithm>
#include <utility>

#include "grpcpp/client_context.h"
#include "host/delivery/plugin_calls.h"

namespace signal_host::delivery {

namespace v1 = signal::integration::v1;

void HoldControl::Restore(std::string reason, int64_t now_ms) {
  if (!held_ && held_gauge_ != nullptr) held_gauge_->Add(1);
  held_ = true;
  reason_ = std::move(reason);
  next_probe_ms_ = now_ms;
}

bool HoldControl::Hold(std::string reason, int64_t now_ms) {
  if (held_) return false;
  held_ = true;
  reason_ = std::move(reason);
  next_probe_ms_ = now_ms + probe_interval_ms_;
  if (held_gauge_ != nullptr) held_gauge_->Add(1);
  return true;
}

bool HoldControl::Unhold() {
  if (!held_) return false;
  held_ = false;
  reason_.clear();
  if (held_gauge_ != nullptr) held_gauge_->Add(-1);
  return true;
}

void HoldControl::Retire() {
  if (held_ && held_gauge_ != nullptr) held_gauge_->Add(-1);
}

bool HoldControl::Probe(v1::Integration::StubInterface& stub, const std::string& config_json,
                        absl::Duration timeout, int64_t now_ms) {
  v1::CheckCredentialsRequest request;
  request.set_config_json(config_json);
  v1::CheckCredentialsResponse response;
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  const grpc::Status status = stub.CheckCredentials(&context, request, &response);
  if (status.ok() && response.outcome() == v1::CheckCredentialsResponse::OK) return true;
  int64_t delay = probe_interval_ms_;
  if (status.ok() && response.outcome() == v1::CheckCredentialsResponse::RATE_LIMITED) {
    delay = std::max<int64_t>(delay, int64_t{response.retry_after_s()} * 1000);
  }
  next_probe_ms_ = now_ms + delay;
  return false;
}

}  // namespace signal_host::delivery
