// Byte/text codecs shared by the host: base64 (RFC 4648 §4), base64url without
// padding (§5, as JWT and cursors use it) and lowercase hex. Decoders are strict:
// they refuse characters outside the alphabet, impossible lengths and non-zero
// trailing bits, so every byte string has exactly one accepted encoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace signal_host {

std::string Base64Encode(std::string_view bytes);  // padded with '='
// Accepts padded or unpadded input.
std::optional<std::string> Base64Decode(std::string_view text);

std::string Base64UrlEncode(std::string_view bytes);  // never padded
// Refuses '=' padding.
std::optional<std::string> Base64UrlDecode(std::string_view text);

std::string HexEncode(std::string_view bytes);  // lowercase
// Accepts either case; refuses odd lengths.
std::optional<std::string> HexDecode(std::string_view text);

}  // namespace signal_host
