#include "pusher.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "http_client.h"

namespace fault_matrix {

using Clock = std::chrono::steady_clock;

Pusher::Pusher(PushPlan plan, Ledger& ledger) : plan_(std::move(plan)), ledger_(ledger) {}

Pusher::~Pusher() { Join(); }

void Pusher::Start() {
  start_ = Clock::now();
  for (int i = 0; i < plan_.connections; ++i) workers_.emplace_back([this] { RunWorker(); });
}

void Pusher::Join() {
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

double Pusher::Progress() const {
  return plan_.events == 0 ? 1.0 : static_cast<double>(accepted_events_.load()) / plan_.events;
}

PushCounts Pusher::Counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void Pusher::Note(long status, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_.answers_by_status[status];
  if (!error.empty() && counts_.first_errors.size() < 6) counts_.first_errors.push_back(error);
}

void Pusher::RunWorker() {
  bench_harness::HttpClient client;
  client.SetHeaders({plan_.authorization, "Content-Type: application/json"});
  client.SetTimeoutMs(30000);
  std::minstd_rand jitter(static_cast<uint32_t>(std::hash<std::thread::id>{}(
      std::this_thread::get_id())));
  const uint64_t requests = (plan_.events + plan_.batch - 1) / plan_.batch;
  std::string body;
  while (true) {
    const uint64_t index = next_request_.fetch_add(1);
    if (index >= requests) break;
    if (plan_.rate > 0) {
      std::this_thread::sleep_until(
          start_ + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>(index * plan_.batch / plan_.rate)));
    }
    const uint64_t first = index * plan_.batch;
    const uint64_t count = plan_.batch;  // events is a multiple of batch (main checks)
    const bench_harness::BodyTemplate& tmpl = (*plan_.templates)[index % plan_.templates->size()];
    body.assign(tmpl.body);
    for (uint64_t i = 0; i < count; ++i) {
      bench_harness::WriteIdTail(first + i, body.data() + tmpl.id_tail_offsets[i]);
    }
    ledger_.MarkSent(first, count);

    const Clock::time_point give_up = Clock::now() + plan_.retry_budget;
    for (int attempt = 0;; ++attempt) {
      const bench_harness::HttpResult answer = client.Post(plan_.url, body);
      bool retry = false;
      if (answer.status == 200) {
        if (answer.body.find("\"success\":true") != std::string::npos) {
          ledger_.MarkAccepted(first, count);
          accepted_events_.fetch_add(count);
          Note(200, "");
        } else {
          // Which events were taken is not said per event: their fate stays unknown.
          ledger_.MarkUnconfirmed(first, count);
          std::lock_guard<std::mutex> lock(mu_);
          ++counts_.partial_batches;
          ++counts_.answers_by_status[200];
        }
      } else if (answer.status == 0) {
        retry = true;
        if (answer.curl_code == CURLE_COULDNT_CONNECT) {
          std::lock_guard<std::mutex> lock(mu_);
          ++counts_.connect_failures;
        } else {
          ledger_.MarkUnconfirmed(first, count);
          std::lock_guard<std::mutex> lock(mu_);
          ++counts_.unconfirmed_attempts;
          ++counts_.answers_by_status[0];
          if (counts_.first_errors.size() < 6) {
            counts_.first_errors.push_back("no answer: " + answer.error);
          }
        }
      } else if (answer.status == 503) {
        retry = true;  // nothing was accepted: send the same ids again
        Note(503, "");
      } else {
        Note(answer.status, absl::StrCat("HTTP ", answer.status, ": ", answer.body.substr(0, 200)));
        std::lock_guard<std::mutex> lock(mu_);
        ++counts_.requests_refused;
      }
      if (!retry) break;
      if (Clock::now() >= give_up) {
        std::lock_guard<std::mutex> lock(mu_);
        ++counts_.requests_given_up;
        break;
      }
      // Capped exponential backoff with full jitter.
      const int64_t cap_ms = std::min<int64_t>(2000, int64_t{50} << std::min(attempt, 6));
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::uniform_int_distribution<int64_t>(cap_ms / 2, cap_ms)(jitter)));
    }
  }
  finished_workers_.fetch_add(1);
}

}  // namespace fault_matrix
