#include "host/delivery/translation.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "host/delivery/plugin_calls.h"

namespace signal_host::delivery {
namespace {

namespace v1 = signal::integration::v1;

void AddFailure(Translation& out, TranslateFailure failure) {
  if (!out.failures.empty()) {
    TranslateFailure& last = out.failures.back();
    if (last.reason == failure.reason && last.message == failure.message &&
        last.call_level == failure.call_level) {
      for (Item& item : failure.items) last.items.push_back(std::move(item));
      return;
    }
  }
  out.failures.push_back(std::move(failure));
}

// Sorts a successful answer's events into requests, rejections and failures.
void TakeAnswer(v1::TranslateResponse& response, std::vector<Item>& items, Translation& out) {
  const size_t count = items.size();
  std::vector<char> accounted(count, 0);
  if (response.rejections_size() > 0) {
    std::map<std::pair<std::string, std::string>, std::vector<size_t>> rejected;
    for (const v1::Rejection& rejection : response.rejections()) {
      const uint32_t index = rejection.event_index();
      if (index >= count || accounted[index]) continue;
      accounted[index] = 1;
      rejected[{rejection.reason(), rejection.message()}].push_back(index);
    }
    for (auto& [reason_and_message, indexes] : rejected) {
      TranslateRejection& group = out.rejections.emplace_back();
      group.reason = reason_and_message.first.empty() ? "rejected" : reason_and_message.first;
      group.message = reason_and_message.second;
      group.items.reserve(indexes.size());
      for (size_t index : indexes) group.items.push_back(std::move(items[index]));
    }
  }
  out.requests.reserve(out.requests.size() + response.requests_size());
  for (v1::HttpRequest& http : *response.mutable_requests()) {
    Outgoing outgoing;
    outgoing.items.reserve(http.event_indexes_size());
    for (uint32_t index : http.event_indexes()) {
      if (index >= count || accounted[index]) continue;
      accounted[index] = 1;
      outgoing.items.push_back(std::move(items[index]));
    }
    if (outgoing.items.empty()) continue;
    outgoing.request = std::move(http);
    out.requests.push_back(std::move(outgoing));
  }
  TranslateFailure missing;
  for (size_t i = 0; i < count; ++i) {
    if (!accounted[i]) missing.items.push_back(std::move(items[i]));
  }
  if (!missing.items.empty()) {
    missing.reason = kReasonTranslateIncomplete;
    missing.message = absl::StrCat("the plugin's Translate left ", missing.items.size(), " of ",
                                   count, " events in no request and no rejection");
    AddFailure(out, std::move(missing));
  }
}

void TranslateInto(v1::Integration::StubInterface& stub, const TranslateParams& params,
                   std::vector<Item> items, Translation& out) {
  const size_t count = items.size();
  if (!out.unreachable_message.empty()) {
    // The plugin stopped answering mid-way: the other halves would only fail alike.
    TranslateFailure failure;
    failure.items = std::move(items);
    failure.reason = kReasonTranslateFailed;
    failure.message = out.unreachable_message;
    failure.call_level = true;
    AddFailure(out, std::move(failure));
    return;
  }
  v1::TranslateRequest request;
  request.set_config_json(*params.config_json);
  request.set_sent_at_unix_ms(params.sent_at_ms);
  request.mutable_events()->Reserve(static_cast<int>(count));
  // The payloads are lent to the request and taken back after the call: a split
  // translates them again, and copying 500 payloads per request is measurable.
  for (Item& item : items) request.add_events()->swap(item.event.payload);
  v1::TranslateResponse response;
  grpc::ClientContext context;
  SetDeadline(context, params.timeout);
  const grpc::Status status = stub.Translate(&context, request, &response);
  for (size_t i = 0; i < count; ++i) {
    request.mutable_events(static_cast<int>(i))->swap(items[i].event.payload);
  }
  ++out.calls;
  if (status.ok()) {
    TakeAnswer(response, items, out);
    return;
  }
  ++out.failed_calls;
  const bool call_level = IsCallLevelFailure(status.error_code());
  if (call_level || count <= 1) {
    TranslateFailure failure;
    failure.items = std::move(items);
    failure.reason = kReasonTranslateFailed;
    failure.message = absl::StrCat("Translate failed: ", DescribeCallStatus(status));
    failure.call_level = call_level;
    if (call_level) out.unreachable_message = failure.message;
    AddFailure(out, std::move(failure));
    return;
  }
  const size_t middle = count / 2;
  std::vector<Item> second(std::make_move_iterator(items.begin() + middle),
                           std::make_move_iterator(items.end()));
  items.resize(middle);
  TranslateInto(stub, params, std::move(items), out);
  TranslateInto(stub, params, std::move(second), out);
}

}  // namespace

Translation TranslateBatch(v1::Integration::StubInterface& stub, const TranslateParams& params,
                           std::vector<Item> items) {
  Translation out;
  if (items.empty()) return out;
  TranslateInto(stub, params, std::move(items), out);
  return out;
}

}  // namespace signal_host::delivery
