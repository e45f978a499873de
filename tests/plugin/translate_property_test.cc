// Translate: properties that must hold for every input, checked over the seeded
// benchmark corpus (bench/corpus/event_corpus.h) and over mutated copies of it.
//
// The corpus generator is header-only so this test needs no link to bench/.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "../../bench/corpus/event_corpus.h"
#include "gtest/gtest.h"
#include "translate.h"
#include "translate_test_util.h"

namespace signal_hightouch {
namespace {

using ::signal_hightouch::testing::kFixedSentAtMs;
using ::signal_hightouch::testing::StrictJsonError;
using ::signal_hightouch::testing::TestConfig;

constexpr size_t kSuffixBytes = 38;  // ],"sentAt":"<24 characters>"}

// Value of a top-level string member as written in a generated event.
std::string_view GeneratedString(std::string_view event, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":\"";
  const size_t at = event.find(needle);
  if (at == std::string_view::npos) return {};
  const size_t start = at + needle.size();
  return event.substr(start, event.find('"', start) - start);
}

// Raw text between `open` and the next `close` (both exclusive) in a generated event.
std::string_view Between(std::string_view event, std::string_view open, std::string_view close) {
  const size_t at = event.find(open);
  if (at == std::string_view::npos) return {};
  const size_t start = at + open.size();
  const size_t end = event.find(close, start);
  return end == std::string_view::npos ? std::string_view() : event.substr(start, end - start);
}

// The records of a body, split at the record starts that the message id ranges mark.
std::vector<std::string_view> Records(const TranslatedRequest& request) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < request.message_id_ranges.size(); ++i) {
    starts.push_back(request.body.rfind(R"({"type":")", request.message_id_ranges[i].first));
  }
  std::vector<std::string_view> records;
  const std::string_view body = request.body;
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t end = i + 1 < starts.size() ? starts[i + 1] - 1 : body.size() - kSuffixBytes;
    records.push_back(body.substr(starts[i], end - starts[i]));
  }
  return records;
}

struct Accounting {
  size_t accepted = 0;
  size_t rejected = 0;
  size_t requests = 0;
};

// Checks every invariant of one Translate call and returns what it saw.
Accounting CheckCall(std::span<const std::string_view> events, const TranslateOutput& out,
                     size_t batch_size) {
  Accounting seen;
  std::vector<int> count(events.size(), 0);
  int64_t previous = -1;
  for (size_t r = 0; r < out.request_count; ++r) {
    const TranslatedRequest& request = out.requests[r];
    ++seen.requests;
    EXPECT_LT(request.body.size(), kMaxRequestBytes);
    EXPECT_GE(request.event_indexes.size(), 1u);
    EXPECT_LE(request.event_indexes.size(), batch_size);
    const std::string error = StrictJsonError(request.body);
    EXPECT_EQ(error, "") << "request " << r;
    if (!error.empty()) continue;
    const std::vector<std::string_view> records = Records(request);
    EXPECT_EQ(records.size(), request.event_indexes.size());
    if (records.size() != request.event_indexes.size()) continue;
    for (size_t i = 0; i < records.size(); ++i) {
      const uint32_t index = request.event_indexes[i];
      ++count[index];
      ++seen.accepted;
      EXPECT_GT(static_cast<int64_t>(index), previous) << "events out of order";
      previous = index;
      EXPECT_LE(records[i].size(), kMaxEventBytes);
      EXPECT_EQ(StrictJsonError(records[i]), "");
      // The id is the input's, at the place the range says (when the input plainly
      // has one: a mutated event may repeat or escape it).
      const std::string_view input_id = GeneratedString(events[index], "messageId");
      const size_t first = events[index].find(R"("messageId")");
      const bool plain = !input_id.empty() && input_id.find('\\') == std::string_view::npos &&
                         events[index].find(R"("messageId")", first + 1) == std::string_view::npos;
      if (plain) {
        EXPECT_EQ(request.message_id(i), input_id);
      }
    }
  }
  for (size_t i = 0; i < out.rejection_count; ++i) {
    ++count[out.rejections[i].event_index];
    ++seen.rejected;
    EXPECT_FALSE(out.rejections[i].message.empty());
  }
  for (size_t i = 0; i < count.size(); ++i) EXPECT_EQ(count[i], 1) << "event " << i;
  return seen;
}

