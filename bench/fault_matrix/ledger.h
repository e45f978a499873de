// Per-messageId accounting of one scenario: what the event API accepted (200), what the
// fake Hightouch received (its message id log, across restarts) and what the host
// dead-lettered. Each event carries the sequence number of its id (batch_bodies.h), so
// every id is checked on its own: nothing is inferred from totals.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fault_matrix {

struct LedgerSummary {
  uint64_t accepted = 0;             // ids in requests answered 200 {"success":true}
  uint64_t delivered = 0;            // accepted ids that reached the fake at least once
  uint64_t dead_lettered = 0;        // accepted ids among the host's dead letters
  std::map<std::string, uint64_t> dead_letters_by_reason;
  uint64_t lost = 0;                 // accepted, neither delivered nor dead-lettered
  std::vector<uint64_t> lost_examples;  // the first few lost sequences
  // Deliveries beyond the first of one id. Client retries: the id was posted again after
  // a request whose outcome was unknown (the host may have stored it twice).
  uint64_t host_duplicates = 0;
  uint64_t client_retry_duplicates = 0;
  uint32_t max_deliveries_of_an_id = 0;  // among ids without a client retry
  uint64_t delivered_unconfirmed = 0;    // delivered, posted, but never answered 200
  uint64_t delivered_never_sent = 0;     // delivered although never posted: a bug
  uint64_t dead_lettered_and_delivered = 0;
  uint64_t foreign_ids = 0;  // ids at the fake or in dead letters that are not this run's
};

class Ledger {
 public:
  // Sequences 0..ids-1; `id_head` is the prefix of this run's ids.
  Ledger(uint64_t ids, std::string id_head);

  // Called by the sender for the `count` ids from `first`; one request's ids are only ever
  // touched by one thread.
  void MarkSent(uint64_t first, uint64_t count);
  void MarkAccepted(uint64_t first, uint64_t count);
  void MarkUnconfirmed(uint64_t first, uint64_t count);  // no answer: fate unknown

  // The fake's message id log (one id a line); ids of other runs count as foreign.
  absl::Status AddDeliveriesFromLog(const std::string& path);
  void AddDeadLetter(const std::string& message_id, const std::string& reason);

  uint64_t Deliveries(uint64_t sequence) const { return deliveries_[sequence]; }
  bool DeadLettered(uint64_t sequence) const { return (flags_[sequence] & kDeadLettered) != 0; }
  bool Accepted(uint64_t sequence) const { return (flags_[sequence] & kAccepted) != 0; }

  LedgerSummary Summarize() const;

 private:
  static constexpr uint8_t kSent = 1, kAccepted = 2, kUnconfirmed = 4, kDeadLettered = 8;
  std::string id_head_;
  std::vector<uint8_t> flags_;
  std::vector<uint16_t> deliveries_;  // saturates at 65535
  std::map<std::string, uint64_t> dead_letters_by_reason_;
  uint64_t foreign_ids_ = 0;
};

}  // namespace fault_matrix
