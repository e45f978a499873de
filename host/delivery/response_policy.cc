#include "host/delivery/response_policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "host/delivery/attempt_format.h"
#include "host/delivery/plugin_calls.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;

}  // namespace

const char* OutcomeName(v1::ClassifyResponse::Outcome outcome) {
  switch (outcome) {
    case v1::ClassifyResponse::DELIVERED:
      return "delivered";
    case v1::ClassifyResponse::THROTTLE:
      return "throttle";
    case v1::ClassifyResponse::SPLIT:
      return "split";
    case v1::ClassifyResponse::SETUP_FAILURE:
      return "setup_failure";
    case v1::ClassifyResponse::REJECT:
      return "reject";
    default:
      return "transient";
  }
}

ResponseDecision ResponsePolicy::Decide(v1::Integration::StubInterface& stub,
                                        const HttpResponse& response, InFlight& flight,
                                        const std::string& integration_id,
                                        const v1::RetryPolicy& policy, Backoff& backoff,
                                        int64_t now_ms) const {
  const size_t count = flight.items.size();
  v1::ClassifyRequest classify;
  classify.set_http_status(response.status);
  for (const auto& [name, value] : response.headers) {
    v1::Header* header = classify.add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  classify.set_body(
      response.body.substr(0, std::min(response.body.size(), options_.classify_body_bytes)));
  classify.set_event_count(static_cast<uint32_t>(count));
  classify.set_transport_error(response.transport_error);
  classify.set_now_unix_ms(now_ms);
  v1::ClassifyResponse verdict;
  grpc::ClientContext context;
  SetDeadline(context, options_.plugin_call_timeout);
  const grpc::Status status = stub.Classify(&context, classify, &verdict);

  ResponseDecision decision;
  if (!status.ok()) {
    decision.classify_failed = true;
    decision.plugin_unreachable = IsCallLevelFailure(status.error_code());
    verdict.Clear();
    verdict.set_outcome(count > 1 && !decision.plugin_unreachable
                            ? v1::ClassifyResponse::SPLIT
                            : v1::ClassifyResponse::TRANSIENT);
    verdict.set_code(kReasonClassifyFailed);
    verdict.set_message(
        absl::StrCat("the plugin could not classify the response: ", DescribeCallStatus(status)));
  } else if (!v1::ClassifyResponse::Outcome_IsValid(verdict.outcome()) ||
             verdict.outcome() == v1::ClassifyResponse::OUTCOME_UNSPECIFIED) {
    verdict.set_outcome(v1::ClassifyResponse::TRANSIENT);
    if (verdict.code().empty()) verdict.set_code("unclassified");
  }
  if (verdict.outcome() == v1::ClassifyResponse::SPLIT && count <= 1) {
    // Nothing left to split: the single event is what the vendor refuses.
    verdict.set_outcome(v1::ClassifyResponse::REJECT);
  }

  decision.http_status = response.status;
  decision.response_text =
      response.status == 0
          ? response.transport_error
          : std::string(TruncateUtf8(response.body, options_.record_response_bytes));

  AttemptRecord& attempt = decision.attempt;
  attempt.integration_id = integration_id;
  attempt.message_ids = std::move(flight.message_ids);
  attempt.event_types = DistinctTypes(flight.items);
  attempt.attempt = NextAttemptNumber(flight.items);
  attempt.http_status = response.status;
  attempt.latency_ms = response.latency_us / 1000;
  attempt.outcome = OutcomeName(verdict.outcome());
  attempt.request = std::move(flight.request_record);
  attempt.response = decision.response_text;
  attempt.message = decision.classify_failed
                        ? absl::StrCat(kReasonClassifyFailed, ": ", verdict.message())
                        : verdict.message();
  attempt.created_at_ms = flight.sent_at_ms;

  switch (verdict.outcome()) {
    case v1::ClassifyResponse::DELIVERED:
      decision.action = ResponseDecision::Action::kDelivered;
      return decision;
    case v1::ClassifyResponse::SPLIT:
      decision.action = ResponseDecision::Action::kSplit;
      return decision;
    case v1::ClassifyResponse::SETUP_FAILURE:
      decision.action = ResponseDecision::Action::kHold;
      decision.reason = verdict.message().empty() ? verdict.code() : verdict.message();
      return decision;
    case v1::ClassifyResponse::REJECT:
      decision.action = ResponseDecision::Action::kReject;
      decision.reason = verdict.code().empty() ? "rejected" : verdict.code();
      decision.message = verdict.message();
      return decision;
    default:  // TRANSIENT, THROTTLE
      break;
  }
  decision.action = ResponseDecision::Action::kRetry;
  const uint64_t retry_after = verdict.retry_after_ms();
  decision.plan = PlanRetry(flight.items, flight.sent_at_ms, now_ms, policy, backoff, retry_after);
  if (!decision.plan.give_up.empty()) {
    decision.give_up_reason =
        decision.classify_failed ? kReasonClassifyFailed : kReasonRetriesExhausted;
    decision.give_up_message =
        absl::StrCat("gave up after ", NextAttemptNumberAt(flight.items, decision.plan.give_up),
                     " attempts: ", verdict.message());
  }
  if (verdict.outcome() == v1::ClassifyResponse::THROTTLE) {
    uint64_t delay = decision.plan.retry.empty() ? retry_after : decision.plan.delay_ms;
    if (delay == 0) {
      delay = backoff.CeilingMs(std::max<uint32_t>(decision.plan.retry_attempt, 1));
    }
    decision.pause_until_ms = now_ms + static_cast<int64_t>(retry_after > 0 ? retry_after : delay);
  }
  return decision;
}

}  // namespace signal_host::delivery
