// Deterministic corpus of canonical Signal events, for the Translate benchmarks and
// the property tests.
//
// Header-only so that any test can include it without a link dependency; the CMake
// target `signal_bench_corpus` (an INTERFACE library in bench/) carries the include
// path. The same seed gives the same bytes on every platform: the generator uses its
// own integer PRNG and no standard-library distributions.
//
// Mix: track 45%, page 40%, identify 12%, group 3%. A typical event is 800-1000 bytes
// of compact JSON with a full context (page, campaign, consent, user agent). Some
// events carry unicode (raw UTF-8 and \u escapes, surrogate pairs), integers beyond
// 64 bits, deep nesting, or grow to 4-30 KB of line items.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace signal_bench {

// splitmix64: tiny, fast, and identical everywhere.
class CorpusRng {
 public:
  explicit CorpusRng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (n > 0); the modulo bias is irrelevant here.
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(Next() % n); }
  // True with probability per_mille / 1000.
  bool PerMille(uint32_t per_mille) { return Below(1000) < per_mille; }

 private:
  uint64_t state_;
};

struct CorpusOptions {
  uint64_t seed = 20260225;
  size_t event_count = 10000;
  uint32_t large_per_mille = 10;     // events padded to 4-30 KB of line items
  uint32_t deep_per_mille = 5;       // events with 40-60 levels of nesting
  uint32_t unicode_per_mille = 150;  // events with non-ASCII text and \u escapes
  uint32_t bigint_per_mille = 50;    // events with integers beyond 2^64
  // Largest nesting the deep events reach below their member. The event API and the
  // plugin refuse JSON nested deeper than 64 levels (docs/API.md), so the corpus stays
  // just inside: deep, but valid.
  uint32_t max_deep_levels = 60;
};

struct Corpus {
  std::vector<std::string> events;
  std::vector<std::string_view> views;  // one per event, into `events`
  size_t total_bytes = 0;
};

namespace corpus_internal {

inline void AppendUuid(CorpusRng& rng, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t a = rng.Next(), b = rng.Next();
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    uint64_t word = i < 16 ? a : b;
    int nibble = static_cast<int>((word >> (4 * (i % 16))) & 0xF);
    if (i == 12) nibble = 4;                 // version 4
    if (i == 16) nibble = 8 | (nibble & 3);  // variant 10xx
    out.push_back(kHex[nibble]);
  }
}

inline void AppendInt(std::string& out, uint64_t value) { out.append(std::to_string(value)); }

inline void AppendPadded(std::string& out, uint64_t value, int width) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()); i < width; ++i) out.push_back('0');
  out.append(digits);
}

// A price like 24.99 written as text, so no floating-point formatting is involved.
inline void AppendPrice(CorpusRng& rng, std::string& out) {
  AppendInt(out, rng.Below(500));
  out.push_back('.');
  AppendPadded(out, rng.Below(100), 2);
}

// An event time in one of the shapes producers send.
inline void AppendTimestamp(CorpusRng& rng, size_t index, std::string& out) {
  // 2026-02-25T14:30:00Z plus a few seconds per event.
  const uint64_t seconds = 52200 + index * 3 + rng.Below(3);
  const uint64_t day = 25 + (seconds / 86400) % 3;
  const uint64_t hour = seconds / 3600 % 24, minute = seconds / 60 % 60, second = seconds % 60;
  out.append("\"2026-02-");
  AppendPadded(out, day, 2);
  out.push_back('T');
  const uint32_t shape = rng.Below(100);
  uint64_t shown_hour = hour;
  if (shape >= 80 && shape < 90) shown_hour = (hour + 2) % 24;  // +02:00
  AppendPadded(out, shown_hour, 2);
  out.push_back(':');
  AppendPadded(out, minute, 2);
  out.push_back(':');
  AppendPadded(out, second, 2);
  if (shape < 70) {
    out.push_back('.');
    AppendPadded(out, rng.Below(1000), 3);
    out.append("Z\"");
  } else if (shape < 80) {
    out.append("Z\"");
  } else if (shape < 90) {
    out.push_back('.');
    AppendPadded(out, rng.Below(1000), 3);
    out.append("+02:00\"");  // local time two hours ahead of UTC
  } else if (shape < 95) {
    out.push_back('.');
    AppendPadded(out, rng.Below(1000000), 6);
    out.append("Z\"");
  } else {
    out.push_back('.');
    AppendInt(out, rng.Below(10));
    out.append("+00:00\"");
  }
}

