// Translate called directly: events per second, input bytes per second and heap
// allocations per event, over the seeded corpus (bench/corpus/event_corpus.h).
//
//   build/bench/bench_translate --benchmark_min_time=2
//
// Each iteration translates the next slice of the corpus (wrapping around), so the
// whole corpus, large and unusual events included, goes through the timed loop. One
// full pass runs before timing so buffers reach their steady-state capacity; the
// allocations counted afterwards are what a long-running plugin would see.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "alloc_counter.h"
#include "event_corpus.h"
#include "translate.h"

namespace signal_hightouch {
namespace {

constexpr int64_t kSentAtMs = 1772029801250;  // fixed, so no clock read per call

const signal_bench::Corpus& BenchCorpus() {
  static const signal_bench::Corpus corpus = [] {
    signal_bench::CorpusOptions options;
    // 10,000 events (~11 MB, more than the L2 cache); SIGNAL_BENCH_CORPUS_EVENTS
    // changes it, e.g. 1000 for a corpus that stays cache-resident.
    options.event_count = 10000;
    if (const char* events = std::getenv("SIGNAL_BENCH_CORPUS_EVENTS")) {
      options.event_count = std::max<size_t>(500, std::strtoul(events, nullptr, 10));
    }
    return signal_bench::GenerateCorpus(options);
  }();
  return corpus;
}

HightouchConfig BenchConfig(uint32_t batch_size) {
  HightouchConfig config;
  config.api_key = "bench-api-key";
  config.workspace_id = "12345";
  config.source_id = "src-bench";
  config.batch_size = batch_size;
  return config;
}

// Args: events per call, config batch_size.
void BM_Translate(benchmark::State& state) {
  const signal_bench::Corpus& corpus = BenchCorpus();
  const size_t per_call = static_cast<size_t>(state.range(0));
  const HightouchConfig config = BenchConfig(static_cast<uint32_t>(state.range(1)));
  const PluginOptions options;
  const std::span<const std::string_view> all(corpus.views);
  const size_t slices = all.size() / per_call;

  Translator translator;
  TranslateOutput out;
  for (size_t slice = 0; slice < slices; ++slice) {  // warm-up pass
    translator.Translate(config, options, all.subspan(slice * per_call, per_call), kSentAtMs, out);
  }

  size_t slice = 0, events = 0, bytes = 0, rejected = 0;
  const uint64_t allocations_before = signal_bench::AllocationCount();
  for (auto _ : state) {
    const auto chunk = all.subspan(slice * per_call, per_call);
    translator.Translate(config, options, chunk, kSentAtMs, out);
    benchmark::DoNotOptimize(out.request_count);
    events += per_call;
    rejected += out.rejection_count;
    for (std::string_view event : chunk) bytes += event.size();
    if (++slice == slices) slice = 0;
  }
  const uint64_t allocations = signal_bench::AllocationCount() - allocations_before;

  signal_bench::ReportEvents(state, events, bytes, allocations);
  state.counters["rejected"] = benchmark::Counter(static_cast<double>(rejected));
  state.counters["requests_per_call"] = benchmark::Counter(static_cast<double>(out.request_count));
}

BENCHMARK(BM_Translate)
    ->ArgNames({"events_per_call", "batch_size"})
    ->Args({100, 100})
    ->Args({500, 100})
    ->Args({500, 500});

// The same with a cold Translator and output per call: what a caller that does not
// keep them pays (buffers grow again every time).
void BM_TranslateColdBuffers(benchmark::State& state) {
  const signal_bench::Corpus& corpus = BenchCorpus();
  const size_t per_call = static_cast<size_t>(state.range(0));
  const HightouchConfig config = BenchConfig(100);
  const PluginOptions options;
  const std::span<const std::string_view> all(corpus.views);
  const size_t slices = all.size() / per_call;
  size_t slice = 0, events = 0;
  const uint64_t allocations_before = signal_bench::AllocationCount();
  for (auto _ : state) {
    Translator translator;
    TranslateOutput out;
    translator.Translate(config, options, all.subspan(slice * per_call, per_call), kSentAtMs, out);
    benchmark::DoNotOptimize(out.request_count);
    events += per_call;
    if (++slice == slices) slice = 0;
  }
  const uint64_t allocations = signal_bench::AllocationCount() - allocations_before;
  state.SetItemsProcessed(static_cast<int64_t>(events));
  state.counters["allocs_per_event"] =
      benchmark::Counter(events == 0 ? 0.0 : static_cast<double>(allocations) / events);
}

BENCHMARK(BM_TranslateColdBuffers)->ArgNames({"events_per_call"})->Arg(500);

}  // namespace
}  // namespace signal_hightouch

BENCHMARK_MAIN();
