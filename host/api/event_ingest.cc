#include "event_ingest.h"

#include "absl/strings/str_cat.h"
#include "json_util.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace signal_host::api {
namespace {

constexpr size_t kMaxMessageIdBytes = 256;

// One scalar SAX event.
struct Scalar {
  enum Kind { kNull, kBool, kNumber, kString } kind;
  std::string_view text;  // number or string text
  bool boolean = false;
};

// The SAX handler that walks the body and re-writes each event. See IngestEvents.
class IngestHandler {
 public:
  explicit IngestHandler(const IngestOptions& options)
      : options_(options), batch_mode_(options.path_type.empty()) {}

  bool Null() { return OnScalar({Scalar::kNull, {}}); }
  bool Bool(bool b) { return OnScalar({Scalar::kBool, {}, b}); }
  bool Int(int) { return Unexpected(); }
  bool Uint(unsigned) { return Unexpected(); }
  bool Int64(int64_t) { return Unexpected(); }
  bool Uint64(uint64_t) { return Unexpected(); }
  bool Double(double) { return Unexpected(); }
  bool RawNumber(const char* str, rapidjson::SizeType length, bool) {
    return OnScalar({Scalar::kNumber, std::string_view(str, length)});
  }
  bool String(const char* str, rapidjson::SizeType length, bool) {
    return OnScalar({Scalar::kString, std::string_view(str, length)});
  }
  bool StartObject() { return OnStart(true); }
  bool StartArray() { return OnStart(false); }
  bool EndObject(rapidjson::SizeType) { return OnEnd(true); }
  bool EndArray(rapidjson::SizeType) { return OnEnd(false); }
  bool Key(const char* str, rapidjson::SizeType length, bool) {
    return OnKey(std::string_view(str, length));
  }

  // After a successful parse: body-level checks that need the whole body.
  absl::Status Finish() {
    if (batch_mode_ && !saw_batch_) {
      return absl::InvalidArgumentError("the body must be an object with a \"batch\" array");
    }
    return absl::OkStatus();
  }

  const std::string& body_error() const { return body_error_; }
  IngestResult& result() { return result_; }

 private:
  enum class Special { kNone, kType, kMessageId, kTimestamp };

  bool Unexpected() { return Fail("internal: numbers must arrive as raw text"); }

  bool Fail(std::string message) {
    if (body_error_.empty()) body_error_ = std::move(message);
    return false;
  }

  bool OnScalar(const Scalar& scalar) {
    if (skip_depth_ > 0) return true;
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    if (in_event_) {
      if (depth_ == event_depth_ && pending_ != Special::kNone) {
        HandleSpecial(&scalar);
        return true;
      }
      WriteScalar(scalar);
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

  bool OnStart(bool object) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      ++depth_;
      return true;
    }
    if (skip_next_) {
      skip_next_ = false;
      skip_depth_ = 1;
      ++depth_;
      return true;
    }
    ++depth_;
    if (depth_ > kMaxJsonDepth + (batch_mode_ ? 2 : 0)) {
      return Fail(absl::StrCat("JSON nests deeper than ", kMaxJsonDepth, " levels"));
    }
    if (in_event_) {
      if (depth_ - 1 == event_depth_ && pending_ != Special::kNone) {
        HandleSpecial(nullptr);
        skip_depth_ = 1;
        return true;
      }
      object ? writer_.StartObject() : writer_.StartArray();
      return true;
    }
    if (!batch_mode_) {
      if (!object) return Fail("the body must be a JSON object");
      BeginEvent();
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
      BeginEvent();
      return true;
    }
    AddElementError("invalid_event", "each event must be a JSON object");
    skip_depth_ = 1;
    return NextElement();
  }

  bool OnEnd(bool object) {
    if (skip_depth_ > 0) {
      --skip_depth_;
      --depth_;
      return true;
    }
    if (in_event_) {
      if (depth_ == event_depth_) {
        FinishEvent();
        --depth_;
        return batch_mode_ ? NextElement() : true;
      }
      object ? writer_.EndObject() : writer_.EndArray();
      --depth_;
      return true;
    }
    if (batch_mode_ && depth_ == kBatchArrayDepth) batch_open_ = false;
    --depth_;
    return true;
  }

  bool OnKey(std::string_view key) {
    if (skip_depth_ > 0) return true;
    if (in_event_) {
      if (depth_ == event_depth_) {
        Special special = key == "type"        ? Special::kType
                          : key == "messageId" ? Special::kMessageId
                          : key == "timestamp" ? Special::kTimestamp
                                               : Special::kNone;
        if (special != Special::kNone) {
          bool& seen = special == Special::kType        ? type_key_seen_
                       : special == Special::kMessageId ? message_id_key_seen_
                                                        : timestamp_key_seen_;
          if (seen)
            MarkEventError("invalid_field", absl::StrCat("duplicate key \"", AbslView(key), "\""));
          seen = true;
          pending_ = special;
          return true;
        }
      }
      WriteKey(writer_, key);
      return true;
    }
    // A key of a batch body's root object.
    if (key == "batch") {
      if (saw_batch_) return Fail("duplicate \"batch\" key");
    } else {
      skip_next_ = true;
    }
    return true;
  }

  void BeginEvent() {
    in_event_ = true;
    event_depth_ = depth_;
    buffer_.Clear();
    writer_.Reset(buffer_);
    writer_.StartObject();
    pending_ = Special::kNone;
    type_key_seen_ = message_id_key_seen_ = timestamp_key_seen_ = false;
    type_.clear();
    message_id_.clear();
    has_type_ = has_timestamp_ = false;
    event_error_code_.clear();
    event_error_message_.clear();
  }

