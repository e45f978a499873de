// IngestEvents, the event API's body reader: events per second, input bytes per second
// and heap allocations per event, for /v1/batch bodies of 100 corpus events
// (bench/corpus/event_corpus.h) and for single events (/v1/t and friends).
//
//   build/bench/bench_ingest --benchmark_min_time=2
//
// Each iteration ingests the next body (wrapping around), so every corpus event goes
// through the timed loop. Variants:
//   host_fills:0  the corpus as producers send it (type, messageId, timestamp given);
//   host_fills:1  messageId and timestamp removed, so the host generates and splices
//                 them into every event;
//   pretty:1      the same bodies re-indented with spaces and newlines between tokens.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "alloc_counter.h"
#include "event_corpus.h"
#include "host/api/event_ingest.h"

namespace signal_host::api {
namespace {

constexpr size_t kEventsPerBatch = 100;
constexpr int64_t kNowMs = 1772029800123;

const signal_bench::Corpus& BenchCorpus() {
  static const signal_bench::Corpus corpus = [] {
    signal_bench::CorpusOptions options;
    options.event_count = 10000;
    if (const char* events = std::getenv("SIGNAL_BENCH_CORPUS_EVENTS")) {
      options.event_count = std::max<size_t>(500, std::strtoul(events, nullptr, 10));
    }
    // The event API refuses bodies nested deeper than 64 levels (66 in a batch, whose
    // events sit at depth 3 and their properties at 4): keep the deep events within it.
    options.max_deep_levels = 60;
    return signal_bench::GenerateCorpus(options);
  }();
  return corpus;
}

// Removes the first top-level `"key":"..."` member of a corpus event (the corpus writes
// string values without escaped quotes in these members).
std::string WithoutMember(std::string event, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":\"";
  size_t at = event.find(needle);
  if (at == std::string::npos) return event;
  size_t end = event.find('"', at + needle.size()) + 1;
  // Take the comma on one side with it.
  if (event[end] == ',') {
    ++end;
  } else if (event[at - 1] == ',') {
    --at;
  }
  event.erase(at, end - at);
  return event;
}

// Spaces after ':' and ',', a newline and indent before each member; string contents
// are left alone.
std::string Pretty(std::string_view json) {
  std::string out;
  out.reserve(json.size() * 3 / 2);
  bool in_string = false;
  int depth = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    out.push_back(c);
    if (in_string) {
      if (c == '\\') {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        ++depth;
        out.append("\n").append(static_cast<size_t>(depth) * 2, ' ');
        break;
      case '}':
      case ']':
        --depth;
        break;
      case ',':
        out.append("\n").append(static_cast<size_t>(depth) * 2, ' ');
        break;
      case ':':
        out.push_back(' ');
        break;
      default:
        break;
    }
  }
  return out;
}

struct Bodies {
  std::vector<std::string> bodies;
  size_t events_per_body = 0;
};

const Bodies& BatchBodies(bool host_fills, bool pretty) {
  static Bodies cache[2][2];
  Bodies& bodies = cache[host_fills][pretty];
  if (!bodies.bodies.empty()) return bodies;
  const signal_bench::Corpus& corpus = BenchCorpus();
  bodies.events_per_body = kEventsPerBatch;
  for (size_t first = 0; first + kEventsPerBatch <= corpus.events.size();
       first += kEventsPerBatch) {
    std::string body = R"({"batch":[)";
    for (size_t i = first; i < first + kEventsPerBatch; ++i) {
      if (i > first) body.push_back(',');
      std::string event = corpus.events[i];
      if (host_fills) event = WithoutMember(WithoutMember(event, "messageId"), "timestamp");
      body.append(event);
    }
    body.append("]}");
    bodies.bodies.push_back(pretty ? Pretty(body) : std::move(body));
  }
  return bodies;
}

IngestOptions BenchOptions(std::string path_type) {
  IngestOptions options;
  options.path_type = std::move(path_type);
  options.max_batch_events = 500;
  options.now_ms = kNowMs;
  // A fixed-shape id: the UUID generator is the service's cost, not the parser's.
  options.new_message_id = [] { return std::string("00000000-0000-4000-8000-000000000000"); };
  return options;
}

void Run(benchmark::State& state, const std::vector<std::string>& bodies,
         const IngestOptions& options) {
  size_t expected_events = 0;
  for (const std::string& body : bodies) {  // warm-up and sanity check
    absl::StatusOr<IngestResult> result = IngestEvents(body, options);
    if (!result.ok() || !result->errors.empty()) {
      state.SkipWithError("a benchmark body was refused");
      return;
    }
    expected_events += result->events.size();
  }
  size_t next = 0, events = 0, bytes = 0;
  const uint64_t allocations_before = signal_bench::AllocationCount();
  for (auto _ : state) {
    const std::string& body = bodies[next];
    absl::StatusOr<IngestResult> result = IngestEvents(body, options);
    benchmark::DoNotOptimize(result);
    events += result->events.size();
    bytes += body.size();
    if (++next == bodies.size()) next = 0;
  }
  const uint64_t allocations = signal_bench::AllocationCount() - allocations_before;
  signal_bench::ReportEvents(state, events, bytes, allocations);
  state.counters["s_per_event"] = benchmark::Counter(
      static_cast<double>(events), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["events_per_body"] =
      benchmark::Counter(static_cast<double>(expected_events) / bodies.size());
}

// Args: host_fills, pretty.
void BM_IngestBatch(benchmark::State& state) {
  const Bodies& bodies = BatchBodies(state.range(0) != 0, state.range(1) != 0);
  Run(state, bodies.bodies, BenchOptions(""));
}

BENCHMARK(BM_IngestBatch)
    ->ArgNames({"host_fills", "pretty"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1});

// One corpus event per body, as /v1/t, /v1/p, /v1/i and /v1/g receive them (the path
// decides the type).
void BM_IngestSingle(benchmark::State& state) {
  const signal_bench::Corpus& corpus = BenchCorpus();
  static const std::vector<std::string> bodies(corpus.events.begin(), corpus.events.end());
  Run(state, bodies, BenchOptions("track"));
}

BENCHMARK(BM_IngestSingle);

}  // namespace
}  // namespace signal_host::api

BENCHMARK_MAIN();
