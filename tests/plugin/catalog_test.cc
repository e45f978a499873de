// The catalog parser, the real catalog/hightouch.yaml (from the source tree and as
// embedded in the library), and catalogs with deliberate mistakes.

#include "catalog.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace signal_hightouch {
namespace {

using signal::integration::v1::CatalogEntry;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string SourceCatalogText() { return ReadFile(SIGNAL_SOURCE_DIR "/catalog/hightouch.yaml"); }

std::string FixtureText(const std::string& name) {
  return ReadFile(SIGNAL_SOURCE_DIR "/tests/plugin/catalog_fixtures/" + name);
}

// The facts the product page and DESIGN.md fix for the Hightouch entry.
void ExpectHightouchFacts(const CatalogEntry& entry) {
  EXPECT_EQ(entry.key(), "hightouch");
  EXPECT_EQ(entry.name(), "Hightouch");
  EXPECT_EQ(entry.category(), "cdp");
  EXPECT_EQ(entry.status(), "beta");
  EXPECT_THAT(entry.website(), StartsWith("https://"));
  EXPECT_FALSE(entry.description().empty());
  EXPECT_EQ(entry.initials(), "HT");
  EXPECT_EQ(entry.brand_color(), "#3f6212");

  ASSERT_EQ(entry.config_fields_size(), 5);
  const auto& api_key = entry.config_fields(0);
  EXPECT_EQ(api_key.key(), "api_key");
  EXPECT_EQ(api_key.type(), "secret");
  EXPECT_TRUE(api_key.required());
  EXPECT_FALSE(api_key.help_text().empty());
  const auto& workspace = entry.config_fields(1);
  EXPECT_EQ(workspace.key(), "workspace_id");
  EXPECT_EQ(workspace.type(), "string");
  EXPECT_TRUE(workspace.required());
  const auto& source = entry.config_fields(2);
  EXPECT_EQ(source.key(), "source_id");
  EXPECT_EQ(source.type(), "string");
  EXPECT_TRUE(source.required());
  const auto& write_key = entry.config_fields(3);
  EXPECT_EQ(write_key.key(), "write_key");
  EXPECT_EQ(write_key.type(), "secret");
  EXPECT_FALSE(write_key.required());
  const auto& region = entry.config_fields(4);
  EXPECT_EQ(region.key(), "region");
  EXPECT_EQ(region.type(), "select");
  EXPECT_FALSE(region.required());
  EXPECT_EQ(region.default_value(), "us-east-1");
  ASSERT_EQ(region.options_size(), 3);
  EXPECT_EQ(region.options(0).value(), "us-east-1");
  EXPECT_EQ(region.options(1).value(), "eu-west-1");
  EXPECT_EQ(region.options(2).value(), "ap-south-1");
  for (const auto& option : region.options()) EXPECT_FALSE(option.label().empty());

  ASSERT_EQ(entry.variants_size(), 1);
  EXPECT_EQ(entry.variants(0).key(), "default");
  EXPECT_EQ(entry.variants(0).name(), "Default");
  EXPECT_THAT(entry.delivery_modes(), ElementsAre("server_side"));

  ASSERT_EQ(entry.event_mappings_size(), 4);
  EXPECT_EQ(entry.event_mappings(0).signal_event(), "page");
  EXPECT_EQ(entry.event_mappings(1).signal_event(), "track");
  EXPECT_EQ(entry.event_mappings(2).signal_event(), "identify");
  EXPECT_EQ(entry.event_mappings(3).signal_event(), "group");
  for (const auto& mapping : entry.event_mappings()) {
    EXPECT_EQ(mapping.vendor_concept(), "Event record");
    EXPECT_FALSE(mapping.notes().empty());
  }
}

TEST(RealCatalog, SourceTreeFileParsesWithTheProductFacts) {
  const auto entry = ParseCatalog(SourceCatalogText());
  ASSERT_TRUE(entry.ok()) << entry.status();
  ExpectHightouchFacts(*entry);
}

TEST(RealCatalog, EmbeddedCopyParsesWithTheProductFacts) {
  const auto entry = EmbeddedCatalog();
  ASSERT_TRUE(entry.ok()) << entry.status();
  ExpectHightouchFacts(**entry);
}

TEST(RealCatalog, EmbeddedCopyIsTheSourceFileByteForByte) {
  // A stale embed (the build not re-running the generator) would fail here.
  EXPECT_EQ(EmbeddedCatalogYaml(), SourceCatalogText());
  const auto from_source = ParseCatalog(SourceCatalogText());
  const auto embedded = EmbeddedCatalog();
  ASSERT_TRUE(from_source.ok() && embedded.ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*from_source, **embedded));
}

