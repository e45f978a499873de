// The validating JSON scanner under Translate, and its agreement with an independent
// strict parser on random documents.

#include <string>
#include <string_view>

#include "../../bench/corpus/event_corpus.h"
#include "gtest/gtest.h"
#include "json_scan.h"
#include "translate_test_util.h"

namespace signal_hightouch::json {
namespace {

using ::signal_hightouch::testing::StrictJsonError;

// Scans `text` as one complete document; returns the error text, or "" when valid.
std::string ScanDocument(std::string_view text) {
  Cursor c(text);
  SkipSpace(c);
  if (!ScanValue(c, 0)) return std::string(c.error.what) + " at " + std::to_string(c.error.offset);
  SkipSpace(c);
  if (!c.AtEnd()) return "trailing data at " + std::to_string(c.p - c.begin);
  return "";
}

TEST(JsonScanTest, AcceptsValidDocuments) {
  for (const char* text :
       {"0", "-0", "1.5e-10", "-12.0E+3", "123456789012345678901234567890", "1E400", "true",
        "false", "null", R"("")", R"("a\"b\\c\/d\b\f\n\r\t")", R"("\u0000\u00e9\uD83D\uDE00")",
        "\"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x8e\x89 \xf4\x8f\xbf\xbf \xef\xbf\xbf\"", "[]", "{}",
        " [ 1 , [ ] , { } , \"x\" ] ", R"({"a":{"b":[1,{"c":null}]},"d":"e"})",
        "{\n\t\"a\" :\r\n 1\n}", "\"0123456789abcdef0123456789abcdef\\n0123456789abcdef\""}) {
    EXPECT_EQ(ScanDocument(text), "") << text;
  }
}

TEST(JsonScanTest, RejectsInvalidDocumentsWithPosition) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : {
           Case{"", "expected a value at 0"},
           Case{"[", "expected a value at 1"},
           Case{"[1,]", "expected a value at 3"},
           Case{"{\"a\"}", "expected ':' after a member name at 4"},
           Case{"{\"a\":1,}", "expected a member name at 7"},
           Case{"{,}", "expected a member name at 1"},
           Case{"[1}", "expected ',' or ']' in an array at 2"},
           Case{"{\"a\":1]", "expected ',' or '}' in an object at 6"},
           Case{"00", "trailing data at 1"},
           Case{"1.", "invalid number at 2"},
           Case{"1e", "invalid number at 2"},
           Case{"--1", "invalid number at 1"},
           Case{"tru", "invalid literal at 0"},
           Case{"nul", "invalid literal at 0"},
           Case{"True", "expected a value at 0"},
           Case{"\"abc", "unterminated string at 4"},
           Case{"\"0123456789abcdef0123", "unterminated string at 21"},
           Case{"\"\\", "unterminated string at 1"},
           Case{"\"\\u12\"", "invalid \\u escape at 1"},
           Case{"\"\\ud83d\\u0041\"", "unpaired surrogate in \\u escape at 1"},
           Case{"\"\\ude00\\ud83d\"", "unpaired surrogate in \\u escape at 1"},
           Case{"\"\\ud83d\"", "unpaired surrogate in \\u escape at 1"},
           Case{"\"\\ud83dxude00\"", "unpaired surrogate in \\u escape at 1"},
           Case{"\"\\ud83d\\ude0\"", "unpaired surrogate in \\u escape at 1"},
           Case{"\"0123456789abcdef\x01\"", "control character in string at 17"},
           Case{"\"\x7f\x80\"", "invalid UTF-8 at 2"},
           Case{"\"\xc1\xbf\"", "invalid UTF-8 at 1"},
           Case{"\"\xe0\x9f\xbf\"", "invalid UTF-8 at 1"},
           Case{"\"\xf0\x8f\xbf\xbf\"", "invalid UTF-8 at 1"},
           Case{"\"\xf5\x80\x80\x80\"", "invalid UTF-8 at 1"},
           Case{"\"\xf0\x9f\x8e\"", "invalid UTF-8 at 1"},
           Case{"\"\xf0\x9f", "invalid UTF-8 at 1"},
       }) {
    EXPECT_EQ(ScanDocument(std::string_view(c.text)), c.error) << c.text;
  }
}

