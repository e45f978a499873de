// Rough rates of the PostgreSQL store against a throwaway local server with fsync on:
// the fixture's start-up, AddDeadLetters (batches of 1 and 100) and RecordAttempt,
// from 1 and 4 threads (each thread a "delivery worker" sharing one store's pool).
// Not a CTest test. Run: build/tests/postgres/postgres_rates [seconds per case, default 2]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "host/crypto/secret_box.h"
#include "host/store/postgres/postgres_store.h"
#include "tests/postgres/postgres_server.h"

namespace {

using Clock = std::chrono::steady_clock;

// Runs `op(thread, i)` on `threads` threads for `seconds`; returns operations per second.
double Rate(int threads, double seconds, const std::function<bool(int, int64_t)>& op) {
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int64_t i = 0; Clock::now() < deadline; ++i) {
        if (!op(t, i)) {
          failed = true;
          return;
        }
        ++done;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  if (failed) return -1;
  return done / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  absl::StatusOr<std::unique_ptr<signal_test::PostgresServer>> server =
      signal_test::PostgresServer::Start({.fsync = true});
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start PostgreSQL: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("fixture initdb + start (fsync on): %.2f s\n", (*server)->startup_seconds());
  absl::StatusOr<std::string> url = (*server)->CreateDatabase();
  if (!url.ok()) return 1;
  signal_host::SecretBox box = *signal_host::SecretBox::FromKeyText(
      "8f1e0c7a55b3d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d");
  signal_host::PostgresOptions options;
  options.url = *url;
  options.pool_size = 4;
  options.migrate = true;
  absl::StatusOr<std::unique_ptr<signal_host::PostgresStore>> store =
      signal_host::PostgresStore::Open(options, &box, nullptr);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  const std::string payload(600, 'x');  // a typical event's size
  for (int batch : {1, 100}) {
    for (int threads : {1, 4}) {
      double rate = Rate(threads, seconds, [&](int t, int64_t i) {
        std::vector<signal_host::DeadLetter> letters(batch);
        for (int k = 0; k < batch; ++k) {
          letters[k].integration_id = "tmpl_bench";
          letters[k].message_id = absl::StrCat("b", batch, "-t", threads, "-", t, "-", i, "-", k);
          letters[k].payload = payload;
          letters[k].reason = "rejected";
        }
        return (*store)->AddDeadLetters(letters).ok();
      });
      std::printf("AddDeadLetters batch %3d, %d thread(s): %8.0f calls/s = %8.0f letters/s\n",
                  batch, threads, rate, rate * batch);
    }
  }
  for (int threads : {1, 4}) {
    double rate = Rate(threads, seconds, [&](int t, int64_t i) {
      signal_host::AttemptRecord attempt;
      attempt.integration_id = "tmpl_bench";
      attempt.message_ids = {absl::StrCat("m", t, "-", i), absl::StrCat("n", t, "-", i)};
      attempt.outcome = "delivered";
      attempt.http_status = 200;
      attempt.request = "POST https://us-east-1.hightouch-events.com/v1/batch";
      attempt.response = R"({"ok":true})";
      return (*store)->RecordAttempt(attempt).ok();
    });
    std::printf("RecordAttempt, %d thread(s): %8.0f records/s\n", threads, rate);
  }
  store->reset();
  return 0;
}