TEST(RealCatalog, EmbeddedCatalogIsParsedOnce) {
  const auto first = EmbeddedCatalog();
  const auto second = EmbeddedCatalog();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
}

TEST(RealCatalog, DefaultVariantConfigIsJsonWithNumbersAsNumbers) {
  const auto entry = EmbeddedCatalog();
  ASSERT_TRUE(entry.ok());
  rapidjson::Document doc;
  const std::string& json = (*entry)->variants(0).default_config_json();
  doc.Parse(json.data(), json.size());
  ASSERT_FALSE(doc.HasParseError()) << json;
  ASSERT_TRUE(doc.IsObject());
  ASSERT_TRUE(doc["batch_size"].IsInt());
  EXPECT_EQ(doc["batch_size"].GetInt(), 100);
  ASSERT_TRUE(doc["batch_interval_ms"].IsInt());
  EXPECT_EQ(doc["batch_interval_ms"].GetInt(), 5000);
  ASSERT_TRUE(doc["rate_limit_rps"].IsNumber());
  EXPECT_EQ(doc["rate_limit_rps"].GetDouble(), 100);
  ASSERT_TRUE(doc["rate_limit_burst"].IsInt());
  EXPECT_EQ(doc["rate_limit_burst"].GetInt(), 200);
  ASSERT_TRUE(doc["max_attempts"].IsInt());
  EXPECT_EQ(doc["max_attempts"].GetInt(), 5);
  ASSERT_TRUE(doc["retry_window_hours"].IsInt());
  EXPECT_EQ(doc["retry_window_hours"].GetInt(), 24);
  ASSERT_TRUE(doc["region"].IsString());
  EXPECT_STREQ(doc["region"].GetString(), "us-east-1");
  ASSERT_TRUE(doc["consent_category"].IsString());
  EXPECT_STREQ(doc["consent_category"].GetString(), "analytics");
  EXPECT_EQ(doc.MemberCount(), 8u);
}

// ---- fixture files: the real catalog with one mistake each --------------------------

struct FixtureCase {
  const char* file;
  const char* expected_prefix;  // "line N: path"
  const char* expected_detail;
};

class CatalogFixture : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(CatalogFixture, ErrorNamesLineAndField) {
  const FixtureCase& c = GetParam();
  const auto entry = ParseCatalog(FixtureText(c.file));
  ASSERT_FALSE(entry.ok()) << c.file << " parsed but should not";
  EXPECT_EQ(entry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(entry.status().message()), StartsWith(c.expected_prefix));
  EXPECT_THAT(std::string(entry.status().message()), HasSubstr(c.expected_detail));
}

