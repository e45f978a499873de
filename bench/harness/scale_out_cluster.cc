#include "scale_out_cluster.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "process_stats.h"
#include "prometheus_text.h"
#include "system_info.h"

namespace bench_harness {
namespace {

std::string RandomHex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned byte = device() & 0xFF;
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xF]);
  }
  return out;
}

}  // namespace

double GroupMetrics::assigned_total() const {
  double total = 0;
  for (double a : assigned) total += a;
  return total;
}

absl::StatusOr<std::unique_ptr<ScaleOutCluster>> ScaleOutCluster::Start(
    const ScaleOutOptions& options) {
  std::unique_ptr<ScaleOutCluster> c(new ScaleOutCluster());
  c->options_ = options;
  const std::string& work = options.work_dir;

  c->mock_.Start({options.mock_bin, "--brokers", std::to_string(options.brokers)},
                 work + "/mock.out", work + "/mock.err", options.mock_env);
  absl::StatusOr<std::string> bootstrap =
      c->mock_.WaitForLine("bootstrap=", std::chrono::seconds(30));
  if (!bootstrap.ok()) return bootstrap.status();
  c->bootstrap_ = *bootstrap;

  absl::StatusOr<std::unique_ptr<PostgresCluster>> postgres = PostgresCluster::Start();
  if (!postgres.ok()) return postgres.status();
  c->postgres_ = std::move(*postgres);

  const std::string migrated = RunCommand(absl::StrCat(
      ShellQuote(options.host_bin), " migrate --database-url ", ShellQuote(c->postgres_->url()),
      " >", ShellQuote(work + "/migrate.log"), " 2>&1; echo $?"));
  if (migrated != "0") {
    return absl::InternalError(
        absl::StrCat("signal-delivery-host migrate failed; see ", work, "/migrate.log"));
  }

  // Every host of a deployment shares these (Signal's ENCRYPTION_KEY and JWT_SECRET).
  c->jwt_secret_ = RandomHex(32);
  const std::string encryption_key = RandomHex(32);
  const std::string pipeline_key = "dk_bench_" + RandomHex(12);
  for (int n = 1; n <= options.hosts; ++n) {
    const std::string data_dir = absl::StrCat(work, "/host", n);
    std::filesystem::create_directories(data_dir);
    auto host = std::make_unique<ChildProcess>();
    host->Start({options.host_bin,
                 "--data-dir",
                 data_dir,
                 "--admin-port",
                 "0",
                 "--events-port",
                 "0",
                 "--queue",
                 "kafka",
                 "--kafka-brokers",
                 c->bootstrap_,
                 "--kafka-group",
                 options.consumer_group,
                 "--database-url",
                 c->postgres_->url(),
                 "--pipeline-key",
                 pipeline_key,
                 "--plugin-option",
                 "hightouch.events_base_url=" + options.fake_url,
                 "--plugin-option",
                 "hightouch.api_base_url=" + options.fake_url},
                absl::StrCat(work, "/host", n, ".out"), absl::StrCat(work, "/host", n, ".log"),
                {{"ENCRYPTION_KEY", encryption_key}, {"JWT_SECRET", c->jwt_secret_}});
    absl::StatusOr<HostEndpoints> endpoints = WaitForHostEndpoints(*host, std::chrono::seconds(60));
    c->hosts_.push_back(std::move(host));
    if (!endpoints.ok()) {
      return absl::Status(endpoints.status().code(),
                          absl::StrCat("host ", n, ": ", endpoints.status().message(), " (see ",
                                       work, "/host", n, ".log)"));
    }
    c->endpoints_.push_back(*endpoints);
  }
  return c;
}

ScaleOutCluster::~ScaleOutCluster() {
  StopHosts(std::chrono::seconds(60));
  mock_.Stop(std::chrono::seconds(10));
  if (postgres_ != nullptr) postgres_->Stop();
}

bool ScaleOutCluster::AllHostsRunning() {
  for (auto& host : hosts_) {
    if (!host->Running()) return false;
  }
  return true;
}

std::string ScaleOutCluster::MintEditorToken() const {
  return RunCommand(absl::StrCat("JWT_SECRET=", jwt_secret_, " ", ShellQuote(options_.host_bin),
                                 " token --role editor --data-dir ",
                                 ShellQuote(options_.work_dir + "/host1"), " --ttl 86400"));
}

GroupMetrics ScaleOutCluster::Scrape(HttpClient& client) const {
  GroupMetrics metrics;
  metrics.ok = true;
  for (const HostEndpoints& endpoints : endpoints_) {
    const HttpResult page = client.Get(endpoints.admin_url + "/metrics");
    const double lag = page.status == 200 ? MetricSum(page.body, "signal_kafka_consumer_lag") : -1;
    const double assigned =
        page.status == 200 ? MetricSum(page.body, "signal_kafka_assigned_partitions") : -1;
    // A host with no partition has no lag samples: that is a lag of 0, not a failure.
    if (page.status != 200 || assigned < 0) metrics.ok = false;
    metrics.consumer_lag += std::max(lag, 0.0);
    if (page.status == 200) {
      metrics.invalid_records +=
          std::max(MetricSum(page.body, "signal_kafka_invalid_records_total"), 0.0);
    }
    metrics.assigned.push_back(std::max(assigned, 0.0));
  }
  return metrics;
}

void ScaleOutCluster::SaveMetrics(const std::string& dir) const {
  HttpClient client;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const HttpResult page = client.Get(endpoints_[i].admin_url + "/metrics");
    std::ofstream(absl::StrCat(dir, "/host", i + 1, ".metrics")) << page.body << page.error;
  }
}

double ScaleOutCluster::HostsCpuSeconds() const {
  double total = 0;
  for (const auto& host : hosts_) total += CpuSeconds(host->pid());
  return total;
}

double ScaleOutCluster::MockCpuSeconds() const { return CpuSeconds(mock_.pid()); }

int64_t ScaleOutCluster::HostsRssKib() const {
  int64_t total = 0;
  for (const auto& host : hosts_) total += RssKib(host->pid());
  return total;
}

std::vector<int> ScaleOutCluster::StopHosts(std::chrono::seconds grace) {
  // All at once, so no host inherits the others' partitions while it is stopping.
  for (auto& host : hosts_) {
    if (host->Running()) kill(host->pid(), SIGTERM);
  }
  std::vector<int> codes;
  for (auto& host : hosts_) codes.push_back(host->Stop(grace));
  return codes;
}

}  // namespace bench_harness
