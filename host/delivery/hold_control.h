// Whether an integration is held after a setup failure (the vendor refused its
// credentials), why, and when its credentials are checked again. A held integration
// sends nothing and keeps its events without counting attempts; a successful
// re-probe (at most one per probe interval, or later when the plugin reports the
// vendor's rate limit) or a new revision resumes it. The store's copy of the status
// is written by the worker through its OutcomeCommitter, so a failing write backs off
// like any other.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "host/metrics/metrics.h"
#include "signal/integration/v1/integration.grpc.pb.h"

namespace signal_host::delivery {

class HoldControl {
 public:
  // `held_gauge` may be null.
  HoldControl(absl::Duration probe_interval, metrics::Gauge* held_gauge)
      : probe_interval_ms_(std::max<int64_t>(1, absl::ToInt64Milliseconds(probe_interval))),
        held_gauge_(held_gauge) {}

  bool held() const { return held_; }
  const std::string& reason() const { return reason_; }
  int64_t next_probe_ms() const { return next_probe_ms_; }

  // Held before a restart: the credentials are probed again at once.
  void Restore(std::string reason, int64_t now_ms);
  // True when it was not held before (the caller saves the status).
  bool Hold(std::string reason, int64_t now_ms);
  // True when it was held.
  bool Unhold();
  // The worker goes away while held: it no longer counts as a held integration.
  void Retire();

  // Asks the plugin whether the credentials work now. True: they do. Otherwise the
  // next probe is due one interval later (or after the vendor's Retry-After).
  bool Probe(signal::integration::v1::Integration::StubInterface& stub,
             const std::string& config_json, absl::Duration timeout, int64_t now_ms);

 private:
  const int64_t probe_interval_ms_;
  metrics::Gauge* const held_gauge_;
  bool held_ = false;
  std::string reason_;
  int64_t next_probe_ms_ = 0;
};

}  // namespace signal_host::delivery