TEST(JsonScanTest, DepthLimitCountsEveryContainer) {
  const auto nested = [](int depth) {
    return std::string(static_cast<size_t>(depth), '[') +
           std::string(static_cast<size_t>(depth), ']');
  };
  EXPECT_EQ(ScanDocument(nested(kMaxEventDepth)), "");
  EXPECT_EQ(kMaxEventDepth, 64) << "the JSON rule's limit (docs/API.md)";
  EXPECT_EQ(ScanDocument(nested(kMaxEventDepth + 1)), "nesting too deep at 64");
  const std::string ten = nested(10);
  Cursor fits(ten);
  EXPECT_TRUE(ScanValue(fits, kMaxEventDepth - 10));
  Cursor deeper(ten);
  EXPECT_FALSE(ScanValue(deeper, kMaxEventDepth - 9));
}

// A wrapper scanned whole (a batch body from -2) opens more containers in one call than
// an event may have; the scanner's own stack must hold them (it overflowed under UBSan
// before), and a start further below is refused rather than overrun.
TEST(JsonScanTest, DepthLimitHoldsBelowTheTopForWrappers) {
  const auto nested = [](int depth) {
    return std::string(static_cast<size_t>(depth), '[') +
           std::string(static_cast<size_t>(depth), ']');
  };
  const std::string widest = nested(kMaxEventDepth + kMaxWrapperDepth);
  Cursor fits(widest);
  EXPECT_TRUE(ScanValue(fits, -kMaxWrapperDepth));
  EXPECT_TRUE(fits.AtEnd());
  const std::string wider = nested(kMaxEventDepth + kMaxWrapperDepth + 1);
  Cursor too_deep(wider);
  EXPECT_FALSE(ScanValue(too_deep, -kMaxWrapperDepth));
  EXPECT_STREQ(too_deep.error.what, "nesting too deep");
  const std::string far = nested(kMaxEventDepth + 10);
  Cursor out_of_range(far);
  EXPECT_FALSE(ScanValue(out_of_range, -10));
  EXPECT_STREQ(out_of_range.error.what, "nesting too deep");
  EXPECT_EQ(out_of_range.error.offset, static_cast<size_t>(kMaxEventDepth + kMaxWrapperDepth));
}

TEST(JsonScanTest, StringTokenKeepsRawContent) {
  const std::string text = R"("a\u0041\n")";
  Cursor c(text);
  StringToken token;
  ASSERT_TRUE(ScanString(c, &token));
  EXPECT_EQ(token.content, R"(a\u0041\n)");
  EXPECT_TRUE(token.has_escapes);
  EXPECT_TRUE(c.AtEnd());
  char buffer[8];
  const size_t n = Unescape(token, buffer, sizeof(buffer));
  EXPECT_EQ(std::string(buffer, n), "aA\n");
  EXPECT_EQ(Unescape(token, buffer, 2), SIZE_MAX);  // does not fit
}

TEST(JsonScanTest, UnescapeDecodesEveryEscape) {
  const std::string text = R"("\"\\\/\b\f\n\r\t\u00e9\u65e5\ud83c\udf89")";
  Cursor c(text);
  StringToken token;
  ASSERT_TRUE(ScanString(c, &token));
  char buffer[64];
  const size_t n = Unescape(token, buffer, sizeof(buffer));
  EXPECT_EQ(std::string(buffer, n), "\"\\/\b\f\n\r\t\xc3\xa9\xe6\x97\xa5\xf0\x9f\x8e\x89");
}

TEST(JsonScanTest, StringComparisons) {
  const auto token = [](const char* text) {
    Cursor c(text);
    StringToken t;
    EXPECT_TRUE(ScanString(c, &t)) << text;
    return t;
  };
  EXPECT_TRUE(StringEquals(token(R"("track")"), "track"));
  EXPECT_TRUE(StringEquals(token(R"("tr\u0061ck")"), "track"));
  EXPECT_FALSE(StringEquals(token(R"("Track")"), "track"));
  EXPECT_FALSE(StringEquals(token(R"("track ")"), "track"));
  EXPECT_TRUE(StringEqualsIgnoreCase(token(R"("DeNiEd")"), "denied"));
  EXPECT_TRUE(StringEqualsIgnoreCase(token(R"("F\u0041LSE")"), "false"));
  EXPECT_FALSE(StringEqualsIgnoreCase(token(R"("falsey")"), "false"));
}

