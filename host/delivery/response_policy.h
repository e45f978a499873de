// What a vendor response means for the events it carried, decided with the plugin's
// Classify and the integration's retry policy:
//
//   DELIVERED      the events are done (committed with the attempt record).
//   TRANSIENT      retried with full-jitter backoff (Retry-After as a floor) until
//                  both max_attempts and retry_window_s are spent, then given up as
//                  retries_exhausted.
//   THROTTLE       as TRANSIENT, and no request to the integration before the later
//                  of Retry-After and the backoff.
//   SPLIT          each half is translated and sent on its own; a single event that
//                  cannot be split any further is rejected.
//   SETUP_FAILURE  the integration is held; the events go back without an attempt.
//   REJECT         dead letters with the plugin's code and the vendor's response.
//
// A Classify call that fails cannot say what the vendor meant. A single event, or a
// batch when the plugin is not answering at all (IsCallLevelFailure), is retried
// like TRANSIENT with an attempt counted, and given up as classify_failed with the
// call's status once the policy is spent; the worker also backs the whole
// integration off, since the next answer could not be read either. A batch whose
// Classify failed for a reason that may come from its contents is split like SPLIT,
// so that one event whose response breaks Classify cannot hold back the others.
//
// Decide is a pure function of the response, the plugin's answer, the retry policy
// and the backoff's random source, so it is tested with a scripted plugin stub.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "host/delivery/backoff.h"
#include "host/delivery/http_sender.h"
#include "host/delivery/retry_plan.h"
#include "host/delivery/work_items.h"
#include "host/store/delivery_queue.h"
#include "signal/integration/v1/integration.grpc.pb.h"

namespace signal_host::delivery {

inline constexpr char kReasonRetriesExhausted[] = "retries_exhausted";
inline constexpr char kReasonClassifyFailed[] = "classify_failed";

struct ResponseDecision {
  enum class Action { kDelivered, kRetry, kSplit, kHold, kReject };
  Action action = Action::kRetry;
  // The attempt record for the request (outcome, status, redacted request, response).
  AttemptRecord attempt;
  int32_t http_status = 0;
  std::string response_text;  // truncated body or transport error, for dead letters

  // kRetry: which events are retried when, and which are given up, why.
  RetryPlan plan;
  std::string give_up_reason;
  std::string give_up_message;
  // No request to the integration before this (THROTTLE); 0: no pause.
  int64_t pause_until_ms = 0;

  // kReject: the dead letters' reason and message. kHold: why.
  std::string reason;
  std::string message;

  // Classify failed (call-level or not) / answered.
  bool classify_failed = false;
  bool plugin_unreachable = false;
};

struct ResponsePolicyOptions {
  size_t classify_body_bytes = 64 * 1024;   // response bytes handed to Classify
  size_t record_response_bytes = 4 * 1024;  // response bytes kept in records
  absl::Duration plugin_call_timeout = absl::Seconds(30);
};

class ResponsePolicy {
 public:
  explicit ResponsePolicy(ResponsePolicyOptions options) : options_(options) {}

  // Classifies `response` to the request `flight` (its message_ids and request
  // record move into the attempt) and decides what happens to its events.
  ResponseDecision Decide(signal::integration::v1::Integration::StubInterface& stub,
                          const HttpResponse& response, InFlight& flight,
                          const std::string& integration_id,
                          const signal::integration::v1::RetryPolicy& policy, Backoff& backoff,
                          int64_t now_ms) const;

 private:
  ResponsePolicyOptions options_;
};

// "delivered", "transient", ... as attempt records name them.
const char* OutcomeName(signal::integration::v1::ClassifyResponse::Outcome outcome);

}  // namespace signal_host::delivery
