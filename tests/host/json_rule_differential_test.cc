// One JSON rule (docs/API.md, "What the JSON bodies may contain") for the event API and
// the plugin: the same bytes go to the host's body reader (IngestEvents) and to the
// plugin's scanner (json::ScanValue, the one Translate uses), and the two must give the
// same verdict on every input: hand-written edge cases, whose verdict is also stated
// here, the benchmark corpus, and thousands of mutated bodies. Every event the host
// accepts then goes through the plugin's Translate, which must never call it invalid
// JSON: what the event API acknowledges is never dead-lettered for its JSON.
#include <string>
#include <string_view>
#include <vector>

#include "../../bench/corpus/event_corpus.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "event_ingest.h"
#include "gtest/gtest.h"
#include "json_scan.h"
#include "translate.h"

namespace {

using signal_host::api::IngestEvents;
using signal_host::api::IngestOptions;
using signal_host::api::IngestResult;
namespace json = signal_hightouch::json;

constexpr char kSingle[] = "track";  // a single-event path type
constexpr char kBatch[] = "";        // /v1/batch

IngestOptions Options(const std::string& path_type) {
  IngestOptions options;
  options.path_type = path_type;
  options.now_ms = 1772029800123;
  int counter = 0;
  options.new_message_id = [counter]() mutable { return "generated-" + std::to_string(++counter); };
  return options;
}

std::string Printable(std::string_view text) {
  std::string shown =
      absl::CHexEscape(absl::string_view(text.data(), std::min<size_t>(text.size(), 300)));
  if (text.size() > 300) absl::StrAppend(&shown, "... (", text.size(), " bytes)");
  return shown;
}

// The host refuses a body for breaking the JSON rule with one of these messages.
bool IsJsonRuleError(const absl::Status& status) {
  const absl::string_view message = status.message();
  return absl::StartsWith(message, "malformed JSON at byte ") ||
         absl::StartsWith(message, "JSON nests deeper than ");
}

// The plugin's scanner on `text` as one document; "" when valid. A batch body's events
// sit two levels down, so it is scanned from depth -2: each event is then at depth 1,
// as the plugin sees it when it translates it.
std::string PluginError(std::string_view text, bool batch_body) {
  json::Cursor c(text);
  json::SkipSpace(c);
  if (!json::ScanValue(c, batch_body ? -json::kMaxWrapperDepth : 0)) {
    return absl::StrCat(c.error.what, " at byte ", c.error.offset);
  }
  json::SkipSpace(c);
  if (!c.AtEnd()) return absl::StrCat("text after the value at byte ", c.p - c.begin);
  return "";
}

// A rejection by Translate that says the event is not JSON by the rule (rather than
// an event of the wrong shape, which is not a question of JSON).
bool IsInvalidJsonRejection(const signal_hightouch::TranslatedRejection& rejection) {
  return rejection.reason == signal_hightouch::kReasonInvalidJson &&
         (absl::StartsWith(rejection.message, "invalid JSON at byte ") ||
          rejection.message == "the event is not a JSON object");
}

class JsonRuleTest : public ::testing::Test {
 protected:
  JsonRuleTest() {
    config_.api_key = "key";
    config_.workspace_id = "12345";
    config_.source_id = "src";
    config_.batch_size = 100;
  }

  // Posts `body` to the host's reader in `path_type`'s mode and scans it with the
  // plugin's scanner; returns the common verdict (true: valid by the rule), or reports
  // a disagreement. Events the host accepted are then translated by the plugin.
  bool Verdict(const std::string& body, const std::string& path_type) {
    const bool batch_body = path_type.empty();
    const absl::StatusOr<IngestResult> host = IngestEvents(body, Options(path_type));
    const bool host_valid = host.ok() || !IsJsonRuleError(host.status());
    const std::string plugin_error = PluginError(body, batch_body);
    const bool plugin_valid = plugin_error.empty();
    if (host_valid != plugin_valid) {
      ++disagreements_;
      ADD_FAILURE() << (batch_body ? "batch" : "single") << " body " << Printable(body)
                    << "\n  host: "
                    << (host.ok() ? "accepted" : std::string(host.status().message()))
                    << "\n  plugin: " << (plugin_valid ? "valid" : plugin_error);
    }
    (host_valid ? valid_ : invalid_)++;
    if (host.ok()) TranslateAccepted(*host, body);
    return host_valid;
  }

