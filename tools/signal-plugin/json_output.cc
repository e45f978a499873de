#include "json_output.h"

#include <algorithm>
#include <cctype>

#include "google/protobuf/descriptor.h"
#include "rapidjson/document.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace signal_plugin_tool {
namespace {

namespace v1 = signal::integration::v1;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

template <typename Writer>
void WriteString(Writer& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

template <typename Writer>
void WriteKey(Writer& writer, std::string_view key) {
  writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

// Writes `json` as a value when it parses, otherwise as a string holding it.
template <typename Writer>
void WriteEmbeddedJson(Writer& writer, std::string_view json) {
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  if (document.HasParseError()) {
    WriteString(writer, json);
  } else {
    document.Accept(writer);
  }
}

template <typename Writer>
void WriteField(Writer& writer, const Message& message, const FieldDescriptor* field, int index);

template <typename Writer>
void WriteMessage(Writer& writer, const Message& message) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  writer.StartObject();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    WriteKey(writer, field->name());
    if (field->is_repeated()) {
      writer.StartArray();
      const int size = reflection->FieldSize(message, field);
      for (int j = 0; j < size; ++j) WriteField(writer, message, field, j);
      writer.EndArray();
    } else {
      WriteField(writer, message, field, -1);
    }
  }
  writer.EndObject();
}

// One value of `field`: element `index` of a repeated field, or the singular value.
template <typename Writer>
void WriteField(Writer& writer, const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      writer.Int(repeated ? r->GetRepeatedInt32(message, field, index)
                          : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      writer.Int64(repeated ? r->GetRepeatedInt64(message, field, index)
                            : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      writer.Uint(repeated ? r->GetRepeatedUInt32(message, field, index)
                           : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      writer.Uint64(repeated ? r->GetRepeatedUInt64(message, field, index)
                             : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      writer.Double(repeated ? r->GetRepeatedDouble(message, field, index)
                             : r->GetDouble(message, field));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      writer.Double(repeated ? r->GetRepeatedFloat(message, field, index)
                             : r->GetFloat(message, field));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      writer.Bool(repeated ? r->GetRepeatedBool(message, field, index)
                           : r->GetBool(message, field));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      WriteString(writer, EnumValueName(repeated ? r->GetRepeatedEnum(message, field, index)
                                                 : r->GetEnum(message, field)));
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& value =
          repeated ? r->GetRepeatedStringReference(message, field, index, &scratch)
                   : r->GetStringReference(message, field, &scratch);
      WriteString(writer, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteMessage(writer, repeated ? r->GetRepeatedMessage(message, field, index)
                                    : r->GetMessage(message, field));
      break;
  }
}

template <typename Writer>
void WriteCatalogEntry(Writer& w, const v1::CatalogEntry& entry) {
  w.StartObject();
  WriteKey(w, "key");
  WriteString(w, entry.key());
  WriteKey(w, "name");
  WriteString(w, entry.name());
  WriteKey(w, "description");
  WriteString(w, entry.description());
  WriteKey(w, "category");
  WriteString(w, entry.category());
  WriteKey(w, "status");
  WriteString(w, entry.status());
  WriteKey(w, "website");
  WriteString(w, entry.website());
  WriteKey(w, "initials");
  WriteString(w, entry.initials());
  WriteKey(w, "brand_color");
  WriteString(w, entry.brand_color());

  WriteKey(w, "config_fields");
  w.StartArray();
  for (const v1::ConfigField& field : entry.config_fields()) {
    w.StartObject();
    WriteKey(w, "key");
    WriteString(w, field.key());
    WriteKey(w, "label");
    WriteString(w, field.label());
    WriteKey(w, "type");
    WriteString(w, field.type());
    WriteKey(w, "required");
    w.Bool(field.required());
    WriteKey(w, "placeholder");
    WriteString(w, field.placeholder());
    WriteKey(w, "help_text");
    WriteString(w, field.help_text());
    if (field.type() == "select" || field.options_size() > 0) {
      WriteKey(w, "options");
      w.StartArray();
      for (const v1::SelectOption& option : field.options()) {
        w.StartObject();
        WriteKey(w, "value");
        WriteString(w, option.value());
        WriteKey(w, "label");
        WriteString(w, option.label());
        w.EndObject();
      }
      w.EndArray();
    }
    if (!field.default_value().empty()) {
      WriteKey(w, "default");
      WriteString(w, field.default_value());
    }
    w.EndObject();
  }
  w.EndArray();

  WriteKey(w, "variants");
  w.StartArray();
  for (const v1::Variant& variant : entry.variants()) {
    w.StartObject();
    WriteKey(w, "key");
    WriteString(w, variant.key());
    WriteKey(w, "name");
    WriteString(w, variant.name());
    WriteKey(w, "description");
    WriteString(w, variant.description());
    WriteKey(w, "default_config");
    if (variant.default_config_json().empty()) {
      w.StartObject();
      w.EndObject();
    } else {
      WriteEmbeddedJson(w, variant.default_config_json());
    }
    w.EndObject();
  }
  w.EndArray();

  WriteKey(w, "delivery_modes");
  w.StartArray();
  for (const std::string& mode : entry.delivery_modes()) WriteString(w, mode);
  w.EndArray();

  WriteKey(w, "event_mappings");
  w.StartArray();
  for (const v1::EventMapping& mapping : entry.event_mappings()) {
    w.StartObject();
    WriteKey(w, "signal_event");
    WriteString(w, mapping.signal_event());
    WriteKey(w, "vendor_concept");
    WriteString(w, mapping.vendor_concept());
    WriteKey(w, "notes");
    WriteString(w, mapping.notes());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

template <typename Writer>
void WriteMaskedConfig(Writer& writer, std::string_view config_json,
                       const google::protobuf::RepeatedPtrField<std::string>& secret_fields) {
  rapidjson::Document document;
  document.Parse(config_json.data(), config_json.size());
  if (document.HasParseError() || !document.IsObject()) {
    WriteString(writer, config_json);
    return;
  }
  for (const std::string& key : secret_fields) {
    auto member = document.FindMember(
        rapidjson::Value(key.data(), static_cast<rapidjson::SizeType>(key.size())));
    if (member == document.MemberEnd()) continue;
    const bool empty = member->value.IsString() && member->value.GetStringLength() == 0;
    if (!empty) member->value.SetString("***");
  }
  document.Accept(writer);
}

// Renders with a compact or an indented writer.
template <typename Render>
std::string Rendered(bool pretty, Render&& render) {
  rapidjson::StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
    writer.SetIndent(' ', 2);
    render(writer);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    render(writer);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

std::string EnumValueName(const google::protobuf::EnumValueDescriptor* value) {
  if (value == nullptr) return "unknown";
  std::string name = value->name();
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

std::string CatalogEntryJson(const v1::CatalogEntry& entry) {
  return Rendered(true, [&](auto& writer) { WriteCatalogEntry(writer, entry); });
}

std::string MessageJson(const Message& message, bool pretty) {
  return Rendered(pretty, [&](auto& writer) { WriteMessage(writer, message); });
}

std::string MaskedConfigJson(std::string_view config_json,
                             const google::protobuf::RepeatedPtrField<std::string>& secret_fields,
                             bool pretty) {
  return Rendered(pretty,
                  [&](auto& writer) { WriteMaskedConfig(writer, config_json, secret_fields); });
}

std::string JsonString(std::string_view text) {
  return Rendered(false, [&](auto& writer) { WriteString(writer, text); });
}

}  // namespace signal_plugin_tool
