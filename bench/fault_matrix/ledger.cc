#include "ledger.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "batch_bodies.h"

namespace fault_matrix {

Ledger::Ledger(uint64_t ids, std::string id_head)
    : id_head_(std::move(id_head)), flags_(ids, 0), deliveries_(ids, 0) {}

void Ledger::MarkSent(uint64_t first, uint64_t count) {
  for (uint64_t i = first; i < first + count && i < flags_.size(); ++i) flags_[i] |= kSent;
}

void Ledger::MarkAccepted(uint64_t first, uint64_t count) {
  for (uint64_t i = first; i < first + count && i < flags_.size(); ++i) flags_[i] |= kAccepted;
}

void Ledger::MarkUnconfirmed(uint64_t first, uint64_t count) {
  for (uint64_t i = first; i < first + count && i < flags_.size(); ++i) flags_[i] |= kUnconfirmed;
}

absl::Status Ledger::AddDeliveriesFromLog(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    if (errno == ENOENT) return absl::OkStatus();  // nothing was ever accepted
    return absl::UnavailableError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::string pending;
  char buffer[1 << 16];
  auto take_line = [this](std::string_view line) {
    const std::optional<uint64_t> sequence = bench_harness::SequenceOf(line, id_head_);
    if (!sequence || *sequence >= deliveries_.size()) {
      ++foreign_ids_;
      return;
    }
    if (deliveries_[*sequence] < UINT16_MAX) ++deliveries_[*sequence];
  };
  while (size_t n = std::fread(buffer, 1, sizeof buffer, file)) {
    pending.append(buffer, n);
    size_t start = 0;
    for (size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
      take_line(std::string_view(pending).substr(start, end - start));
    }
    pending.erase(0, start);
  }
  std::fclose(file);
  if (!pending.empty()) take_line(pending);
  return absl::OkStatus();
}

void Ledger::AddDeadLetter(const std::string& message_id, const std::string& reason) {
  const std::optional<uint64_t> sequence = bench_harness::SequenceOf(message_id, id_head_);
  if (!sequence || *sequence >= flags_.size()) {
    ++foreign_ids_;
    return;
  }
  flags_[*sequence] |= kDeadLettered;
  ++dead_letters_by_reason_[reason];
}

LedgerSummary Ledger::Summarize() const {
  LedgerSummary s;
  s.foreign_ids = foreign_ids_;
  s.dead_letters_by_reason = dead_letters_by_reason_;
  for (uint64_t i = 0; i < flags_.size(); ++i) {
    const uint8_t flags = flags_[i];
    const uint32_t deliveries = deliveries_[i];
    const bool dead = (flags & kDeadLettered) != 0;
    if (deliveries > 0 && dead) ++s.dead_lettered_and_delivered;
    if (deliveries > 0 && (flags & kSent) == 0) ++s.delivered_never_sent;
    if (deliveries > 1) {
      if ((flags & kUnconfirmed) != 0) {
        s.client_retry_duplicates += deliveries - 1;
      } else {
        s.host_duplicates += deliveries - 1;
      }
    }
    if ((flags & kUnconfirmed) == 0) {
      s.max_deliveries_of_an_id = std::max(s.max_deliveries_of_an_id, deliveries);
    }
    if ((flags & kAccepted) == 0) {
      if (deliveries > 0 && (flags & kSent) != 0) ++s.delivered_unconfirmed;
      continue;
    }
    ++s.accepted;
    if (deliveries > 0) ++s.delivered;
    if (dead) ++s.dead_lettered;
    if (deliveries == 0 && !dead) {
      ++s.lost;
      if (s.lost_examples.size() < 5) s.lost_examples.push_back(i);
    }
  }
  return s;
}

}  // namespace fault_matrix
