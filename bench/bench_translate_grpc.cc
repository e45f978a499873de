// Translate through gRPC: the built plugin (libsignal_hightouch.so) loaded by the
// host's loader and called over the in-process channel, as the delivery host calls
// it. Measures events per second of process CPU (client and server threads
// together), input bytes per second and heap allocations per event.
//
//   build/bench/bench_translate_grpc --benchmark_min_time=2
//
// The plugin path is fixed at build time; SIGNAL_PLUGIN_PATH overrides it. Requests
// are built before timing (the host has its events as bytes already); the timed part
// is the RPC: request serialisation, the plugin's Translate, response serialisation
// and parsing.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "event_corpus.h"
#include "grpcpp/client_context.h"
#include "plugin_loader.h"

namespace {

namespace v1 = signal::integration::v1;

constexpr int64_t kSentAtMs = 1772029801250;

struct Fixture {
  std::unique_ptr<signal_host::LoadedPlugin> plugin;
  std::string merged_config;
  signal_bench::Corpus corpus;
  std::string error;
};

// Loaded once for the process; a failure is reported by every benchmark.
Fixture& SharedFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    const char* override_path = std::getenv("SIGNAL_PLUGIN_PATH");
    const std::string path = override_path != nullptr ? override_path : SIGNAL_PLUGIN_PATH;
    absl::StatusOr<std::unique_ptr<signal_host::LoadedPlugin>> loaded =
        signal_host::LoadPlugin(path, {});
    if (!loaded.ok()) {
      f->error = loaded.status().ToString();
      return f;
    }
    f->plugin = *std::move(loaded);

    v1::ValidateConfigRequest validate;
    validate.set_config_json(
        R"({"api_key":"bench-api-key","workspace_id":"12345","source_id":"src-bench"})");
    v1::ValidateConfigResponse validated;
    grpc::ClientContext context;
    const grpc::Status status = f->plugin->stub()->ValidateConfig(&context, validate, &validated);
    if (!status.ok() || !validated.valid()) {
      f->error = "ValidateConfig failed: " + status.error_message() +
                 (validated.violations_size() > 0 ? validated.violations(0).message() : "");
      return f;
    }
    f->merged_config = validated.merged_config_json();

    signal_bench::CorpusOptions options;
    options.event_count = 10000;
    f->corpus = signal_bench::GenerateCorpus(options);
    return f;
  }();
  return *fixture;
}

// Arg: events per call.
void BM_TranslateGrpc(benchmark::State& state) {
  Fixture& fixture = SharedFixture();
  if (!fixture.error.empty()) {
    state.SkipWithError(fixture.error.c_str());
    return;
  }
  const size_t per_call = static_cast<size_t>(state.range(0));
  const size_t slices = fixture.corpus.events.size() / per_call;
  std::vector<v1::TranslateRequest> requests(slices);
  std::vector<size_t> slice_bytes(slices, 0);
  for (size_t s = 0; s < slices; ++s) {
    requests[s].set_config_json(fixture.merged_config);
    requests[s].set_sent_at_unix_ms(kSentAtMs);
    for (size_t i = 0; i < per_call; ++i) {
      const std::string& event = fixture.corpus.events[s * per_call + i];
      requests[s].add_events(event);
      slice_bytes[s] += event.size();
    }
  }
  v1::Integration::Stub* stub = fixture.plugin->stub();

  // Warm-up: every slice once, so the plugin's buffers reach steady state.
  for (size_t s = 0; s < slices; ++s) {
    grpc::ClientContext context;
    v1::TranslateResponse response;
    const grpc::Status status = stub->Translate(&context, requests[s], &response);
    if (!status.ok()) {
      state.SkipWithError(("Translate failed: " + status.error_message()).c_str());
      return;
    }
  }

  size_t slice = 0, events = 0, bytes = 0, rejected = 0, failures = 0;
  const uint64_t allocations_before = signal_bench::AllocationCount();
  for (auto _ : state) {
    grpc::ClientContext context;
    v1::TranslateResponse response;
    const grpc::Status status = stub->Translate(&context, requests[slice], &response);
    if (!status.ok()) ++failures;
    rejected += static_cast<size_t>(response.rejections_size());
    events += per_call;
    bytes += slice_bytes[slice];
    if (++slice == slices) slice = 0;
  }
  const uint64_t allocations = signal_bench::AllocationCount() - allocations_before;

  signal_bench::ReportEvents(state, events, bytes, allocations);
  state.counters["rejected"] = benchmark::Counter(static_cast<double>(rejected));
  if (failures > 0) state.SkipWithError("some Translate calls failed");
}

// Process CPU time: the plugin runs on the server's threads, not the benchmark's.
BENCHMARK(BM_TranslateGrpc)
    ->ArgNames({"events_per_call"})
    ->Arg(100)
    ->Arg(500)
    ->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();
