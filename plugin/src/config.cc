#include "config.h"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "operator_text.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

// merged_config_json keeps the operator's values exactly as given (for example
// "ws-12345" stays "ws-12345"): it is what the host stores and shows back, and the
// typed normalisations are applied each time ParseMergedConfig reads it, so reading a
// stored config twice can never drift. Keys appear in the user's order, followed by
// the variant defaults the user did not set; JSON nulls are dropped (they mean "use
// the default").

namespace signal_hightouch {
namespace {

using signal::integration::v1::CatalogEntry;
using signal::integration::v1::ConfigField;
using signal::integration::v1::DeliverySettings;
using signal::integration::v1::FieldViolation;
using signal::integration::v1::ValidateConfigResponse;

// Configs are a handful of short fields; anything this big is a mistake or an attack.
constexpr size_t kMaxConfigBytes = 64 * 1024;
constexpr size_t kMaxKeyLength = 512;
constexpr size_t kMaxSourceIdLength = 128;
constexpr size_t kMaxWorkspaceDigits = 18;  // Fits in a signed 64-bit integer.
// A valid config is one flat object; the bound only has to keep the recursive copy
// and write of the merged config (and RapidJSON's destructors) far from any stack's end.
constexpr int kMaxConfigDepth = 32;

constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

constexpr std::string_view kConsentCategories[] = {"essential", "functional",  "analytics",
                                                   "marketing", "advertising", "personalization"};

// Delivery settings: keys of the variant's default_config that are not config fields.
struct NumericSetting {
  std::string_view key;
  double min;
  double max;
  bool whole;            // Must be an integer.
  std::string_view why;  // Why the bounds are what they are, for the message.
};

constexpr NumericSetting kNumericSettings[] = {
    {"batch_size", 1, kMaxBatchSize, true, "Hightouch accepts at most 500 events per request"},
    {"batch_interval_ms", 100, 60000, true, "the wait before a partial batch is sent"},
    {"rate_limit_rps", 0.1, 1000, false, "requests per second to Hightouch"},
    {"rate_limit_burst", 1, 10000, true, "requests that may be sent at once"},
    {"max_attempts", 1, 50, true, "delivery attempts per event"},
    {"retry_window_hours", 1, 168, true, "Hightouch drops events older than 7 days"},
};
constexpr std::string_view kConsentKey = "consent_category";

// Values and user-given key names as they may appear in a message or a violation's
// field: printable UTF-8, cut at 80 bytes.
std::string Shown(std::string_view value) { return PrintableText(value, 80); }

template <typename List>
std::string JoinComma(const List& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

const char* JsonKind(const rapidjson::Value& value) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "true/false";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "a list";
    case rapidjson::kStringType:
      return "text";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "an unknown value";
}

std::string_view StringOf(const rapidjson::Value& value) {
  return std::string_view(value.GetString(), value.GetStringLength());
}

std::string FormatNumber(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return Cat(static_cast<int64_t>(value));
  }
  return Cat(value);
}

// The digits of a workspace ID, or empty when `value` is not one.
std::string NormaliseWorkspaceId(std::string_view value) {
  if (StartsWithNoCase(value, "ws-")) value.remove_prefix(3);
  if (value.empty() || value.size() > kMaxWorkspaceDigits) return "";
  for (char c : value) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return "";
  }
  return std::string(value);
}

// Printable ASCII without spaces: safe in an Authorization header.
bool IsHeaderSafeToken(std::string_view value) {
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F) return false;
  }
  return true;
}

class ConfigChecker {
 public:
  explicit ConfigChecker(const CatalogEntry& entry) : entry_(entry) {}

  void Check(const rapidjson::Value& config) {
    FindDuplicates(config);
    for (const ConfigField& field : entry_.config_fields()) CheckField(field, config);
    for (const NumericSetting& setting : kNumericSettings) CheckNumber(setting, config);
    CheckConsent(config);
    for (auto it = config.MemberBegin(); it != config.MemberEnd(); ++it) {
      const std::string_view key = StringOf(it->name);
      if (!IsKnownKey(key)) {
        Add(Shown(key), "unknown_field",
            Cat("'", Shown(key), "' is not a Hightouch setting; remove it. Config fields: ",
                FieldList(), ". Delivery settings: ", SettingList(), "."));
      }
    }
  }

