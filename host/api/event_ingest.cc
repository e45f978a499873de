// The batch envelope and the single-event body: which parts of a body are events, the
// body-level checks, and the order in which problems are reported (the JSON rule first,
// then the body's shape, then each event's fields). The scanner is json_scanner.h; each
// event is read and rebuilt by event_splice.h.
#include "event_ingest.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "event_splice.h"
#include "json_rule.h"
#include "json_scanner.h"

namespace signal_host::api {
namespace {

class IngestHandler {
 public:
  IngestHandler(const IngestOptions& options, size_t body_size)
      : options_(options), batch_mode_(options.path_type.empty()), event_(options) {
    // Events average about a kilobyte; a batch holds at most max_batch_events.
    result_.events.reserve(batch_mode_ ? std::min(options.max_batch_events, body_size / 1024 + 1)
                                       : 1);
  }

  bool StartContainer(bool object, const char* at) {
    ++depth_;
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return true;
    }
    if (skip_next_) {
      skip_next_ = false;
      skip_depth_ = 1;
      return true;
    }
    if (in_event_) {
      if (depth_ - 1 == event_depth_ && event_.ContainerValue()) skip_depth_ = 1;
      return true;
    }
    if (!batch_mode_) {
      if (!object) return Fail("the body must be a JSON object");
      BeginEvent(at);
      return true;
    }
    if (depth_ == 1) {
      if (!object) return Fail("the body must be a JSON object");
      return true;
    }
    if (depth_ == kBatchArrayDepth) {
      // The value of the root's "batch" key (other keys are skipped).
      if (object) return Fail("\"batch\" must be an array of events");
      batch_open_ = true;
      saw_batch_ = true;
      return true;
    }
    // An element of the batch array.
    if (object) {
      BeginEvent(at);
      return true;
    }
    AddElementError("invalid_event", "each event must be a JSON object");
    skip_depth_ = 1;
    return NextElement();
  }

  bool EndContainer(bool, const char* after) {
    // The end of a container that is the value of one of the event's members.
    if (in_event_ && depth_ == event_depth_ + 1) event_.ContainerValueEnd(after);
    if (skip_depth_ > 0) {
      --skip_depth_;
      --depth_;
      return true;
    }
    if (in_event_ && depth_ == event_depth_) {
      in_event_ = false;
      --depth_;
      event_.Finish(index_, result_);
      return batch_mode_ ? NextElement() : true;
    }
    if (batch_mode_ && depth_ == kBatchArrayDepth) batch_open_ = false;
    --depth_;
    return true;
  }

  bool Key(const JsonString& key, const char* key_begin) {
    if (skip_depth_ > 0) return true;
    if (in_event_) {
      if (depth_ == event_depth_) event_.Key(key, key_begin);
      return true;
    }
    // A key of a batch body's root object.
    if (DecodeJsonString(key, scratch_) == "batch") {
      if (saw_batch_) return Fail("duplicate \"batch\" key");
    } else {
      skip_next_ = true;
    }
    return true;
  }

  bool Scalar(const ScalarToken& token) {
    if (skip_depth_ > 0) return true;
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    if (in_event_) {
      if (depth_ == event_depth_) event_.ScalarValue(token);
      return true;
    }
    if (depth_ == 0) return Fail("the body must be a JSON object");
    if (batch_mode_ && batch_open_ && depth_ == kBatchArrayDepth) {
      AddElementError("invalid_event", "each event must be a JSON object");
      return NextElement();
    }
    // A scalar directly under the root of a batch body: only "batch" matters.
    return Fail("\"batch\" must be an array of events");
  }

  // After a complete, valid document: the checks that need the whole body.
  absl::StatusOr<IngestResult> Finish() {
    if (batch_mode_ && !saw_batch_) {
      return absl::InvalidArgumentError("the body must be an object with a \"batch\" array");
    }
    // A single event is accepted or refused as a whole.
    if (!batch_mode_ && !result_.errors.empty()) {
      return absl::InvalidArgumentError(result_.errors.front().message);
    }
    return std::move(result_);
  }

  const std::string& body_error() const { return body_error_; }

 private:
  bool Fail(std::string message) {
    if (body_error_.empty()) body_error_ = std::move(message);
    return false;
  }

  void BeginEvent(const char* at) {
    in_event_ = true;
    event_depth_ = depth_;
    event_.Begin(at);
  }

  void AddElementError(std::string code, std::string message) {
    result_.errors.push_back({index_, std::move(code), std::move(message)});
  }

  bool NextElement() {
    ++index_;
    if (index_ > options_.max_batch_events) {
      return Fail(absl::StrCat("a batch holds at most ", options_.max_batch_events, " events"));
    }
    return true;
  }

  // Root object at depth 1, the batch array at depth 2, its events at depth 3.
  static constexpr int kBatchArrayDepth = 2;

  const IngestOptions& options_;
  const bool batch_mode_;
  IngestResult result_;
  std::string body_error_;
  std::string scratch_;  // decoded member names of the batch envelope

  int depth_ = 0;
  int skip_depth_ = 0;
  bool skip_next_ = false;
  bool batch_open_ = false;
  bool saw_batch_ = false;
  size_t index_ = 0;

  bool in_event_ = false;
  int event_depth_ = 0;
  EventSplicer event_;
};

}  // namespace

bool IsSignalEventType(std::string_view type) {
  return type == "track" || type == "page" || type == "identify" || type == "group";
}

absl::StatusOr<IngestResult> IngestEvents(std::string_view body, const IngestOptions& options) {
  const bool batch_mode = options.path_type.empty();
  const int max_depth = kMaxJsonDepth + (batch_mode ? kBatchEnvelopeLevels : 0);
  IngestHandler handler(options, body.size());
  Scanner<IngestHandler> scanner(body, handler, max_depth);
  switch (scanner.Run()) {
    case ScanOutcome::kDone:
      return handler.Finish();
    case ScanOutcome::kSyntaxError:
      return MalformedJsonError(scanner.error_offset(), scanner.error_what());
    case ScanOutcome::kTooDeep:
      return TooDeepJsonError();
    case ScanOutcome::kStopped:
      break;
  }
  // The body's shape was refused part-way. A body that also breaks the JSON rule
  // further on is reported as malformed, so that a body is called malformed exactly
  // when it is (the plugin's scanner judges the same way).
  if (absl::Status valid = ValidateJson(body, max_depth); !valid.ok()) return valid;
  return absl::InvalidArgumentError(handler.body_error());
}

}  // namespace signal_host::api
