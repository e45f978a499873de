#include "translate_hash.h"

#include <algorithm>

namespace signal_hightouch {
namespace {

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t FinalMix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

inline uint64_t LoadLittleEndian(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i > 0; --i) v = (v << 8) | p[i - 1];
  return v;
}

}  // namespace

void Hash128(std::string_view data, uint64_t* out_high, uint64_t* out_low) {
  constexpr uint64_t kC1 = 0x87c37b91114253d5ULL;
  constexpr uint64_t kC2 = 0x4cf5ad432745937fULL;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t blocks = data.size() / 16;
  uint64_t h1 = 0, h2 = 0;
  for (size_t i = 0; i < blocks; ++i, p += 16) {
    uint64_t k1 = LoadLittleEndian(p, 8);
    uint64_t k2 = LoadLittleEndian(p + 8, 8);
    k1 *= kC1;
    k1 = Rotl(k1, 31);
    k1 *= kC2;
    h1 ^= k1;
    h1 = Rotl(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    k2 *= kC2;
    k2 = Rotl(k2, 33);
    k2 *= kC1;
    h2 ^= k2;
    h2 = Rotl(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }
  const size_t tail = data.size() % 16;
  if (tail > 8) {
    uint64_t k2 = LoadLittleEndian(p + 8, tail - 8);
    k2 *= kC2;
    k2 = Rotl(k2, 33);
    k2 *= kC1;
    h2 ^= k2;
  }
  if (tail > 0) {
    uint64_t k1 = LoadLittleEndian(p, std::min<size_t>(tail, 8));
    k1 *= kC1;
    k1 = Rotl(k1, 31);
    k1 *= kC2;
    h1 ^= k1;
  }
  h1 ^= data.size();
  h2 ^= data.size();
  h1 += h2;
  h2 += h1;
  h1 = FinalMix(h1);
  h2 = FinalMix(h2);
  h1 += h2;
  h2 += h1;
  *out_high = h1;
  *out_low = h2;
}

}  // namespace signal_hightouch
