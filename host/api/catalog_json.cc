#include "catalog_json.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace signal_host::api {
namespace {

namespace v1 = signal::integration::v1;

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  return absl::StrContains(absl::AsciiStrToLower(AbslView(haystack)),
                           absl::AsciiStrToLower(AbslView(needle)));
}

// A field's default is carried as text; the JSON type follows the field's type.
void WriteDefault(JsonWriter& writer, const v1::ConfigField& field) {
  const std::string& text = field.default_value();
  if (field.type() == "number") {
    double number = 0;
    if (absl::SimpleAtod(text, &number)) {
      int64_t integer = 0;
      if (absl::SimpleAtoi(text, &integer)) {
        writer.Int64(integer);
      } else {
        writer.Double(number);
      }
      return;
    }
  } else if (field.type() == "boolean") {
    bool value = false;
    if (absl::SimpleAtob(text, &value)) {
      writer.Bool(value);
      return;
    }
  }
  WriteString(writer, text);
}

void WriteField(JsonWriter& writer, const v1::ConfigField& field) {
  writer.StartObject();
  WriteKey(writer, "key");
  WriteString(writer, field.key());
  WriteKey(writer, "label");
  WriteString(writer, field.label());
  WriteKey(writer, "type");
  WriteString(writer, field.type());
  WriteKey(writer, "required");
  writer.Bool(field.required());
  WriteKey(writer, "placeholder");
  WriteString(writer, field.placeholder());
  WriteKey(writer, "help_text");
  WriteString(writer, field.help_text());
  if (!field.default_value().empty()) {
    WriteKey(writer, "default");
    WriteDefault(writer, field);
  }
  if (field.options_size() > 0) {
    WriteKey(writer, "options");
    writer.StartArray();
    for (const v1::SelectOption& option : field.options()) {
      writer.StartObject();
      WriteKey(writer, "value");
      WriteString(writer, option.value());
      WriteKey(writer, "label");
      WriteString(writer, option.label());
      writer.EndObject();
    }
    writer.EndArray();
  }
  writer.EndObject();
}

void WriteVariant(JsonWriter& writer, const v1::Variant& variant) {
  writer.StartObject();
  WriteKey(writer, "key");
  WriteString(writer, variant.key());
  WriteKey(writer, "name");
  WriteString(writer, variant.name());
  WriteKey(writer, "description");
  WriteString(writer, variant.description());
  WriteKey(writer, "default_config");
  // Re-parsed rather than spliced so a plugin cannot inject arbitrary bytes.
  auto parsed = ParseJson(variant.default_config_json());
  if (parsed.ok() && parsed->IsObject()) {
    parsed->Accept(writer);
  } else {
    writer.StartObject();
    writer.EndObject();
  }
  writer.EndObject();
}

}  // namespace

void WriteCatalogEntry(JsonWriter& writer, const v1::CatalogEntry& entry) {
  writer.StartObject();
  WriteKey(writer, "key");
  WriteString(writer, entry.key());
  WriteKey(writer, "name");
  WriteString(writer, entry.name());
  WriteKey(writer, "description");
  WriteString(writer, entry.description());
  WriteKey(writer, "category");
  WriteString(writer, entry.category());
  WriteKey(writer, "status");
  WriteString(writer, entry.status());
  WriteKey(writer, "website");
  WriteString(writer, entry.website());
  WriteKey(writer, "initials");
  WriteString(writer, entry.initials());
  WriteKey(writer, "brand_color");
  WriteString(writer, entry.brand_color());
  WriteKey(writer, "config_fields");
  writer.StartArray();
  for (const v1::ConfigField& field : entry.config_fields()) WriteField(writer, field);
  writer.EndArray();
  WriteKey(writer, "variants");
  writer.StartArray();
  for (const v1::Variant& variant : entry.variants()) WriteVariant(writer, variant);
  writer.EndArray();
  WriteKey(writer, "delivery_modes");
  writer.StartArray();
  for (const std::string& mode : entry.delivery_modes()) WriteString(writer, mode);
  writer.EndArray();
  WriteKey(writer, "event_mappings");
  writer.StartArray();
  for (const v1::EventMapping& mapping : entry.event_mappings()) {
    writer.StartObject();
    WriteKey(writer, "signal_event");
    WriteString(writer, mapping.signal_event());
    WriteKey(writer, "vendor_concept");
    WriteString(writer, mapping.vendor_concept());
    WriteKey(writer, "notes");
    WriteString(writer, mapping.notes());
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
}

bool CatalogEntryMatches(const v1::CatalogEntry& entry, std::string_view category,
                         std::string_view query) {
  if (!category.empty() && entry.category() != category) return false;
  if (query.empty()) return true;
  return ContainsIgnoreCase(entry.key(), query) || ContainsIgnoreCase(entry.name(), query) ||
         ContainsIgnoreCase(entry.description(), query);
}

}  // namespace signal_host::api
