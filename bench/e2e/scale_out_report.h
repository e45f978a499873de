// The summary of bench_e2e --scale-out: what one run measured, printed as rows, and the
// run's exit code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "e2e_flags.h"
#include "load.h"

namespace bench_e2e {

// librdkafka's mock auto-creates a topic with 4 partitions on its first record.
inline constexpr int kTopicPartitions = 4;

// CPU seconds of each party of a scale-out run.
struct Cpu {
  double hosts = 0, mock = 0, postgres = 0, fake = 0, bench = 0;
  Cpu operator-(const Cpu& o) const {
    return {hosts - o.hosts, mock - o.mock, postgres - o.postgres, fake - o.fake, bench - o.bench};
  }
};

struct ScaleOutOutcome {
  std::string work_dir;
  std::string load_at_start, load_at_end;  // load averages
  double load_s = 0, drain_s = 0;
  uint64_t requests_ok = 0, requests_failed = 0, transport_errors = 0, partial_batches = 0;
  std::vector<std::string> first_errors;
  uint64_t accepted = 0;           // events the event APIs acknowledged
  uint64_t delivered_in_load = 0;  // at the fake by the end of the load phase
  uint64_t delivered = 0;          // at the fake at the end, duplicates included
  uint64_t duplicates = 0;
  uint64_t invalid_records = 0;  // dead-lettered by the consumers as invalid_record
  double max_lag = 0;
  bool drained = false, stalled = false, host_died = false;
  Percentiles latency, scheduled;
  int64_t listen_overflows = 0, listen_drops = 0;
  Cpu cpu_load, cpu_total;  // load phase; load and drain
  std::string requests_by_status, dead_letters, assignment, exit_codes;
  int offset_resets = 0;
  int64_t hosts_rss_kib = 0;
};

// Prints the summary; removes the work dir unless kept. Returns 0 when every accepted
// event was delivered exactly once, 1 when one was not (or a host died), 3 on duplicates.
int ReportScaleOut(const Flags& flags, const ScaleOutOutcome& out);

}  // namespace bench_e2e