INSTANTIATE_TEST_SUITE_P(
    Mistakes, CatalogFixture,
    ::testing::Values(
        FixtureCase{"unknown_field_type.yaml", "line 39: config_fields[2].type: ",
                    "unknown type 'strin'; expected one of string, secret, select, number, "
                    "boolean, textarea"},
        FixtureCase{"missing_category.yaml", "line 7: category: ", "required key is missing"},
        FixtureCase{"unknown_top_level_key.yaml", "line 17: brand_colour: ", "unknown key"},
        FixtureCase{
            "select_default_not_option.yaml", "line 57: config_fields[4].default_value: ",
            "default 'us-west-2' is not one of the options: us-east-1, eu-west-1, ap-south-1"},
        FixtureCase{"select_without_options.yaml",
                    "line 53: config_fields[4].options: ", "a select field needs options"},
        FixtureCase{"duplicate_field_key.yaml", "line 37: config_fields[2].key: ",
                    "'workspace_id' is used by an earlier field"},
        FixtureCase{"default_config_not_a_map.yaml",
                    "line 76: variants[0].default_config: ", "expected a mapping"},
        FixtureCase{"unknown_delivery_mode.yaml",
                    "line 86: delivery_modes[0]: ", "unknown delivery mode 'server-side'"},
        FixtureCase{"required_not_boolean.yaml",
                    "line 32: config_fields[1].required: ", "expected true or false"},
        // yaml-cpp notices the unterminated quote (line 33) where the map breaks.
        FixtureCase{"yaml_syntax_error.yaml", "line 36: catalog: ", "YAML syntax error"}),
    [](const ::testing::TestParamInfo<FixtureCase>& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find('.'));
      return name;
    });

// ---- inline catalogs -------------------------------------------------------------

// Line numbers below count from the first line of this text.
constexpr char kMinimal[] = R"(key: demo
name: Demo
description: A demo entry.
category: cdp
status: beta
website: https://example.com/docs
config_fields:
  - key: api_key
    label: API key
    type: secret
    required: true
variants:
  - key: default
    name: Default
    description: Defaults.
    default_config:
      batch_size: 100
delivery_modes:
  - server_side
event_mappings:
  - signal_event: track
    vendor_concept: Event
)";

std::string Minimal(const std::string& from, const std::string& to) {
  std::string text(kMinimal);
  EXPECT_NE(text.find(from), std::string::npos) << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

std::string ErrorOf(const std::string& yaml) {
  const auto entry = ParseCatalog(yaml);
  if (entry.ok()) return "(parsed)";
  EXPECT_EQ(entry.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(entry.status().message());
}

TEST(ParseCatalog, MinimalEntryParses) {
  const auto entry = ParseCatalog(kMinimal);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->key(), "demo");
  EXPECT_EQ(entry->variants(0).default_config_json(), R"({"batch_size":100})");
  EXPECT_TRUE(entry->initials().empty());
}

TEST(ParseCatalog, EmptyAndNonMappingDocumentsAreRejected) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("the document is empty"));
  EXPECT_THAT(ErrorOf("# only a comment\n"), HasSubstr("the document is empty"));
  EXPECT_THAT(ErrorOf("- a\n- b\n"), StartsWith("line 1: catalog: expected a mapping, got a list"));
  EXPECT_THAT(ErrorOf("just text\n"), StartsWith("line 1: catalog: expected a mapping"));
}

// kMinimal without the top-level `key` and the indented block under it.
std::string WithoutTopLevelKey(const std::string& key) {
  std::string out;
  bool skipping = false;
  size_t start = 0;
  const std::string text(kMinimal);
  while (start < text.size()) {
    const size_t end = text.find('\n', start) + 1;
    const std::string line = text.substr(start, end - start);
    if (line.rfind(key + ":", 0) == 0) {
      skipping = true;
    } else if (!line.starts_with(" ")) {
      skipping = false;
    }
    if (!skipping) out += line;
    start = end;
  }
  return out;
}

TEST(ParseCatalog, EachRequiredTopLevelKeyIsRequired) {
  for (const char* key : {"key", "name", "description", "category", "status", "website",
                          "config_fields", "variants", "delivery_modes", "event_mappings"}) {
    const std::string text = WithoutTopLevelKey(key);
    ASSERT_LT(text.size(), sizeof(kMinimal) - 1) << key;
    const std::string error = ErrorOf(text);
    EXPECT_THAT(error, StartsWith("line ")) << error;
    EXPECT_THAT(error, HasSubstr(std::string(": ") + key + ": required key is missing")) << error;
  }
}

