#include "host/crypto/ids.h"

#include <openssl/rand.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"

namespace signal_host {
namespace {

std::string MustRandomBytes(size_t count) {
  absl::StatusOr<std::string> bytes = RandomBytes(count);
  if (!bytes.ok()) {
    std::fprintf(stderr, "fatal: %s\n", bytes.status().ToString().c_str());
    std::abort();
  }
  return *std::move(bytes);
}

}  // namespace

absl::StatusOr<std::string> RandomBytes(size_t count) {
  std::string bytes(count, '\0');
  if (count > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) != 1) {
    return absl::InternalError("the OpenSSL random generator failed");
  }
  return bytes;
}

std::string CrockfordBase32Of128(std::string_view sixteen_bytes) {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  unsigned __int128 value = 0;
  for (size_t i = 0; i < 16 && i < sixteen_bytes.size(); ++i) {
    value = (value << 8) | static_cast<uint8_t>(sixteen_bytes[i]);
  }
  std::string out(26, '0');
  for (int i = 25; i >= 0; --i) {
    out[i] = kAlphabet[static_cast<unsigned>(value & 31)];
    value >>= 5;
  }
  return out;
}

std::string NewId(std::string_view prefix) {
  std::string id(prefix);
  id.push_back('_');
  id += CrockfordBase32Of128(MustRandomBytes(16));
  return id;
}

std::string NewUuidV4() {
  std::string b = MustRandomBytes(16);
  b[6] = static_cast<char>((static_cast<uint8_t>(b[6]) & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((static_cast<uint8_t>(b[8]) & 0x3f) | 0x80);  // RFC 4122 variant
  char out[37];
  auto u = [&](int i) { return static_cast<unsigned>(static_cast<uint8_t>(b[i])); };
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u(0), u(1),
                u(2), u(3), u(4), u(5), u(6), u(7), u(8), u(9), u(10), u(11), u(12), u(13), u(14),
                u(15));
  return std::string(out, 36);
}

}  // namespace signal_host
