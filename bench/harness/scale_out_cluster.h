// The scale-out deployment on one machine, as child processes: librdkafka's mock Kafka
// cluster (signal-kafka-mock, 3 brokers), a throwaway PostgreSQL (fsync on), the schema
// migrated, and N signal-delivery-host processes in one consumer group sharing the
// ENCRYPTION_KEY, JWT_SECRET and pipeline key, as Signal's hosts do.
//
// Not thread-safe: start, query and stop it from one thread, the one that outlives the
// children (ChildProcess: they get SIGTERM when the starting thread ends).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "child_process.h"
#include "host_control.h"
#include "http_client.h"
#include "postgres_cluster.h"

namespace bench_harness {

struct ScaleOutOptions {
  std::string host_bin;
  std::string mock_bin;
  std::string fake_url;  // the hosts' Hightouch (events and REST API)
  std::string work_dir;  // hosts' data directories and every child's output go here
  int hosts = 1;
  int brokers = 3;
  std::string consumer_group = "bench-e2e";
  std::vector<std::pair<std::string, std::string>> mock_env;  // e.g. an LD_PRELOAD
};

// What the hosts' /metrics say about the group at one moment.
struct GroupMetrics {
  bool ok = false;          // every host answered
  double consumer_lag = 0;  // sum of signal_kafka_consumer_lag over hosts
  // Sum of signal_kafka_invalid_records_total: records the consumers dead-lettered as
  // invalid_record (never delivered).
  double invalid_records = 0;
  std::vector<double> assigned;  // signal_kafka_assigned_partitions per host
  double assigned_total() const;
};

class ScaleOutCluster {
 public:
  static absl::StatusOr<std::unique_ptr<ScaleOutCluster>> Start(const ScaleOutOptions& options);
  // Stops what is still running: hosts first (they leave the group and commit), then the
  // mock cluster and PostgreSQL.
  ~ScaleOutCluster();
  ScaleOutCluster(const ScaleOutCluster&) = delete;
  ScaleOutCluster& operator=(const ScaleOutCluster&) = delete;

  size_t hosts() const { return hosts_.size(); }
  ChildProcess& host(size_t i) { return *hosts_[i]; }
  const HostEndpoints& endpoints(size_t i) const { return endpoints_[i]; }
  const std::string& bootstrap() const { return bootstrap_; }
  const PostgresCluster& postgres() const { return *postgres_; }
  pid_t mock_pid() const { return mock_.pid(); }
  bool AllHostsRunning();

  // An editor token every host accepts (the shared JWT_SECRET); "" on failure.
  std::string MintEditorToken() const;

  GroupMetrics Scrape(HttpClient& client) const;
  // Writes each host's /metrics page to <dir>/host<N>.metrics (for a failed run).
  void SaveMetrics(const std::string& dir) const;

  // CPU seconds so far: all hosts summed, the mock cluster, PostgreSQL (every process).
  double HostsCpuSeconds() const;
  double MockCpuSeconds() const;
  double PostgresCpuSeconds() const { return postgres_->CpuSeconds(); }
  // Sum of the hosts' RSS in KiB.
  int64_t HostsRssKib() const;

  // SIGTERM to every host at once, then waits; their exit codes (-1: killed, unknown).
  std::vector<int> StopHosts(std::chrono::seconds grace);

 private:
  ScaleOutCluster() = default;

  ScaleOutOptions options_;
  ChildProcess mock_;
  std::string bootstrap_;
  std::unique_ptr<PostgresCluster> postgres_;
  std::string jwt_secret_;
  std::vector<std::unique_ptr<ChildProcess>> hosts_;
  std::vector<HostEndpoints> endpoints_;
};

}  // namespace bench_harness