  void Add(std::string field, std::string_view code, std::string message) {
    FieldViolation& violation = violations_.emplace_back();
    violation.set_field(std::move(field));
    violation.set_code(std::string(code));
    violation.set_message(std::move(message));
  }

  const std::vector<FieldViolation>& violations() const { return violations_; }
  const HightouchConfig& config() const { return config_; }

  // A key given twice is ambiguous (parsers disagree on which copy wins): refuse it.
  void FindDuplicates(const rapidjson::Value& config) {
    std::set<std::string_view> seen;
    std::set<std::string_view> reported;
    for (auto it = config.MemberBegin(); it != config.MemberEnd(); ++it) {
      const std::string_view key = StringOf(it->name);
      if (!seen.insert(key).second && reported.insert(key).second) {
        Add(Shown(key), "invalid_format",
            Cat("'", Shown(key), "' is given more than once; give it once"));
      }
    }
  }

 private:
  bool IsKnownKey(std::string_view key) const {
    for (const ConfigField& field : entry_.config_fields()) {
      if (field.key() == key) return true;
    }
    for (const NumericSetting& setting : kNumericSettings) {
      if (setting.key == key) return true;
    }
    return key == kConsentKey;
  }

  std::string FieldList() const {
    std::vector<std::string> keys;
    for (const ConfigField& field : entry_.config_fields()) keys.push_back(field.key());
    return JoinComma(keys);
  }

  static std::string SettingList() {
    std::vector<std::string_view> keys;
    for (const NumericSetting& setting : kNumericSettings) keys.push_back(setting.key);
    keys.push_back(kConsentKey);
    return JoinComma(keys);
  }

  // The first non-null value under `key`, or nullptr: null means "use the default".
  static const rapidjson::Value* Find(const rapidjson::Value& config, std::string_view key) {
    for (auto it = config.MemberBegin(); it != config.MemberEnd(); ++it) {
      if (StringOf(it->name) == key) return it->value.IsNull() ? nullptr : &it->value;
    }
    return nullptr;
  }

  void CheckField(const ConfigField& field, const rapidjson::Value& config) {
    const std::string& key = field.key();
    const bool secret = field.type() == "secret";
    const rapidjson::Value* value = Find(config, key);
    const bool expects_text = field.type() == "string" || secret || field.type() == "select" ||
                              field.type() == "textarea";
    const bool empty = value != nullptr && value->IsString() && value->GetStringLength() == 0;
    if (value == nullptr || empty) {
      if (field.required()) {
        Add(key, "required", Cat(field.label(), " (", key, ") is required. ", field.help_text()));
      } else if (!field.default_value().empty()) {
        Assign(key, field.default_value());
      }
      return;
    }
    if (expects_text && !value->IsString()) {
      // An example helps, except for secrets (whose placeholder is an instruction).
      std::string example =
          field.options_size() > 0 ? field.options(0).value() : field.placeholder();
      if (secret || example.empty()) {
        example.clear();
      } else {
        example = Cat(", e.g. \"", example, "\"");
      }
      Add(key, "wrong_type",
          Cat(key, " must be text (a JSON string)", example, "; got ", JsonKind(*value)));
      return;
    }
    if (field.type() == "number" && !value->IsNumber()) {
      Add(key, "wrong_type", Cat(key, " must be a number; got ", JsonKind(*value)));
      return;
    }
    if (field.type() == "boolean" && !value->IsBool()) {
      Add(key, "wrong_type", Cat(key, " must be true or false; got ", JsonKind(*value)));
      return;
    }
    if (!value->IsString()) return;
    const std::string_view text = StringOf(*value);

    if (field.type() == "select") {
      bool known = false;
      std::vector<std::string> allowed;
      for (const auto& option : field.options()) {
        known = known || option.value() == text;
        allowed.push_back(option.value());
      }
      if (!known) {
        Add(key, "unknown_option",
            Cat(key, " '", Shown(text), "' is not one of ", JoinComma(allowed), ". ",
                field.help_text()));
        return;
      }
    }
    if (CheckFormat(field, text)) Assign(key, text);
  }

