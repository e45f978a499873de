#include "report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "system_info.h"

namespace fault_matrix {
namespace {

using bench_harness::WithCommas;

std::string DeadLetters(const LedgerSummary& l) {
  if (l.dead_letters_by_reason.empty()) return "0";
  std::vector<std::string> parts;
  for (const auto& [reason, count] : l.dead_letters_by_reason) {
    parts.push_back(absl::StrCat(reason.empty() ? "?" : reason, ":", WithCommas(count)));
  }
  return absl::StrJoin(parts, " ");
}

std::string Duplicates(const LedgerSummary& l) {
  std::string out = WithCommas(l.host_duplicates);
  if (l.client_retry_duplicates > 0 || l.delivered_unconfirmed > 0) {
    absl::StrAppend(&out, " (+", WithCommas(l.client_retry_duplicates), " client retry)");
  }
  return out;
}

std::string EventApi(const PushCounts& p) {
  std::vector<std::string> parts;
  for (const auto& [status, count] : p.answers_by_status) {
    if (status != 200) parts.push_back(absl::StrCat(status == 0 ? "none" : absl::StrCat(status), ":", count));
  }
  if (p.connect_failures > 0) parts.push_back(absl::StrCat("refused-connect:", p.connect_failures));
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

}  // namespace

std::string TextReport(const std::vector<ScenarioResult>& results) {
  std::string out = absl::StrFormat("%-27s %10s %10s %-14s %5s %-22s %-30s %-26s %7s %s\n",
                                    "scenario", "accepted", "delivered", "dead-lettered", "lost",
                                    "duplicates", "vendor requests by status",
                                    "event API non-200", "time(s)", "result");
  for (const ScenarioResult& r : results) {
    absl::StrAppend(
        &out, absl::StrFormat("%-27s %10s %10s %-14s %5s %-22s %-30s %-26s %7.1f %s\n", r.name,
                              WithCommas(r.ledger.accepted), WithCommas(r.ledger.delivered),
                              DeadLetters(r.ledger), WithCommas(r.ledger.lost),
                              Duplicates(r.ledger), r.vendor.requests_by_status, EventApi(r.push),
                              r.wall_s, r.passed ? "PASS" : "FAIL"));
  }
  for (const ScenarioResult& r : results) {
    for (const std::string& note : r.notes) absl::StrAppend(&out, "  ", r.name, ": ", note, "\n");
    for (const std::string& failure : r.failures) {
      absl::StrAppend(&out, "  ", r.name, ": FAIL: ", failure, "\n");
    }
    if (!r.work_dir.empty()) absl::StrAppend(&out, "  ", r.name, ": work dir kept: ", r.work_dir, "\n");
  }
  return out;
}

std::string MarkdownReport(const std::vector<ScenarioResult>& results, const std::string& header) {
  std::string out = header;
  absl::StrAppend(&out,
                  "\n| scenario | fault | accepted | delivered | dead-lettered (reason) | lost | "
                  "duplicates | vendor requests by status | event API non-200 | "
                  "time (s) | result |\n|---|---|---:|---:|---|---:|---|---|---|---:|---|\n");
  for (const ScenarioResult& r : results) {
    absl::StrAppend(&out, "| ", r.name, " | ", r.fault, " | ", WithCommas(r.ledger.accepted),
                    " | ", WithCommas(r.ledger.delivered), " | ", DeadLetters(r.ledger), " | ",
                    WithCommas(r.ledger.lost), " | ", Duplicates(r.ledger), " | ", r.vendor.requests_by_status, " | ", EventApi(r.push), " | ",
                    absl::StrFormat("%.1f", r.wall_s), " | ", r.passed ? "pass" : "**FAIL**", " |\n");
  }
  return out;
}

}  // namespace fault_matrix
