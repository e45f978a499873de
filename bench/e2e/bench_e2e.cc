// bench_e2e: end-to-end delivery benchmark of signal-delivery-host.
//
//   POST /v1/batch (--batch events per request, over --connections keep-alive connections)
//     -> durable SQLite queue -> plugin Translate -> fake Hightouch on loopback
//
// Starts fake-hightouch and signal-delivery-host as child processes in a fresh data
// directory, installs Hightouch with the product page's body (or a tuned config), posts
// deterministic corpus events with unique messageIds for --duration seconds, then waits
// until every accepted event has reached the fake. Reports accept latency percentiles,
// accepted and delivered events/s, drain time, the host's RSS over time (first, last,
// max, slope) and CPU per process, duplicates and losses. Exits 1 if an accepted event
// was not delivered, 2 on a setup failure, 3 if duplicates arrived.
//
//   build/bench/e2e/bench_e2e --duration 60 --connections 8
//   build/bench/e2e/bench_e2e --duration 60 --connections 8 --tuned
//
// --scale-out [--hosts N] runs the same load in Kafka + PostgreSQL mode instead
// (scale_out_run.h).
//
// See --help and docs/PERFORMANCE.md ("End to end").

#include <curl/curl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "batch_bodies.h"
#include "child_process.h"
#include "e2e_flags.h"
#include "event_corpus.h"
#include "fake_control.h"
#include "fatal.h"
#include "host_control.h"
#include "http_client.h"
#include "load.h"
#include "process_stats.h"
#include "rapidjson/document.h"
#include "scale_out_run.h"
#include "system_info.h"

namespace {

using bench_e2e::Flags;
using bench_e2e::LoadPlan;
using bench_e2e::Percentiles;
using bench_e2e::RunConnection;
using bench_e2e::SharedCounters;
using bench_e2e::Summarise;
using bench_e2e::WorkerResult;
using bench_harness::BodyTemplate;
using bench_harness::ChildProcess;
using bench_harness::CpuSeconds;
using bench_harness::Die;
using bench_harness::FakeStats;
using bench_harness::HttpClient;
using bench_harness::HttpResult;
using bench_harness::ListenOverflowsAndDrops;
using bench_harness::LoadAverage;
using bench_harness::ReadFile;
using bench_harness::RssKib;
using bench_harness::SelfCpuSeconds;
using bench_harness::WithCommas;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---------------------------------------------------------------------------------------

struct RssSample {
  double t_s;
  int64_t host_kib;
  int64_t fake_kib;
};

// Least-squares slope of host RSS in MiB per minute over samples with t >= from_s.
double RssSlopeMibPerMin(const std::vector<RssSample>& samples, double from_s) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const RssSample& s : samples) {
    if (s.t_s < from_s) continue;
    const double x = s.t_s / 60.0, y = s.host_kib / 1024.0;
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double denominator = n * sxx - sx * sx;
  if (n < 2 || denominator == 0) return 0;
  return (n * sxy - sx * sy) / denominator;
}

}  // namespace

