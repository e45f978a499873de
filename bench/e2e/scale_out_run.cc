#include "scale_out_run.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "child_process.h"
#include "fake_control.h"
#include "fatal.h"
#include "host_control.h"
#include "http_client.h"
#include "load.h"
#include "process_stats.h"
#include "rapidjson/document.h"
#include "scale_out_cluster.h"
#include "scale_out_report.h"
#include "system_info.h"

namespace bench_e2e {
namespace {

using bench_harness::ChildProcess;
using bench_harness::Die;
using bench_harness::FakeStats;
using bench_harness::GroupMetrics;
using bench_harness::HttpClient;
using bench_harness::HttpResult;
using bench_harness::LoadAverage;
using bench_harness::ScaleOutCluster;
using bench_harness::WithCommas;

// Warm-up ids live far above any sequence the timed load reaches.
constexpr uint64_t kWarmUpSequence = 0xF000'0000'0000;
// The drain gives up after this long without a new delivery.
constexpr auto kStallTimeout = std::chrono::seconds(30);

// Lines of the hosts' logs where librdkafka reset an offset because the broker no longer
// had it: the mock cluster keeps about 5 MiB per partition and drops older records.
int OffsetResets(const std::string& work_dir, int hosts) {
  int resets = 0;
  for (int n = 1; n <= hosts; ++n) {
    std::istringstream lines(bench_harness::ReadFile(absl::StrCat(work_dir, "/host", n, ".log")));
    for (std::string line; std::getline(lines, line);) {
      if (line.find("Offset out of range") != std::string::npos) ++resets;
    }
  }
  return resets;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Polls `done` every `every` until it holds (true) or `timeout` passes (false).
bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds timeout,
               std::chrono::milliseconds every = std::chrono::milliseconds(100)) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return done();
}

Cpu TakeCpu(const ScaleOutCluster& cluster, const ChildProcess& fake) {
  return {cluster.HostsCpuSeconds(), cluster.MockCpuSeconds(), cluster.PostgresCpuSeconds(),
          bench_harness::CpuSeconds(fake.pid()), bench_harness::SelfCpuSeconds()};
}

std::string Assignment(const GroupMetrics& metrics) {
  std::string out;
  for (double a : metrics.assigned) absl::StrAppend(&out, out.empty() ? "" : "+", a);
  return out;
}

}  // namespace

