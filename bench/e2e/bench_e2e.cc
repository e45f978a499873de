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
#include "event_corpus.h"
#include "fake_control.h"
#include "fatal.h"
#include "host_control.h"
#include "http_client.h"
#include "rapidjson/document.h"
#include "system_info.h"

namespace {

using bench_harness::BodyTemplate;
using bench_harness::ChildProcess;
using bench_harness::Die;
using bench_harness::FakeStats;
using bench_harness::HttpClient;
using bench_harness::HttpResult;
using bench_harness::LoadAverage;
using bench_harness::ReadFile;
using bench_harness::WithCommas;
using bench_harness::WriteIdTail;
using Clock = std::chrono::steady_clock;

constexpr char kUsage[] = R"USAGE(Usage: bench_e2e [flags]

End-to-end benchmark: event API -> durable queue -> Translate -> fake Hightouch.
Starts fake-hightouch and signal-delivery-host, installs Hightouch, posts batches for
--duration seconds, waits until everything accepted is delivered, prints a summary.

Load
  --duration S          seconds of posting (default 60)
  --connections N       concurrent keep-alive connections (default 8)
  --batch N             events per POST /v1/batch, 1-500 (default 100)
  --rate R              target accepted events/s over all connections, open loop;
                        0 (default) posts as fast as the host answers (closed loop)
  --corpus-events N     distinct corpus events cycled through (default 10000)
Integration config
  --tuned               batch_size 500, rate_limit_rps 1000, rate_limit_burst 2000
                        (default: the product page's install body, i.e. the variant's
                        batch_size 100, rate_limit_rps 100)
  --config-extra JSON   members merged into the install config, e.g.
                        '"batch_interval_ms":1000' (appended after --tuned's members;
                        do not repeat one of them)
Processes
  --host-bin PATH       signal-delivery-host (default: the one built with this program)
  --fake-bin PATH       fake-hightouch (default: the one built with this program)
  --host-config FILE    passed to the host as --config
  --host-nodelay-preload
                        experiment: LD_PRELOAD a shim into the host that sets TCP_NODELAY
                        on accepted connections (the host's listeners leave Nagle on)
  --dup-window N        fake --message-id-window: distinct messageIds the fake checks
                        for duplicates, about 20 bytes each (default 2000000); the
                        fake keeps the full JSON of only its first 1000 events
  --data-dir DIR        parent of the temporary data directory (default $TMPDIR or /tmp)
  --keep-data           leave the data directory (and the host's log) in place
Measurement
  --report-interval S   seconds between progress lines and RSS samples (default 5)
  --drain-timeout S     longest wait for the backlog to reach the fake (default 900)
  --help
)USAGE";

struct Flags {
  int duration_s = 60;
  int connections = 8;
  int batch = 100;
  double rate = 0;
  size_t corpus_events = 10000;
  bool tuned = false;
  std::string config_extra;
  std::string host_bin = SIGNAL_HOST_BINARY;
  std::string fake_bin = SIGNAL_FAKE_HIGHTOUCH_BINARY;
  std::string host_config;
  bool host_nodelay_preload = false;
  size_t dup_window = 2'000'000;
  std::string data_parent;
  bool keep_data = false;
  int report_interval_s = 5;
  int drain_timeout_s = 900;
};

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (flag == "--tuned") {
      flags.tuned = true;
      continue;
    }
    if (flag == "--keep-data") {
      flags.keep_data = true;
      continue;
    }
    if (flag == "--host-nodelay-preload") {
      flags.host_nodelay_preload = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) Die(flag + " needs a value (see --help)");
      value = args[++i];
    }
    auto int_flag = [&](int* out, int min, int max) {
      if (!absl::SimpleAtoi(value, out) || *out < min || *out > max) {
        Die(absl::StrCat(flag, " must be an integer in [", min, ", ", max, "]"));
      }
    };
    auto size_flag = [&](size_t* out, size_t min) {
      uint64_t parsed = 0;
      if (!absl::SimpleAtoi(value, &parsed) || parsed < min) {
        Die(absl::StrCat(flag, " must be an integer >= ", min));
      }
      *out = static_cast<size_t>(parsed);
    };
    if (flag == "--duration") {
      int_flag(&flags.duration_s, 1, 7 * 86400);
    } else if (flag == "--connections") {
      int_flag(&flags.connections, 1, 1024);
    } else if (flag == "--batch") {
      int_flag(&flags.batch, 1, 500);
    } else if (flag == "--rate") {
      if (!absl::SimpleAtod(value, &flags.rate) || flags.rate < 0) Die("--rate must be >= 0");
    } else if (flag == "--corpus-events") {
      size_flag(&flags.corpus_events, 1);
    } else if (flag == "--config-extra") {
      flags.config_extra = value;
    } else if (flag == "--host-bin") {
      flags.host_bin = value;
    } else if (flag == "--fake-bin") {
      flags.fake_bin = value;
    } else if (flag == "--host-config") {
      flags.host_config = value;
    } else if (flag == "--dup-window") {
      size_flag(&flags.dup_window, 1);
    } else if (flag == "--data-dir") {
      flags.data_parent = value;
    } else if (flag == "--report-interval") {
      int_flag(&flags.report_interval_s, 1, 3600);
    } else if (flag == "--drain-timeout") {
      int_flag(&flags.drain_timeout_s, 1, 7 * 86400);
    } else {
      Die("unknown flag " + flag + " (see --help)");
    }
  }
  return flags;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::pair<int64_t, int64_t> ListenOverflowsAndDrops() {
  const std::string text = ReadFile("/proc/net/netstat");
  size_t header = text.find("TcpExt:");
  if (header == std::string::npos) return {-1, -1};
  const size_t header_end = text.find('\n', header);
  const size_t values = text.find("TcpExt:", header_end);
  if (values == std::string::npos) return {-1, -1};
  const size_t values_end = text.find('\n', values);
  std::vector<std::string> names = absl::StrSplit(text.substr(header, header_end - header), ' ');
  std::vector<std::string> numbers = absl::StrSplit(text.substr(values, values_end - values), ' ');
  int64_t overflows = -1, drops = -1;
  for (size_t i = 0; i < names.size() && i < numbers.size(); ++i) {
    if (names[i] == "ListenOverflows") absl::SimpleAtoi(numbers[i], &overflows);
    if (names[i] == "ListenDrops") absl::SimpleAtoi(numbers[i], &drops);
  }
  return {overflows, drops};
}