int main(int argc, char** argv) {
  bench_harness::SetProgramName("bench_e2e");
  const Flags flags = bench_e2e::ParseFlags(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (flags.scale_out) {
    const int exit_code = bench_e2e::RunScaleOut(flags);
    curl_global_cleanup();
    return exit_code;
  }

  // A fresh data directory: the durable queue starts empty.
  std::string parent = flags.data_parent;
  if (parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::string dir_template = parent + "/bench_e2e.XXXXXX";
  if (mkdtemp(dir_template.data()) == nullptr) Die("mkdtemp failed in " + parent);
  const std::string work_dir = dir_template;
  const std::string data_dir = work_dir + "/data";
  std::filesystem::create_directories(data_dir);

  // Corpus, bodies.
  const bench_e2e::LoadBodies bodies = bench_e2e::BuildLoadBodies(
      static_cast<size_t>(flags.batch), flags.corpus_events, flags.corpus_bigint_per_mille);
  const std::vector<BodyTemplate>& templates = bodies.templates;
  const double mean_body_bytes = bodies.mean_body_bytes;

  // fake-hightouch.
  ChildProcess fake;
  constexpr const char* kVendorKey = bench_harness::kVendorKey;
  fake.Start({flags.fake_bin, "--port", "0", "--write-key", kVendorKey, "--api-key", kVendorKey,
              "--source", "src-12345:12345", "--message-id-window",
              std::to_string(flags.dup_window), "--max-recorded-events", "1000"},
             work_dir + "/fake.out", work_dir + "/fake.err");
  const absl::StatusOr<std::string> fake_listening =
      fake.WaitForLine("listening on ", std::chrono::seconds(30));
  if (!fake_listening.ok()) Die(std::string(fake_listening.status().message()));
  const std::string fake_url = *fake_listening;

  // signal-delivery-host.
  std::vector<std::string> host_argv = {flags.host_bin,
                                        "--data-dir",
                                        data_dir,
                                        "--admin-port",
                                        "0",
                                        "--events-port",
                                        "0",
                                        "--plugin-option",
                                        "hightouch.events_base_url=" + fake_url,
                                        "--plugin-option",
                                        "hightouch.api_base_url=" + fake_url};
  if (!flags.host_config.empty()) {
    host_argv.push_back("--config");
    host_argv.push_back(flags.host_config);
  }
  ChildProcess host;
  std::vector<std::pair<std::string, std::string>> host_env;
  if (flags.host_nodelay_preload) host_env.emplace_back("LD_PRELOAD", SIGNAL_NODELAY_PRELOAD);
  host.Start(host_argv, work_dir + "/host.out", work_dir + "/host.log", host_env);
  const absl::StatusOr<bench_harness::HostEndpoints> endpoints =
      bench_harness::WaitForHostEndpoints(host, std::chrono::seconds(60));
  if (!endpoints.ok()) Die(std::string(endpoints.status().message()));
  const std::string& admin_url = endpoints->admin_url;
  const std::string& events_url = endpoints->events_url;
  const std::string& pipeline_key = endpoints->pipeline_key;
  const std::string token = bench_harness::MintEditorToken(flags.host_bin, data_dir);
  if (token.empty()) Die("signal-delivery-host token printed nothing");

  // Install Hightouch.
  std::string config = bench_harness::kHightouchCredentials;
  if (flags.tuned) config += absl::StrCat(",", bench_harness::kTunedDelivery);
  if (!flags.config_extra.empty()) config += "," + flags.config_extra;
  HttpClient admin;
  admin.SetHeaders({"Authorization: Bearer " + token, "Content-Type: application/json"});
  const bench_harness::Installed installed =
      bench_harness::InstallHightouch(admin, admin_url, config);
  if (installed.answer.status != 201) {
    Die(absl::StrCat("install answered ", installed.answer.status, ": ", installed.answer.body,
                     installed.answer.error));
  }
  const std::string& integration_id = installed.integration_id;
  const std::string& delivery_settings = installed.delivery_settings;

  HttpClient monitor;
  const FakeStats baseline = bench_harness::GetFakeStats(monitor, fake_url);
  if (!baseline.ok) Die("GET /_fake/stats failed");

  std::cout << "bench_e2e: " << flags.duration_s << " s, " << flags.connections << " connections, "
            << flags.batch << " events per request, rate "
            << (flags.rate > 0 ? absl::StrCat(flags.rate, " events/s") : "max (closed loop)")
            << ", config " << (flags.tuned ? "tuned" : "default")
            << (flags.config_extra.empty() ? "" : " + " + flags.config_extra)
            << (flags.host_nodelay_preload ? ", host with TCP_NODELAY shim" : "") << "\n"
            << "  delivery settings: " << delivery_settings << "\n"
            << "  corpus: " << bodies.corpus_events << " events, mean request body "
            << static_cast<int64_t>(mean_body_bytes) << " bytes; work dir " << work_dir << "\n"
            << "  host pid " << host.pid() << ", fake pid " << fake.pid() << ", load average "
            << LoadAverage() << ", " << std::thread::hardware_concurrency() << " CPUs\n"
            << std::flush;

  // Load.
  SharedCounters counters;
  LoadPlan plan;
  plan.url = events_url + "/v1/batch";
  plan.authorization = "Authorization: Bearer " + pipeline_key;
  plan.templates = &templates;
  plan.batch = static_cast<size_t>(flags.batch);
  plan.rate = flags.rate;
  plan.start = Clock::now();
  plan.end = plan.start + std::chrono::seconds(flags.duration_s);
  const std::string load_at_start = LoadAverage();
  const auto listen_0 = ListenOverflowsAndDrops();
  const double host_cpu_0 = CpuSeconds(host.pid()), fake_cpu_0 = CpuSeconds(fake.pid());
  const double self_cpu_0 = SelfCpuSeconds();

  std::vector<WorkerResult> results(flags.connections);
  std::vector<std::thread> workers;
  for (int i = 0; i < flags.connections; ++i) {
    workers.emplace_back([&, i] { RunConnection(plan, plan.url, counters, results[i]); });
  }

  std::vector<RssSample> rss;
  auto sample_rss = [&](Clock::time_point now) {
    rss.push_back({Seconds(now - plan.start), RssKib(host.pid()), RssKib(fake.pid())});
  };
  sample_rss(plan.start);
  std::printf("%8s %11s %11s %11s %9s %9s %9s %9s %6s\n", "t(s)", "accepted/s", "delivered/s",
              "backlog", "mean(ms)", "p99(ms)", "host(MiB)", "fake(MiB)", "load");
  uint64_t last_accepted = 0, last_delivered = 0, last_lat_sum = 0, last_lat_count = 0;
  Clock::time_point last_report = plan.start;
  uint64_t delivered_at_end_of_load = 0;
  bool host_died = false;
  while (Clock::now() < plan.end) {
    const Clock::time_point wake =
        std::min(plan.end, last_report + std::chrono::seconds(flags.report_interval_s));
    std::this_thread::sleep_until(wake);
    const Clock::time_point now = Clock::now();
    if (!host.Running()) {
      host_died = true;
      break;
    }
    sample_rss(now);
    const FakeStats stats = bench_harness::GetFakeStats(monitor, fake_url);
    const uint64_t delivered = stats.events_accepted - baseline.events_accepted;
    const uint64_t accepted = counters.events_accepted.load();
    const uint64_t lat_sum = counters.latency_sum_us.load(),
                   lat_count = counters.latency_count.load();
    const double dt = Seconds(now - last_report);
    const std::string load_average = LoadAverage();
    std::printf("%8.1f %11.0f %11.0f %11s %9.2f %9.1f %9.1f %9.1f %6s\n", Seconds(now - plan.start),
                (accepted - last_accepted) / dt, (delivered - last_delivered) / dt,
                WithCommas(accepted > delivered ? accepted - delivered : 0).c_str(),
                lat_count > last_lat_count
                    ? (lat_sum - last_lat_sum) / 1000.0 / (lat_count - last_lat_count)
                    : 0.0,
                counters.interval_latency.TakeP99Ms(), rss.back().host_kib / 1024.0,
                rss.back().fake_kib / 1024.0,
                load_average.substr(0, load_average.find(' ')).c_str());
    std::fflush(stdout);
    last_accepted = accepted;
    last_delivered = delivered;
    last_lat_sum = lat_sum;
    last_lat_count = lat_count;
    last_report = now;
    delivered_at_end_of_load = delivered;
  }
  for (std::thread& worker : workers) worker.join();
  const Clock::time_point load_end = Clock::now();
  const double load_s = Seconds(load_end - plan.start);
  const std::string load_at_end = LoadAverage();
  const auto listen_1 = ListenOverflowsAndDrops();
  const double host_cpu_load = CpuSeconds(host.pid()) - host_cpu_0;
  const double fake_cpu_load = CpuSeconds(fake.pid()) - fake_cpu_0;
  const double self_cpu_load = SelfCpuSeconds() - self_cpu_0;
  {
    const FakeStats stats = bench_harness::GetFakeStats(monitor, fake_url);
    delivered_at_end_of_load = stats.events_accepted - baseline.events_accepted;
  }

  // Drain: wait until the fake has every accepted event.
  const uint64_t accepted = counters.events_accepted.load();
  const Clock::time_point drain_deadline = load_end + std::chrono::seconds(flags.drain_timeout_s);
  FakeStats final_stats;
  Clock::time_point drained_at = load_end;
  bool drained = false;
  Clock::time_point next_rss = load_end + std::chrono::seconds(flags.report_interval_s);
  while (!host_died) {
    final_stats = bench_harness::GetFakeStats(monitor, fake_url);
    const uint64_t delivered = final_stats.events_accepted - baseline.events_accepted;
    const uint64_t unique =
        delivered - (final_stats.duplicate_message_ids - baseline.duplicate_message_ids);
    if (unique >= accepted) {
      drained = true;
      drained_at = Clock::now();
      break;
    }
    if (Clock::now() >= drain_deadline) break;
    if (!host.Running()) {
      host_died = true;
      break;
    }
    if (Clock::now() >= next_rss) {
      sample_rss(Clock::now());
      next_rss += std::chrono::seconds(flags.report_interval_s);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!drained) drained_at = Clock::now();  // how long it waited in vain
  const double drain_s = Seconds(drained_at - load_end);
  if (host.Running()) sample_rss(Clock::now());
  const int64_t host_hwm_kib = host.Running() ? RssKib(host.pid(), "VmHWM:") : 0;
  // Heap (anonymous) versus mapped files (the binary, libraries) versus shared memory
  // (SQLite's WAL index, the -shm file), to tell a leak from a growing mapping.
  const int64_t host_anon_kib = host.Running() ? RssKib(host.pid(), "RssAnon:") : 0;
  const int64_t host_file_kib = host.Running() ? RssKib(host.pid(), "RssFile:") : 0;
  const int64_t host_shmem_kib = host.Running() ? RssKib(host.pid(), "RssShmem:") : 0;
  uint64_t data_dir_bytes = 0;
  {
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(data_dir, ignored)) {
      if (entry.is_regular_file(ignored)) data_dir_bytes += entry.file_size(ignored);
    }
  }
  // Late duplicates would arrive within a moment of the last event.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  final_stats = bench_harness::GetFakeStats(monitor, fake_url);
  const double host_cpu_total = host.Running() ? CpuSeconds(host.pid()) - host_cpu_0 : 0;
  const double fake_cpu_total = CpuSeconds(fake.pid()) - fake_cpu_0;

  // The host's view: queue depth and dead letters.
  std::string queue_depth = "?";
  std::string dead_letters = "?";
  if (host.Running() && !integration_id.empty()) {
    HttpResult got = admin.Get(admin_url + "/v1/admin/integrations/" + integration_id);
    if (const size_t at = got.body.find("\"queue_depth\":"); at != std::string::npos) {
      queue_depth = got.body.substr(at + 14, got.body.find_first_of(",}", at) - at - 14);
    }
    HttpResult dl =
        admin.Get(admin_url + "/v1/admin/dead-letters?limit=100&integration_id=" + integration_id);
    rapidjson::Document doc;
    doc.Parse(dl.body.data(), dl.body.size());
    if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("data") && doc["data"].IsArray()) {
      dead_letters = absl::StrCat(doc["data"].Size(),
                                  doc.HasMember("has_more") && doc["has_more"].IsTrue() ? "+" : "");
    }
  }
  const int host_exit = host.Stop(std::chrono::seconds(60));
  fake.Stop(std::chrono::seconds(10));

  // Summary.
  std::vector<uint32_t> all_latency, all_scheduled;
  for (WorkerResult& r : results) {
    all_latency.insert(all_latency.end(), r.latency_us.begin(), r.latency_us.end());
    all_scheduled.insert(all_scheduled.end(), r.scheduled_latency_us.begin(),
                         r.scheduled_latency_us.end());
  }
  const Percentiles latency = Summarise(std::move(all_latency));
  const uint64_t delivered = final_stats.events_accepted - baseline.events_accepted;
  const uint64_t duplicates = final_stats.duplicate_message_ids - baseline.duplicate_message_ids;
  const uint64_t unique_delivered = delivered - duplicates;
  const uint64_t lost = accepted > unique_delivered ? accepted - unique_delivered : 0;

  int64_t rss_max = 0;
  for (const RssSample& s : rss) rss_max = std::max(rss_max, s.host_kib);
  const double slope_all = RssSlopeMibPerMin(rss, 0);
  // After the first fifth of the load phase: buffers, caches and the WAL have grown.
  const double slope_steady = RssSlopeMibPerMin(rss, load_s / 5);
  const double slope_second_half = RssSlopeMibPerMin(rss, load_s / 2);
  int64_t host_rss_end_of_load = rss.front().host_kib;
  for (const RssSample& s : rss) {
    if (s.t_s <= load_s + 0.5) host_rss_end_of_load = s.host_kib;
  }

  auto row = [](std::string_view name, const std::string& value) {
    std::printf("  %-38s %s\n", std::string(name).c_str(), value.c_str());
  };
  std::printf("\n== Summary ==\n");
  row("config", flags.tuned ? "tuned (batch_size 500, rate_limit_rps 1000, burst 2000)"
                            : "default (product page install body)");
  if (flags.host_nodelay_preload) row("experiment", "host LD_PRELOADed with TCP_NODELAY shim");
  row("connections x events/request",
      absl::StrCat(
          flags.connections, " x ", flags.batch,
          flags.rate > 0 ? absl::StrCat(", target ", flags.rate, " events/s") : ", closed loop"));
  row("load average (start / end of load)", load_at_start + "  /  " + load_at_end);
  row("load phase (s)", absl::StrFormat("%.1f", load_s));
  row("requests accepted (200)", WithCommas(counters.requests_ok.load()));
  row("requests refused / transport errors",
      absl::StrCat(counters.requests_failed.load(), " / ", counters.transport_errors.load(),
                   counters.partial_batches.load() > 0
                       ? absl::StrCat(" (partial batches: ", counters.partial_batches.load(), ")")
                       : ""));
  row("events accepted", WithCommas(accepted));
  row("accepted events/s (load phase)", absl::StrFormat("%.0f", accepted / load_s));
  row("request body MB/s",
      absl::StrFormat("%.1f", counters.requests_ok.load() * mean_body_bytes / load_s / 1e6));
  row("accept latency ms p50/p90/p99/p99.9/max",
      absl::StrFormat("%.2f / %.2f / %.2f / %.2f / %.2f (mean %.2f, n=%d)", latency.p50_ms,
                      latency.p90_ms, latency.p99_ms, latency.p999_ms, latency.max_ms,
                      latency.mean_ms, latency.count));
  if (flags.rate > 0) {
    const Percentiles scheduled = Summarise(std::move(all_scheduled));
    row("  from scheduled send p50/p99/max", absl::StrFormat("%.2f / %.2f / %.2f", scheduled.p50_ms,
                                                             scheduled.p99_ms, scheduled.max_ms));
  }
  row("ListenOverflows / ListenDrops during load (machine-wide)",
      absl::StrCat(listen_1.first - listen_0.first, " / ", listen_1.second - listen_0.second));
  row("delivered during load phase", WithCommas(delivered_at_end_of_load));
  row("delivered events/s (load phase)",
      absl::StrFormat("%.0f", delivered_at_end_of_load / load_s));
  row("drain time after load (s)", drained ? absl::StrFormat("%.2f", drain_s)
                                           : absl::StrFormat("not drained after %.0f s", drain_s));
  row("end-to-end events/s (accepted/(load+drain))",
      absl::StrFormat("%.0f", accepted / (load_s + drain_s)));
  row("delivered to fake (unique / duplicates)",
      absl::StrCat(WithCommas(unique_delivered), " / ", duplicates, " (ids checked: first ",
                   WithCommas(std::min<uint64_t>(flags.dup_window, delivered)), ")"));
  row("lost (accepted, not delivered)", WithCommas(lost));
  row("fake requests by status", final_stats.requests_by_status);
  row("host queue depth / dead letters at end", queue_depth + " / " + dead_letters);
  row("host RSS MiB first/end-of-load/last/max",
      absl::StrFormat("%.1f / %.1f / %.1f / %.1f (VmHWM %.1f)", rss.front().host_kib / 1024.0,
                      host_rss_end_of_load / 1024.0, rss.back().host_kib / 1024.0, rss_max / 1024.0,
                      host_hwm_kib / 1024.0));
  row("host RSS at end: anon / file / shmem MiB",
      absl::StrFormat("%.1f / %.1f / %.1f", host_anon_kib / 1024.0, host_file_kib / 1024.0,
                      host_shmem_kib / 1024.0));
  row("host RSS slope MiB/min (all/after 20%/2nd half)",
      absl::StrFormat("%+.2f / %+.2f / %+.2f (%d samples)", slope_all, slope_steady,
                      slope_second_half, rss.size()));
  row("data dir at end (signal.db, WAL, keys) MB", absl::StrFormat("%.1f", data_dir_bytes / 1e6));
  row("CPU s during load: host/fake/bench",
      absl::StrFormat("%.1f / %.1f / %.1f  (of %.1f available)", host_cpu_load, fake_cpu_load,
                      self_cpu_load, load_s * std::thread::hardware_concurrency()));
  row("host CPU us per accepted+delivered event",
      accepted > 0 ? absl::StrFormat("%.2f", host_cpu_total * 1e6 / accepted) : "-");
  row("fake CPU s (load+drain)", absl::StrFormat("%.1f", fake_cpu_total));
  row("host exit code", std::to_string(host_exit));
  if (!counters.first_errors.empty()) {
    std::printf("  first errors:\n");
    for (const std::string& e : counters.first_errors) std::printf("    %s\n", e.c_str());
  }
  if (host_died)
    std::printf("  THE HOST EXITED during the run; see %s/host.log\n", work_dir.c_str());

  int exit_code = 0;
  if (lost > 0 || host_died) {
    std::printf("RESULT: FAIL, %s accepted events were not delivered\n", WithCommas(lost).c_str());
    exit_code = 1;
  } else if (duplicates > 0) {
    std::printf("RESULT: %" PRIu64 " duplicate deliveries (at-least-once), none lost\n",
                duplicates);
    exit_code = 3;
  } else {
    std::printf("RESULT: OK, every accepted event delivered exactly once\n");
  }
  if (flags.keep_data || exit_code != 0) {
    std::printf("work dir kept: %s\n", work_dir.c_str());
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(work_dir, ignored);
  }
  curl_global_cleanup();
  return exit_code;
}