constexpr std::string_view kPaths[] = {"/",
                                       "/pricing",
                                       "/docs/getting-started",
                                       "/blog/launch",
                                       "/product/widget-pro",
                                       "/checkout",
                                       "/account/settings",
                                       "/search"};
constexpr std::string_view kTitles[] = {"Home",        "Pricing",       "Getting started",
                                        "We launched", "Widget Pro",    "Checkout",
                                        "Settings",    "Search results"};
// Raw UTF-8 (two-, three- and four-byte sequences) and JSON escapes, as JSON text.
constexpr std::string_view kUnicodeTitles[] = {
    "Café crème brûlée", "日本語のページ", "Launch 🚀 party 🎉",
    "\\u00c9t\\u00e9 \\ud83c\\udf1e sale", "Привет \\\"quoted\\\" \\\\ back\\/slash"};
constexpr std::string_view kEvents[] = {"Order Completed", "Product Viewed",   "Product Added",
                                        "Signed Up",       "Checkout Started", "Coupon Applied",
                                        "Lead Generated",  "Video Played"};
constexpr std::string_view kBigNumbers[] = {"123456789012345678901234567890",
                                            "18446744073709551616",
                                            "-9223372036854775809",
                                            "9007199254740993",
                                            "340282366920938463463374607431768211457",
                                            "1.7976931348623157e308",
                                            "-0.000000000000000000000000000001",
                                            "5e-324"};
constexpr std::string_view kUserAgents[] = {
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.3 Mobile/15E148 Safari/604.1"};

inline void AppendContext(CorpusRng& rng, bool unicode, size_t path_index, std::string& out) {
  const std::string_view path = kPaths[path_index];
  out.append(R"("context":{"page":{"url":"https://shop.example.com)");
  out.append(path);
  out.append(R"(?utm_source=newsletter","path":")");
  out.append(path);
  out.append(R"(","referrer":"https://www.google.com/","title":")");
  out.append(unicode ? kUnicodeTitles[rng.Below(5)] : kTitles[path_index]);
  out.append(R"(","search":"?utm_source=newsletter"},"ip":"203.0.113.)");
  AppendInt(out, rng.Below(255));
  out.append(R"(","userAgent":")");
  out.append(kUserAgents[rng.Below(3)]);
  out.append(R"(","locale":"en-GB","timezone":"Europe/London",)"
             R"("campaign":{"source":"newsletter","medium":"email","name":"spring_sale"},)"
             R"("consent":{"canonical":{"essential":true,)"
             R"("functional":true,"analytics":true,"marketing":)");
  out.append(rng.Below(2) != 0 ? "true" : "false");
  out.append(R"(,"personalization":false}}})");
}

inline void AppendProduct(CorpusRng& rng, std::string& out) {
  out.append(R"({"product_id":"SKU-)");
  AppendPadded(out, rng.Below(100000), 5);
  out.append(R"(","name":"Widget model )");
  AppendInt(out, rng.Below(90) + 10);
  out.append(R"(","price":)");
  AppendPrice(rng, out);
  out.append(R"(,"quantity":)");
  AppendInt(out, rng.Below(5) + 1);
  out.append(R"(,"in_stock":true})");
}

// Nested arrays and objects, `levels` deep below the member that holds them.
inline void AppendDeep(uint32_t levels, std::string& out) {
  for (uint32_t i = 0; i < levels; ++i) out.append(i % 2 == 0 ? "[" : R"({"n":)");
  out.append(R"("bottom")");
  for (uint32_t i = levels; i > 0; --i) out.append((i - 1) % 2 == 0 ? "]" : "}");
}

}  // namespace corpus_internal

