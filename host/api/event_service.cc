#include "event_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "event_ingest.h"
#include "host/auth/jwt.h"
#include "host/crypto/hmac.h"
#include "host/delivery/delivery_engine.h"
#include "log.h"

namespace signal_host::api {

EventService::EventService(EventServiceOptions options, EventServiceDeps deps)
    : options_(std::move(options)), deps_(std::move(deps)) {
  if (deps_.metrics != nullptr && deps_.metrics->registry != nullptr) {
    auto requests = deps_.metrics->registry->AddCounter(
        "signal_event_api_requests_total", "Event API requests by endpoint and status.",
        {"endpoint", "status"});
    if (requests.ok()) requests_ = *requests;
  }
}

const PipelineRoute* EventService::Authenticate(std::string_view authorization,
                                                ApiResponse& res) const {
  if (authorization.empty()) {
    SendError(res, 401, "UNAUTHENTICATED",
              "send the pipeline key as \"Authorization: Bearer <pipeline key>\"");
    return nullptr;
  }
  std::optional<std::string_view> key = BearerToken(authorization);
  if (key) {
    for (const PipelineRoute& pipeline : options_.pipelines) {
      if (!pipeline.key.empty() && ConstantTimeEquals(*key, pipeline.key)) return &pipeline;
    }
  }
  SendError(res, 401, "INVALID_PIPELINE_KEY", "the pipeline key is not valid");
  return nullptr;
}

bool EventService::QueuesHaveRoom(const std::vector<const DirectoryEntry*>& targets,
                                  ApiResponse& res) const {
  if (options_.max_queue_depth == 0) return true;
  for (const DirectoryEntry* target : targets) {
    // An unreadable depth does not block: the enqueue reports real store trouble.
    absl::StatusOr<size_t> depth = deps_.queue->QueueDepth(target->id);
    if (!depth.ok() || *depth < options_.max_queue_depth) continue;
    SendError(res, 503, "QUEUE_FULL",
              absl::StrCat("integration \"", target->name, "\" has ", *depth,
                           " events queued, at or above the limit of ", options_.max_queue_depth,
                           " (events.max_queue_depth); nothing was accepted, send again later"));
    res.SetHeader("Retry-After", "1");
    return false;
  }
  return true;
}

void EventService::Count(const std::string& endpoint, int status) {
  if (requests_ != nullptr) requests_->WithLabels({endpoint, std::to_string(status)}).Inc();
}

EventAdmission EventService::Admit(const std::string& endpoint, std::string_view authorization) {
  EventAdmission admission;
  const PipelineRoute* pipeline = Authenticate(authorization, admission.refusal);
  if (pipeline == nullptr) {
    Count(endpoint, admission.refusal.status);
    return admission;
  }
  // The integrations this pipeline routes to, as the directory knows them now.
  admission.snapshot = deps_.directory->Current();
  for (const DirectoryEntry& entry : admission.snapshot->entries) {
    if (entry.org_id != pipeline->org_id || entry.status == "disabled") continue;
    if (!pipeline->integrations.empty() &&
        std::find(pipeline->integrations.begin(), pipeline->integrations.end(), entry.name) ==
            pipeline->integrations.end()) {
      continue;
    }
    admission.targets.push_back(&entry);
  }
  if (!QueuesHaveRoom(admission.targets, admission.refusal)) {
    Count(endpoint, admission.refusal.status);
    return admission;
  }
  admission.pipeline = pipeline;
  return admission;
}

ApiResponse EventService::Handle(const std::string& type, const std::string& endpoint,
                                 const EventAdmission& admission, std::string_view body) {
  ApiResponse res;
  auto count = [&] { Count(endpoint, res.status); };
  const PipelineRoute* pipeline = admission.pipeline;
  const std::vector<const DirectoryEntry*>& targets = admission.targets;

  IngestOptions ingest;
  ingest.path_type = type;
  ingest.max_batch_events = options_.max_batch_events;
  ingest.now_ms = NowMillis();
  ingest.new_message_id = deps_.new_message_id;
  absl::StatusOr<IngestResult> result = IngestEvents(body, ingest);
  if (!result.ok()) {
    SendError(res, 400, "BAD_REQUEST", std::string(result.status().message()));
    count();
    return res;
  }

  std::vector<EnqueueItem> items;
  items.reserve(result->events.size() * targets.size());
  for (const DirectoryEntry* target : targets) {
    for (const IngestedEvent& event : result->events) {
      items.push_back({target->id, event.message_id, event.json});
    }
  }
  if (!items.empty()) {
    if (absl::Status status = deps_.queue->Enqueue(items); !status.ok()) {
      LogError(absl::StrCat("enqueue failed: ", status.ToString()));
      SendError(res, 503, "UNAVAILABLE",
                "the events could not be stored; nothing was accepted, send them again");
      count();
      return res;
    }
    for (const DirectoryEntry* target : targets) {
      if (deps_.engine != nullptr) deps_.engine->Notify(target->id);
      if (deps_.metrics != nullptr && deps_.metrics->events_accepted != nullptr) {
        deps_.metrics->events_accepted->WithLabels({target->id}).Inc(result->events.size());
      }
    }
  } else if (!result->events.empty() && LogEnabled(LogLevel::kDebug)) {
    LogDebug(absl::StrCat("pipeline ", pipeline->name, " has no integration; ",
                          result->events.size(), " events accepted and not routed"));
  }

  if (result->errors.empty()) {
    SendJson(res, 200, R"({"success":true})");
    count();
    return res;
  }
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  WriteKey(writer, "success");
  writer.Bool(false);
  WriteKey(writer, "accepted");
  writer.Uint64(result->events.size());
  WriteKey(writer, "errors");
  writer.StartArray();
  for (const EventError& error : result->errors) {
    writer.StartObject();
    WriteKey(writer, "index");
    writer.Uint64(error.index);
    WriteKey(writer, "code");
    WriteString(writer, error.code);
    WriteKey(writer, "message");
    WriteString(writer, error.message);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  SendJson(res, 200, std::string(buffer.GetString(), buffer.GetSize()));
  count();
  return res;
}

}  // namespace signal_host::api
