#include "vendor_error.h"

#include "absl/strings/str_replace.h"
#include "operator_text.h"
#include "rapidjson/document.h"

namespace signal_hightouch {
namespace {

constexpr size_t kMaxBodyParsed = 64 * 1024;

std::string_view TextOf(const rapidjson::Value& value) {
  return std::string_view(value.GetString(), value.GetStringLength());
}

// The member `name` when it is a non-empty string, else nullptr.
const rapidjson::Value* TextMember(const rapidjson::Value& object, const char* name) {
  const auto member = object.FindMember(name);
  if (member == object.MemberEnd() || !member->value.IsString() ||
      member->value.GetStringLength() == 0) {
    return nullptr;
  }
  return &member->value;
}

}  // namespace

std::string VendorErrorText(std::string_view body, const std::vector<std::string_view>& redact) {
  if (body.empty() || body.size() > kMaxBodyParsed) return "";
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError()) return "";
  std::string text;
  if (doc.IsString()) {
    text = TextOf(doc);
  } else if (doc.IsObject()) {
    if (const rapidjson::Value* message = TextMember(doc, "message")) {
      text = TextOf(*message);
    } else if (const rapidjson::Value* error = TextMember(doc, "error")) {
      text = TextOf(*error);
    } else if (const auto error_object = doc.FindMember("error");
               error_object != doc.MemberEnd() && error_object->value.IsObject()) {
      if (const rapidjson::Value* nested = TextMember(error_object->value, "message")) {
        text = TextOf(*nested);
      }
    }
    if (const rapidjson::Value* details = TextMember(doc, "details"); details && !text.empty()) {
      text += Cat(" (", TextOf(*details), ")");
    }
  }
  // A vendor might echo a credential back; it must never reach a message.
  for (std::string_view secret : redact) {
    if (!secret.empty()) absl::StrReplaceAll({{AbslView(secret), "[redacted]"}}, &text);
  }
  return PrintableText(TrimWhitespace(text), kMaxVendorErrorBytes);
}

}  // namespace signal_hightouch
