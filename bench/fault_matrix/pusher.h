// The event source of a scenario: posts N events with unique messageIds to /v1/batch over
// several keep-alive connections, paced to a target rate. A request that got no answer,
// could not connect, or was answered 503 is posted again, same ids, with backoff, until a
// deadline: a client that retries after an unknown outcome is what makes the host's
// at-least-once visible as "client retry" duplicates.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "batch_bodies.h"
#include "ledger.h"

namespace fault_matrix {

struct PushPlan {
  std::string url;            // ".../v1/batch"
  std::string authorization;  // "Authorization: Bearer dk_..."
  const std::vector<bench_harness::BodyTemplate>* templates = nullptr;
  uint64_t events = 0;  // ids 0..events-1, `batch` per request; a multiple of batch
  uint64_t batch = 100;
  int connections = 4;
  double rate = 0;                                  // events/s; 0: as fast as answered
  std::chrono::seconds retry_budget{120};           // per request, from its first attempt
};

struct PushCounts {
  std::map<long, uint64_t> answers_by_status;  // every answer, retries included (0: none)
  uint64_t connect_failures = 0;               // never reached the host
  uint64_t unconfirmed_attempts = 0;           // sent, no answer
  uint64_t partial_batches = 0;                // 200 without success:true
  uint64_t requests_given_up = 0;              // retry budget spent without a 200
  uint64_t requests_refused = 0;               // a final non-200 other than 503
  std::vector<std::string> first_errors;
};

class Pusher {
 public:
  Pusher(PushPlan plan, Ledger& ledger);
  ~Pusher();  // joins

  void Start();
  void Join();
  bool Done() const { return finished_workers_.load() == plan_.connections; }
  // Events answered 200 so far, over the plan's total: the scenarios' clock.
  double Progress() const;
  PushCounts Counts() const;

 private:
  void RunWorker();
  void Note(long status, const std::string& error);

  const PushPlan plan_;
  Ledger& ledger_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> next_request_{0};
  std::atomic<uint64_t> accepted_events_{0};
  std::atomic<int> finished_workers_{0};
  std::vector<std::thread> workers_;
  mutable std::mutex mu_;
  PushCounts counts_;
};

}  // namespace fault_matrix
