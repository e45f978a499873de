// One batch through the plugin's Translate, bisected on failure.
//
// A Translate call that fails with a code that may come from one event (see
// IsCallLevelFailure) is retried on each half of the batch, down to single events,
// so that one poisonous event cannot hold back the others: n events cost at most
// 2n-1 calls, and the calls that succeed give their requests as usual. What still
// fails (a single event, or a whole batch when the plugin is simply not answering)
// comes back as a failure for the worker to count as an attempt. Events the plugin
// leaves unaccounted for (in no request and no rejection) come back as a failure too,
// so that they are counted and backed off like any other instead of being sent back
// to the plugin at once.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "host/delivery/work_items.h"
#include "signal/integration/v1/integration.grpc.pb.h"

namespace signal_host::delivery {

inline constexpr char kReasonTranslateFailed[] = "translate_failed";
inline constexpr char kReasonTranslateIncomplete[] = "translate_incomplete";

struct TranslateRejection {
  std::vector<Item> items;
  std::string reason;  // the plugin's reason code ("rejected" when it gave none)
  std::string message;
};

struct TranslateFailure {
  std::vector<Item> items;
  std::string reason;       // kReasonTranslateFailed or kReasonTranslateIncomplete
  std::string message;      // the call's status, for logs, attempts and dead letters
  bool call_level = false;  // the plugin did not answer at all (IsCallLevelFailure)
};

struct Translation {
  std::vector<Outgoing> requests;  // in the events' order
  std::vector<TranslateRejection> rejections;
  std::vector<TranslateFailure> failures;  // consecutive alike failures merged
  size_t calls = 0;
  size_t failed_calls = 0;
  // Set by the first call-level failure; later halves are not sent to the plugin.
  std::string unreachable_message;
};

struct TranslateParams {
  const std::string* config_json = nullptr;
  int64_t sent_at_ms = 0;
  absl::Duration timeout = absl::Seconds(30);
};

// Every event of `items` ends in exactly one of requests, rejections or failures.
Translation TranslateBatch(signal::integration::v1::Integration::StubInterface& stub,
                           const TranslateParams& params, std::vector<Item> items);

}  // namespace signal_host::delivery