int RunScaleOut(const Flags& flags) {
  std::string parent = flags.data_parent;
  if (parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::string dir_template = parent + "/bench_e2e.XXXXXX";
  if (mkdtemp(dir_template.data()) == nullptr) Die("mkdtemp failed in " + parent);
  const std::string work_dir = dir_template;

  const LoadBodies bodies = BuildLoadBodies(static_cast<size_t>(flags.batch), flags.corpus_events,
                                            flags.corpus_bigint_per_mille);

  ChildProcess fake;
  const char* key = bench_harness::kVendorKey;
  fake.Start({flags.fake_bin, "--port", "0", "--write-key", key, "--api-key", key, "--source",
              "src-12345:12345", "--message-id-window", std::to_string(flags.dup_window),
              "--max-recorded-events", "1000"},
             work_dir + "/fake.out", work_dir + "/fake.err");
  const absl::StatusOr<std::string> fake_url =
      fake.WaitForLine("listening on ", std::chrono::seconds(30));
  if (!fake_url.ok()) Die(std::string(fake_url.status().message()));

  bench_harness::ScaleOutOptions options;
  options.host_bin = flags.host_bin;
  options.mock_bin = flags.mock_bin;
  options.fake_url = *fake_url;
  options.work_dir = work_dir;
  options.hosts = flags.hosts;
  if (flags.mock_nodelay_preload)
    options.mock_env.emplace_back("LD_PRELOAD", SIGNAL_NODELAY_PRELOAD);
  absl::StatusOr<std::unique_ptr<ScaleOutCluster>> started = ScaleOutCluster::Start(options);
  if (!started.ok()) Die(absl::StrCat(started.status().message(), "; work dir ", work_dir));
  ScaleOutCluster& cluster = **started;
  // From here on a setup failure returns, so the destructors stop the hosts, the mock
  // cluster and PostgreSQL (Die's exit would leave PostgreSQL running).
  auto fail = [&](const std::string& message) {
    cluster.SaveMetrics(work_dir);
    std::cerr << "bench_e2e: " << message << "; work dir kept: " << work_dir << "\n";
    return 2;
  };
  const std::string token = cluster.MintEditorToken();
  if (token.empty()) return fail("signal-delivery-host token printed nothing");

  // Install on host 1; the others learn of it through PostgreSQL.
  std::string config = bench_harness::kHightouchCredentials;
  if (flags.tuned) config += absl::StrCat(",", bench_harness::kTunedDelivery);
  if (!flags.config_extra.empty()) config += "," + flags.config_extra;
  HttpClient admin;
  admin.SetHeaders({"Authorization: Bearer " + token, "Content-Type: application/json"});
  const bench_harness::Installed installed =
      bench_harness::InstallHightouch(admin, cluster.endpoints(0).admin_url, config);
  if (installed.answer.status != 201) {
    return fail(absl::StrCat("install answered ", installed.answer.status, ": ",
                             installed.answer.body, installed.answer.error));
  }

  // Warm-up: the first batch creates the topic; wait until the group has shared out its
  // partitions and the batch is delivered, so the timed load meets a steady group. Every
  // host gets one batch, so each producer has the topic's metadata before the clock runs.
  HttpClient monitor;
  const std::string authorization = "Authorization: Bearer " + cluster.endpoints(0).pipeline_key;
  const BodyTemplate& warm_up = bodies.templates[0];
  for (size_t h = 0; h < cluster.hosts(); ++h) {
    std::string body = warm_up.body;
    for (size_t i = 0; i < warm_up.id_tail_offsets.size(); ++i) {
      const uint64_t sequence = kWarmUpSequence + h * warm_up.id_tail_offsets.size() + i;
      bench_harness::WriteIdTail(sequence, body.data() + warm_up.id_tail_offsets[i]);
    }
    HttpClient poster;
    poster.SetHeaders({authorization, "Content-Type: application/json"});
    const HttpResult answer = poster.Post(cluster.endpoints(h).events_url + "/v1/batch", body);
    if (answer.status != 200) {
      return fail(absl::StrCat("warm-up batch to host ", h + 1, " answered ", answer.status, ": ",
                               answer.body, answer.error));
    }
  }
  const Clock::time_point assigning = Clock::now();
  GroupMetrics group;
  const bool assigned = WaitUntil(
      [&] {
        group = cluster.Scrape(monitor);
        if (!group.ok || group.assigned_total() != kTopicPartitions) return false;
        for (double a : group.assigned) {
          if (a <= 0) return false;
        }
        return true;
      },
      std::chrono::seconds(90), std::chrono::milliseconds(200));
  if (!assigned) {
    return fail(absl::StrCat("the group did not share out ", kTopicPartitions,
                             " partitions in 90 s (assigned ", Assignment(group), ")"));
  }
  const double assign_s = Seconds(Clock::now() - assigning);
  FakeStats warm_stats;
  const bool warmed = WaitUntil(
      [&] {
        warm_stats = bench_harness::GetFakeStats(monitor, *fake_url);
        group = cluster.Scrape(monitor);
        return warm_stats.events_accepted + static_cast<uint64_t>(group.invalid_records) >=
                   static_cast<uint64_t>(flags.batch) * cluster.hosts() &&
               group.consumer_lag == 0;
      },
      std::chrono::seconds(60));
  if (!warmed) {
    return fail(absl::StrCat("the warm-up batches were not delivered within 60 s (the fake has ",
                             warm_stats.events_accepted, " events, lag ", group.consumer_lag, ")"));
  }
  const FakeStats baseline = bench_harness::GetFakeStats(monitor, *fake_url);
  if (!baseline.ok) return fail("GET /_fake/stats failed");
  const uint64_t invalid_baseline = static_cast<uint64_t>(cluster.Scrape(monitor).invalid_records);

  std::cout << "bench_e2e --scale-out: " << flags.hosts << " host(s), " << flags.duration_s
            << " s, " << flags.connections << " connections, " << flags.batch
            << " events per request, rate "
            << (flags.rate > 0 ? absl::StrCat(flags.rate, " events/s") : "max (closed loop)")
            << ", config " << (flags.tuned ? "tuned" : "default")
            << (flags.config_extra.empty() ? "" : " + " + flags.config_extra)
            << (flags.mock_nodelay_preload ? ", mock with TCP_NODELAY shim" : "") << "\n"
            << "  delivery settings: " << installed.delivery_settings << "\n"
            << "  Kafka: signal-kafka-mock (3 brokers) " << cluster.bootstrap() << ", topic "
            << kTopicPartitions << " partitions, assigned " << Assignment(group) << " after "
            << absl::StrFormat("%.1f", assign_s) << " s\n"
            << "  PostgreSQL: " << cluster.postgres().description() << "\n"
            << "  corpus: " << bodies.corpus_events << " events, mean request body "
            << static_cast<int64_t>(bodies.mean_body_bytes) << " bytes; work dir " << work_dir
            << "\n"
            << "  CPU: " << bench_harness::CpuModel() << ", " << std::thread::hardware_concurrency()
            << " CPUs, load average " << LoadAverage() << "\n"
            << std::flush;

  // Load: connection i posts to host i mod N.
  SharedCounters counters;
  LoadPlan plan;
  plan.authorization = authorization;
  plan.templates = &bodies.templates;
  plan.batch = static_cast<size_t>(flags.batch);
  plan.rate = flags.rate;
  plan.start = Clock::now();
  plan.end = plan.start + std::chrono::seconds(flags.duration_s);
  const std::string load_at_start = LoadAverage();
  const auto listen_0 = bench_harness::ListenOverflowsAndDrops();
  const Cpu cpu_0 = TakeCpu(cluster, fake);
  std::vector<WorkerResult> results(flags.connections);
  std::vector<std::thread> workers;
  for (int i = 0; i < flags.connections; ++i) {
    const std::string url = cluster.endpoints(i % cluster.hosts()).events_url + "/v1/batch";
    workers.emplace_back([&, i, url] { RunConnection(plan, url, counters, results[i]); });
  }

  std::printf("%8s %11s %11s %10s %10s %8s %8s %7s %7s %7s %6s\n", "t(s)", "accepted/s",
              "delivered/s", "backlog", "lag", "mean(ms)", "p99(ms)", "hosts%", "mock%", "pg%",
              "load");
  uint64_t last_accepted = 0, last_delivered = 0, last_lat_sum = 0, last_lat_count = 0;
  Clock::time_point last_report = plan.start;
  Cpu last_cpu = cpu_0;
  double max_lag = 0;
  bool host_died = false;
  while (Clock::now() < plan.end) {
    std::this_thread::sleep_until(
        std::min(plan.end, last_report + std::chrono::seconds(flags.report_interval_s)));
    const Clock::time_point now = Clock::now();
    if (!cluster.AllHostsRunning()) {
      host_died = true;
      break;
    }
    const FakeStats stats = bench_harness::GetFakeStats(monitor, *fake_url);
    const GroupMetrics metrics = cluster.Scrape(monitor);
    const Cpu cpu = TakeCpu(cluster, fake);
    const uint64_t delivered = stats.events_accepted - baseline.events_accepted;
    const uint64_t accepted = counters.events_accepted.load();
    const uint64_t lat_sum = counters.latency_sum_us.load();
    const uint64_t lat_count = counters.latency_count.load();
    const double dt = Seconds(now - last_report);
    const Cpu used = cpu - last_cpu;
    max_lag = std::max(max_lag, metrics.consumer_lag);
    const std::string load_average = LoadAverage();
    std::printf("%8.1f %11.0f %11.0f %10s %10s %8.2f %8.1f %7.0f %7.0f %7.0f %6s\n",
                Seconds(now - plan.start), (accepted - last_accepted) / dt,
                (delivered - last_delivered) / dt,
                WithCommas(accepted > delivered ? accepted - delivered : 0).c_str(),
                metrics.ok ? WithCommas(static_cast<uint64_t>(metrics.consumer_lag)).c_str() : "?",
                lat_count > last_lat_count
                    ? (lat_sum - last_lat_sum) / 1000.0 / (lat_count - last_lat_count)
                    : 0.0,
                counters.interval_latency.TakeP99Ms(), used.hosts / dt * 100, used.mock / dt * 100,
                used.postgres / dt * 100, load_average.substr(0, load_average.find(' ')).c_str());
    std::fflush(stdout);
    last_accepted = accepted;
    last_delivered = delivered;
    last_lat_sum = lat_sum;
    last_lat_count = lat_count;
    last_report = now;
    last_cpu = cpu;
  }
  for (std::thread& worker : workers) worker.join();
  const Clock::time_point load_end = Clock::now();
  const double load_s = Seconds(load_end - plan.start);
  const std::string load_at_end = LoadAverage();
  const auto listen_1 = bench_harness::ListenOverflowsAndDrops();
  const Cpu cpu_load = TakeCpu(cluster, fake) - cpu_0;
  const uint64_t delivered_in_load =
      bench_harness::GetFakeStats(monitor, *fake_url).events_accepted - baseline.events_accepted;

  // Drain: every accepted event at the fake and the group's lag at 0 (offsets committed).
  const uint64_t accepted = counters.events_accepted.load();
  FakeStats final_stats;
  GroupMetrics final_group;
  bool drained = false;
  bool stalled = false;
  if (!host_died) {
    uint64_t last_unique = 0;
    Clock::time_point progress_at = Clock::now();
    WaitUntil(
        [&] {
          final_stats = bench_harness::GetFakeStats(monitor, *fake_url);
          const uint64_t unique =
              (final_stats.events_accepted - baseline.events_accepted) -
              (final_stats.duplicate_message_ids - baseline.duplicate_message_ids);
          // Records a consumer dead-lettered as invalid will never arrive: count them so
          // the drain ends, and the result reports them as not delivered.
          final_group = cluster.Scrape(monitor);
          const uint64_t invalid =
              static_cast<uint64_t>(final_group.invalid_records) - invalid_baseline;
          drained = unique + invalid >= accepted && final_group.ok && final_group.consumer_lag == 0;
          if (unique != last_unique) {
            last_unique = unique;
            progress_at = Clock::now();
          }
          // Records the mock dropped (its retention) never arrive either.
          stalled = Clock::now() - progress_at > kStallTimeout;
          return drained || stalled || !cluster.AllHostsRunning();
        },
        std::chrono::seconds(flags.drain_timeout_s));
    host_died = !cluster.AllHostsRunning();
  }
  const double drain_s = Seconds(Clock::now() - load_end);
  const Cpu cpu_total = TakeCpu(cluster, fake) - cpu_0;
  const int64_t hosts_rss_kib = cluster.HostsRssKib();
  // Late duplicates would arrive within a moment of the last event.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  final_stats = bench_harness::GetFakeStats(monitor, *fake_url);
  std::string dead_letters = "?";
  {
    const HttpResult dl =
        admin.Get(cluster.endpoints(0).admin_url +
                  "/v1/admin/dead-letters?limit=100&integration_id=" + installed.integration_id);
    rapidjson::Document doc;
    doc.Parse(dl.body.data(), dl.body.size());
    if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("data") && doc["data"].IsArray()) {
      dead_letters = absl::StrCat(doc["data"].Size(),
                                  doc.HasMember("has_more") && doc["has_more"].IsTrue() ? "+" : "");
    }
  }
  std::string exit_codes;
  for (int code : cluster.StopHosts(std::chrono::seconds(60))) {
    absl::StrAppend(&exit_codes, exit_codes.empty() ? "" : " ", code);
  }
  started->reset();  // the mock cluster and PostgreSQL
  fake.Stop(std::chrono::seconds(10));

  ScaleOutOutcome out;
  out.work_dir = work_dir;
  out.load_at_start = load_at_start;
  out.load_at_end = load_at_end;
  out.load_s = load_s;
  out.drain_s = drain_s;
  out.requests_ok = counters.requests_ok.load();
  out.requests_failed = counters.requests_failed.load();
  out.transport_errors = counters.transport_errors.load();
  out.partial_batches = counters.partial_batches.load();
  out.first_errors = counters.first_errors;
  out.accepted = accepted;
  out.delivered_in_load = delivered_in_load;
  out.delivered = final_stats.events_accepted - baseline.events_accepted;
  out.duplicates = final_stats.duplicate_message_ids - baseline.duplicate_message_ids;
  out.invalid_records = static_cast<uint64_t>(final_group.invalid_records) - invalid_baseline;
  out.max_lag = max_lag;
  out.drained = drained;
  out.stalled = stalled;
  out.host_died = host_died;
  std::vector<uint32_t> all_latency, all_scheduled;
  for (WorkerResult& r : results) {
    all_latency.insert(all_latency.end(), r.latency_us.begin(), r.latency_us.end());
    all_scheduled.insert(all_scheduled.end(), r.scheduled_latency_us.begin(),
                         r.scheduled_latency_us.end());
  }
  out.latency = Summarise(std::move(all_latency));
  out.scheduled = Summarise(std::move(all_scheduled));
  out.listen_overflows = listen_1.first - listen_0.first;
  out.listen_drops = listen_1.second - listen_0.second;
  out.cpu_load = cpu_load;
  out.cpu_total = cpu_total;
  out.requests_by_status = final_stats.requests_by_status;
  out.dead_letters = dead_letters;
  out.assignment = Assignment(final_group);
  out.exit_codes = exit_codes;
  out.offset_resets = OffsetResets(work_dir, flags.hosts);
  out.hosts_rss_kib = hosts_rss_kib;
  return ReportScaleOut(flags, out);
}

}  // namespace bench_e2e