  // Hightouch's own rules for the fields it knows. True when the value is usable.
  bool CheckFormat(const ConfigField& field, std::string_view text) {
    const std::string& key = field.key();
    if (key == "workspace_id") {
      if (NormaliseWorkspaceId(text).empty()) {
        Add(key, "invalid_format",
            Cat("workspace_id must be the number in your Hightouch dashboard address "
                "(app.hightouch.com/workspaces/12345), e.g. 12345 or ws-12345, at most ",
                kMaxWorkspaceDigits, " digits; got '", Shown(text), "'"));
        return false;
      }
    } else if (key == "source_id") {
      bool clean = true;
      for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        clean = clean && byte > 0x20 && byte != 0x7F && c != '/' && c != '\\';
      }
      if (!clean || text.size() > kMaxSourceIdLength) {
        Add(key, "invalid_format",
            Cat("source_id must be the ID shown on the HTTP Events source's detail page: at most ",
                kMaxSourceIdLength, " characters, without spaces, line breaks or slashes; got '",
                Shown(text), "'", text.size() > kMaxSourceIdLength ? " (too long)" : ""));
        return false;
      }
    } else if (field.type() == "secret") {
      // The value is never echoed: say only what is wrong with it.
      if (text.size() > kMaxKeyLength) {
        Add(key, "invalid_format",
            Cat(key, " is ", text.size(),
                " characters long; Hightouch keys are far shorter (at most ", kMaxKeyLength,
                " accepted). Paste only the key itself."));
        return false;
      }
      if (!IsHeaderSafeToken(text)) {
        Add(key, "invalid_format",
            Cat(key, " contains a space, line break, control or non-ASCII character; copy the key ",
                "again from Hightouch and paste it without surrounding whitespace."));
        return false;
      }
    }
    return true;
  }

  void Assign(const std::string& key, std::string_view text) {
    if (key == "api_key") {
      config_.api_key = text;
    } else if (key == "workspace_id") {
      config_.workspace_id = NormaliseWorkspaceId(text);
    } else if (key == "source_id") {
      config_.source_id = text;
    } else if (key == "write_key") {
      config_.write_key = text;
    } else if (key == "region") {
      config_.region = text;
    }
  }

  void CheckNumber(const NumericSetting& setting, const rapidjson::Value& config) {
    const rapidjson::Value* value = Find(config, setting.key);
    if (value == nullptr) return;  // The typed default applies.
    const std::string key(setting.key);
    const std::string bounds =
        Cat("between ", FormatNumber(setting.min), " and ", FormatNumber(setting.max));
    if (!value->IsNumber()) {
      Add(key, "wrong_type",
          Cat(key, " must be a ", setting.whole ? "whole number" : "number", " ", bounds, "; got ",
              JsonKind(*value)));
      return;
    }
    const double number = value->GetDouble();
    if (setting.whole && number != std::floor(number)) {
      Add(key, "wrong_type",
          Cat(key, " must be a whole number ", bounds, "; got ", FormatNumber(number)));
      return;
    }
    if (!(number >= setting.min && number <= setting.max)) {
      Add(key, "out_of_range",
          Cat(key, " must be ", bounds, " (", setting.why, "); got ", FormatNumber(number)));
      return;
    }
    const auto whole = static_cast<uint32_t>(number);
    if (setting.key == "batch_size")
      config_.batch_size = whole;
    else if (setting.key == "batch_interval_ms")
      config_.batch_interval_ms = whole;
    else if (setting.key == "rate_limit_rps")
      config_.rate_limit_rps = number;
    else if (setting.key == "rate_limit_burst")
      config_.rate_limit_burst = whole;
    else if (setting.key == "max_attempts")
      config_.max_attempts = whole;
    else if (setting.key == "retry_window_hours")
      config_.retry_window_hours = whole;
  }

  void CheckConsent(const rapidjson::Value& config) {
    const rapidjson::Value* value = Find(config, kConsentKey);
    if (value == nullptr) return;
    const std::string key(kConsentKey);
    const std::string allowed = JoinComma(kConsentCategories);
    if (!value->IsString()) {
      Add(key, "wrong_type",
          Cat(key, " must be text, one of ", allowed, "; got ", JsonKind(*value)));
      return;
    }
    const std::string_view text = StringOf(*value);
    for (std::string_view category : kConsentCategories) {
      if (category == text) {
        config_.consent_category = text;
        return;
      }
    }
    Add(key, "unknown_option",
        Cat(key, " '", Shown(text), "' is not a Signal consent category; use one of ", allowed));
  }

  const CatalogEntry& entry_;
  std::vector<FieldViolation> violations_;
  HightouchConfig config_;
};

