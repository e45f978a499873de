#include "catalog.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "operator_text.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "simdjson.h"
#include "yaml-cpp/yaml.h"

// Defined by the file cmake/EmbedFile.cmake generates from catalog/hightouch.yaml.
extern const char signal_hightouch_catalog_yaml[];
extern const unsigned long signal_hightouch_catalog_yaml_size;

namespace signal_hightouch {
namespace {

using signal::integration::v1::CatalogEntry;
using signal::integration::v1::ConfigField;

using KeySet = std::initializer_list<std::string_view>;  // Backed by static arrays.

const KeySet kCategories = {"advertising",   "analytics",     "attribution",
                            "cdp",           "cloud_storage", "marketing_automation",
                            "notifications", "other"};
const KeySet kStatuses = {"ga", "beta", "alpha"};
const KeySet kFieldTypes = {"string", "secret", "select", "number", "boolean", "textarea"};
const KeySet kDeliveryModes = {"server_side", "client_side", "hybrid"};
const KeySet kSignalEvents = {"page", "track", "identify", "group"};

const KeySet kEntryKeys = {"key",           "name",     "description",    "category",
                           "status",        "website",  "initials",       "brand_color",
                           "config_fields", "variants", "delivery_modes", "event_mappings"};
const KeySet kEntryRequired = {
    "key",     "name",          "description", "category",       "status",
    "website", "config_fields", "variants",    "delivery_modes", "event_mappings"};
const KeySet kFieldKeys = {"key",         "label",     "type",    "required",
                           "placeholder", "help_text", "options", "default_value"};
const KeySet kFieldRequired = {"key", "label", "type"};
const KeySet kOptionKeys = {"value", "label"};
const KeySet kVariantKeys = {"key", "name", "description", "default_config"};
const KeySet kMappingKeys = {"signal_event", "vendor_concept", "notes"};
const KeySet kMappingRequired = {"signal_event", "vendor_concept"};

// Thrown inside this file only; ParseCatalog turns it into a Status.
struct CatalogError {
  std::string message;
};

bool Contains(KeySet set, std::string_view value) {
  for (std::string_view item : set) {
    if (item == value) return true;
  }
  return false;
}

// A value from the YAML as quoted in an error: printable and at most 80 bytes.
std::string Shown(std::string_view value) { return PrintableText(value, 80); }

// Catalog text ends up in proto3 strings and JSON, which must be UTF-8. ParseCatalog checks
// the whole text, and scalars again: yaml-cpp decodes an escaped lone surrogate ("\ud800")
// into bytes that are not UTF-8.
bool IsUtf8(std::string_view text) { return simdjson::validate_utf8(text.data(), text.size()); }

std::string JoinComma(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string OneOf(KeySet set) {
  std::string out;
  for (std::string_view item : set) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line < 0 ? 1 : mark.line + 1;
}

[[noreturn]] void Fail(int line, std::string_view path, std::string_view what) {
  throw CatalogError{Cat("line ", line, ": ", path, ": ", what)};
}

[[noreturn]] void Fail(const YAML::Node& node, std::string_view path, std::string_view what) {
  Fail(LineOf(node), path, what);
}

std::string Join(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : Cat(parent, ".", key);
}

std::string Index(std::string_view parent, size_t i) { return Cat(parent, "[", i, "]"); }

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing (null)";
    default:
      return "an undefined node";
  }
}

// A YAML mapping checked for unknown, duplicate and missing keys. Values are looked
// up by iterating, so the node's own order and marks are kept.
class Mapping {
 public:
  Mapping(const YAML::Node& node, std::string path, KeySet allowed, KeySet required)
      : node_(node), path_(std::move(path)) {
    if (!node.IsMap()) {
      Fail(node, path_.empty() ? "catalog" : path_,
           Cat("expected a mapping, got ", KindName(node)));
    }
    std::set<std::string, std::less<>> seen;
    // Range-for keeps each key/value pair alive; `it->first` would not outlive its proxy.
    for (const auto& pair : node) {
      const YAML::Node key = pair.first;
      if (!key.IsScalar()) Fail(key, path_.empty() ? "catalog" : path_, "keys must be plain text");
      const std::string& name = key.Scalar();
      if (!Contains(allowed, name)) {
        Fail(key, Join(path_, Shown(name)), Cat("unknown key; expected one of ", OneOf(allowed)));
      }
      if (!seen.insert(name).second) Fail(key, Join(path_, name), "key given twice");
    }
    for (std::string_view name : required) {
      if (!seen.contains(name)) {
        Fail(node, Join(path_, name), "required key is missing");
      }
    }
  }