  // The host's accepted events, each translated by the plugin: none may be refused as
  // invalid JSON.
  void TranslateAccepted(const IngestResult& result, const std::string& body) {
    if (result.events.empty()) return;
    std::vector<std::string_view> events;
    for (const auto& event : result.events) events.push_back(event.json);
    translator_.Translate(config_, options_, events, 1772029801250, out_);
    for (size_t i = 0; i < out_.rejection_count; ++i) {
      const auto& rejection = out_.rejections[i];
      if (!IsInvalidJsonRejection(rejection)) continue;
      ++disagreements_;
      ADD_FAILURE() << "the host accepted an event the plugin calls invalid JSON: "
                    << Printable(events[rejection.event_index])
                    << "\n  plugin: " << rejection.message << "\n  from body " << Printable(body);
    }
    translated_ += events.size();
  }

  // Both modes, for bodies whose verdict is known.
  void ExpectVerdict(const std::string& body, bool valid) {
    EXPECT_EQ(Verdict(body, kSingle), valid) << "single body " << Printable(body);
    EXPECT_EQ(Verdict(body, kBatch), valid) << "batch body " << Printable(body);
  }

  void TearDown() override {
    // The sizes of what was compared, for the record (--gtest_output=xml shows them).
    RecordProperty("valid", static_cast<int>(valid_));
    RecordProperty("invalid", static_cast<int>(invalid_));
    RecordProperty("translated", static_cast<int>(translated_));
  }

