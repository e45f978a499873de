// A throwaway PostgreSQL cluster for the scale-out benchmark: Debian's `postgresql`
// binaries (the newest /usr/lib/postgresql/<version>/bin), initdb into a fresh directory
// under /tmp, started on a free loopback port with fsync ON (honest figures: every
// commit reaches the disk), stopped and removed by Stop() or the destructor.
//
// As root (initdb refuses root) the server runs as the package's `postgres` user. The
// postmaster is this process's child (not pg_ctl's daemon) with a parent-death signal,
// so a benchmark that is killed does not leave a server behind (only its directory).
// Not thread-safe: start, measure and stop it from one thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "child_process.h"

namespace bench_harness {

class PostgresCluster {
 public:
  // Fails (never falls back) when the binaries are missing or the server does not start;
  // the error names the log to read.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start();
  ~PostgresCluster() { Stop(); }
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // postgresql://signal@127.0.0.1:<port>/signal
  const std::string& url() const { return url_; }
  // The postmaster; its children are the backends and background workers.
  pid_t postmaster_pid() const { return server_.pid(); }
  // CPU seconds of the whole cluster (TreeCpuSeconds of the postmaster).
  double CpuSeconds() const;
  // A line for the report: version and the settings that matter for the figures.
  const std::string& description() const { return description_; }

  // Fast shutdown, then removes the directory. Idempotent.
  void Stop();

 private:
  PostgresCluster() = default;
  // Runs `tool` of the bin directory with `args` (already shell-quoted) as the
  // cluster's owner, output appended to the cluster's commands.log.
  bool Run(const std::string& tool, const std::string& args) const;

  std::string bin_dir_;
  std::string dir_;
  std::string url_;
  std::string description_;
  bool as_postgres_user_ = false;
  ChildProcess server_;
};

}  // namespace bench_harness
