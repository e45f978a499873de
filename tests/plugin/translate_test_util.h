// Shared helpers for the Translate tests.
#pragma once

#include <cstdint>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "gtest/gtest.h"
#include "options.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "translate.h"

namespace signal_hightouch::testing {

// 2026-02-25T14:30:01.250Z
inline constexpr int64_t kFixedSentAtMs = 1772029801250;
inline constexpr std::string_view kFixedSentAt = "2026-02-25T14:30:01.250Z";

inline HightouchConfig TestConfig() {
  HightouchConfig config;
  config.api_key = "test-api-key";
  config.workspace_id = "12345";
  config.source_id = "src-1";
  config.region = "us-east-1";
  return config;
}

inline std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Strict RFC 8259 check by an independent parser (RapidJSON): grammar, escapes and
// UTF-8 validated, numbers of any length kept as text, no extensions. RapidJSON
// also refuses exponents beyond a double's range (1E+400), which RFC 8259 allows; such
// a number is checked against the number grammar here and blanked so parsing can go
// on. Returns an empty string when `text` is valid.
inline std::string StrictJsonError(std::string_view text) {
  constexpr unsigned kFlags = rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseIterativeFlag |
                              rapidjson::kParseNumbersAsStringsFlag;
  static const std::regex kNumber(R"(^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
  // A raw NUL byte is never valid JSON. Without it, the text can be parsed as a
  // terminated string, which (unlike RapidJSON's sized overload) skips no BOM bytes.
  if (text.find('\0') != std::string_view::npos) return "NUL byte";
  std::string copy(text);
  // RapidJSON's UTF-8 validation reads up to three bytes past a truncated sequence at
  // the end of input: give it NULs to read.
  copy.append(4, '\0');
  for (;;) {
    rapidjson::Document document;
    document.Parse<kFlags>(copy.c_str());
    if (!document.HasParseError()) return {};
    const size_t offset = document.GetErrorOffset();
    std::smatch number;
    const std::string rest = copy.substr(offset, 400);
    if (document.GetParseError() == rapidjson::kParseErrorNumberTooBig &&
        std::regex_search(rest, number, kNumber) && number.length(0) > 1) {
      copy.replace(offset, static_cast<size_t>(number.length(0)),
                   "0" + std::string(static_cast<size_t>(number.length(0)) - 1, ' '));
      continue;
    }
    return std::string(rapidjson::GetParseError_En(document.GetParseError())) + " at byte " +
           std::to_string(offset);
  }
}

// Runs one Translate call over owned strings.
struct EventBatch {
  std::vector<std::string> events;
  TranslateOutput out;

  void Translate(Translator& translator, const HightouchConfig& config,
                 int64_t sent_at = kFixedSentAtMs) {
    std::vector<std::string_view> views(events.begin(), events.end());
    translator.Translate(config, PluginOptions{}, views, sent_at, out);
  }
};

}  // namespace signal_hightouch::testing
