// Message building for host/http without Abseil's string types (Debian's Abseil has
// its own string_view, which StrCat will not take from std::string_view).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace signal_host::http {

inline void AppendPiece(std::string& out, std::string_view piece) { out.append(piece); }
inline void AppendPiece(std::string& out, const char* piece) { out.append(piece); }
inline void AppendPiece(std::string& out, const std::string& piece) { out.append(piece); }
template <typename Number, typename = std::enable_if_t<std::is_arithmetic_v<Number>>>
void AppendPiece(std::string& out, Number number) {
  out.append(std::to_string(number));
}

template <typename... Pieces>
std::string Cat(const Pieces&... pieces) {
  std::string out;
  (AppendPiece(out, pieces), ...);
  return out;
}

}  // namespace signal_host::http
