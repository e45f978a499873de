#include "host/store/segment_pack.h"

namespace signal_host::segment {
namespace {

size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// Reads a varint at `pos`; false if it runs past the end or beyond 64 bits.
bool ReadVarint(std::string_view in, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size()) return false;
    const uint8_t byte = static_cast<uint8_t>(in[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool ReadField(std::string_view in, size_t& pos, std::string_view& field) {
  uint64_t length = 0;
  if (!ReadVarint(in, pos, length) || length > in.size() - pos) return false;
  field = in.substr(pos, static_cast<size_t>(length));
  pos += static_cast<size_t>(length);
  return true;
}

}  // namespace

size_t PackedSize(std::string_view message_id, std::string_view payload) {
  return VarintSize(message_id.size()) + message_id.size() + VarintSize(payload.size()) +
         payload.size();
}

void AppendEvent(std::string& out, std::string_view message_id, std::string_view payload) {
  AppendVarint(out, message_id.size());
  out.append(message_id);
  AppendVarint(out, payload.size());
  out.append(payload);
}

bool Unpack(std::string_view packed, std::vector<PackedEvent>& events) {
  events.clear();
  size_t pos = 0;
  while (pos < packed.size()) {
    PackedEvent& event = events.emplace_back();
    if (!ReadField(packed, pos, event.message_id) || !ReadField(packed, pos, event.payload)) {
      events.clear();
      return false;
    }
  }
  return true;
}

}  // namespace signal_host::segment
