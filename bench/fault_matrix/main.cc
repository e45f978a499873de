// fault_matrix: a correctness harness in the spirit of Vector's. For each scenario it starts
// a fresh signal-delivery-host and fake Hightouch, installs Hightouch, pushes N events with
// unique messageIds through the event API, injects the scenario's fault while they flow,
// waits until the host has settled, and checks every id: lost = accepted - delivered -
// dead-lettered must be 0, duplicates only where the scenario allows them, and bounded.
//
//   build/bench/fault_matrix/fault_matrix --events 10000           (CI: fault_matrix_ci)
//   build/bench/fault_matrix/fault_matrix --events 1000000 --markdown table.md
//
// Exit status: 0 when every scenario passed, 1 when one failed (or could not run), 2 on a
// setup error. See docs/RELIABILITY.md, "Fault matrix".
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "batch_bodies.h"
#include "disk_fill.h"
#include "event_corpus.h"
#include "fatal.h"
#include "report.h"
#include "runner.h"
#include "scenario.h"
#include "system_info.h"

namespace {

using bench_harness::Die;
using fault_matrix::RunOptions;

constexpr char kUsage[] = R"USAGE(Usage: fault_matrix [flags]

Runs every scenario (or those named by --only) against a fresh host and fake each, and
prints per scenario: accepted, delivered, dead-lettered by reason, lost, duplicates,
vendor requests by status, event API refusals, wall time. Needs root for the disk-full
scenario's tmpfs (it runs in a private mount namespace; without one that scenario fails).

  --events N            events pushed per scenario, a multiple of 100 (default 10000)
  --connections N       event API connections (default 4)
  --push-seconds S      pace the push to last about S seconds; 0: as fast as answered
                        (default 6; a larger N than that allows is pushed as fast as it goes)
  --only A,B            run only these scenarios (names as printed by --list)
  --list                print the scenario names and exit
  --poison-ids N        ids poisoned in poison_400s (default 300)
  --host-kills N        kill -9 of the host in host_kill_9, >= 3 by default (default 3)
  --tmpfs-mb N          size of the disk-full scenario's tmpfs (default 64 + 2 per 1000 events)
  --settle-timeout S    longest wait for the queue to empty (default 180 + 1 per 2000 events)
  --work-dir DIR        parent of the scenarios' work dirs (default $TMPDIR or /tmp)
  --keep                keep every work dir (failed scenarios' are always kept)
  --markdown FILE       also write the table as Markdown
  --host-bin PATH, --fake-bin PATH
  --help
)USAGE";

struct Flags {
  RunOptions run;
  std::vector<std::string> only;
  bool list = false;
  int64_t tmpfs_mb = 0;
  int64_t settle_s = 0;
  std::string markdown;
};

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  flags.run.host_bin = SIGNAL_HOST_BINARY;
  flags.run.fake_bin = SIGNAL_FAKE_HIGHTOUCH_BINARY;
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
    if (flag == "--list") {
      flags.list = true;
      continue;
    }
    if (flag == "--keep") {
      flags.run.keep_work_dirs = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) Die(flag + " needs a value (see --help)");
      value = args[++i];
    }
    auto integer = [&](int64_t min, int64_t max) {
      int64_t parsed = 0;
      if (!absl::SimpleAtoi(value, &parsed) || parsed < min || parsed > max) {
        Die(absl::StrCat(flag, " must be an integer in [", min, ", ", max, "]"));
      }
      return parsed;
    };
    if (flag == "--events") {
      flags.run.events = static_cast<uint64_t>(integer(1000, 100'000'000));
    } else if (flag == "--connections") {
      flags.run.connections = static_cast<int>(integer(1, 256));
    } else if (flag == "--push-seconds") {
      if (!absl::SimpleAtod(value, &flags.run.push_seconds) || flags.run.push_seconds < 0) {
        Die("--push-seconds must be >= 0");
      }
    } else if (flag == "--only") {
      flags.only = absl::StrSplit(value, ',', absl::SkipEmpty());
    } else if (flag == "--poison-ids") {
      flags.run.poison_ids = static_cast<uint64_t>(integer(1, 100000));
    } else if (flag == "--host-kills") {
      flags.run.host_kills = static_cast<int>(integer(1, 100));
    } else if (flag == "--tmpfs-mb") {
      flags.tmpfs_mb = integer(8, 1 << 20);
    } else if (flag == "--settle-timeout") {
      flags.settle_s = integer(1, 7 * 86400);
    } else if (flag == "--work-dir") {
      flags.run.work_parent = value;
    } else if (flag == "--markdown") {
      flags.markdown = value;
    } else if (flag == "--host-bin") {
      flags.run.host_bin = value;
    } else if (flag == "--fake-bin") {
      flags.run.fake_bin = value;
    } else {
      Die("unknown flag " + flag + " (see --help)");
    }
  }
  if (flags.run.events % flags.run.request_events != 0) {
    Die(absl::StrCat("--events must be a multiple of ", flags.run.request_events));
  }
  if (flags.run.poison_ids * 2 > flags.run.events) Die("--poison-ids must be at most events/2");
  if (flags.run.work_parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    flags.run.work_parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  const int64_t tmpfs_mb =
      flags.tmpfs_mb > 0 ? flags.tmpfs_mb : 64 + static_cast<int64_t>(flags.run.events / 500);
  flags.run.tmpfs_bytes = static_cast<uint64_t>(tmpfs_mb) << 20;
  flags.run.settle_timeout = std::chrono::seconds(
      flags.settle_s > 0 ? flags.settle_s : 180 + static_cast<int64_t>(flags.run.events / 2000));
  return flags;
}

}  // namespace

