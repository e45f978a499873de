// Runs one scenario end to end and judges it. Rules every scenario shares: it could run
// and settle (queue empty) in time; lost = 0; no id delivered that was never posted or
// both delivered and dead-lettered; no partial batch, no request given up; the fake saw
// no foreign id. The scenario's own check adds the rest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "batch_bodies.h"
#include "ledger.h"
#include "pusher.h"
#include "scenario.h"

namespace fault_matrix {

struct ScenarioResult {
  std::string name;
  std::string fault;
  std::string duplicates_expectation;
  bool passed = false;
  std::vector<std::string> failures;
  std::vector<std::string> notes;
  LedgerSummary ledger;
  bench_harness::FakeStats vendor;
  PushCounts push;
  double wall_s = 0;
  std::string work_dir;  // kept when the scenario failed
};

ScenarioResult RunScenario(const Scenario& scenario, const RunOptions& options,
                           const signal_bench::Corpus& corpus,
                           const std::vector<bench_harness::BodyTemplate>& templates,
                           uint32_t nonce);

}  // namespace fault_matrix