TEST(ParseCatalog, UnknownAndDuplicateKeysAreRejected) {
  EXPECT_EQ(ErrorOf(Minimal("status: beta\n", "status: beta\ncolour: red\n")),
            "line 6: colour: unknown key; expected one of key, name, description, category, "
            "status, website, initials, brand_color, config_fields, variants, delivery_modes, "
            "event_mappings");
  EXPECT_THAT(ErrorOf(Minimal("status: beta\n", "status: beta\nstatus: ga\n")),
              StartsWith("line 6: status: key given twice"));
  EXPECT_THAT(ErrorOf(Minimal("    required: true\n", "    required: true\n    secret: yes\n")),
              StartsWith("line 12: config_fields[0].secret: unknown key"));
  EXPECT_THAT(
      ErrorOf(Minimal("    vendor_concept: Event\n", "    vendor_concept: Event\n    extra: 1\n")),
      StartsWith("line 23: event_mappings[0].extra: unknown key"));
}

TEST(ParseCatalog, EnumsAreChecked) {
  EXPECT_EQ(ErrorOf(Minimal("category: cdp", "category: crm")),
            "line 4: category: unknown category 'crm'; expected one of advertising, analytics, "
            "attribution, cdp, cloud_storage, marketing_automation, notifications, other");
  EXPECT_EQ(ErrorOf(Minimal("status: beta", "status: stable")),
            "line 5: status: unknown status 'stable'; expected one of ga, beta, alpha");
  EXPECT_THAT(ErrorOf(Minimal("type: secret", "type: password")),
              StartsWith("line 10: config_fields[0].type: unknown type 'password'"));
  EXPECT_THAT(ErrorOf(Minimal("  - server_side", "  - server_side\n  - edge")),
              StartsWith("line 20: delivery_modes[1]: unknown delivery mode 'edge'; expected one "
                         "of server_side, client_side, hybrid"));
  EXPECT_THAT(ErrorOf(Minimal("signal_event: track", "signal_event: screen")),
              StartsWith("line 21: event_mappings[0].signal_event: unknown Signal event "
                         "'screen'"));
  for (const char* category : {"advertising", "analytics", "attribution", "cloud_storage",
                               "marketing_automation", "notifications", "other"}) {
    EXPECT_TRUE(ParseCatalog(Minimal("category: cdp", std::string("category: ") + category)).ok());
  }
  for (const char* status : {"ga", "alpha"}) {
    EXPECT_TRUE(ParseCatalog(Minimal("status: beta", std::string("status: ") + status)).ok());
  }
}

TEST(ParseCatalog, ValuesOfTheWrongKindAreRejected) {
  EXPECT_THAT(ErrorOf(Minimal("name: Demo", "name: [Demo]")),
              StartsWith("line 2: name: expected text, got a list"));
  EXPECT_THAT(ErrorOf(Minimal("name: Demo", "name:")),
              StartsWith("line 2: name: must not be empty"));
  EXPECT_THAT(ErrorOf(Minimal("name: Demo", "name: \"  \"")),
              StartsWith("line 2: name: must not be empty"));
  EXPECT_THAT(ErrorOf(Minimal("config_fields:\n  - key: api_key\n    label: API key\n"
                              "    type: secret\n    required: true\n",
                              "config_fields: {}\n")),
              StartsWith("line 7: config_fields: expected a list, got a mapping"));
  EXPECT_THAT(ErrorOf(Minimal("  - server_side", "  - [server_side]")),
              StartsWith("line 19: delivery_modes[0]: expected text, got a list"));
  EXPECT_THAT(ErrorOf(Minimal("delivery_modes:\n  - server_side", "delivery_modes: []")),
              StartsWith("line 18: delivery_modes: must hold at least one item"));
  EXPECT_THAT(ErrorOf(Minimal("key: demo", "key: Demo Entry")),
              StartsWith("line 1: key: 'Demo Entry' is not an identifier"));
  EXPECT_THAT(ErrorOf(Minimal("  - key: api_key", "  - key: api-key")),
              StartsWith("line 8: config_fields[0].key: 'api-key' is not an identifier"));
  EXPECT_THAT(ErrorOf(Minimal("website: https://example.com/docs", "website: example.com")),
              StartsWith("line 6: website: expected an http:// or https:// address"));
  EXPECT_THAT(ErrorOf(Minimal("status: beta\n", "status: beta\nbrand_color: green\n")),
              StartsWith("line 6: brand_color: expected #rrggbb"));
  EXPECT_THAT(ErrorOf(Minimal("status: beta\n", "status: beta\ninitials: ABCD\n")),
              StartsWith("line 6: initials: at most three characters"));
  EXPECT_THAT(ErrorOf(Minimal("    required: true", "    required: \"true\"")),
              StartsWith("line 11: config_fields[0].required: expected true or false"));
  EXPECT_THAT(ErrorOf(Minimal("  - key: api_key\n", "  - key: api_key\n    key2: x\n")),
              HasSubstr("config_fields[0].key2: unknown key"));
}