// ---------------------------------------------------------------------------------------
// Process statistics

// RSS of a process in KiB, from /proc/<pid>/status (0 if gone).
int64_t RssKib(pid_t pid, std::string_view field = "VmRSS:") {
  std::istringstream lines(ReadFile(absl::StrCat("/proc/", pid, "/status")));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(field, 0) == 0) {
      int64_t kib = 0;
      std::istringstream(line.substr(field.size())) >> kib;
      return kib;
    }
  }
  return 0;
}

// User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat.
double CpuSeconds(pid_t pid) {
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  // The command name (field 2) may contain spaces; count fields after its ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int index = 3; fields >> field; ++index) {
    if (index == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (index == 15) {
      stime = std::strtoull(field.c_str(), nullptr, 10);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

// ---------------------------------------------------------------------------------------
// Load generation

// Latencies of one progress interval: 0.1 ms buckets below 100 ms, 1 ms buckets up to
// 10 s, one overflow bucket. Workers add, the monitor drains it every interval.
class IntervalHistogram {
 public:
  void Record(uint32_t us) { buckets_[Index(us)].fetch_add(1, std::memory_order_relaxed); }

  // The interval's p99 in ms (the bucket's upper edge), and resets the counts.
  double TakeP99Ms() {
    std::vector<uint64_t> counts(kBuckets);
    uint64_t total = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      counts[i] = buckets_[i].exchange(0, std::memory_order_relaxed);
      total += counts[i];
    }
    if (total == 0) return 0;
    const uint64_t rank = (total * 99 + 99) / 100;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts[i];
      if (seen >= rank) return UpperEdgeMs(i);
    }
    return UpperEdgeMs(kBuckets - 1);
  }

 private:
  static constexpr size_t kFine = 1000;    // 0.1 ms each, up to 100 ms
  static constexpr size_t kCoarse = 9900;  // 1 ms each, up to 10 s
  static constexpr size_t kBuckets = kFine + kCoarse + 1;
  static size_t Index(uint32_t us) {
    if (us < 100'000) return us / 100;
    return kFine + std::min<size_t>((us - 100'000) / 1000, kCoarse);
  }
  static double UpperEdgeMs(size_t i) {
    return i < kFine ? (i + 1) * 0.1 : 100.0 + (i - kFine + 1) * 1.0;
  }
  std::atomic<uint64_t> buckets_[kBuckets] = {};
};

struct SharedCounters {
  std::atomic<uint64_t> requests_ok{0};
  std::atomic<uint64_t> events_accepted{0};
  std::atomic<uint64_t> requests_failed{0};   // non-200 answers: nothing accepted
  std::atomic<uint64_t> transport_errors{0};  // no answer: the outcome is unknown
  std::atomic<uint64_t> events_unknown{0};    // events of requests without an answer
  std::atomic<uint64_t> partial_batches{0};   // 200 with success:false
  std::atomic<uint64_t> latency_sum_us{0};
  std::atomic<uint64_t> latency_count{0};
  IntervalHistogram interval_latency;
  std::atomic<uint64_t> next_request{0};
  std::mutex errors_mu;
  std::vector<std::string> first_errors;

  void NoteError(std::string message) {
    std::lock_guard<std::mutex> lock(errors_mu);
    if (first_errors.size() < 8) first_errors.push_back(std::move(message));
  }
};

struct WorkerResult {
  std::vector<uint32_t> latency_us;            // from the moment the request was sent
  std::vector<uint32_t> scheduled_latency_us;  // from its scheduled time (--rate only)
};

struct LoadPlan {
  std::string url;
  std::string authorization;
  const std::vector<BodyTemplate>* templates = nullptr;
  size_t batch = 0;
  double rate = 0;  // events/s, 0: closed loop
  Clock::time_point start;
  Clock::time_point end;
};

uint64_t AcceptedFromPartial(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return 0;
  auto it = doc.FindMember("accepted");
  return it != doc.MemberEnd() && it->value.IsUint64() ? it->value.GetUint64() : 0;
}

void RunConnection(const LoadPlan& plan, SharedCounters& counters, WorkerResult& result) {
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
    HttpResult answer = client.Post(plan.url, body.data(), body.size());
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

// ---------------------------------------------------------------------------------------
// Summary helpers

struct Percentiles {
  size_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, mean_ms = 0;
};

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
  const Flags flags = ParseFlags(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);

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
  signal_bench::CorpusOptions corpus_options;
  corpus_options.event_count = flags.corpus_events;
  // The event API refuses JSON nested deeper than 64 levels (the whole batch is a 400), so
  // the deep events stay at 40-60 levels here.
  corpus_options.max_deep_levels = 60;
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(corpus_options);
  const uint32_t run_nonce = static_cast<uint32_t>(
      std::chrono::system_clock::now().time_since_epoch().count() ^ (getpid() << 16));
  const std::vector<BodyTemplate> templates =
      bench_harness::BuildTemplates(corpus, static_cast<size_t>(flags.batch), run_nonce);
  size_t body_bytes = 0;
  for (const BodyTemplate& t : templates) body_bytes += t.body.size();
  const double mean_body_bytes = static_cast<double>(body_bytes) / templates.size();
  if (mean_body_bytes > 524288) Die("bodies exceed the event API's 512 KB limit; lower --batch");
  for (const BodyTemplate& t : templates) {
    if (t.body.size() > 524288) Die("a body exceeds the event API's 512 KB limit; lower --batch");
  }

  // fake-hightouch.
  ChildProcess fake;
  constexpr const char* kVendorKey = bench_harness::kVendorKey;
  fake.Start(
      {flags.fake_bin, "--port", "0", "--write-key", kVendorKey, "--api-key", kVendorKey,
       "--source", "src-12345:12345", "--message-id-window", std::to_string(flags.dup_window),
       "--max-recorded-events", "1000"},
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
            << "  corpus: " << corpus.events.size() << " events, mean request body "
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
    workers.emplace_back([&, i] { RunConnection(plan, counters, results[i]); });
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
