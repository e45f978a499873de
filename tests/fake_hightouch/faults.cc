#include "faults.h"

#include <simdjson.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "fake_hightouch.h"

namespace fake_hightouch {

const char kFaultLanguageHelp[] = R"HELP(FAULTS
  A fault set is one JSON object; setting one replaces the previous set, and an empty
  object clears it. Faults apply to the ingest endpoints (/v1/...) unless "target" says
  otherwise. Every key is optional:

  "target": "ingest" | "rest" | "all"
      Which endpoints the faults apply to (default "ingest"; "rest" is
      GET /api/v1/sources/{id}).
  "statuses": [503, 503, 429, 200]
      The next requests answer these statuses in order, one each; 200 means "behave
      normally" for that request. Afterwards normal behaviour resumes. An injected
      status other than 200 records nothing and answers {"error":"<reason>"}.
  "repeat": true
      Cycle through "statuses" forever instead of stopping after the last one.
  "retry_after": "5"  (or an HTTP-date string, or a number of seconds)
      Sent verbatim as the Retry-After header of injected 429 and 503 answers.
  "retry_after_http_date_in_s": 5
      Sends Retry-After as an HTTP-date this many seconds after the moment of each
      injected 429/503 answer (rounded up to the next whole second). Wins over
      "retry_after" when both are given.
  "latency_ms": 250
      Delays every answer by this much (on top of --latency-ms).
  "hang": true
      Accepts each request and never answers it. Hung requests are released when the
      faults change or the server stops; their connections are then closed without an
      answer, and nothing is recorded.
  "reset_connections": 2
      The next N requests get their TCP connection closed without an answer (the
      client sees an empty reply or a reset). Checked before "hang" and "statuses".
  "poison_message_ids": ["id1", "id2"]
      A request containing an event with one of these messageIds answers 400 as a
      whole and records nothing, as a real single bad event would.

  Order per request: reset_connections, then hang, then latency, then statuses, then
  normal processing (auth, validation, poison ids).
)HELP";

