#include "fake_control.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace bench_harness {

uint64_t FakeStats::requests() const {
  uint64_t total = 0;
  for (const auto& [status, count] : status_counts) total += count;
  return total;
}

FakeStats GetFakeStats(HttpClient& client, const std::string& fake_url) {
  FakeStats stats;
  HttpResult answer = client.Get(fake_url + "/_fake/stats");
  if (answer.status != 200) return stats;
  rapidjson::Document doc;
  doc.Parse(answer.body.data(), answer.body.size());
  if (doc.HasParseError() || !doc.IsObject()) return stats;
  auto number = [&doc](const char* name) -> uint64_t {
    auto it = doc.FindMember(name);
    return it != doc.MemberEnd() && it->value.IsUint64() ? it->value.GetUint64() : 0;
  };
  stats.ok = true;
  stats.events_accepted = number("events_accepted");
  stats.events_recorded = number("events_recorded");
  stats.duplicate_message_ids = number("duplicate_message_ids");
  stats.bytes_received = number("bytes_received");
  stats.connections_reset = number("connections_reset");
  stats.requests_hung = number("requests_hung");
  auto by_status = doc.FindMember("requests_by_status");
  if (by_status != doc.MemberEnd() && by_status->value.IsObject()) {
    for (auto& member : by_status->value.GetObject()) {
      const uint64_t count = member.value.IsUint64() ? member.value.GetUint64() : 0;
      absl::StrAppend(&stats.requests_by_status, stats.requests_by_status.empty() ? "" : " ",
                      member.name.GetString(), ":", count);
      stats.status_counts[std::atoi(member.name.GetString())] += count;
    }
  }
  return stats;
}

bool SetFakeFaults(HttpClient& client, const std::string& fake_url, const std::string& json) {
  return client.Post(fake_url + "/_fake/faults", json).status == 200;
}

}  // namespace bench_harness