// One event; `index` spreads timestamps. Deterministic in (rng state, index, options).
inline std::string GenerateEvent(CorpusRng& rng, size_t index, const CorpusOptions& options) {
  using namespace corpus_internal;
  std::string out;
  out.reserve(1024);
  const uint32_t roll = rng.Below(100);
  const std::string_view type = roll < 45   ? "track"
                                : roll < 85 ? "page"
                                : roll < 97 ? "identify"
                                            : "group";
  const bool unicode = rng.PerMille(options.unicode_per_mille);
  const bool bigint = rng.PerMille(options.bigint_per_mille);
  const bool deep = rng.PerMille(options.deep_per_mille);
  const bool large = rng.PerMille(options.large_per_mille);
  const size_t path_index = rng.Below(8);

  out.append(R"({"type":")");
  out.append(type);
  out.append(R"(","messageId":")");
  AppendUuid(rng, out);
  out.append(R"(","anonymousId":")");
  AppendUuid(rng, out);
  out.push_back('"');
  if (type == "identify" || rng.Below(100) < 60) {
    out.append(R"(,"userId":"user-)");
    AppendInt(out, rng.Below(1000000));
    out.push_back('"');
  }
  if (type == "track") {
    out.append(R"(,"event":")");
    out.append(kEvents[rng.Below(8)]);
    out.push_back('"');
  } else if (type == "page") {
    out.append(R"(,"name":")");
    out.append(kTitles[path_index]);
    out.push_back('"');
  } else if (type == "group") {
    out.append(R"(,"groupId":"org-)");
    AppendInt(out, rng.Below(10000));
    out.push_back('"');
  }

  // properties (track, page) or traits (identify, group)
  const bool traits = type == "identify" || type == "group";
  out.append(traits ? R"(,"traits":{)" : R"(,"properties":{)");
  if (type == "track") {
    out.append(R"("order_id":"A-)");
    AppendInt(out, rng.Below(10000000));
    out.append(R"(","revenue":)");
    AppendPrice(rng, out);
    out.append(R"(,"currency":"GBP","products":[)");
    const uint32_t products = 1 + rng.Below(2);
    for (uint32_t i = 0; i < products; ++i) {
      if (i > 0) out.push_back(',');
      AppendProduct(rng, out);
    }
    out.push_back(']');
  } else if (type == "page") {
    out.append(R"("category":"marketing","section":"top","experiment":{"id":"exp-42",)"
               R"("variant":"b"})");
    if (rng.Below(4) == 0) out.append(R"(,"url":"https://override.example.com/landing")");
  } else if (type == "identify") {
    out.append(R"("email":"jane.doe.)");
    AppendInt(out, rng.Below(100000));
    out.append(R"(@example.com","first_name":"Jane","last_name":"Doe","plan":"pro",)"
               R"("created_at":"2025-11-02T09:15:00Z","address":{"city":"London",)"
               R"("country":"GB","postal_code":"EC1A 1BB"},"logins":)");
    AppendInt(out, rng.Below(500));
  } else {
    out.append(R"("name":"Example Org","industry":"retail","employees":)");
    AppendInt(out, rng.Below(5000) + 1);
    out.append(R"(,"plan":"enterprise")");
  }
  if (unicode) {
    out.append(R"(,"note":")");
    out.append(kUnicodeTitles[rng.Below(5)]);
    out.append(R"(","emoji":"\ud83d\ude00 \u2603 \u00e9")");
  }
  if (bigint) {
    out.append(R"(,"big_id":)");
    out.append(kBigNumbers[rng.Below(8)]);
    out.append(R"(,"big_list":[)");
    out.append(kBigNumbers[rng.Below(8)]);
    out.push_back(',');
    out.append(kBigNumbers[rng.Below(8)]);
    out.push_back(']');
  }
  if (deep) {
    out.append(R"(,"deep":)");
    const uint32_t levels =
        40 + rng.Below(options.max_deep_levels > 40 ? options.max_deep_levels - 40 + 1 : 1);
    AppendDeep(levels, out);
  }
  if (large) {
    const size_t target = 4000 + rng.Below(26000);  // 4-30 KB of event in all
    out.append(R"(,"line_items":[)");
    bool first = true;
    while (out.size() + 900 < target) {
      if (!first) out.push_back(',');
      first = false;
      AppendProduct(rng, out);
    }
    out.push_back(']');
  }
  out.append("},");
  AppendContext(rng, unicode, path_index, out);
  out.append(R"(,"timestamp":)");
  AppendTimestamp(rng, index, out);
  out.push_back('}');
  return out;
}

inline Corpus GenerateCorpus(const CorpusOptions& options) {
  Corpus corpus;
  CorpusRng rng(options.seed);
  corpus.events.reserve(options.event_count);
  for (size_t i = 0; i < options.event_count; ++i) {
    corpus.events.push_back(GenerateEvent(rng, i, options));
    corpus.total_bytes += corpus.events.back().size();
  }
  corpus.views.assign(corpus.events.begin(), corpus.events.end());
  return corpus;
}

}  // namespace signal_bench