namespace internal {
namespace {

namespace dom = simdjson::dom;

absl::Status FaultError(std::string_view key, std::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("faults: \"", std::string(key), "\" ", std::string(problem)));
}

absl::StatusOr<int64_t> NonNegativeInteger(std::string_view key, dom::element value) {
  int64_t number = 0;
  if (value.get_int64().get(number) || number < 0) {
    return FaultError(key, "must be a non-negative integer");
  }
  return number;
}

absl::StatusOr<bool> Boolean(std::string_view key, dom::element value) {
  bool flag = false;
  if (value.get_bool().get(flag)) return FaultError(key, "must be true or false");
  return flag;
}

bool IsHeaderSafe(std::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<FaultSpec> ParseFaults(std::string_view json) {
  FaultSpec spec;
  bool blank = true;
  for (char c : json) blank = blank && (c == ' ' || c == '\n' || c == '\r' || c == '\t');
  if (blank) return spec;

  dom::parser parser;
  dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root)) {
    return absl::InvalidArgumentError(
        absl::StrCat("faults: malformed JSON: ", simdjson::error_message(error)));
  }
  dom::object object;
  if (root.get_object().get(object)) {
    return absl::InvalidArgumentError("faults: expected a JSON object");
  }
  for (dom::key_value_pair field : object) {
    const std::string_view key = field.key;
    const dom::element value = field.value;
    if (key == "target") {
      std::string_view target;
      if (value.get_string().get(target)) return FaultError(key, "must be a string");
      if (target == "ingest") {
        spec.target = FaultTarget::kIngest;
      } else if (target == "rest") {
        spec.target = FaultTarget::kRest;
      } else if (target == "all") {
        spec.target = FaultTarget::kAll;
      } else {
        return FaultError(key, "must be \"ingest\", \"rest\" or \"all\"");
      }
    } else if (key == "statuses") {
      dom::array statuses;
      if (value.get_array().get(statuses)) return FaultError(key, "must be an array");
      for (dom::element status : statuses) {
        int64_t code = 0;
        if (status.get_int64().get(code) || code < 100 || code > 599) {
          return FaultError(key, "must hold HTTP status codes (100-599)");
        }
        spec.statuses.push_back(static_cast<int>(code));
      }
    } else if (key == "repeat") {
      auto flag = Boolean(key, value);
      if (!flag.ok()) return flag.status();
      spec.repeat = *flag;
    } else if (key == "retry_after") {
      std::string_view text;
      int64_t seconds = 0;
      if (!value.get_string().get(text)) {
        if (text.empty() || !IsHeaderSafe(text)) {
          return FaultError(key, "must be a non-empty single-line string");
        }
        spec.retry_after = std::string(text);
      } else if (!value.get_int64().get(seconds) && seconds >= 0) {
        spec.retry_after = absl::StrCat(seconds);
      } else {
        return FaultError(key, "must be a string or a non-negative integer");
      }
    } else if (key == "retry_after_http_date_in_s") {
      auto seconds = NonNegativeInteger(key, value);
      if (!seconds.ok()) return seconds.status();
      spec.retry_after_http_date_in_s = *seconds;
    } else if (key == "latency_ms") {
      auto latency = NonNegativeInteger(key, value);
      if (!latency.ok()) return latency.status();
      spec.latency_ms = *latency;
    } else if (key == "hang") {
      auto flag = Boolean(key, value);
      if (!flag.ok()) return flag.status();
      spec.hang = *flag;
    } else if (key == "reset_connections") {
      auto count = NonNegativeInteger(key, value);
      if (!count.ok()) return count.status();
      spec.reset_connections = *count;
    } else if (key == "poison_message_ids") {
      dom::array ids;
      if (value.get_array().get(ids)) return FaultError(key, "must be an array of strings");
      for (dom::element id : ids) {
        std::string_view text;
        if (id.get_string().get(text)) return FaultError(key, "must be an array of strings");
        spec.poison_message_ids.emplace_back(text);
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("faults: unknown key \"", std::string(key), "\""));
    }
  }
  if (spec.repeat && spec.statuses.empty()) {
    return FaultError("repeat", "needs a non-empty \"statuses\"");
  }
  return spec;
}

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out.push_back(kHex[byte >> 4]);
          out.push_back(kHex[byte & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string FaultsToJson(const FaultSpec& spec, uint64_t statuses_used,
                         int64_t reset_connections_left) {
  std::string out = "{";
  auto key = [&out](std::string_view name) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(out, name);
    out.push_back(':');
  };
  if (spec.target != FaultTarget::kIngest) {
    key("target");
    out += spec.target == FaultTarget::kRest ? "\"rest\"" : "\"all\"";
  }
  if (!spec.statuses.empty()) {
    key("statuses");
    out.push_back('[');
    for (size_t i = 0; i < spec.statuses.size(); ++i) {
      if (i > 0) out.push_back(',');
      absl::StrAppend(&out, spec.statuses[i]);
    }
    out.push_back(']');
    key("statuses_used");
    absl::StrAppend(&out, statuses_used);
  }
  if (spec.repeat) {
    key("repeat");
    out += "true";
  }
  if (spec.retry_after) {
    key("retry_after");
    AppendJsonString(out, *spec.retry_after);
  }
  if (spec.retry_after_http_date_in_s) {
    key("retry_after_http_date_in_s");
    absl::StrAppend(&out, *spec.retry_after_http_date_in_s);
  }
  if (spec.latency_ms > 0) {
    key("latency_ms");
    absl::StrAppend(&out, spec.latency_ms);
  }
  if (spec.hang) {
    key("hang");
    out += "true";
  }
  if (spec.reset_connections > 0) {
    key("reset_connections");
    absl::StrAppend(&out, spec.reset_connections);
    key("reset_connections_left");
    absl::StrAppend(&out, reset_connections_left);
  }
  if (!spec.poison_message_ids.empty()) {
    key("poison_message_ids");
    out.push_back('[');
    for (size_t i = 0; i < spec.poison_message_ids.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendJsonString(out, spec.poison_message_ids[i]);
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

}  // namespace internal
}  // namespace fake_hightouch
