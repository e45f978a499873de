// The fake Hightouch's control plane (/_fake/...): its counters and its fault set.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "http_client.h"

namespace bench_harness {

// The product page's credentials; the bench programs start the fake to accept them.
inline constexpr char kVendorKey[] = "xxxxxxxxxxxxxxxxxxxx";

struct FakeStats {
  bool ok = false;
  uint64_t events_accepted = 0;
  uint64_t events_recorded = 0;
  uint64_t duplicate_message_ids = 0;
  uint64_t bytes_received = 0;
  uint64_t connections_reset = 0;
  uint64_t requests_hung = 0;
  std::string requests_by_status;  // "200:12 429:3"
  std::map<int, uint64_t> status_counts;
  uint64_t requests() const;  // answered API requests, every status
};

FakeStats GetFakeStats(HttpClient& client, const std::string& fake_url);

// POST /_fake/faults; an empty object clears them. True on 200.
bool SetFakeFaults(HttpClient& client, const std::string& fake_url, const std::string& json);

}  // namespace bench_harness
