// A scenario of the fault matrix: what it does to the host or the vendor while events
// flow, and what it expects beyond the rules every scenario shares (runner.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "event_corpus.h"
#include "fake_control.h"
#include "ledger.h"
#include "pusher.h"
#include "stage.h"

namespace fault_matrix {

struct RunOptions {
  uint64_t events = 10000;
  uint64_t request_events = 100;  // events per POST /v1/batch
  int connections = 4;
  double push_seconds = 6;  // the push is paced to last about this long (never faster)
  std::string host_bin, fake_bin, work_parent;
  bool keep_work_dirs = false;
  uint64_t tmpfs_bytes = 0;  // the disk-full scenario's tmpfs
  std::chrono::seconds settle_timeout{180};
  uint64_t poison_ids = 300;
  int host_kills = 3;
  absl::Status mount_namespace;  // whether EnterPrivateMountNamespace worked
};

// What an injection step can do and note. Used from the scenario's own thread.
class FaultContext {
 public:
  FaultContext(Stage& stage, Pusher& pusher, const RunOptions& options,
               const signal_bench::Corpus& corpus, uint32_t nonce, uint64_t extra_first)
      : stage(stage), pusher(pusher), options(options), corpus(corpus), nonce(nonce),
        extra_first(extra_first) {}

  // Until the pusher has had `fraction` of the events accepted, or has finished.
  void WaitForProgress(double fraction);
  void Sleep(double seconds);
  // POST /_fake/faults; a refusal is a failure of the scenario.
  void SetFaults(const std::string& json);
  void ClearFaults() { SetFaults("{}"); }
  void Fail(std::string message) { failures.push_back(std::move(message)); }
  void Note(std::string message) { notes.push_back(std::move(message)); }

  Stage& stage;
  Pusher& pusher;
  const RunOptions& options;
  const signal_bench::Corpus& corpus;
  const uint32_t nonce;
  const uint64_t extra_first;  // ids from here on are the scenario's own (never pushed)

  std::map<std::string, int64_t> observed;  // counts a check reads
  std::map<long, uint64_t> event_api_answers;  // of requests the scenario sent itself
  std::vector<std::string> failures;
  std::vector<std::string> notes;
  // Deliveries may still arrive until then (requests the host gave up on).
  std::chrono::steady_clock::time_point quiet_until{};
};

// What a scenario's check sees once the host has settled.
struct Outcome {
  LedgerSummary ledger;
  bench_harness::FakeStats vendor;
  PushCounts push;
  const FaultContext& context;
  const Ledger& ids;
};

struct Scenario {
  std::string name;
  std::string fault;       // what is done, in a few words
  std::string duplicates;  // the expectation on duplicates, in a few words
  bool needs_tmpfs = false;
  bool dead_letters_expected = false;  // otherwise any dead letter fails the scenario
  uint64_t extra_ids = 0;  // ids beyond the pushed ones that the scenario sends itself
  std::function<void(FaultContext&)> before_push;
  std::function<void(FaultContext&)> inject;
  std::function<void(const Outcome&, std::vector<std::string>& failures)> check;
};

std::vector<Scenario> AllScenarios();

}  // namespace fault_matrix