  signal_hightouch::HightouchConfig config_;
  signal_hightouch::PluginOptions options_;
  signal_hightouch::Translator translator_;
  signal_hightouch::TranslateOutput out_;
  size_t valid_ = 0, invalid_ = 0, translated_ = 0, disagreements_ = 0;
};

struct Case {
  std::string value;  // a JSON value, or something that tries to be one
  bool valid;
};

std::vector<Case> EdgeCases() {
  std::vector<Case> cases = {
      // \u escapes: every combination of surrogates.
      {R"("\ud800\udc00")", true},
      {R"("\udbff\udfff")", true},
      {R"("\uD83D\uDE00")", true},
      {R"("x\ud83d\ude00y")", true},
      {R"("\ud7ff\ue000")", true},
      {R"("\udc00")", false},
      {R"("\udfff")", false},
      {R"("a\udc00b")", false},
      {R"("\ud800")", false},
      {R"("\udbff")", false},
      {R"("\ud800x")", false},
      {R"("\ud800\u0041")", false},
      {R"("\ud800\n")", false},
      {R"("\ud800\ud800")", false},
      {R"("\udc00\ud800")", false},
      {R"("\udc00\udc00")", false},
      {R"("\ud800\udc0")", false},
      {R"("\ud800\\udc00")", false},
      {R"("\ud800\udbff")", false},
      // Other escapes.
      {R"("\u0000")", true},
      {R"("a\u0000b\u001f\u007f")", true},
      {R"("\"\\\/\b\f\n\r\t")", true},
      {R"("\uffff\ufffe\u00e9")", true},
      {R"("\u12")", false},
      {R"("\u12g4")", false},
      {R"("\x41")", false},
      {R"("\'")", false},
      {R"("\U0041")", false},
      {R"("\a")", false},
      {"\"\\\"", false},
      // UTF-8: well-formed at every length and edge...
      {"\"\xc3\xa9\"", true},
      {"\"\xc2\x80\"", true},
      {"\"\xdf\xbf\"", true},
      {"\"\xe0\xa0\x80\"", true},
      {"\"\xe6\x97\xa5\"", true},
      {"\"\xed\x9f\xbf\"", true},
      {"\"\xee\x80\x80\"", true},
      {"\"\xef\xbf\xbf\"", true},
      {"\"\xf0\x90\x80\x80\"", true},
      {"\"\xf0\x9f\x98\x80\"", true},
      {"\"\xf4\x8f\xbf\xbf\"", true},
      {"\"\x7f\"", true},
      // ...and not: overlong, encoded surrogates, above U+10FFFF, cut short, stray.
      {"\"\xc0\x80\"", false},
      {"\"\xc0\xaf\"", false},
      {"\"\xc1\xbf\"", false},
      {"\"\xe0\x80\x80\"", false},
      {"\"\xe0\x9f\xbf\"", false},
      {"\"\xf0\x80\x80\x80\"", false},
      {"\"\xf0\x8f\xbf\xbf\"", false},
      {"\"\xed\xa0\x80\"", false},
      {"\"\xed\xb0\x80\"", false},
      {"\"\xed\xbf\xbf\"", false},
      {"\"\xed\xa0\xbd\xed\xb8\x80\"", false},
      {"\"\xf4\x90\x80\x80\"", false},
      {"\"\xf5\x80\x80\x80\"", false},
      {"\"\xf8\x88\x80\x80\x80\"", false},
      {"\"\xfe\"", false},
      {"\"\xff\"", false},
      {"\"\x80\"", false},
      {"\"\xbf\"", false},
      {"\"\xc3\"", false},
      {"\"\xc3x\"", false},
      {"\"\xe6\x97\"", false},
      {"\"\xf0\x9f\x98\"", false},
      {"\"\xf0\x9f\x98", false},
      // Control characters are allowed only as escapes.
      {std::string("\"a\0b\"", 5), false},
      {"\"a\x01"
       "b\"",
       false},
      {"\"a\tb\"", false},
      {"\"a\nb\"", false},
      {"\"a\x1f"
       "b\"",
       false},
      // Numbers: the grammar, of any size.
      {"0", true},
      {"-0", true},
      {"0.0", true},
      {"-0.0e-0", true},
      {"12", true},
      {"1e5", true},
      {"1E5", true},
      {"1e+5", true},
      {"1e-5", true},
      {"1.5e-300", true},
      {"1e400", true},
      {"-1E+0400", true},
      {"1e-400", true},
      {"1e99999999999999999999", true},
      {std::string(400, '9'), true},
      {"-" + std::string(400, '9') + "." + std::string(400, '1') + "e-999", true},
      {"01", false},
      {"-01", false},
      {"00", false},
      {"+1", false},
      {".5", false},
      {"-.5", false},
      {"1.", false},
      {"1.e5", false},
      {"-", false},
      {"--1", false},
      {"1-", false},
      {"1e", false},
      {"1e+", false},
      {"1E-", false},
      {"1.5.2", false},
      {"1e5e5", false},
      {"1e5.5", false},
      {"0x10", false},
      {"1_000", false},
      {"NaN", false},
      {"nan", false},
      {"Infinity", false},
      {"-Infinity", false},
      // Literals.
      {"true", true},
      {"false", true},
      {"null", true},
      {"tru", false},
      {"True", false},
      {"nul", false},
      {"NULL", false},
      {"falsee", false},
      {"nullnull", false},
      // Structure.
      {"[]", true},
      {"{}", true},
      {"[[],{}]", true},
      {R"({"":1})", true},
      {R"({"":""})", true},
      {R"({"a":1,"a":2})", true},
      {R"({"\u0000":1})", true},
      {" [ 1 , { \"a\" : [ ] } ] ", true},
      {"\t\n\r[\r\n1\t]", true},
      {"[1,]", false},
      {R"({"a":1,})", false},
      {"[1 2]", false},
      {R"({"a" 1})", false},
      {R"({"a":})", false},
      {R"({'a':1})", false},
      {"{a:1}", false},
      {R"({1:1})", false},
      {"[,]", false},
      {"[", false},
      {"]", false},
      {R"({"a":1)", false},
      {R"("abc)", false},
      {"[1]]", false},
      {"\f[]", false},
      {"\v[]", false},
      {"[/*x*/]", false},
      {"[] // x", false},
  };
  return cases;
}

// Bodies whose validity is a matter of the whole text: what surrounds the one value.
std::vector<Case> WholeBodyCases() {
  return {
      {R"({"batch":[]})", true},
      {" \t\r\n{\"batch\":[]}\n ", true},
      {"\xef\xbb\xbf{\"batch\":[]}", false},  // a byte order mark
      {std::string("{\"batch\":[]}\0", 13), false},
      {std::string("{\"batch\":[]}\0trailing", 21), false},
      {std::string("\0{\"batch\":[]}", 13), false},
      {R"({"batch":[]} x)", false},
      {R"({"batch":[]}{})", false},
      {R"({"batch":[]},)", false},
      {R"({"batch":[]}])", false},
      {"{\"batch\":[]}\f", false},
      {"", false},
      {" ", false},
  };
}

TEST_F(JsonRuleTest, EdgeCasesInEveryPositionOfABody) {
  for (const Case& c : EdgeCases()) {
    const std::string& v = c.value;
    // Kept inside an event, as an event's host field (read, or skipped when it is a
    // container), in the batch envelope (skipped), as a batch element (skipped unless
    // an object), as a member name, and as the whole body.
    ExpectVerdict(R"({"type":"track","properties":)" + v + "}", c.valid);
    ExpectVerdict(R"({"messageId":)" + v + R"(,"type":"track"})", c.valid);
    ExpectVerdict(R"({"type":)" + v + "}", c.valid);
    ExpectVerdict(R"({"batch":[{"type":"track","p":[)" + v + "]}]}", c.valid);
    ExpectVerdict(R"({"batch":[{"type":"track","timestamp":)" + v + "}]}", c.valid);
    ExpectVerdict(R"({"sentAt":)" + v + R"(,"batch":[{"type":"track"}]})", c.valid);
    ExpectVerdict(R"({"batch":[{"type":"page"},)" + v + "]}", c.valid);
    ExpectVerdict(v, c.valid);
    if (!v.empty() && v.front() == '"') {
      ExpectVerdict("{" + v + R"(:1,"type":"track"})", c.valid);
      ExpectVerdict(R"({"batch":[{"type":"track","p":{)" + v + ":[]}}]}", c.valid);
    }
  }
  for (const Case& c : WholeBodyCases()) ExpectVerdict(c.value, c.valid);
  EXPECT_EQ(disagreements_, 0u);
  EXPECT_GT(translated_, 500u);
}

std::string Nested(int levels, bool objects) {
  std::string text;
  for (int i = 0; i < levels; ++i) text += objects ? R"({"a":)" : "[";
  text += "1";
  for (int i = 0; i < levels; ++i) text += objects ? "}" : "]";
  return text;
}

TEST_F(JsonRuleTest, DepthIsAtMost64LevelsInKeptAndSkippedValues) {
  for (bool objects : {false, true}) {
    for (int depth : {63, 64, 65}) {
      const bool valid = depth <= 64;
      // The event object is level 1, so its values may nest depth - 1 levels.
      const std::string value = Nested(depth - 1, objects);
      // Kept: a property of a single event and of a batch's event.
      EXPECT_EQ(Verdict(R"({"type":"track","p":)" + value + "}", kSingle), valid) << depth;
      EXPECT_EQ(Verdict(R"({"batch":[{"type":"track","p":)" + value + "}]}", kBatch), valid)
          << depth;
      // Skipped: a host field's container value, a batch envelope member and a batch
      // element that is not an object (each at the same depth as an event's member).
      EXPECT_EQ(Verdict(R"({"messageId":)" + value + "}", kSingle), valid) << depth;
      EXPECT_EQ(Verdict(R"({"type":)" + value + "}", kSingle), valid) << depth;
      EXPECT_EQ(Verdict(R"({"batch":[{"messageId":)" + value + "}]}", kBatch), valid) << depth;
      EXPECT_EQ(Verdict(R"({"batch":[)" + Nested(depth, objects) + "]}", kBatch), valid) << depth;
      EXPECT_EQ(Verdict(R"({"batch":[],"x":[)" + Nested(depth, objects) + "]}", kBatch), valid)
          << depth;
      // A single event's body is the event: the whole body nests `depth` levels.
      EXPECT_EQ(Verdict(Nested(depth, true), kSingle), valid) << depth;
    }
  }
  // Far beyond the limit, where nothing reads the value.
  EXPECT_FALSE(Verdict(R"({"batch":[],"x":)" + std::string(100000, '[') + "}", kBatch));
  EXPECT_FALSE(Verdict(R"({"messageId":)" + std::string(100000, '{') + "}", kSingle));
  EXPECT_EQ(disagreements_, 0u);
}

signal_bench::CorpusOptions UnusualCorpus(size_t events) {
  signal_bench::CorpusOptions options;
  options.event_count = events;
  options.deep_per_mille = 40;
  options.unicode_per_mille = 300;
  options.bigint_per_mille = 200;
  options.large_per_mille = 20;
  options.max_deep_levels = 80;  // some within the depth limit, some beyond
  return options;
}

TEST_F(JsonRuleTest, TheBenchmarkCorpus) {
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(UnusualCorpus(2000));
  for (size_t first = 0; first < corpus.events.size(); first += 100) {
    std::string body = R"({"batch":[)";
    for (size_t i = first; i < first + 100; ++i) {
      if (i > first) body.push_back(',');
      body.append(corpus.events[i]);
    }
    body.append("]}");
    Verdict(body, kBatch);
  }
  for (const std::string& event : corpus.events) {
    Verdict(event, kSingle);
    Verdict(R"({"batch":[)" + event + "]}", kBatch);
  }
  EXPECT_EQ(disagreements_, 0u);
  EXPECT_GT(valid_, 3000u);
  EXPECT_GT(invalid_, 20u) << "the corpus has events nested beyond the limit";
  EXPECT_GT(translated_, 3000u);
}

// Random edits of valid bodies with the tokens the rule is about; a fixed seed, so a
// failure reproduces.
TEST_F(JsonRuleTest, MutatedBodies) {
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(UnusualCorpus(200));
  std::vector<std::string> seeds = {
      R"({"type":"track","event":"E","messageId":"m1","timestamp":"2025-01-01T00:00:00Z",)"
      R"("anonymousId":"a","properties":{"a":[1,2.5,{"b":null}],"c":"x\u00e9","d":true}})",
      R"({"batch":[{"type":"track","messageId":"a","userId":"u","event":"E"},)"
      R"({"type":"page","name":"N","anonymousId":"a"},)"
      R"({"type":"identify","userId":"u","traits":{"n":-1.5e3}}],"sentAt":"x"})",
      "{ \"batch\" : [ { \"type\" : \"group\" , \"groupId\" : \"g\", \"userId\" : \"u\" } ] }",
  };
  for (size_t i = 0; i < 20; ++i) {
    seeds.push_back(corpus.events[i]);
    seeds.push_back(R"({"batch":[)" + corpus.events[i] + "," + corpus.events[i + 20] + "]}");
  }
  const std::vector<std::string> tokens = {
      "\"",
      "\\",
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      " ",
      "\n",
      "\t",
      "\f",
      R"(\u)",
      R"(\ud83d)",
      R"(\ude00)",
      R"(\udc00)",
      R"(\ud800\udc00)",
      R"(\u00e9)",
      R"(\u0000)",
      R"(\")",
      R"(\/)",
      R"(\x)",
      "1e400",
      "-1E-400",
      "1e308",
      "-",
      "+",
      "0",
      "01",
      ".",
      "e5",
      "1.",
      ".5",
      "NaN",
      "123456789012345678901234567890",
      std::string(350, '7'),
      "\xff",
      "\xc3",
      "\xc3\xa9",
      "\xc0\x80",
      "\xe0\x80\x80",
      "\xed\xa0\x80",
      "\xed\xb0\x80",
      "\xf4\x90\x80\x80",
      "\xf0\x9f\x98\x80",
      "\xf0\x9f",
      "\xef\xbb\xbf",
      std::string(1, '\0'),
      "\x01",
      "\x1f",
      "\x7f",
      "null",
      "true",
      "fals",
      R"("type")",
      R"("messageId")",
      R"("timestamp")",
      R"("batch")",
      R"("")",
      "{}",
      "[]",
      std::string(64, '['),
      std::string(64, ']'),
      std::string(30, '{'),
      R"("a":)",
      R"("type":"track",)",
      R"("messageId":null,)",
      R"("messageId":"\udc00",)",
  };
  signal_bench::CorpusRng rng(20260308);
  for (int round = 0; round < 20000 && disagreements_ < 5; ++round) {
    std::string body = seeds[rng.Below(static_cast<uint32_t>(seeds.size()))];
    const uint32_t edits = 1 + rng.Below(3);
    for (uint32_t e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng.Below(static_cast<uint32_t>(body.size()));
      switch (rng.Below(4)) {
        case 0:
          body.insert(at, tokens[rng.Below(static_cast<uint32_t>(tokens.size()))]);
          break;
        case 1:
          body.replace(at, 1, tokens[rng.Below(static_cast<uint32_t>(tokens.size()))]);
          break;
        case 2:
          body.erase(at, 1 + rng.Below(8));
          break;
        default: {
          const std::string piece = body.substr(at, 1 + rng.Below(24));
          body.insert(rng.Below(static_cast<uint32_t>(body.size())), piece);
          break;
        }
      }
    }
    Verdict(body, rng.Below(2) == 0 ? kSingle : kBatch);
  }
  EXPECT_EQ(disagreements_, 0u);
  // The mutations reach both sides of the rule, often.
  EXPECT_GT(valid_, 2000u);
  EXPECT_GT(invalid_, 8000u);
  EXPECT_GT(translated_, 2000u);
}

}  // namespace