// The corpus's deep events, kept within the JSON rule's 64 levels (the host refuses
// deeper events at its door); a property nests two levels below the event.
constexpr uint32_t kCorpusMaxDepth = 60;

class CorpusPropertyTest : public ::testing::TestWithParam<std::pair<size_t, uint32_t>> {};

TEST_P(CorpusPropertyTest, EveryBodyIsValidAndEveryEventAccountedFor) {
  const auto [events_per_call, batch_size] = GetParam();
  signal_bench::CorpusOptions options;
  options.event_count = 6000;
  options.max_deep_levels = kCorpusMaxDepth;
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(options);
  HightouchConfig config = TestConfig();
  config.batch_size = batch_size;
  config.consent_category = "personalization";  // the corpus denies it in every event
  HightouchConfig allow = TestConfig();
  allow.batch_size = batch_size;

  Translator translator;
  TranslateOutput out;
  size_t accepted = 0, rejected = 0;
  for (size_t start = 0; start < corpus.views.size(); start += events_per_call) {
    const auto chunk = std::span<const std::string_view>(corpus.views)
                           .subspan(start, std::min(events_per_call, corpus.views.size() - start));
    translator.Translate(allow, PluginOptions{}, chunk, kFixedSentAtMs, out);
    const Accounting seen = CheckCall(chunk, out, batch_size);
    accepted += seen.accepted;
    rejected += seen.rejected;
    // Every corpus event is valid for the default config.
    for (size_t i = 0; i < out.rejection_count; ++i) {
      ADD_FAILURE() << "event " << start + out.rejections[i].event_index << ": "
                    << out.rejections[i].reason << ": " << out.rejections[i].message;
    }
  }
  EXPECT_EQ(accepted, corpus.views.size());
  EXPECT_EQ(rejected, 0u);

  // With a category the corpus denies, everything is a consent rejection.
  translator.Translate(config, PluginOptions{},
                       std::span<const std::string_view>(corpus.views).first(events_per_call),
                       kFixedSentAtMs, out);
  EXPECT_EQ(out.request_count, 0u);
  ASSERT_EQ(out.rejection_count, events_per_call);
  for (size_t i = 0; i < out.rejection_count; ++i) {
    EXPECT_EQ(out.rejections[i].reason, kReasonConsentDenied);
  }
}

INSTANTIATE_TEST_SUITE_P(Translate, CorpusPropertyTest,
                         ::testing::Values(std::make_pair(size_t{500}, 100u),
                                           std::make_pair(size_t{500}, 500u),
                                           std::make_pair(size_t{100}, 7u),
                                           std::make_pair(size_t{1}, 100u)));

