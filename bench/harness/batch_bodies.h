// /v1/batch request bodies built from the seeded corpus, with a messageId per event that
// the sender rewrites per request so that every posted event carries its own id:
// "<nonce:8 hex>-0000-4000-8000-<sequence:12 hex>".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "event_corpus.h"

namespace bench_harness {

inline constexpr size_t kIdLength = 36;  // 8-4-4-4-12
inline constexpr size_t kIdTailLength = 12;

struct BodyTemplate {
  std::string body;
  std::vector<size_t> id_tail_offsets;  // where each event's 12-character id tail starts
};

// Enough templates of `batch` consecutive corpus events that every corpus event is used
// once before a body repeats. Dies (exit 2) if a corpus event has no messageId.
std::vector<BodyTemplate> BuildTemplates(const signal_bench::Corpus& corpus, size_t batch,
                                         uint32_t run_nonce);

// Writes `sequence` as the 12 hex digits of an id tail.
void WriteIdTail(uint64_t sequence, char* out);

// The first 24 characters of every id of a run: "<nonce>-0000-4000-8000-".
std::string IdHead(uint32_t run_nonce);

// The full messageId of `sequence` in a run.
std::string MessageId(uint32_t run_nonce, uint64_t sequence);

// The sequence of a messageId of this run; nullopt for any other id.
std::optional<uint64_t> SequenceOf(std::string_view message_id, std::string_view id_head);

}  // namespace bench_harness