// Reads JSON without building anything and stops at the first thing the merged config
// could not carry: nesting past kMaxConfigDepth (checked before any tree exists, so none
// deeper ever does), a string whose escapes decode to invalid UTF-8 (RapidJSON 1.1 lets a
// lone low surrogate such as \udc00 through), or a number too large for a double (it
// would read as infinity, which JSON cannot write back).
class ConfigTextCheck
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ConfigTextCheck> {
 public:
  bool StartObject() { return Enter(); }
  bool EndObject(rapidjson::SizeType) { return Leave(); }
  bool StartArray() { return Enter(); }
  bool EndArray(rapidjson::SizeType) { return Leave(); }
  bool String(const char* text, rapidjson::SizeType length, bool) { return Text(text, length); }
  bool Key(const char* text, rapidjson::SizeType length, bool) { return Text(text, length); }
  bool Double(double value) {
    if (std::isfinite(value)) return true;
    problem_ = "the config holds a number too large to store; use a value within the field's range";
    return false;
  }

  // Empty when the text passed every check the handler makes.
  const std::string& problem() const { return problem_; }

 private:
  bool Enter() {
    if (++depth_ <= kMaxConfigDepth) return true;
    problem_ = Cat("the config nests lists or objects more than ", kMaxConfigDepth,
                   " levels deep; send one flat JSON object of field names to values");
    return false;
  }
  bool Leave() {
    --depth_;
    return true;
  }
  bool Text(const char* text, rapidjson::SizeType length) {
    rapidjson::MemoryStream bytes(text, length);
    rapidjson::StringBuffer sink;
    while (bytes.Tell() < length) {
      if (!rapidjson::UTF8<>::Validate(bytes, sink)) {
        problem_ = "the config holds a string escape that is not a valid character (such as a "
                   "lone surrogate \\udc00); send text as UTF-8";
        return false;
      }
    }
    return true;
  }

  int depth_ = 0;
  std::string problem_;
};

// Parses `json` as an object into `doc`. On failure returns the operator message.
std::string ParseObject(std::string_view json, rapidjson::Document& doc) {
  if (json.size() > kMaxConfigBytes) {
    return Cat("the config is ", json.size(), " bytes; at most ", kMaxConfigBytes,
               " are accepted. Send only the Hightouch fields and delivery settings.");
  }
  ConfigTextCheck text_check;
  rapidjson::MemoryStream stream(json.data(), json.size());
  rapidjson::Reader reader;
  const rapidjson::ParseResult checked = reader.Parse<kParseFlags>(stream, text_check);
  if (!text_check.problem().empty()) return text_check.problem();
  if (checked.IsError()) {
    // The text itself is never quoted: it may hold a key.
    return Cat("the config is not valid JSON (", rapidjson::GetParseError_En(checked.Code()),
               " at byte ", checked.Offset(),
               "); send a JSON object such as {\"api_key\": \"...\", "
               "\"workspace_id\": \"12345\", \"source_id\": \"67890\"}");
  }
  doc.Parse<kParseFlags>(json.data(), json.size());
  if (doc.HasParseError()) {  // Cannot happen after the check above; kept as a guard.
    return Cat("the config could not be read (",
               rapidjson::GetParseError_En(doc.GetParseError()), ")");
  }
  if (!doc.IsObject()) {
    return Cat("the config must be a JSON object of field names to values; got ", JsonKind(doc));
  }
  return "";
}

}  // namespace

