// The built signal-plugin binary, run as a user would run it.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fake_hightouch.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApiKey[] = "tool-test-key-77aa";
constexpr char kGoodConfig[] =
    R"({"api_key":"tool-test-key-77aa","workspace_id":"12345","source_id":"67890"})";

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

class ToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/signal-plugin-tool-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(("mkdir -p " + Quote(dir_)).c_str()), 0);
  }
  void TearDown() override { std::system(("rm -rf " + Quote(dir_)).c_str()); }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  // Runs signal-plugin with `args` (already split), feeding `input` on stdin.
  RunResult Run(const std::vector<std::string>& args, const std::string& input = "") {
    std::string command = Quote(SIGNAL_PLUGIN_TOOL);
    for (const std::string& arg : args) command += " " + Quote(arg);
    const std::string in_path = WriteFile("stdin.txt", input);
    const std::string err_path = dir_ + "/stderr.txt";
    command += " < " + Quote(in_path) + " 2> " + Quote(err_path);
    RunResult result;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
    int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream err(err_path);
    std::stringstream err_text;
    err_text << err.rdbuf();
    result.err = err_text.str();
    return result;
  }

  std::vector<std::string> Lines(const std::string& text) {
    return absl::StrSplit(text, '\n', absl::SkipEmpty());
  }

  std::string dir_;
};

// The member names of a JSON object, in order.
std::vector<std::string> MemberNames(const rapidjson::Value& object) {
  std::vector<std::string> names;
  if (!object.IsObject()) return names;
  for (const auto& member : object.GetObject()) names.emplace_back(member.name.GetString());
  return names;
}

std::string TrackLine(const std::string& message_id) {
  return absl::StrCat(
      R"({"type":"track","event":"Signed Up","anonymousId":"anon-9","messageId":")", message_id,
      R"(","timestamp":"2026-02-25T14:30:00.000Z","context":{"consent":{"analytics":true}}})");
}

TEST_F(ToolTest, HelpDescribesTheCommands) {
  RunResult general = Run({"--help"});
  EXPECT_EQ(general.exit_code, 0);
  for (const char* command : {"describe", "validate", "check-credentials", "translate"}) {
    EXPECT_THAT(general.out, HasSubstr(command));
  }
  RunResult translate = Run({"translate", "--help"});
  EXPECT_EQ(translate.exit_code, 0);
  EXPECT_THAT(translate.out, HasSubstr("--sent-at"));
  EXPECT_THAT(translate.out, HasSubstr("--show-secrets"));
}