TEST(ParseCatalog, FieldRulesAreChecked) {
  // Missing label.
  EXPECT_THAT(ErrorOf(Minimal("    label: API key\n", "")),
              StartsWith("line 8: config_fields[0].label: required key is missing"));
  // Options on a non-select field.
  EXPECT_THAT(ErrorOf(Minimal("    required: true\n",
                              "    required: true\n    options:\n      - value: a\n"
                              "        label: A\n")),
              StartsWith("line 13: config_fields[0].options: only select fields have options"));
  // Duplicate field keys.
  EXPECT_THAT(ErrorOf(Minimal("    required: true\n",
                              "    required: true\n  - key: api_key\n    label: Again\n"
                              "    type: string\n")),
              StartsWith("line 12: config_fields[1].key: field key 'api_key' is used by an "
                         "earlier field"));
  const std::string select =
      "    required: true\n  - key: region\n    label: Region\n    type: select\n"
      "    default_value: b\n    options:\n      - value: a\n        label: A\n"
      "      - value: b\n        label: B\n";
  EXPECT_TRUE(ParseCatalog(Minimal("    required: true\n", select)).ok());
  EXPECT_THAT(ErrorOf(Minimal("    required: true\n",
                              absl::StrReplaceAll(select, {{"    default_value: b\n", ""}}))),
              StartsWith("line 12: config_fields[1].default_value: a select field needs a "
                         "default among its options: a, b"));
  EXPECT_THAT(ErrorOf(Minimal("    required: true\n",
                              absl::StrReplaceAll(select, {{"value: b\n        label: B",
                                                            "value: a\n        label: B"}}))),
              StartsWith("line 19: config_fields[1].options[1].value: option 'a' is listed "
                         "twice"));
  EXPECT_THAT(ErrorOf(Minimal("    required: true\n",
                              absl::StrReplaceAll(select, {{"        label: B\n", ""}}))),
              StartsWith("line 19: config_fields[1].options[1].label: required key is missing"));
  EXPECT_THAT(ErrorOf(Minimal("    required: true\n",
                              absl::StrReplaceAll(select, {{"    options:\n      - value: a\n"
                                                            "        label: A\n      - value: b\n"
                                                            "        label: B\n",
                                                            "    options: []\n"}}))),
              StartsWith("line 16: config_fields[1].options: must hold at least one item"));
}

TEST(ParseCatalog, VariantRulesAreChecked) {
  EXPECT_THAT(
      ErrorOf(Minimal("    default_config:\n      batch_size: 100", "    default_config: 100")),
      StartsWith("line 16: variants[0].default_config: expected a mapping of config keys "
                 "to values, got a scalar"));
  EXPECT_THAT(ErrorOf(Minimal("    description: Defaults.\n", "")),
              StartsWith("line 13: variants[0].description: required key is missing"));
  EXPECT_THAT(ErrorOf(Minimal("      batch_size: 100\n",
                              "      batch_size: 100\n  - key: default\n    name: Again\n"
                              "    description: Again.\n    default_config: {}\n")),
              StartsWith("line 18: variants[1].key: variant key 'default' is used by an earlier "
                         "variant"));
  EXPECT_THAT(
      ErrorOf(Minimal("      batch_size: 100\n", "      batch_size: 100\n      batch_size: 5\n")),
      StartsWith("line 18: variants[0].default_config.batch_size: key given twice"));
  EXPECT_THAT(ErrorOf(Minimal("      batch_size: 100", "      batch_size: .inf")),
              StartsWith("line 17: variants[0].default_config.batch_size: infinity and NaN"));
  EXPECT_THAT(ErrorOf(Minimal("      batch_size: 100", "      batch_size: 99999999999999999999")),
              StartsWith("line 17: variants[0].default_config.batch_size: the number "
                         "99999999999999999999 does not fit in 64 bits"));
}

