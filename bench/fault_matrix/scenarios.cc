// The scenarios of the fault matrix (docs/RELIABILITY.md, "Fault matrix"). Duplicate bounds
// come from the delivery engine's defaults (host/delivery/delivery_engine.h): at most
// kInFlight vendor requests per integration, kLeaseAhead more requests' worth of events
// leased, kVendorBatch events a request with the tuned config.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admin_api.h"
#include "batch_bodies.h"
#include "disk_fill.h"
#include "gzip_body.h"
#include "host_control.h"
#include "http_client.h"
#include "scenario.h"

namespace fault_matrix {
namespace {

constexpr uint64_t kInFlight = 6;
constexpr uint64_t kLeaseAhead = 4;
constexpr uint64_t kVendorBatch = 500;
constexpr double kCredentialProbeIntervalS = 60;

using Clock = std::chrono::steady_clock;
using Failures = std::vector<std::string>;

uint64_t Status(const bench_harness::FakeStats& vendor, int status) {
  auto it = vendor.status_counts.find(status);
  return it == vendor.status_counts.end() ? 0 : it->second;
}

// A vendor fault answered without recording anything: no duplicate may result.
void ExpectNoDuplicates(const Outcome& o, Failures& f) {
  if (o.ledger.host_duplicates > 0) {
    f.push_back(absl::StrCat(o.ledger.host_duplicates, " duplicate deliveries; expected none"));
  }
}

// Duplicates only from retries of requests whose outcome the host could not know, each id
// at most twice, and at most `bound` in all.
void ExpectBoundedDuplicates(const Outcome& o, uint64_t bound, Failures& f) {
  if (o.ledger.host_duplicates > bound) {
    f.push_back(absl::StrCat(o.ledger.host_duplicates, " duplicate deliveries; expected at most ",
                             bound));
  }
  if (o.ledger.max_deliveries_of_an_id > 2) {
    f.push_back(absl::StrCat("an id was delivered ", o.ledger.max_deliveries_of_an_id,
                             " times; expected at most twice"));
  }
}

void ExpectObserved(const Outcome& o, const std::string& key, int64_t want, Failures& f) {
  auto it = o.context.observed.find(key);
  const int64_t got = it == o.context.observed.end() ? 0 : it->second;
  if (got != want) f.push_back(absl::StrCat(key, ": ", got, ", expected ", want));
}

// Faults for a window of the run, then cleared.
std::function<void(FaultContext&)> Window(std::vector<double> at, std::string faults,
                                          double seconds) {
  return [at = std::move(at), faults = std::move(faults), seconds](FaultContext& c) {
    for (double fraction : at) {
      c.WaitForProgress(fraction);
      c.SetFaults(faults);
      c.Sleep(seconds);
      c.ClearFaults();
    }
  };
}

std::string PoisonIdsJson(const FaultContext& c) {
  std::vector<std::string> ids;
  const uint64_t step = c.options.events / c.options.poison_ids;
  for (uint64_t i = 0; i < c.options.poison_ids; ++i) {
    ids.push_back(absl::StrCat("\"", bench_harness::MessageId(c.nonce, i * step + step / 2), "\""));
  }
  return absl::StrCat(R"({"poison_message_ids":[)", absl::StrJoin(ids, ","), "]}");
}

void HoldUntilNewRevision(FaultContext& c) {
  constexpr double kHoldSeconds = 5;
  c.WaitForProgress(0.2);
  c.SetFaults(R"({"statuses":[401],"repeat":true})");
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
  bool held = false;
  while (!held && Clock::now() < deadline) {
    absl::StatusOr<IntegrationState> state =
        GetIntegrationState(c.stage.admin(), c.stage.admin_url(), c.stage.integration_id());
    held = state.ok() && state->status == "held";
    if (held) c.Note("held: " + state->status_reason);
    if (!held) c.Sleep(0.05);
  }
  c.observed["held"] = held ? 1 : 0;
  if (held) {
    c.Sleep(1);  // requests sent before the hold finish
    const uint64_t before = c.stage.TotalFakeStats().requests();
    c.Sleep(kHoldSeconds);
    c.observed["requests_during_hold"] =
        static_cast<int64_t>(c.stage.TotalFakeStats().requests() - before);
    c.Note(absl::StrCat(c.observed["requests_during_hold"], " vendor requests during a ",
                        kHoldSeconds, " s hold"));
  }
  c.ClearFaults();
  const std::string config =
      absl::StrCat(R"("api_key":"***","workspace_id":"ws-12345","source_id":"src-12345",)",
                   bench_harness::kTunedDelivery, R"(,"batch_interval_ms":200)");
  const bench_harness::HttpResult answer =
      PostRevision(c.stage.admin(), c.stage.admin_url(), c.stage.integration_id(), config);
  c.observed["revision_created"] = answer.status == 201 ? 1 : 0;
  if (answer.status != 201) {
    c.Fail(absl::StrCat("new revision answered ", answer.status, ": ", answer.body.substr(0, 300)));
  }
}

void RestartFake(FaultContext& c) {
  for (double fraction : {0.3, 0.7}) {
    c.WaitForProgress(fraction);
    c.stage.KillFake();
    c.Sleep(3);
    if (absl::Status started = c.stage.StartFake(); !started.ok()) {
      c.Fail(absl::StrCat("the fake did not restart: ", started.message()));
      return;
    }
    ++c.observed["fake_restarts"];
  }
}

void KillHost(FaultContext& c) {
  const int kills = c.options.host_kills;
  for (int k = 0; k < kills; ++k) {
    const double fraction = kills == 1 ? 0.4 : 0.15 + 0.6 * k / (kills - 1);
    c.WaitForProgress(fraction);
    if (c.pusher.Done()) c.Note(absl::StrCat("kill ", k + 1, " came after the push had ended"));
    c.stage.KillHost();
    c.Sleep(1);
    if (absl::Status started = c.stage.StartHost(); !started.ok()) {
      c.Fail(absl::StrCat("the host did not restart: ", started.message()));
      return;
    }
    ++c.observed["host_kills"];
  }
}

void FillDisk(FaultContext& c) {
  constexpr double kFullSeconds = 4;
  c.WaitForProgress(0.3);
  const std::string filler = c.stage.data_dir() + "/filler";
  absl::StatusOr<uint64_t> filled = FillFilesystem(filler);
  if (!filled.ok()) {
    c.Fail(absl::StrCat("cannot fill the tmpfs: ", filled.status().message()));
    unlink(filler.c_str());
    return;
  }
  c.Note(absl::StrCat("filler took ", *filled / 1048576, " MiB; full for ", kFullSeconds, " s"));
  c.Sleep(kFullSeconds);
  unlink(filler.c_str());
  c.observed["disk_filled"] = 1;
}

void SendOversizedAndInflating(FaultContext& c) {
  constexpr uint64_t kBigEvents = 600;  // about 670 KB, over the event API's 512 KB
  bench_harness::HttpClient plain, gzipped;
  const std::string auth = "Authorization: Bearer " + c.stage.pipeline_key();
  plain.SetHeaders({auth, "Content-Type: application/json"});
  gzipped.SetHeaders({auth, "Content-Type: application/json", "Content-Encoding: gzip"});
  const std::string url = c.stage.events_url() + "/v1/batch";
  const std::vector<bench_harness::BodyTemplate> big =
      bench_harness::BuildTemplates(c.corpus, kBigEvents, c.nonce);
  const bench_harness::BodyTemplate single = bench_harness::BuildTemplates(c.corpus, 1, c.nonce)[0];
  for (int k = 0; k < 2; ++k) {
    c.WaitForProgress(0.3 + 0.3 * k);
    const uint64_t first = c.extra_first + k * (kBigEvents + 1);
    bench_harness::BodyTemplate oversized = big[k % big.size()];
    for (uint64_t i = 0; i < kBigEvents; ++i) {
      bench_harness::WriteIdTail(first + i, oversized.body.data() + oversized.id_tail_offsets[i]);
    }
    const bench_harness::HttpResult too_big = plain.Post(url, oversized.body);
    ++c.observed[absl::StrCat("oversized_answered_", too_big.status)];
    ++c.event_api_answers[too_big.status];

    // One event and 16 MiB of whitespace: valid JSON that deflates about a thousandfold.
    std::string bomb = single.body.substr(0, single.body.size() - 2);  // without "]}"
    bench_harness::WriteIdTail(first + kBigEvents, bomb.data() + single.id_tail_offsets[0]);
    bomb.append(16 << 20, ' ');
    bomb.append("]}");
    const std::string compressed = Gzip(bomb);
    if (compressed.empty()) {
      c.Fail("gzip failed");
      return;
    }
    const bench_harness::HttpResult inflating = gzipped.Post(url, compressed);
    ++c.observed[absl::StrCat("inflating_answered_", inflating.status)];
    ++c.event_api_answers[inflating.status];
    c.Note(absl::StrCat("oversized body ", oversized.body.size(), " bytes -> ", too_big.status,
                        "; gzip body ", compressed.size(), " bytes inflating to ", bomb.size(),
                        " -> ", inflating.status));
  }
}

}  // namespace

std::vector<Scenario> AllScenarios() {
  std::vector<Scenario> s;
  s.push_back({"baseline", "no fault", "none", false, false, 0, nullptr, nullptr,
               [](const Outcome& o, Failures& f) {
                 ExpectNoDuplicates(o, f);
                 if (o.vendor.requests() != Status(o.vendor, 200)) {
                   f.push_back("vendor answered other than 200 without a fault: " +
                               o.vendor.requests_by_status);
                 }
               }});
  s.push_back({"429_retry_after_seconds", "429 with Retry-After: 1, for 3 s", "none", false, false,
               0, nullptr, Window({0.2}, R"({"statuses":[429],"repeat":true,"retry_after":"1"})", 3),
               [](const Outcome& o, Failures& f) {
                 ExpectNoDuplicates(o, f);
                 if (Status(o.vendor, 429) == 0) f.push_back("no 429 reached the host");
               }});
  s.push_back({"429_retry_after_http_date", "429 with Retry-After as an HTTP-date 2 s ahead, for 3 s",
               "none", false, false, 0, nullptr,
               Window({0.2}, R"({"statuses":[429],"repeat":true,"retry_after_http_date_in_s":2})",
                      3),
               [](const Outcome& o, Failures& f) {
                 ExpectNoDuplicates(o, f);
                 if (Status(o.vendor, 429) == 0) f.push_back("no 429 reached the host");
               }});
  s.push_back({"5xx_bursts", "500/502/503 in turn, two 2 s bursts", "none", false, false, 0,
               nullptr, Window({0.2, 0.6}, R"({"statuses":[500,502,503],"repeat":true})", 2),
               [](const Outcome& o, Failures& f) {
                 ExpectNoDuplicates(o, f);
                 for (int status : {500, 502, 503}) {
                   if (Status(o.vendor, status) == 0) f.push_back(absl::StrCat("no ", status));
                 }
               }});
  s.push_back({"slower_than_timeout",
               "16 s responses (request timeout 15 s) for 1.5 s",
               "some (the vendor got requests the host gave up on); at most 6 requests' worth, "
               "each id at most twice",
               false, false, 0, nullptr,
               [](FaultContext& c) {
                 c.WaitForProgress(0.3);
                 c.SetFaults(R"({"latency_ms":16000})");
                 const Clock::time_point start = Clock::now();
                 c.Sleep(1.5);
                 c.ClearFaults();
                 c.quiet_until = start + std::chrono::milliseconds(1500 + 16000 + 2000);
               },
               [](const Outcome& o, Failures& f) {
                 ExpectBoundedDuplicates(o, kInFlight * kVendorBatch, f);
                 if (o.ledger.host_duplicates == 0) {
                   f.push_back("no duplicate: no request outlived the host's timeout");
                 }
               }});
  s.push_back({"connection_resets", "every vendor connection reset for 2 s", "none", false, false,
               0, nullptr, Window({0.2}, R"({"reset_connections":1000000})", 2),
               [](const Outcome& o, Failures& f) {
                 ExpectNoDuplicates(o, f);
                 if (o.vendor.connections_reset == 0) f.push_back("no connection was reset");
               }});
  s.push_back({"poison_400s", "some ids poisoned: a batch holding one answers 400", "none", false,
               true, 0, [](FaultContext& c) { c.SetFaults(PoisonIdsJson(c)); }, nullptr,
               [](const Outcome& o, Failures& f) {
                 ExpectNoDuplicates(o, f);
                 const uint64_t poisoned = o.context.options.poison_ids;
                 if (o.ledger.dead_lettered != poisoned) {
                   f.push_back(absl::StrCat(o.ledger.dead_lettered, " dead letters; expected ",
                                            poisoned, " (the poisoned ids)"));
                 }
                 const uint64_t step = o.context.options.events / poisoned;
                 uint64_t missed = 0;
                 for (uint64_t i = 0; i < poisoned; ++i) {
                   if (!o.ids.DeadLettered(i * step + step / 2)) ++missed;
                 }
                 if (missed > 0) f.push_back(absl::StrCat(missed, " poisoned ids not dead-lettered"));
                 if (o.ledger.dead_letters_by_reason.size() != 1) {
                   f.push_back("expected one dead-letter reason");
                 }
               }});
  s.push_back({"401_until_new_revision",
               "401 on every ingest request until a new revision, held 5 s", "none", false, false,
               0, nullptr, HoldUntilNewRevision,
               [](const Outcome& o, Failures& f) {
                 ExpectNoDuplicates(o, f);
                 ExpectObserved(o, "held", 1, f);
                 ExpectObserved(o, "revision_created", 1, f);
                 // Only the periodic credential probe (a REST and an ingest call) may go out.
                 const int64_t allowed = 2 * (1 + static_cast<int64_t>(5 / kCredentialProbeIntervalS));
                 auto it = o.context.observed.find("requests_during_hold");
                 if (it != o.context.observed.end() && it->second > allowed) {
                   f.push_back(absl::StrCat(it->second, " vendor requests during the hold; at most ",
                                            allowed, " expected (credential probes)"));
                 }
               }});
  s.push_back({"fake_restart", "the fake killed -9 twice, back on its port 3 s later",
               "requests in flight at the kill: at most 6 requests' worth a kill, each id at most "
               "twice",
               false, false, 0, nullptr, RestartFake,
               [](const Outcome& o, Failures& f) {
                 ExpectObserved(o, "fake_restarts", 2, f);
                 ExpectBoundedDuplicates(o, 2 * kInFlight * kVendorBatch, f);
               }});
  s.push_back({"host_kill_9", "the host killed -9 and restarted on its data dir, 3 times",
               "in flight or leased at a kill: at most 10 requests' worth a kill, each id at most "
               "twice; client retries counted apart",
               false, false, 0, nullptr, KillHost,
               [](const Outcome& o, Failures& f) {
                 const int kills = o.context.options.host_kills;
                 ExpectObserved(o, "host_kills", kills, f);
                 ExpectBoundedDuplicates(o, kills * (kInFlight + kLeaseAhead) * kVendorBatch, f);
               }});
  s.push_back({"disk_full", "the data dir's tmpfs filled for 4 s, then freed",
               "delivered events whose outcome could not be stored: at most 10 requests' worth, "
               "each id at most twice (not multiplied)",
               true, false, 0, nullptr, FillDisk,
               [](const Outcome& o, Failures& f) {
                 ExpectObserved(o, "disk_filled", 1, f);
                 ExpectBoundedDuplicates(o, (kInFlight + kLeaseAhead) * kVendorBatch, f);
                 auto it = o.push.answers_by_status.find(503);
                 if (it == o.push.answers_by_status.end() || it->second == 0) {
                   f.push_back("no 503 from the event API while the disk was full");
                 }
               }});
  s.push_back({"oversized_and_inflating",
               "2 bodies of 670 KB and 2 gzip bodies inflating to 16 MiB mixed into the push",
               "none", false, false, 2 * 601, nullptr, SendOversizedAndInflating,
               [](const Outcome& o, Failures& f) {
                 ExpectNoDuplicates(o, f);
                 ExpectObserved(o, "oversized_answered_413", 2, f);
                 ExpectObserved(o, "inflating_answered_413", 2, f);
                 uint64_t delivered = 0;
                 for (uint64_t i = 0; i < 2 * 601; ++i) {
                   delivered += o.ids.Deliveries(o.context.extra_first + i) > 0 ? 1 : 0;
                 }
                 if (delivered > 0) {
                   f.push_back(absl::StrCat(delivered, " events of refused bodies were delivered"));
                 }
                 if (o.push.requests_refused > 0) {
                   f.push_back("the regular push was refused around the oversized requests");
                 }
               }});
  return s;
}

}  // namespace fault_matrix
