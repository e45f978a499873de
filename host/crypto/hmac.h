// HMAC-SHA256 and a constant-time comparison, for JWT signatures.
#pragma once

#include <string>
#include <string_view>

namespace signal_host {

inline constexpr size_t kHmacSha256Bytes = 32;

// The 32-byte MAC of `message` under `key`.
std::string HmacSha256(std::string_view key, std::string_view message);

// True when a and b are equal; the time taken depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace signal_host
