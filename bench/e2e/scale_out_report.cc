#include "scale_out_report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "system_info.h"

namespace bench_e2e {

using bench_harness::WithCommas;

int ReportScaleOut(const Flags& flags, const ScaleOutOutcome& out) {
  const uint64_t accepted = out.accepted;
  const uint64_t delivered = out.delivered;
  const uint64_t duplicates = out.duplicates;
  const Percentiles& latency = out.latency;
  const uint64_t unique_delivered = delivered - duplicates;
  const uint64_t lost = accepted > unique_delivered ? accepted - unique_delivered : 0;
  const double cores = std::thread::hardware_concurrency();
  auto per_event = [accepted](double seconds) {
    return accepted > 0 ? absl::StrFormat("%.2f", seconds * 1e6 / accepted) : std::string("-");
  };
  auto row = [](std::string_view name, const std::string& value) {
    std::printf("  %-44s %s\n", std::string(name).c_str(), value.c_str());
  };
  std::printf("\n== Summary (scale-out) ==\n");
  row("mode", absl::StrCat(flags.hosts, " host(s) in one consumer group; Kafka mock 3 brokers, ",
                           kTopicPartitions, " partitions; PostgreSQL fsync on"));
  row("config", flags.tuned ? "tuned (batch_size 500, rate_limit_rps 1000, burst 2000)"
                            : "default (product page install body)");
  row("connections x events/request",
      absl::StrCat(
          flags.connections, " x ", flags.batch, " over ", flags.hosts, " host(s)",
          flags.rate > 0 ? absl::StrCat(", target ", flags.rate, " events/s") : ", closed loop"));
  row("CPU model / CPUs", absl::StrCat(bench_harness::CpuModel(), " / ", cores));
  row("load average (start / end of load)", out.load_at_start + "  /  " + out.load_at_end);
  row("load phase (s)", absl::StrFormat("%.1f", out.load_s));
  row("requests accepted (200)", WithCommas(out.requests_ok));
  row("requests refused / transport errors",
      absl::StrCat(out.requests_failed, " / ", out.transport_errors,
                   out.partial_batches > 0
                       ? absl::StrCat(" (partial batches: ", out.partial_batches, ")")
                       : ""));
  row("events accepted", WithCommas(accepted));
  row("accepted events/s (load phase)", absl::StrFormat("%.0f", accepted / out.load_s));
  row("accept latency ms p50/p90/p99/p99.9/max",
      absl::StrFormat("%.2f / %.2f / %.2f / %.2f / %.2f (mean %.2f, n=%d)", latency.p50_ms,
                      latency.p90_ms, latency.p99_ms, latency.p999_ms, latency.max_ms,
                      latency.mean_ms, latency.count));
  if (flags.rate > 0) {
    row("  from scheduled send p50/p99/max",
        absl::StrFormat("%.2f / %.2f / %.2f", out.scheduled.p50_ms, out.scheduled.p99_ms,
                        out.scheduled.max_ms));
  }
  row("ListenOverflows / ListenDrops during load",
      absl::StrCat(out.listen_overflows, " / ", out.listen_drops));
  row("delivered during load phase", WithCommas(out.delivered_in_load));
  row("delivered events/s (load phase)",
      absl::StrFormat("%.0f", out.delivered_in_load / out.load_s));
  row("max consumer lag seen (sum over hosts)", WithCommas(static_cast<uint64_t>(out.max_lag)));
  row("drain time after load, to lag 0 (s)",
      out.drained ? absl::StrFormat("%.2f", out.drain_s)
                  : absl::StrFormat("not drained after %.0f s%s", out.drain_s,
                                    out.stalled ? " (no delivery for 30 s)" : ""));
  row("end-to-end events/s (accepted/(load+drain))",
      absl::StrFormat("%.0f", accepted / (out.load_s + out.drain_s)));
  row("delivered to fake (unique / duplicates)",
      absl::StrCat(WithCommas(unique_delivered), " / ", duplicates, " (ids checked: first ",
                   WithCommas(std::min<uint64_t>(flags.dup_window, delivered)), ")"));
  row("lost (accepted, not delivered)", WithCommas(lost));
  row("  of which dead-lettered as invalid_record", WithCommas(out.invalid_records));
  row("fake requests by status", out.requests_by_status);
  row("dead letters at end", out.dead_letters);
  row("partitions per host at end", out.assignment);
  row("CPU s during load: hosts/mock/postgres/fake/bench",
      absl::StrFormat("%.1f / %.1f / %.1f / %.1f / %.1f (of %.1f available)", out.cpu_load.hosts,
                      out.cpu_load.mock, out.cpu_load.postgres, out.cpu_load.fake,
                      out.cpu_load.bench, out.load_s * cores));
  row("CPU us per event (load+drain): hosts", per_event(out.cpu_total.hosts));
  row("CPU us per event (load+drain): mock cluster", per_event(out.cpu_total.mock));
  row("CPU us per event (load+drain): PostgreSQL", per_event(out.cpu_total.postgres));
  row("CPU us per event (load+drain): fake / bench",
      per_event(out.cpu_total.fake) + " / " + per_event(out.cpu_total.bench));
  const int resets = out.offset_resets;
  row("offset resets (the mock dropped unread records)",
      absl::StrCat(resets, resets > 0 ? " - events lost in the mock cluster" : ""));
  row("hosts' RSS at end, summed (MiB)", absl::StrFormat("%.1f", out.hosts_rss_kib / 1024.0));
  row("host exit codes", out.exit_codes);
  if (!out.first_errors.empty()) {
    std::printf("  first errors:\n");
    for (const std::string& e : out.first_errors) std::printf("    %s\n", e.c_str());
  }
  if (out.host_died)
    std::printf("  A HOST EXITED during the run; see %s/host*.log\n", out.work_dir.c_str());

  int exit_code = 0;
  if (lost > 0 || out.host_died || !out.drained) {
    std::printf("RESULT: FAIL, %s accepted events were not delivered%s\n", WithCommas(lost).c_str(),
                out.drained ? "" : " (or the lag did not reach 0)");
    exit_code = 1;
  } else if (duplicates > 0) {
    std::printf("RESULT: %" PRIu64 " duplicate deliveries (at-least-once), none lost\n",
                duplicates);
    exit_code = 3;
  } else {
    std::printf("RESULT: OK, every accepted event delivered exactly once\n");
  }
  if (flags.keep_data || exit_code != 0) {
    std::printf("work dir kept: %s\n", out.work_dir.c_str());
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(out.work_dir, ignored);
  }
  return exit_code;
}

}  // namespace bench_e2e