TEST_F(ToolTest, UsageErrorsExitWithTwoAndSayWhatIsMissing) {
  const std::string config = WriteFile("good.json", kGoodConfig);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "missing command"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"describe"}, "missing --plugin"},
      {{"validate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN}, "missing --config"},
      {{"describe", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--colour", "red"}, "unknown option"},
      {{"describe", "--plugin"}, "--plugin needs a value"},
      {{"describe", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--option", "novalue"}, "KEY=VALUE"},
      {{"describe", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--sent-at", "now"}, "unknown option"},
      {{"translate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", config, "--sent-at",
        "yesterday"},
       "not an RFC 3339 time"},
  };
  for (const Case& c : cases) {
    RunResult result = Run(c.args);
    EXPECT_EQ(result.exit_code, 2) << c.message;
    EXPECT_THAT(result.err, HasSubstr(c.message));
    EXPECT_TRUE(result.out.empty()) << result.out;
  }
}

TEST_F(ToolTest, LoadErrorsExitWithTwo) {
  RunResult missing = Run({"describe", "--plugin", dir_ + "/nothing.so"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("cannot open"));

  RunResult broken = Run({"describe", "--plugin", BROKEN_PLUGIN_WRONG_ABI});
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_THAT(broken.err, HasSubstr("ABI version mismatch"));

  RunResult bad_option =
      Run({"describe", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--option", "no_such_option=1"});
  EXPECT_EQ(bad_option.exit_code, 2);
  EXPECT_THAT(bad_option.err, HasSubstr("no_such_option"));
}

TEST_F(ToolTest, DescribePrintsTheCatalogObject) {
  RunResult result = Run({"describe", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  rapidjson::Document doc;
  doc.Parse(result.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << result.out;
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["key"].GetString(), "hightouch");
  EXPECT_STREQ(doc["category"].GetString(), "cdp");
  EXPECT_STREQ(doc["status"].GetString(), "beta");
  ASSERT_TRUE(doc["delivery_modes"].IsArray());
  EXPECT_STREQ(doc["delivery_modes"][0].GetString(), "server_side");

  const rapidjson::Value& fields = doc["config_fields"];
  ASSERT_TRUE(fields.IsArray());
  bool saw_region = false;
  for (const rapidjson::Value& field : fields.GetArray()) {
    for (const char* member : {"key", "label", "type", "required", "placeholder", "help_text"}) {
      EXPECT_TRUE(field.HasMember(member)) << member;
    }
    if (std::string(field["key"].GetString()) == "region") {
      saw_region = true;
      EXPECT_STREQ(field["type"].GetString(), "select");
      ASSERT_TRUE(field["options"].IsArray());
      EXPECT_STREQ(field["options"][0]["value"].GetString(), "us-east-1");
      EXPECT_TRUE(field["options"][0].HasMember("label"));
      EXPECT_STREQ(field["default"].GetString(), "us-east-1");
    }
  }
  EXPECT_TRUE(saw_region);

  const rapidjson::Value& variants = doc["variants"];
  ASSERT_TRUE(variants.IsArray());
  ASSERT_GE(variants.Size(), 1u);
  EXPECT_STREQ(variants[0]["key"].GetString(), "default");
  ASSERT_TRUE(variants[0]["default_config"].IsObject()) << "default_config must be an object";
  EXPECT_TRUE(variants[0]["default_config"].HasMember("batch_size"));
  ASSERT_TRUE(doc["event_mappings"].IsArray());
  for (const rapidjson::Value& mapping : doc["event_mappings"].GetArray()) {
    EXPECT_TRUE(mapping.HasMember("signal_event"));
    EXPECT_TRUE(mapping.HasMember("vendor_concept"));
  }
}

TEST_F(ToolTest, ValidatePrintsTheMaskedConfigAndDeliverySettings) {
  const std::string config = WriteFile("good.json", kGoodConfig);
  RunResult result = Run({"validate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", config});
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_THAT(result.out, Not(HasSubstr(kApiKey)));
  rapidjson::Document doc;
  doc.Parse(result.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << result.out;
  EXPECT_TRUE(doc["valid"].GetBool());
  EXPECT_STREQ(doc["variant"].GetString(), "default");
  EXPECT_STREQ(doc["config"]["api_key"].GetString(), "***");
  EXPECT_STREQ(doc["config"]["workspace_id"].GetString(), "12345");
  EXPECT_TRUE(doc["config"].HasMember("batch_size"));
  ASSERT_TRUE(doc["delivery"].IsObject());
  EXPECT_TRUE(doc["delivery"]["max_events_per_request"].IsNumber());
  EXPECT_TRUE(doc["delivery"]["retry"]["max_attempts"].IsNumber());
}

TEST_F(ToolTest, ValidateListsViolationsAndExitsWithOne) {
  const std::string bad = WriteFile(
      "bad.json", R"({"api_key":"tool-test-key-77aa","workspace_id":"abc","source_id":"1"})");
  RunResult result = Run({"validate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", bad});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("workspace_id: "));
  EXPECT_THAT(result.out, Not(HasSubstr(kApiKey)));

  const std::string malformed = WriteFile("malformed.json", "{\"api_key\": ");
  RunResult broken = Run({"validate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", malformed});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_FALSE(broken.out.empty());

  const std::string good = WriteFile("good.json", kGoodConfig);
  RunResult variant = Run({"validate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", good,
                           "--variant", "no-such-variant"});
  EXPECT_EQ(variant.exit_code, 1);
  EXPECT_THAT(variant.out, HasSubstr("variant: "));

  RunResult unreadable =
      Run({"validate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", dir_ + "/absent.json"});
  EXPECT_EQ(unreadable.exit_code, 2);
  EXPECT_THAT(unreadable.err, HasSubstr("cannot read"));
}

TEST_F(ToolTest, TranslatePrintsRequestsAndRejections) {
  const std::string config = WriteFile("good.json", kGoodConfig);
  const std::string input =
      TrackLine("tool-msg-1") + "\n\n" + "{\"type\": broken\n" + TrackLine("tool-msg-2") + "\n";
  RunResult result =
      Run({"translate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", config, "--option",
           "events_base_url=http://127.0.0.1:9", "--sent-at", "2026-03-01T08:00:00Z"},
          input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, Not(HasSubstr(absl::Base64Escape(absl::StrCat(kApiKey, ":")))));
  std::vector<std::string> lines = Lines(result.out);
  ASSERT_EQ(lines.size(), 2u) << result.out;

  rapidjson::Document request;
  request.Parse(lines[0].c_str());
  ASSERT_FALSE(request.HasParseError()) << lines[0];
  EXPECT_THAT(MemberNames(request), ElementsAre("request"));
  const rapidjson::Value& http = request["request"];
  EXPECT_THAT(MemberNames(http),
              ElementsAre("method", "url", "headers", "body", "message_ids", "lines"));
  EXPECT_STREQ(http["method"].GetString(), "POST");
  EXPECT_STREQ(http["url"].GetString(), "http://127.0.0.1:9/v1/batch");
  EXPECT_STREQ(http["headers"]["Authorization"].GetString(), "Basic ***");
  EXPECT_STREQ(http["headers"]["Content-Type"].GetString(), "application/json");
  ASSERT_TRUE(http["body"].IsString());
  EXPECT_THAT(http["body"].GetString(), HasSubstr("2026-03-01T08:00:00"));
  rapidjson::Document body;
  body.Parse(http["body"].GetString());
  ASSERT_FALSE(body.HasParseError()) << http["body"].GetString();
  ASSERT_TRUE(body["batch"].IsArray());
  EXPECT_EQ(body["batch"].Size(), 2u);
  ASSERT_EQ(http["message_ids"].Size(), 2u);
  EXPECT_STREQ(http["message_ids"][0].GetString(), "tool-msg-1");
  EXPECT_STREQ(http["message_ids"][1].GetString(), "tool-msg-2");
  EXPECT_EQ(http["lines"][0].GetUint(), 1u);
  EXPECT_EQ(http["lines"][1].GetUint(), 4u);

  rapidjson::Document rejection;
  rejection.Parse(lines[1].c_str());
  ASSERT_FALSE(rejection.HasParseError()) << lines[1];
  EXPECT_THAT(MemberNames(rejection), ElementsAre("rejection"));
  EXPECT_THAT(MemberNames(rejection["rejection"]),
              ElementsAre("message_id", "reason", "message", "line"));
  // Not valid JSON, so there is no messageId to report.
  EXPECT_STREQ(rejection["rejection"]["message_id"].GetString(), "");
  EXPECT_STREQ(rejection["rejection"]["reason"].GetString(), "invalid_json");
  EXPECT_EQ(rejection["rejection"]["line"].GetUint(), 3u);
  EXPECT_TRUE(rejection["rejection"]["message"].IsString());
}

TEST_F(ToolTest, TranslateShowsTheCredentialOnlyWhenAsked) {
  const std::string config = WriteFile("good.json", kGoodConfig);
  RunResult result =
      Run({"translate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", config, "--show-secrets"},
          TrackLine("m-1") + "\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  rapidjson::Document doc;
  doc.Parse(result.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << result.out;
  EXPECT_EQ(std::string(doc["request"]["headers"]["Authorization"].GetString()),
            "Basic " + absl::Base64Escape(absl::StrCat(kApiKey, ":")));
}

TEST_F(ToolTest, TranslateRejectsAnOversizedEventAndKeepsTheRest) {
  const std::string config = WriteFile("good.json", kGoodConfig);
  std::string huge = TrackLine("m-huge");
  huge.insert(huge.size() - 1,
              absl::StrCat(R"(,"properties":{"blob":")", std::string(40 * 1024, 'z'), "\"}"));
  RunResult result = Run({"translate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", config},
                         huge + "\n" + TrackLine("m-small") + "\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> lines = Lines(result.out);
  ASSERT_EQ(lines.size(), 2u) << result.out.substr(0, 2000);
  EXPECT_THAT(lines[0], HasSubstr("m-small"));
  EXPECT_THAT(lines[1], HasSubstr("event_too_large"));
  EXPECT_THAT(lines[1], HasSubstr("\"line\":1"));
}

TEST_F(ToolTest, TranslateWithAnInvalidConfigPrintsViolationsAndExitsWithOne) {
  const std::string bad = WriteFile("bad.json", R"({"api_key":"tool-test-key-77aa"})");
  RunResult result = Run({"translate", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", bad},
                         TrackLine("m-1") + "\n");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_THAT(result.err, HasSubstr("workspace_id: "));
  EXPECT_THAT(result.err, Not(HasSubstr(kApiKey)));
}

TEST_F(ToolTest, CheckCredentialsReportsUnreachable) {
  const std::string config = WriteFile("good.json", kGoodConfig);
  RunResult result =
      Run({"check-credentials", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", config, "--option",
           "api_base_url=http://127.0.0.1:1", "--option", "events_base_url=http://127.0.0.1:1",
           "--option", "probe_timeout_ms=3000"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  rapidjson::Document doc;
  doc.Parse(result.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << result.out;
  EXPECT_STREQ(doc["outcome"].GetString(), "unreachable");
  EXPECT_EQ(doc["vendor_status"].GetInt(), 0);
  EXPECT_TRUE(doc["message"].IsString());
  EXPECT_TRUE(doc["probe"].IsString());
  EXPECT_THAT(result.out, Not(HasSubstr(kApiKey)));
}

TEST_F(ToolTest, CheckCredentialsAgainstTheFakeHightouch) {
  fake_hightouch::Options options;
  options.api_keys = {kApiKey};
  options.write_keys = {kApiKey};  // no write_key in the config: the API key ingests
  options.sources = {{"67890", "12345", ""}};
  fake_hightouch::FakeHightouch fake(options);
  ASSERT_TRUE(fake.Start().ok());
  auto check = [&](const std::string& config_json) {
    return Run({"check-credentials", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config",
                WriteFile("check.json", config_json), "--option",
                "api_base_url=" + fake.base_url(), "--option",
                "events_base_url=" + fake.base_url()});
  };

  RunResult ok = check(kGoodConfig);
  EXPECT_EQ(ok.exit_code, 0) << ok.err << ok.out;
  rapidjson::Document doc;
  doc.Parse(ok.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << ok.out;
  EXPECT_STREQ(doc["outcome"].GetString(), "ok");
  EXPECT_STREQ(doc["probe"].GetString(), "ingest_probe");
  EXPECT_EQ(doc["vendor_status"].GetInt(), 200);
  EXPECT_THAT(doc["message"].GetString(), HasSubstr("workspace 12345"));
  EXPECT_THAT(ok.out, Not(HasSubstr(kApiKey)));
  EXPECT_EQ(fake.GetStats().events_accepted, 0u) << "a credential check must send no event";

  const std::string wrong_key = "tool-test-wrong-key-31";
  RunResult refused = check(absl::StrCat(R"({"api_key":")", wrong_key,
                                         R"(","workspace_id":"12345","source_id":"67890"})"));
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  rapidjson::Document refused_doc;
  refused_doc.Parse(refused.out.c_str());
  ASSERT_FALSE(refused_doc.HasParseError()) << refused.out;
  EXPECT_STREQ(refused_doc["outcome"].GetString(), "invalid_api_key");
  EXPECT_EQ(refused_doc["vendor_status"].GetInt(), 401);
  EXPECT_THAT(refused.out + refused.err, Not(HasSubstr(wrong_key)));

  RunResult wrong_source = check(
      R"({"api_key":"tool-test-key-77aa","workspace_id":"12345","source_id":"11111"})");
  EXPECT_EQ(wrong_source.exit_code, 1) << wrong_source.err;
  EXPECT_THAT(wrong_source.out, HasSubstr(R"("outcome": "wrong_source")"));
  fake.Stop();
}

TEST_F(ToolTest, CheckCredentialsValidatesFirst) {
  const std::string bad = WriteFile("bad.json", R"({"workspace_id":"1","source_id":"2"})");
  RunResult result = Run({"check-credentials", "--plugin", SIGNAL_HIGHTOUCH_PLUGIN, "--config", bad,
                          "--option", "api_base_url=http://127.0.0.1:1"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("api_key: "));
  EXPECT_TRUE(result.out.empty()) << result.out;
}

}  // namespace
