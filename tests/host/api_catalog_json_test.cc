// A plugin's catalog entry as the admin API's catalog JSON: typed defaults, variants'
// default configs re-parsed (a plugin cannot splice bytes into the response), and the
// list filters.
#include <string>

#include "catalog_json.h"
#include "gtest/gtest.h"
#include "json_util.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"

namespace signal_host::api {
namespace {

namespace v1 = signal::integration::v1;

v1::CatalogEntry Entry() {
  v1::CatalogEntry entry;
  entry.set_key("hightouch");
  entry.set_name("Hightouch");
  entry.set_description("Reverse ETL and event collection");
  entry.set_category("analytics");
  return entry;
}

void AddField(v1::CatalogEntry& entry, const std::string& key, const std::string& type,
              const std::string& default_value) {
  v1::ConfigField* field = entry.add_config_fields();
  field->set_key(key);
  field->set_type(type);
  field->set_default_value(default_value);
}

rapidjson::Document Written(const v1::CatalogEntry& entry) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  WriteCatalogEntry(writer, entry);
  rapidjson::Document document;
  document.Parse(buffer.GetString(), buffer.GetSize());
  EXPECT_FALSE(document.HasParseError()) << buffer.GetString();
  EXPECT_TRUE(document.IsObject());
  return document;
}

TEST(CatalogJsonTest, DefaultsTakeTheTypeOfTheirFieldAndStayTextOtherwise) {
  v1::CatalogEntry entry = Entry();
  AddField(entry, "batch_size", "number", "100");
  AddField(entry, "ratio", "number", "0.25");
  AddField(entry, "bad_number", "number", "lots");
  AddField(entry, "enabled", "boolean", "true");
  AddField(entry, "bad_boolean", "boolean", "maybe");
  AddField(entry, "region", "select", "us-east-1");
  AddField(entry, "no_default", "string", "");
  v1::SelectOption* option = entry.mutable_config_fields(5)->add_options();
  option->set_value("us-east-1");
  option->set_label("US East");

  const rapidjson::Document document = Written(entry);
  const auto& fields = document["config_fields"];
  ASSERT_EQ(fields.Size(), 7u);
  ASSERT_TRUE(fields[0]["default"].IsInt64());
  EXPECT_EQ(fields[0]["default"].GetInt64(), 100);
  ASSERT_TRUE(fields[1]["default"].IsDouble());
  EXPECT_EQ(fields[1]["default"].GetDouble(), 0.25);
  ASSERT_TRUE(fields[2]["default"].IsString());
  EXPECT_STREQ(fields[2]["default"].GetString(), "lots");
  ASSERT_TRUE(fields[3]["default"].IsBool());
  EXPECT_TRUE(fields[3]["default"].GetBool());
  ASSERT_TRUE(fields[4]["default"].IsString());
  EXPECT_STREQ(fields[4]["default"].GetString(), "maybe");
  ASSERT_TRUE(fields[5]["default"].IsString());
  ASSERT_EQ(fields[5]["options"].Size(), 1u);
  EXPECT_STREQ(fields[5]["options"][0]["label"].GetString(), "US East");
  EXPECT_FALSE(fields[6].HasMember("default"));
  EXPECT_FALSE(fields[6].HasMember("options"));
}

TEST(CatalogJsonTest, AVariantsDefaultConfigIsAnObjectWhateverThePluginSent) {
  v1::CatalogEntry entry = Entry();
  const char* configs[] = {
      R"({"region":"us-east-1","retries":3})",
      R"([1,2,3])",                              // not an object
      R"({"a":1},"injected":true,"b":{"c":2})",  // would break out if spliced
      "",                                        // nothing
  };
  for (const char* config : configs) {
    v1::Variant* variant = entry.add_variants();
    variant->set_key("v");
    variant->set_default_config_json(config);
  }
  const rapidjson::Document document = Written(entry);
  EXPECT_FALSE(document.HasMember("injected"));
  const auto& variants = document["variants"];
  ASSERT_EQ(variants.Size(), 4u);
  ASSERT_TRUE(variants[0]["default_config"].IsObject());
  EXPECT_EQ(variants[0]["default_config"]["retries"].GetInt(), 3);
  for (rapidjson::SizeType i = 1; i < 4; ++i) {
    ASSERT_TRUE(variants[i]["default_config"].IsObject()) << i;
    EXPECT_EQ(variants[i]["default_config"].MemberCount(), 0u) << i;
  }
}

TEST(CatalogJsonTest, FiltersMatchTheCategoryExactlyAndTheQueryInAnyCase) {
  const v1::CatalogEntry entry = Entry();
  EXPECT_TRUE(CatalogEntryMatches(entry, "", ""));
  EXPECT_TRUE(CatalogEntryMatches(entry, "analytics", ""));
  EXPECT_FALSE(CatalogEntryMatches(entry, "Analytics", ""));
  EXPECT_FALSE(CatalogEntryMatches(entry, "ads", ""));
  EXPECT_TRUE(CatalogEntryMatches(entry, "", "HIGH"));         // key and name
  EXPECT_TRUE(CatalogEntryMatches(entry, "", "reverse etl"));  // description
  EXPECT_FALSE(CatalogEntryMatches(entry, "", "segment"));
  EXPECT_FALSE(CatalogEntryMatches(entry, "ads", "hightouch"));
}

}  // namespace
}  // namespace signal_host::api