  // The value under `name`, or an undefined node when absent.
  YAML::Node Get(std::string_view name) const {
    for (const auto& pair : node_) {
      if (pair.first.Scalar() == name) return pair.second;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  std::string PathOf(std::string_view name) const { return Join(path_, name); }

  // The line to blame for `name`: its value's, or the key's when the value is empty
  // (yaml-cpp marks an empty value at the next token, often on a later line).
  int LineOfValue(std::string_view name) const {
    for (const auto& pair : node_) {
      if (pair.first.Scalar() != name) continue;
      return pair.second.IsNull() ? LineOf(pair.first) : LineOf(pair.second);
    }
    return LineOf(node_);
  }
  const YAML::Node& node() const { return node_; }

 private:
  YAML::Node node_;
  std::string path_;
};

[[noreturn]] void FailAt(const Mapping& map, std::string_view name, std::string_view what) {
  Fail(map.LineOfValue(name), map.PathOf(name), what);
}

std::string Scalar(const Mapping& map, std::string_view name, bool allow_empty = false) {
  const YAML::Node value = map.Get(name);
  if (!value.IsDefined()) return "";
  if (value.IsNull()) {
    if (allow_empty) return "";
    FailAt(map, name, "must not be empty");
  }
  if (!value.IsScalar()) FailAt(map, name, Cat("expected text, got ", KindName(value)));
  std::string text = value.Scalar();
  if (!IsUtf8(text)) FailAt(map, name, "is not valid UTF-8 text");
  if (!allow_empty && TrimWhitespace(text).empty()) FailAt(map, name, "must not be empty");
  return text;
}

std::string Enum(const Mapping& map, std::string_view name, KeySet allowed, std::string_view what) {
  const std::string value = Scalar(map, name);
  if (!Contains(allowed, value)) {
    FailAt(map, name,
           Cat("unknown ", what, " '", Shown(value), "'; expected one of ", OneOf(allowed)));
  }
  return value;
}

bool IsIdentifier(std::string_view text) {
  if (text.empty() || !absl::ascii_islower(text[0])) return false;
  for (char c : text) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_') return false;
  }
  return true;
}

std::string Identifier(const Mapping& map, std::string_view name) {
  std::string value = Scalar(map, name);
  if (!IsIdentifier(value)) {
    FailAt(map, name,
           Cat("'", Shown(value),
               "' is not an identifier; use lowercase letters, digits and underscores, "
               "starting with a letter"));
  }
  return value;
}

bool Boolean(const Mapping& map, std::string_view name) {
  const YAML::Node value = map.Get(name);
  if (!value.IsDefined()) return false;
  if (value.IsScalar() && value.Tag() != "!") {
    const std::string& text = value.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  FailAt(map, name, "expected true or false");
}

// A list that must hold at least one item.
YAML::Node List(const Mapping& map, std::string_view name) {
  YAML::Node value = map.Get(name);
  if (!value.IsSequence()) {
    FailAt(map, name, Cat("expected a list, got ", KindName(value)));
  }
  if (value.size() == 0) FailAt(map, name, "must hold at least one item");
  return value;
}

// ---- default_config to JSON -------------------------------------------------------

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

bool IsDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// YAML 1.2 core schema integer: [-+]?[0-9]+.
bool LooksLikeInteger(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  return IsDigits(text);
}

// YAML 1.2 core schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool LooksLikeFloat(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  size_t i = 0;
  size_t int_digits = 0;
  while (i < text.size() && absl::ascii_isdigit(text[i])) ++i, ++int_digits;
  size_t frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && absl::ascii_isdigit(text[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    if (!IsDigits(text.substr(i))) return false;
    i = text.size();
  }
  return i == text.size();
}

void WriteScalar(const YAML::Node& node, const std::string& path, JsonWriter& out) {
  const std::string& text = node.Scalar();
  if (!IsUtf8(text)) Fail(node, path, "is not valid UTF-8 text");
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {  // Quoted: a string.
    out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    return;
  }
  if (text == "true" || text == "True" || text == "TRUE") return (void)out.Bool(true);
  if (text == "false" || text == "False" || text == "FALSE") return (void)out.Bool(false);
  if (text == "~" || text == "null" || text == "Null" || text == "NULL") return (void)out.Null();
  if (LooksLikeInteger(text)) {
    std::string_view digits = text;
    if (digits[0] == '+') digits.remove_prefix(1);
    int64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      Fail(node, path, Cat("the number ", text, " does not fit in 64 bits"));
    }
    out.Int64(value);
    return;
  }
  if (LooksLikeFloat(text)) {
    std::string_view digits = text;
    if (digits[0] == '+') digits.remove_prefix(1);
    double value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      Fail(node, path, Cat("the number ", text, " is out of range"));
    }
    out.Double(value);
    return;
  }
  if (text == ".inf" || text == "-.inf" || text == "+.inf" || text == ".nan" || text == ".NaN" ||
      text == ".Inf" || text == "-.Inf" || text == ".INF" || text == "-.INF" || text == ".NAN") {
    Fail(node, path, "infinity and NaN cannot be written as JSON");
  }
  out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

// A variant's default_config is a handful of settings. These bounds stop a hostile
// catalog from recursing without end (an alias inside its own anchor is a cycle) or
// multiplying through nested aliases ("billion laughs"); plain YAML nesting is already
// bounded by yaml-cpp's depth guard.
constexpr int kMaxDefaultConfigDepth = 256;
constexpr size_t kMaxDefaultConfigValues = 10000;

void WriteJson(const YAML::Node& node, const std::string& path, JsonWriter& out, int depth,
               size_t& values_left) {
  // The path is as deep as the nesting: an error names only its start.
  if (depth > kMaxDefaultConfigDepth) {
    Fail(node, PrintableText(path, 120),
         Cat("nested deeper than ", kMaxDefaultConfigDepth,
             " levels (an alias used inside its own anchor never ends)"));
  }
  if (values_left == 0) {
    Fail(node, PrintableText(path, 120),
         Cat("more than ", kMaxDefaultConfigValues,
             " values (each use of an alias counts its values again)"));
  }
  --values_left;
  switch (node.Type()) {
    case YAML::NodeType::Null:
      out.Null();
      return;
    case YAML::NodeType::Scalar:
      WriteScalar(node, path, out);
      return;
    case YAML::NodeType::Sequence: {
      out.StartArray();
      size_t i = 0;
      for (const YAML::Node& item : node) {
        WriteJson(item, Index(path, i++), out, depth + 1, values_left);
      }
      out.EndArray();
      return;
    }
    case YAML::NodeType::Map: {
      out.StartObject();
      std::set<std::string, std::less<>> seen;
      for (const auto& pair : node) {
        if (!pair.first.IsScalar()) Fail(pair.first, path, "keys must be plain text");
        const std::string key = pair.first.Scalar();
        if (!IsUtf8(key)) {
          Fail(pair.first, path, Cat("key '", Shown(key), "' is not valid UTF-8"));
        }
        if (!seen.insert(key).second) Fail(pair.first, Join(path, Shown(key)), "key given twice");
        out.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
        WriteJson(pair.second, Join(path, key), out, depth + 1, values_left);
      }
      out.EndObject();
      return;
    }
    default:
      Fail(node, path, "undefined value");
  }
}

// ---- entry parts ---------------------------------------------------------------------

void ParseField(const YAML::Node& node, const std::string& path, ConfigField& field) {
  Mapping map(node, path, kFieldKeys, kFieldRequired);
  field.set_key(Identifier(map, "key"));
  field.set_label(Scalar(map, "label"));
  field.set_type(Enum(map, "type", kFieldTypes, "type"));
  field.set_required(Boolean(map, "required"));
  field.set_placeholder(Scalar(map, "placeholder", /*allow_empty=*/true));
  field.set_help_text(Scalar(map, "help_text", /*allow_empty=*/true));
  field.set_default_value(Scalar(map, "default_value", /*allow_empty=*/true));

  const YAML::Node options = map.Get("options");
  if (field.type() != "select") {
    if (options.IsDefined()) {
      FailAt(map, "options",
             Cat("only select fields have options; this field's type is ", field.type()));
    }
    return;
  }
  if (!options.IsDefined()) Fail(node, map.PathOf("options"), "a select field needs options");
  const YAML::Node list = List(map, "options");
  std::set<std::string, std::less<>> values;
  std::vector<std::string> in_order;
  size_t i = 0;
  for (const YAML::Node& item : list) {
    const std::string item_path = Index(map.PathOf("options"), i++);
    Mapping option(item, item_path, kOptionKeys, kOptionKeys);
    auto* out = field.add_options();
    out->set_value(Scalar(option, "value"));
    out->set_label(Scalar(option, "label"));
    in_order.push_back(out->value());
    if (!values.insert(out->value()).second) {
      FailAt(option, "value", Cat("option '", Shown(out->value()), "' is listed twice"));
    }
  }
  if (field.default_value().empty()) {
    Fail(node, map.PathOf("default_value"),
         Cat("a select field needs a default among its options: ", JoinComma(in_order)));
  }
  if (!values.contains(field.default_value())) {
    FailAt(map, "default_value",
           Cat("default '", Shown(field.default_value()),
               "' is not one of the options: ", JoinComma(in_order)));
  }
}

void ParseEntry(const YAML::Node& root, CatalogEntry& entry) {
  if (!root.IsDefined() || root.IsNull()) Fail(1, "catalog", "the document is empty");
  Mapping map(root, "", kEntryKeys, kEntryRequired);

  entry.set_key(Identifier(map, "key"));
  entry.set_name(Scalar(map, "name"));
  entry.set_description(Scalar(map, "description"));
  entry.set_category(Enum(map, "category", kCategories, "category"));
  entry.set_status(Enum(map, "status", kStatuses, "status"));
  entry.set_website(Scalar(map, "website"));
  if (!entry.website().starts_with("https://") && !entry.website().starts_with("http://")) {
    FailAt(map, "website", "expected an http:// or https:// address");
  }
  entry.set_initials(Scalar(map, "initials", /*allow_empty=*/true));
  if (entry.initials().size() > 3) {
    FailAt(map, "initials", "at most three characters");
  }
  entry.set_brand_color(Scalar(map, "brand_color", /*allow_empty=*/true));
  if (!entry.brand_color().empty()) {
    const std::string& color = entry.brand_color();
    bool ok = color.size() == 7 && color[0] == '#';
    for (size_t i = 1; ok && i < color.size(); ++i) ok = absl::ascii_isxdigit(color[i]);
    if (!ok) FailAt(map, "brand_color", "expected #rrggbb, e.g. \"#3f6212\"");
  }

  std::set<std::string, std::less<>> field_keys;
  size_t i = 0;
  for (const YAML::Node& item : List(map, "config_fields")) {
    const std::string path = Index("config_fields", i++);
    ConfigField* field = entry.add_config_fields();
    ParseField(item, path, *field);
    if (!field_keys.insert(field->key()).second) {
      Fail(item["key"], path + ".key",
           Cat("field key '", field->key(), "' is used by an earlier field"));
    }
  }

  std::set<std::string, std::less<>> variant_keys;
  i = 0;
  for (const YAML::Node& item : List(map, "variants")) {
    const std::string path = Index("variants", i++);
    Mapping variant(item, path, kVariantKeys, kVariantKeys);
    auto* out = entry.add_variants();
    out->set_key(Identifier(variant, "key"));
    if (!variant_keys.insert(out->key()).second) {
      FailAt(variant, "key", Cat("variant key '", out->key(), "' is used by an earlier variant"));
    }
    out->set_name(Scalar(variant, "name"));
    out->set_description(Scalar(variant, "description"));
    const YAML::Node defaults = variant.Get("default_config");
    if (!defaults.IsMap()) {
      FailAt(variant, "default_config",
             Cat("expected a mapping of config keys to values, got ", KindName(defaults)));
    }
    rapidjson::StringBuffer buffer;
    JsonWriter writer(buffer);
    size_t values_left = kMaxDefaultConfigValues;
    WriteJson(defaults, variant.PathOf("default_config"), writer, 1, values_left);
    out->set_default_config_json(buffer.GetString(), buffer.GetSize());
  }

  std::set<std::string, std::less<>> modes;
  const std::string modes_path = "delivery_modes";
  i = 0;
  for (const YAML::Node& item : List(map, "delivery_modes")) {
    const std::string path = Index(modes_path, i++);
    if (!item.IsScalar()) Fail(item, path, Cat("expected text, got ", KindName(item)));
    const std::string& mode = item.Scalar();
    if (!Contains(kDeliveryModes, mode)) {
      Fail(item, path,
           Cat("unknown delivery mode '", Shown(mode), "'; expected one of ",
               OneOf(kDeliveryModes)));
    }
    if (!modes.insert(mode).second) Fail(item, path, Cat("'", Shown(mode), "' is listed twice"));
    entry.add_delivery_modes(mode);
  }

  std::set<std::string, std::less<>> events;
  i = 0;
  for (const YAML::Node& item : List(map, "event_mappings")) {
    const std::string path = Index("event_mappings", i++);
    Mapping mapping(item, path, kMappingKeys, kMappingRequired);
    auto* out = entry.add_event_mappings();
    out->set_signal_event(Enum(mapping, "signal_event", kSignalEvents, "Signal event"));
    if (!events.insert(out->signal_event()).second) {
      FailAt(mapping, "signal_event", Cat("'", out->signal_event(), "' is mapped twice"));
    }
    out->set_vendor_concept(Scalar(mapping, "vendor_concept"));
    out->set_notes(Scalar(mapping, "notes", /*allow_empty=*/true));
  }
}

}  // namespace

absl::StatusOr<CatalogEntry> ParseCatalog(std::string_view yaml_text) {
  CatalogEntry entry;
  if (!IsUtf8(yaml_text)) {
    return absl::InvalidArgumentError("catalog: the text is not valid UTF-8");
  }
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    ParseEntry(root, entry);
  } catch (const CatalogError& error) {
    return absl::InvalidArgumentError(error.message);
  } catch (const YAML::ParserException& error) {
    // yaml-cpp may quote a single byte of the text (an escape it does not know).
    return absl::InvalidArgumentError(
        Cat("line ", std::max(error.mark.line, 0) + 1,
            ": catalog: YAML syntax error: ", PrintableText(error.msg, 200)));
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(Cat("catalog: ", PrintableText(error.what(), 200)));
  }
  return entry;
}

std::string_view EmbeddedCatalogYaml() {
  return std::string_view(signal_hightouch_catalog_yaml, signal_hightouch_catalog_yaml_size);
}

absl::StatusOr<const CatalogEntry*> EmbeddedCatalog() {
  // Parsed once; the embedded text cannot change while the library is loaded. A
  // static object rather than a leaked pointer: the host unloads plugins with
  // dlclose, which runs this destructor, so nothing is left behind per load.
  static const absl::StatusOr<CatalogEntry> kParsed = ParseCatalog(EmbeddedCatalogYaml());
  if (!kParsed.ok()) return kParsed.status();
  return &kParsed.value();
}

}  // namespace signal_hightouch
