#include "batch_bodies.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "fatal.h"

namespace bench_harness {

std::string IdHead(uint32_t run_nonce) {
  return absl::StrFormat("%08x-0000-4000-8000-", run_nonce);
}

std::vector<BodyTemplate> BuildTemplates(const signal_bench::Corpus& corpus, size_t batch,
                                         uint32_t run_nonce) {
  const size_t count = corpus.events.size();
  // Enough templates that every corpus event is used once before a body repeats.
  const size_t templates = std::max<size_t>(1, (count + batch - 1) / batch);
  const std::string id_head = IdHead(run_nonce);
  constexpr std::string_view kKey = "\"messageId\":\"";
  std::vector<BodyTemplate> out(templates);
  size_t next = 0;
  for (BodyTemplate& tmpl : out) {
    tmpl.body = "{\"batch\":[";
    for (size_t i = 0; i < batch; ++i) {
      if (i > 0) tmpl.body.push_back(',');
      const std::string& event = corpus.events[next++ % count];
      // The generator writes the top-level messageId first, right after "type".
      const size_t key = event.find(kKey);
      if (key == std::string::npos || key + kKey.size() + kIdLength > event.size()) {
        Die("a corpus event has no messageId");
      }
      const size_t id_at = tmpl.body.size() + key + kKey.size();
      tmpl.body.append(event);
      tmpl.body.replace(id_at, id_head.size(), id_head);
      tmpl.id_tail_offsets.push_back(id_at + kIdLength - kIdTailLength);
    }
    tmpl.body.append("]}");
  }
  return out;
}

void WriteIdTail(uint64_t sequence, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = kIdTailLength - 1; i >= 0; --i) {
    out[i] = kHex[sequence & 0xF];
    sequence >>= 4;
  }
}

std::string MessageId(uint32_t run_nonce, uint64_t sequence) {
  std::string id = IdHead(run_nonce);
  id.resize(kIdLength);
  WriteIdTail(sequence, id.data() + kIdLength - kIdTailLength);
  return id;
}

std::optional<uint64_t> SequenceOf(std::string_view message_id, std::string_view id_head) {
  if (message_id.size() != kIdLength || message_id.substr(0, id_head.size()) != id_head) {
    return std::nullopt;
  }
  uint64_t sequence = 0;
  for (char c : message_id.substr(kIdLength - kIdTailLength)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    sequence = sequence * 16 + static_cast<uint64_t>(digit);
  }
  return sequence;
}

}  // namespace bench_harness