  void WriteScalar(const Scalar& scalar) {
    switch (scalar.kind) {
      case Scalar::kNull:
        writer_.Null();
        break;
      case Scalar::kBool:
        writer_.Bool(scalar.boolean);
        break;
      case Scalar::kNumber:
        writer_.RawValue(scalar.text.data(), scalar.text.size(), rapidjson::kNumberType);
        break;
      case Scalar::kString:
        api::WriteString(writer_, scalar.text);
        break;
    }
  }

  // The value of a top-level type/messageId/timestamp key; null `scalar` means an
  // object or array (which the caller skips).
  void HandleSpecial(const Scalar* scalar) {
    Special special = pending_;
    pending_ = Special::kNone;
    bool is_string = scalar != nullptr && scalar->kind == Scalar::kString;
    bool is_null = scalar != nullptr && scalar->kind == Scalar::kNull;
    switch (special) {
      case Special::kType:
        if (!batch_mode_) {
          // The path decides the type, whatever the body said; keep the key's place.
          WriteKey(writer_, "type");
          api::WriteString(writer_, options_.path_type);
          has_type_ = true;
        } else if (is_string) {
          type_ = std::string(scalar->text);
          has_type_ = true;
          WriteKey(writer_, "type");
          api::WriteString(writer_, scalar->text);
        } else if (!is_null) {
          MarkEventError("invalid_field", "type must be a string");
        }
        break;
      case Special::kMessageId:
        if (is_string && !scalar->text.empty()) {
          if (scalar->text.size() > kMaxMessageIdBytes) {
            MarkEventError("invalid_field",
                           absl::StrCat("messageId is longer than ", kMaxMessageIdBytes, " bytes"));
            break;
          }
          message_id_ = std::string(scalar->text);
          WriteKey(writer_, "messageId");
          api::WriteString(writer_, scalar->text);
        } else if (!is_null && !is_string) {
          MarkEventError("invalid_field", "messageId must be a string");
        }
        break;
      case Special::kTimestamp:
        if (is_string && !scalar->text.empty()) {
          has_timestamp_ = true;
          WriteKey(writer_, "timestamp");
          api::WriteString(writer_, scalar->text);
        } else if (!is_null && !is_string) {
          MarkEventError("invalid_field", "timestamp must be an ISO 8601 string");
        }
        break;
      case Special::kNone:
        break;
    }
  }

  void MarkEventError(std::string code, std::string message) {
    if (event_error_code_.empty()) {
      event_error_code_ = std::move(code);
      event_error_message_ = std::move(message);
    }
  }

  void FinishEvent() {
    in_event_ = false;
    if (event_error_code_.empty()) {
      if (!has_type_) {
        if (batch_mode_) {
          MarkEventError("missing_type",
                         "type is required in a batch (track, page, identify, group)");
        } else {
          WriteKey(writer_, "type");
          api::WriteString(writer_, options_.path_type);
          type_ = options_.path_type;
        }
      } else if (!batch_mode_) {
        type_ = options_.path_type;
      } else if (!IsSignalEventType(type_)) {
        MarkEventError(
            "unsupported_type",
            absl::StrCat("type \"", type_, "\" is not one of track, page, identify, group"));
      }
    }
    if (!event_error_code_.empty()) {
      result_.errors.push_back({index_, event_error_code_, event_error_message_});
      if (!batch_mode_) Fail(event_error_message_);
      return;
    }
    if (message_id_.empty()) {
      message_id_ = options_.new_message_id();
      WriteKey(writer_, "messageId");
      api::WriteString(writer_, message_id_);
    }
    if (!has_timestamp_) {
      WriteKey(writer_, "timestamp");
      api::WriteString(writer_, IsoMillis(options_.now_ms));
    }
    writer_.EndObject();
    result_.events.push_back(
        {index_, message_id_, type_, std::string(buffer_.GetString(), buffer_.GetSize())});
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

  int depth_ = 0;
  int skip_depth_ = 0;
  bool skip_next_ = false;
  bool batch_open_ = false;
  bool saw_batch_ = false;
  size_t index_ = 0;

  bool in_event_ = false;
  int event_depth_ = 0;
  Special pending_ = Special::kNone;
  bool type_key_seen_ = false;
  bool message_id_key_seen_ = false;
  bool timestamp_key_seen_ = false;
  bool has_type_ = false;
  bool has_timestamp_ = false;
  std::string type_;
  std::string message_id_;
  std::string event_error_code_;
  std::string event_error_message_;
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace

bool IsSignalEventType(std::string_view type) {
  return type == "track" || type == "page" || type == "identify" || type == "group";
}

absl::StatusOr<IngestResult> IngestEvents(std::string_view body, const IngestOptions& options) {
  IngestHandler handler(options);
  rapidjson::MemoryStream stream(body.data(), body.size());
  rapidjson::Reader reader;
  rapidjson::ParseResult parsed =
      reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                   rapidjson::kParseNumbersAsStringsFlag>(stream, handler);
  if (!handler.body_error().empty()) return absl::InvalidArgumentError(handler.body_error());
  if (parsed.IsError()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON at byte ", parsed.Offset(), ": ",
                                                   rapidjson::GetParseError_En(parsed.Code())));
  }
  if (absl::Status status = handler.Finish(); !status.ok()) return status;
  return std::move(handler.result());
}

}  // namespace signal_host::api