TEST(CorpusPropertyTest, ValuesSurviveByteForByte) {
  signal_bench::CorpusOptions options;
  options.event_count = 3000;
  options.max_deep_levels = kCorpusMaxDepth;
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(options);
  const std::string library =
      R"("context":{"library":{"name":"datafly-signal","version":")" SIGNAL_HIGHTOUCH_VERSION
      R"("},)";
  Translator translator;
  TranslateOutput out;
  size_t checked = 0;
  for (size_t start = 0; start < corpus.views.size(); start += 500) {
    const auto chunk = std::span<const std::string_view>(corpus.views).subspan(start, 500);
    translator.Translate(TestConfig(), PluginOptions{}, chunk, kFixedSentAtMs, out);
    ASSERT_EQ(out.rejection_count, 0u);
    for (size_t r = 0; r < out.request_count; ++r) {
      const std::vector<std::string_view> records = Records(out.requests[r]);
      for (size_t i = 0; i < records.size(); ++i) {
        const std::string_view event = chunk[out.requests[r].event_indexes[i]];
        const std::string_view record = records[i];
        // The generator writes properties/traits just before the context, and the
        // context just before the timestamp.
        const bool traits = event.find(R"("traits":{)") != std::string_view::npos;
        const std::string key = traits ? R"("traits":)" : R"("properties":)";
        const std::string_view values = Between(event, key, R"(,"context":{"page")");
        ASSERT_FALSE(values.empty());
        if (GeneratedString(event, "type") == "page") {
          // Page properties gain context.page fields: the original members come first.
          EXPECT_NE(record.find(key + std::string(values.substr(0, values.size() - 1))),
                    std::string_view::npos);
        } else {
          EXPECT_NE(record.find(key + std::string(values) + ","), std::string_view::npos);
        }
        const std::string_view context = Between(event, R"("context":{)", R"(,"timestamp":)");
        EXPECT_NE(record.find(library + std::string(context) + ","), std::string_view::npos);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, corpus.views.size());
}

// ---------------------------------------------------------------------------
// Mutation fuzzing: broken copies of corpus events must never leak into a body.

std::string Mutate(signal_bench::CorpusRng& rng, std::string event) {
  static constexpr std::string_view kBytes =
      "{}[]\":,\\ 0123456789-+.eEtfnlu\x01\x1f\x7f\x80\xbf\xc0\xc3\xe2\xed\xf0\xf4\xff";
  const uint32_t mutations = 1 + rng.Below(3);
  for (uint32_t m = 0; m < mutations && !event.empty(); ++m) {
    const size_t at = rng.Below(static_cast<uint32_t>(event.size()));
    const char byte = kBytes[rng.Below(static_cast<uint32_t>(kBytes.size()))];
    switch (rng.Below(6)) {
      case 0:
        event.erase(at, 1);
        break;
      case 1:
        event.insert(at, 1, byte);
        break;
      case 2:
        event[at] = byte;
        break;
      case 3:
        event.resize(at);
        break;
      case 4: {
        const size_t length = std::min<size_t>(1 + rng.Below(40), event.size() - at);
        event.insert(rng.Below(static_cast<uint32_t>(event.size())), event.substr(at, length));
        break;
      }
      default: {
        const size_t other = rng.Below(static_cast<uint32_t>(event.size()));
        std::swap(event[at], event[other]);
        break;
      }
    }
  }
  return event;
}

TEST(MutationPropertyTest, BrokenEventsAreRejectedAndBodiesStayValid) {
  signal_bench::CorpusOptions options;
  options.event_count = 2000;
  options.max_deep_levels = kCorpusMaxDepth;
  options.large_per_mille = 0;  // keep the run short; size limits are tested elsewhere
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(options);
  signal_bench::CorpusRng rng(7);
  HightouchConfig config = TestConfig();
  config.batch_size = 50;

  Translator translator;
  TranslateOutput out;
  size_t invalid_inputs = 0, accepted = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::string> mutated;
    for (const std::string& event : corpus.events) mutated.push_back(Mutate(rng, event));
    std::vector<std::string_view> views(mutated.begin(), mutated.end());
    translator.Translate(config, PluginOptions{}, views, kFixedSentAtMs, out);
    accepted += CheckCall(views, out, 50).accepted;

    std::vector<const TranslatedRejection*> rejection_of(views.size(), nullptr);
    for (size_t i = 0; i < out.rejection_count; ++i) {
      rejection_of[out.rejections[i].event_index] = &out.rejections[i];
    }
    for (size_t i = 0; i < views.size(); ++i) {
      const std::string oracle = StrictJsonError(views[i]);
      const TranslatedRejection* rejection = rejection_of[i];
      if (!oracle.empty()) {
        // Not JSON to an independent strict parser: must be rejected as such.
        ++invalid_inputs;
        ASSERT_NE(rejection, nullptr) << "accepted invalid JSON (" << oracle << "): " << views[i];
        EXPECT_EQ(rejection->reason, kReasonInvalidJson) << views[i];
      } else if (rejection != nullptr && rejection->reason == kReasonInvalidJson &&
                 rejection->message.starts_with("invalid JSON")) {
        // Valid JSON must not be called a syntax error, except where this scanner is
        // deliberately stricter (unpaired surrogates).
        EXPECT_NE(rejection->message.find("surrogate"), std::string::npos)
            << rejection->message << ": " << views[i];
      }
    }
  }
  // The mutations must actually exercise both paths.
  EXPECT_GT(invalid_inputs, 5000u);
  EXPECT_GT(accepted, 1000u);
}

}  // namespace
}  // namespace signal_hightouch