TEST(ParseCatalog, EventMappingsAreUniqueAndComplete) {
  EXPECT_THAT(ErrorOf(Minimal("    vendor_concept: Event\n",
                              "    vendor_concept: Event\n  - signal_event: track\n"
                              "    vendor_concept: Again\n")),
              StartsWith("line 23: event_mappings[1].signal_event: 'track' is mapped twice"));
  EXPECT_THAT(ErrorOf(Minimal("    vendor_concept: Event\n", "")),
              StartsWith("line 21: event_mappings[0].vendor_concept: required key is missing"));
}

TEST(ParseCatalog, DefaultConfigKeepsYamlTypesInJson) {
  const auto entry = ParseCatalog(Minimal(
      "      batch_size: 100",
      "      batch_size: 100\n      quoted_number: \"100\"\n      rate: 0.5\n      big: -12\n"
      "      plus: +7\n      flag: true\n      off: False\n      nothing: ~\n"
      "      text: hello \"world\"\n      list: [1, two]\n      nested: {a: 1}\n"
      "      exp: 1e3\n      str_tag: !!str 42\n      unicode: \"caf\\u00e9\""));
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->variants(0).default_config_json(),
            R"({"batch_size":100,"quoted_number":"100","rate":0.5,"big":-12,"plus":7,)"
            R"("flag":true,"off":false,"nothing":null,"text":"hello \"world\"",)"
            R"("list":[1,"two"],"nested":{"a":1},"exp":1000.0,"str_tag":"42",)"
            "\"unicode\":\"caf\xc3\xa9\"}");
}

TEST(ParseCatalog, YamlSyntaxErrorsNameTheLine) {
  const std::string error = ErrorOf(Minimal("name: Demo", "name: [Demo"));
  EXPECT_THAT(error, StartsWith("line "));
  EXPECT_THAT(error, HasSubstr("YAML syntax error"));
  EXPECT_THAT(ErrorOf("key: a\n  bad indent: b\n"), HasSubstr("YAML syntax error"));
}

TEST(ParseCatalog, OversizedAndHostileInputIsRejectedWithoutCrashing) {
  // A very long unknown value and a very deep structure both give errors, not crashes.
  const std::string long_category(100000, 'x');
  const std::string long_error = ErrorOf(Minimal("category: cdp", "category: " + long_category));
  EXPECT_THAT(long_error, StartsWith("line 4: category: unknown category 'xxx"));
  EXPECT_LT(long_error.size(), 400u);
  // Nested lists are valid YAML and JSON up to yaml-cpp's depth guard; beyond it, an
  // error with a line instead of a stack overflow.
  const auto nested =
      ParseCatalog(Minimal("      batch_size: 100",
                           "      batch_size: " + std::string(100, '[') + std::string(100, ']')));
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ(nested->variants(0).default_config_json(),
            "{\"batch_size\":" + std::string(100, '[') + std::string(100, ']') + "}");
  EXPECT_THAT(
      ErrorOf(Minimal("      batch_size: 100",
                      "      batch_size: " + std::string(100000, '[') + std::string(100000, ']'))),
      StartsWith("line 17: catalog: YAML syntax error"));
  EXPECT_NE(ErrorOf(std::string("key: \0demo\n", 11)), "(parsed)");
}

}  // namespace
}  // namespace signal_hightouch
