#include "runner.h"

#include <sys/stat.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admin_api.h"
#include "host_control.h"
#include "stage.h"
#include "system_info.h"

namespace fault_matrix {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int64_t FileSize(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 ? static_cast<int64_t>(info.st_size) : -1;
}

// Until the integration is active with an empty queue (every accepted event delivered
// or dead-lettered), then until the fake has been quiet for a second.
void Settle(Stage& stage, const FaultContext& context, std::chrono::seconds timeout,
            std::vector<std::string>& failures) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + timeout;
  Clock::time_point next_report = start + std::chrono::seconds(15);
  IntegrationState last;
  std::string last_error;
  while (true) {
    if (!stage.HostRunning()) {
      failures.push_back("the host exited while settling; see " + stage.work_dir());
      return;
    }
    absl::StatusOr<IntegrationState> state =
        GetIntegrationState(stage.admin(), stage.admin_url(), stage.integration_id());
    if (state.ok()) {
      last = *state;
      if (state->queue_depth == 0 && state->status == "active") break;
    } else {
      last_error = std::string(state.status().message());
    }
    if (Clock::now() >= deadline) {
      failures.push_back(absl::StrCat("not settled after ", timeout.count(), " s: queue_depth ",
                                      last.queue_depth, ", status ", last.status, " ",
                                      last.status_reason, last_error.empty() ? "" : "; ",
                                      last_error));
      return;
    }
    if (Clock::now() >= next_report) {
      std::cout << "    settling: queue_depth " << last.queue_depth << ", status " << last.status
                << " (" << static_cast<int>(Seconds(Clock::now() - start)) << " s)\n"
                << std::flush;
      next_report += std::chrono::seconds(15);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_until(context.quiet_until);
  const Clock::time_point quiet_deadline = Clock::now() + std::chrono::seconds(30);
  for (int64_t size = FileSize(stage.message_id_log());;) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const int64_t now = FileSize(stage.message_id_log());
    if (now == size || Clock::now() >= quiet_deadline) break;
    size = now;
  }
}

}  // namespace