int main(int argc, char** argv) {
  bench_harness::SetProgramName("fault_matrix");
  // Before any thread exists: the tmpfs lives in a mount namespace of our own, so no mount
  // outlives this process, however it ends.
  const absl::Status mount_namespace = fault_matrix::EnterPrivateMountNamespace();
  Flags flags = ParseFlags(argc, argv);
  flags.run.mount_namespace = mount_namespace;
  signal(SIGPIPE, SIG_IGN);

  std::vector<fault_matrix::Scenario> scenarios = fault_matrix::AllScenarios();
  if (flags.list) {
    for (const auto& scenario : scenarios) std::cout << scenario.name << "\n";
    return 0;
  }
  if (!flags.only.empty()) {
    std::vector<fault_matrix::Scenario> chosen;
    for (const std::string& name : flags.only) {
      bool found = false;
      for (const auto& scenario : scenarios) {
        if (scenario.name == name) {
          chosen.push_back(scenario);
          found = true;
        }
      }
      if (!found) Die("no scenario named " + name + " (see --list)");
    }
    scenarios = std::move(chosen);
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);

  signal_bench::CorpusOptions corpus_options;
  corpus_options.event_count = 10000;
  corpus_options.max_deep_levels = 60;  // the event API refuses deeper than 64 levels
  const signal_bench::Corpus corpus = signal_bench::GenerateCorpus(corpus_options);
  const uint32_t nonce = static_cast<uint32_t>(
      std::chrono::system_clock::now().time_since_epoch().count() ^ (getpid() << 16));
  const std::vector<bench_harness::BodyTemplate> templates =
      bench_harness::BuildTemplates(corpus, flags.run.request_events, nonce);

  const std::string header = absl::StrCat(
      "fault_matrix: ", bench_harness::WithCommas(flags.run.events), " events a scenario, ",
      flags.run.connections, " connections x ", flags.run.request_events,
      " events/request, push paced to ",
      flags.run.push_seconds > 0 ? absl::StrCat(flags.run.push_seconds, " s") : "max",
      "; install: tuned (batch 500, 1000 rps, burst 2000, batch_interval_ms 200)\n",
      "CPU: ", bench_harness::CpuModel(), " x ", std::thread::hardware_concurrency(),
      "; load average at start: ", bench_harness::LoadAverage(), "\n");
  std::cout << header << std::flush;
  if (!mount_namespace.ok()) {
    std::cout << "  no private mount namespace: " << mount_namespace.message() << "\n";
  }

  std::vector<fault_matrix::ScenarioResult> results;
  for (const fault_matrix::Scenario& scenario : scenarios) {
    std::cout << "== " << scenario.name << ": " << scenario.fault << "\n" << std::flush;
    results.push_back(fault_matrix::RunScenario(scenario, flags.run, corpus, templates, nonce));
    const fault_matrix::ScenarioResult& r = results.back();
    std::cout << "   " << (r.passed ? "PASS" : "FAIL") << " in " << static_cast<int>(r.wall_s)
              << " s: accepted " << r.ledger.accepted << ", delivered " << r.ledger.delivered
              << ", dead-lettered " << r.ledger.dead_lettered << ", lost " << r.ledger.lost
              << ", duplicates " << r.ledger.host_duplicates << " + "
              << r.ledger.client_retry_duplicates << " client retry; vendor "
              << r.vendor.requests_by_status << "\n";
    for (const std::string& failure : r.failures) std::cout << "   FAIL: " << failure << "\n";
    std::cout << std::flush;
  }

  const std::string footer =
      absl::StrCat("load average at end: ", bench_harness::LoadAverage(), "\n");
  std::cout << "\n" << fault_matrix::TextReport(results) << footer;
  if (!flags.markdown.empty()) {
    std::ofstream(flags.markdown) << fault_matrix::MarkdownReport(results, header) << "\n"
                                  << footer;
  }
  int failed = 0;
  for (const auto& r : results) failed += r.passed ? 0 : 1;
  std::cout << (failed == 0 ? "RESULT: OK, " : "RESULT: FAIL, ") << results.size() - failed
            << " passed, " << failed << " failed\n";
  curl_global_cleanup();
  return failed == 0 ? 0 : 1;
}
