// The JSON helpers: bounded parsing, the error envelope, times, catalog filters.
#include <string>

#include "gtest/gtest.h"
#include "json_util.h"
#include "static_assets.h"

namespace signal_host::api {
namespace {

TEST(JsonUtilTest, ParsesObjectsAndRefusesGarbage) {
  EXPECT_TRUE(ParseJson(R"({"a":[1,2,{"b":null}]})").ok());
  for (const char* bad : {"", "{", R"({"a":1}x)", R"({'a':1})", "{\"a\":\"\xc3\"}", "nul"}) {
    auto parsed = ParseJson(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(JsonUtilTest, DepthIsBounded) {
  std::string at_limit = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(ParseJson(at_limit).ok());
  std::string over = std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  auto parsed = ParseJson(over);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(std::string(parsed.status().message()).find("deeper"), std::string::npos);
  std::string huge = std::string(500000, '[');
  EXPECT_FALSE(ParseJson(huge).ok());
}

TEST(JsonUtilTest, ErrorBodyShape) {
  EXPECT_EQ(ErrorBody("NOT_FOUND", "no \"x\""),
            R"({"error":{"code":"NOT_FOUND","message":"no \"x\""}})");
  EXPECT_EQ(ErrorBody("VALIDATION_FAILED", "bad", {{"workspace_id", "invalid_format", "m"}}),
            R"({"error":{"code":"VALIDATION_FAILED","message":"bad","details":[)"
            R"({"field":"workspace_id","code":"invalid_format","message":"m"}]}})");
  EXPECT_EQ(ErrorBody("CREDENTIALS_REJECTED", "no", {}, R"("vendor_status":401)"),
            R"({"error":{"code":"CREDENTIALS_REJECTED","message":"no","vendor_status":401}})");
}

TEST(JsonUtilTest, IsoMillis) {
  EXPECT_EQ(IsoMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(IsoMillis(1772029800123), "2026-02-25T14:30:00.123Z");
  EXPECT_EQ(IsoMillis(-1), "1969-12-31T23:59:59.999Z");
}

TEST(JsonUtilTest, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("logo.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("blob"), "application/octet-stream");
}

}  // namespace
}  // namespace signal_host::api