ValidateConfigResponse ValidateConfig(const CatalogEntry& entry, std::string_view variant,
                                      std::string_view user_config_json) {
  ValidateConfigResponse response;
  for (const ConfigField& field : entry.config_fields()) {
    if (field.type() == "secret") response.add_secret_fields(field.key());
  }
  ConfigChecker checker(entry);

  // The variant's defaults.
  rapidjson::Document defaults(rapidjson::kObjectType);
  const signal::integration::v1::Variant* chosen = nullptr;
  if (variant.empty() && entry.variants_size() > 0) chosen = &entry.variants(0);
  for (const auto& candidate : entry.variants()) {
    if (!variant.empty() && candidate.key() == variant) chosen = &candidate;
  }
  if (chosen == nullptr) {
    std::vector<std::string> keys;
    for (const auto& candidate : entry.variants()) keys.push_back(candidate.key());
    checker.Add("variant", "unknown_option",
                Cat("variant '", Shown(variant), "' does not exist; use one of ", JoinComma(keys),
                    " (or leave it empty for the first)"));
  } else {
    if (!ParseObject(chosen->default_config_json(), defaults).empty()) {
      checker.Add("variant", "invalid_format",
                  Cat("the catalog's defaults for variant '", chosen->key(),
                      "' are not a JSON object; this is a plugin defect"));
      defaults.SetObject();
    }
    response.set_variant(chosen->key());
  }

  // The user's config; an empty body means no fields were given.
  rapidjson::Document user;
  const std::string_view user_text =
      TrimWhitespace(user_config_json).empty() ? std::string_view("{}") : user_config_json;
  if (std::string problem = ParseObject(user_text, user); !problem.empty()) {
    checker.Add("config", "wrong_type", std::move(problem));
    for (const FieldViolation& violation : checker.violations()) {
      *response.add_violations() = violation;
    }
    return response;
  }

  // Merge: user values win; nulls and absent keys take the default.
  rapidjson::Document merged(rapidjson::kObjectType);
  auto& allocator = merged.GetAllocator();
  std::set<std::string_view> taken;
  for (auto it = user.MemberBegin(); it != user.MemberEnd(); ++it) {
    const std::string_view key = StringOf(it->name);
    if (it->value.IsNull() || !taken.insert(key).second) continue;
    merged.AddMember(rapidjson::Value(it->name, allocator), rapidjson::Value(it->value, allocator),
                     allocator);
  }
  for (auto it = defaults.MemberBegin(); it != defaults.MemberEnd(); ++it) {
    if (taken.contains(StringOf(it->name)) || it->value.IsNull()) continue;
    merged.AddMember(rapidjson::Value(it->name, allocator), rapidjson::Value(it->value, allocator),
                     allocator);
  }
  // Duplicates are judged on the user's text (the merge keeps the first copy), the
  // rest on the merged config.
  checker.FindDuplicates(user);
  checker.Check(merged);

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  merged.Accept(writer);
  response.set_merged_config_json(buffer.GetString(), buffer.GetSize());

  for (const FieldViolation& violation : checker.violations()) {
    *response.add_violations() = violation;
  }
  response.set_valid(response.violations().empty());
  if (response.valid()) *response.mutable_delivery() = DeliverySettingsFor(checker.config());
  return response;
}

absl::StatusOr<HightouchConfig> ParseMergedConfig(const CatalogEntry& entry,
                                                  std::string_view merged_config_json) {
  rapidjson::Document doc;
  if (std::string problem = ParseObject(merged_config_json, doc); !problem.empty()) {
    return absl::InvalidArgumentError(Cat("config: ", problem));
  }
  ConfigChecker checker(entry);
  checker.Check(doc);
  if (!checker.violations().empty()) {
    const FieldViolation& first = checker.violations().front();
    return absl::InvalidArgumentError(Cat(first.field(), ": ", first.message()));
  }
  return checker.config();
}

DeliverySettings DeliverySettingsFor(const HightouchConfig& config) {
  DeliverySettings settings;
  settings.set_max_events_per_request(config.batch_size);
  settings.set_max_bytes_per_request(kMaxRequestBytes);
  settings.set_max_event_bytes(kMaxEventBytes);
  settings.set_batch_interval_ms(config.batch_interval_ms);
  settings.set_rate_limit_rps(config.rate_limit_rps);
  settings.set_rate_limit_burst(config.rate_limit_burst);
  auto* retry = settings.mutable_retry();
  retry->set_max_attempts(config.max_attempts);
  retry->set_retry_window_s(uint64_t{config.retry_window_hours} * 3600);
  retry->set_initial_backoff_ms(1000);
  retry->set_max_backoff_ms(300000);
  retry->set_max_retry_after_s(300);
  settings.set_consent_category(config.consent_category);
  settings.set_connect_timeout_ms(5000);
  settings.set_request_timeout_ms(15000);
  return settings;
}

}  // namespace signal_hightouch