ScenarioResult RunScenario(const Scenario& scenario, const RunOptions& options,
                           const signal_bench::Corpus& corpus,
                           const std::vector<bench_harness::BodyTemplate>& templates,
                           uint32_t nonce) {
  ScenarioResult result;
  result.name = scenario.name;
  result.fault = scenario.fault;
  result.duplicates_expectation = scenario.duplicates;
  const Clock::time_point start = Clock::now();
  auto finish = [&](ScenarioResult& r) -> ScenarioResult {
    r.wall_s = Seconds(Clock::now() - start);
    r.passed = r.failures.empty();
    return r;
  };

  StageOptions stage_options;
  stage_options.host_bin = options.host_bin;
  stage_options.fake_bin = options.fake_bin;
  stage_options.work_parent = options.work_parent;
  stage_options.keep_work_dir = options.keep_work_dirs;
  if (scenario.needs_tmpfs) {
    if (!options.mount_namespace.ok()) {
      result.failures.push_back(
          absl::StrCat("cannot run: no private mount namespace for the tmpfs (",
                       options.mount_namespace.message(), ")"));
      return finish(result);
    }
    stage_options.tmpfs_bytes = options.tmpfs_bytes;
  }
  Stage stage(stage_options);
  auto cannot_run = [&](const absl::Status& status) {
    stage.MarkFailed();
    result.work_dir = stage.work_dir();
    result.failures.push_back(absl::StrCat("cannot run: ", status.message()));
    return finish(result);
  };
  if (absl::Status s = stage.Open(scenario.name); !s.ok()) return cannot_run(s);
  if (absl::Status s = stage.StartFake(); !s.ok()) return cannot_run(s);
  if (absl::Status s = stage.StartHost(); !s.ok()) return cannot_run(s);
  const std::string config = absl::StrCat(bench_harness::kHightouchCredentials, ",",
                                          bench_harness::kTunedDelivery,
                                          R"(,"batch_interval_ms":200)");
  if (absl::Status s = stage.Install(config); !s.ok()) return cannot_run(s);

  Ledger ledger(options.events + scenario.extra_ids, bench_harness::IdHead(nonce));
  PushPlan plan;
  plan.url = stage.events_url() + "/v1/batch";
  plan.authorization = "Authorization: Bearer " + stage.pipeline_key();
  plan.templates = &templates;
  plan.events = options.events;
  plan.batch = options.request_events;
  plan.connections = options.connections;
  plan.rate = options.push_seconds > 0 ? options.events / options.push_seconds : 0;
  Pusher pusher(plan, ledger);
  FaultContext context(stage, pusher, options, corpus, nonce, options.events);

  if (scenario.before_push) scenario.before_push(context);
  pusher.Start();
  // On this thread: the children it restarts get SIGTERM when the thread that started them
  // ends (PR_SET_PDEATHSIG), so that thread must live as long as the scenario.
  if (scenario.inject) scenario.inject(context);
  pusher.Join();
  Settle(stage, context, options.settle_timeout, context.failures);

  // The verdict's inputs: dead letters, the fake's id log, its counters.
  if (stage.HostRunning()) {
    absl::StatusOr<std::vector<DeadLetter>> dead =
        ListDeadLetters(stage.admin(), stage.admin_url(), stage.integration_id());
    if (dead.ok()) {
      for (const DeadLetter& letter : *dead) ledger.AddDeadLetter(letter.message_id, letter.reason);
    } else {
      context.Fail(absl::StrCat("dead letters unreadable: ", dead.status().message()));
    }
  }
  if (absl::Status read = ledger.AddDeliveriesFromLog(stage.message_id_log()); !read.ok()) {
    context.Fail(std::string(read.message()));
  }
  result.ledger = ledger.Summarize();
  result.vendor = stage.TotalFakeStats();
  result.push = pusher.Counts();
  for (const auto& [status, count] : context.event_api_answers) {
    result.push.answers_by_status[status] += count;
  }

  const LedgerSummary& l = result.ledger;
  std::vector<std::string>& f = context.failures;
  if (l.lost > 0) {
    std::vector<std::string> examples;
    for (uint64_t sequence : l.lost_examples) examples.push_back(bench_harness::MessageId(nonce, sequence));
    f.push_back(absl::StrCat("LOST ", l.lost, " accepted events (e.g. ",
                             absl::StrJoin(examples, ", "), ")"));
  }
  if (l.delivered_never_sent > 0) {
    f.push_back(absl::StrCat(l.delivered_never_sent, " ids delivered that were never posted"));
  }
  if (l.dead_lettered_and_delivered > 0) {
    f.push_back(absl::StrCat(l.dead_lettered_and_delivered, " ids both delivered and dead-lettered"));
  }
  if (l.foreign_ids > 0) f.push_back(absl::StrCat(l.foreign_ids, " foreign ids at the fake"));
  if (result.push.partial_batches > 0) {
    f.push_back(absl::StrCat(result.push.partial_batches, " partial batches (200 without success)"));
  }
  if (result.push.requests_given_up > 0) {
    f.push_back(absl::StrCat(result.push.requests_given_up,
                             " requests never accepted within the pusher's retry budget"));
  }
  if (l.accepted == 0) f.push_back("nothing was accepted");
  if (!stage.HostRunning()) f.push_back("the host is not running at the end");
  if (!stage.FakeRunning()) f.push_back("the fake is not running at the end");
  if (!scenario.dead_letters_expected && !l.dead_letters_by_reason.empty()) {
    f.push_back("dead letters in a scenario that expects none");
  }
  if (scenario.check) {
    const Outcome outcome{result.ledger, result.vendor, result.push, context, ledger};
    scenario.check(outcome, f);
  }
  result.failures = context.failures;
  result.notes = context.notes;
  if (!result.failures.empty()) {
    stage.MarkFailed();
    result.work_dir = stage.work_dir();
  }
  return finish(result);
}

}  // namespace fault_matrix