TEST(JsonScanTest, WalkObjectReportsMembersAndValueStarts) {
  const std::string text = R"({ "a" : 1 , "b\u0021":[2] ,"c":{"d":3}})";
  Cursor c(text);
  std::vector<std::string> seen;
  ASSERT_TRUE(WalkObject(c, 1, [&](const StringToken& key, const char* key_start) {
    const char* value_start = c.p;
    if (!ScanValue(c, 1)) return false;
    seen.push_back(std::string(key.content) + "=" + std::string(value_start, c.p) + "@" +
                   std::to_string(key_start - c.begin));
    return true;
  }));
  EXPECT_TRUE(c.AtEnd());
  EXPECT_EQ(seen, (std::vector<std::string>{"a=1@2", "b\\u0021=[2]@12", "c={\"d\":3}@27"}));
}

// Random JSON text, valid by construction, then sometimes damaged.
void AppendRandomValue(signal_bench::CorpusRng& rng, int depth, std::string& out) {
  static constexpr const char* kStrings[] = {"plain",
                                             "",
                                             "with \\\"escapes\\\" \\\\ \\/ \\b\\f\\n\\r\\t",
                                             "\\u00e9\\u65e5\\ud83d\\ude00",
                                             "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x8e\x89",
                                             "0123456789abcdef0123456789abcdef"};
  static constexpr const char* kNumbers[] = {
      "0", "-0", "12", "-3.25", "1e10", "2.5E-3", "123456789012345678901234567890"};
  const uint32_t kind = depth > 6 ? rng.Below(4) : rng.Below(6);
  const char* space = rng.Below(4) == 0 ? " " : "";
  switch (kind) {
    case 0:
      out += '"';
      out += kStrings[rng.Below(6)];
      out += '"';
      break;
    case 1:
      out += kNumbers[rng.Below(7)];
      break;
    case 2:
      out += rng.Below(2) ? "true" : "false";
      break;
    case 3:
      out += "null";
      break;
    case 4: {
      out += '[';
      const uint32_t n = rng.Below(4);
      for (uint32_t i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        out += space;
        AppendRandomValue(rng, depth + 1, out);
      }
      out += ']';
      break;
    }
    default: {
      out += '{';
      const uint32_t n = rng.Below(4);
      for (uint32_t i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        out += "\"k";
        out += std::to_string(i);
        out += "\"";
        out += space;
        out += ':';
        AppendRandomValue(rng, depth + 1, out);
      }
      out += '}';
      break;
    }
  }
}

TEST(JsonScanTest, AgreesWithAnIndependentStrictParser) {
  static constexpr std::string_view kBytes =
      "{}[]\":,\\ 0123456789-+.eEtrufalsn\x01\x1f\x7f\x80\xbf\xc0\xc3\xe0\xed\xf0\xf4\xff";
  signal_bench::CorpusRng rng(99);
  size_t valid = 0, invalid = 0;
  for (int i = 0; i < 40000; ++i) {
    std::string text;
    AppendRandomValue(rng, 0, text);
    if (i % 4 != 0 && !text.empty()) {  // damage three quarters of them
      const size_t at = rng.Below(static_cast<uint32_t>(text.size()));
      const char byte = kBytes[rng.Below(static_cast<uint32_t>(kBytes.size()))];
      switch (rng.Below(3)) {
        case 0:
          text.erase(at, 1);
          break;
        case 1:
          text.insert(at, 1, byte);
          break;
        default:
          text[at] = byte;
          break;
      }
    }
    const std::string mine = ScanDocument(text);
    const std::string theirs = StrictJsonError(text);
    // The one deliberate difference: unpaired surrogate escapes are refused here.
    if (!theirs.empty() || mine.find("surrogate") == std::string::npos) {
      ASSERT_EQ(mine.empty(), theirs.empty())
          << "text: " << text << "\nscanner: " << mine << "\nstrict parser: " << theirs;
    }
    (mine.empty() ? valid : invalid)++;
  }
  EXPECT_GT(valid, 10000u);
  EXPECT_GT(invalid, 10000u);
}

}  // namespace
}  // namespace signal_hightouch::json
