#include "load.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/str_cat.h"
#include "event_corpus.h"
#include "fatal.h"
#include "http_client.h"
#include "rapidjson/document.h"

namespace bench_e2e {
namespace {

using bench_harness::Die;
using bench_harness::HttpClient;
using bench_harness::HttpResult;
using bench_harness::WriteIdTail;

uint64_t AcceptedFromPartial(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return 0;
  auto it = doc.FindMember("accepted");
  return it != doc.MemberEnd() && it->value.IsUint64() ? it->value.GetUint64() : 0;
}

}  // namespace

LoadBodies BuildLoadBodies(size_t batch, size_t corpus_events, int bigint_per_mille) {
  signal_bench::CorpusOptions corpus_options;
  corpus_options.event_count = corpus_events;
  // The event API refuses JSON nested deeper than 64 levels (the whole batch is a 400), so
  // the deep events stay at 40-60 levels here.
  corpus_options.max_deep_levels = 60;
  if (bigint_per_mille >= 0)
    corpus_options.bigint_per_mille = static_cast<uint32_t>(bigint_per_mille);
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(corpus_options);
  LoadBodies bodies;
  bodies.corpus_events = corpus.events.size();
  bodies.run_nonce = static_cast<uint32_t>(
      std::chrono::system_clock::now().time_since_epoch().count() ^ (getpid() << 16));
  bodies.templates = bench_harness::BuildTemplates(corpus, batch, bodies.run_nonce);
  size_t body_bytes = 0;
  for (const BodyTemplate& t : bodies.templates) body_bytes += t.body.size();
  bodies.mean_body_bytes = static_cast<double>(body_bytes) / bodies.templates.size();
  if (bodies.mean_body_bytes > 524288) {
    Die("bodies exceed the event API's 512 KB limit; lower --batch");
  }
  for (const BodyTemplate& t : bodies.templates) {
    if (t.body.size() > 524288) Die("a body exceeds the event API's 512 KB limit; lower --batch");
  }
  return bodies;
}

void RunConnection(const LoadPlan& plan, const std::string& url, SharedCounters& counters,
                   WorkerResult& result) {
  HttpClient client;
  client.SetHeaders({plan.authorization, "Content-Type: application/json"});
  std::string body;
  const double request_interval_s = plan.rate > 0 ? plan.batch / plan.rate : 0;
  while (true) {
    const uint64_t index = counters.next_request.fetch_add(1, std::memory_order_relaxed);
    Clock::time_point scheduled = Clock::now();
    if (plan.rate > 0) {
      scheduled = plan.start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(index * request_interval_s));
      if (scheduled >= plan.end) break;
      std::this_thread::sleep_until(scheduled);
    } else if (scheduled >= plan.end) {
      break;
    }
    const BodyTemplate& tmpl = (*plan.templates)[index % plan.templates->size()];
    body.assign(tmpl.body);
    for (size_t i = 0; i < tmpl.id_tail_offsets.size(); ++i) {
      WriteIdTail(index * plan.batch + i, body.data() + tmpl.id_tail_offsets[i]);
    }

    const Clock::time_point sent = Clock::now();
    HttpResult answer = client.Post(url, body.data(), body.size());
    const Clock::time_point done = Clock::now();
    const auto us = [](Clock::duration d) {
      return static_cast<uint32_t>(std::min<int64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(d).count(), UINT32_MAX));
    };
    const uint32_t latency = us(done - sent);
    result.latency_us.push_back(latency);
    if (plan.rate > 0) result.scheduled_latency_us.push_back(us(done - scheduled));
    counters.latency_sum_us.fetch_add(latency, std::memory_order_relaxed);
    counters.latency_count.fetch_add(1, std::memory_order_relaxed);
    counters.interval_latency.Record(latency);

    if (answer.status == 0) {
      counters.transport_errors.fetch_add(1);
      counters.events_unknown.fetch_add(plan.batch);
      counters.NoteError("transport error: " + answer.error);
    } else if (answer.status != 200) {
      counters.requests_failed.fetch_add(1);
      counters.NoteError(absl::StrCat("HTTP ", answer.status, ": ", answer.body.substr(0, 300)));
    } else if (answer.body.find("\"success\":true") != std::string::npos) {
      counters.requests_ok.fetch_add(1, std::memory_order_relaxed);
      counters.events_accepted.fetch_add(plan.batch, std::memory_order_relaxed);
    } else {
      counters.requests_ok.fetch_add(1, std::memory_order_relaxed);
      counters.partial_batches.fetch_add(1);
      counters.events_accepted.fetch_add(AcceptedFromPartial(answer.body));
      counters.NoteError("partial batch: " + answer.body.substr(0, 300));
    }
  }
}

Percentiles Summarise(std::vector<uint32_t> samples) {
  Percentiles p;
  p.count = samples.size();
  if (samples.empty()) return p;
  std::sort(samples.begin(), samples.end());
  // Nearest rank.
  auto at = [&samples](double q) {
    size_t rank = static_cast<size_t>(std::ceil(q * samples.size()));
    rank = std::clamp<size_t>(rank, 1, samples.size());
    return samples[rank - 1] / 1000.0;
  };
  p.p50_ms = at(0.50);
  p.p90_ms = at(0.90);
  p.p99_ms = at(0.99);
  p.p999_ms = at(0.999);
  p.max_ms = samples.back() / 1000.0;
  double sum = 0;
  for (uint32_t s : samples) sum += s;
  p.mean_ms = sum / samples.size() / 1000.0;
  return p;
}

}  // namespace bench_e2e
