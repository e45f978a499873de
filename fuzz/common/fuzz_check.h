// Invariant checks inside fuzz targets. A failed check is a finding: it prints what
// broke and aborts, so libFuzzer saves the input (and the replay test fails).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "simdjson.h"

namespace signal_fuzz {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition,
                                     std::string_view detail) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n  %.*s\n", file, line, condition,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF): what a proto3
// string field and a JSON response must carry.
inline bool IsValidUtf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace signal_fuzz

// FUZZ_CHECK(condition, detail): detail is anything convertible to std::string_view,
// evaluated only on failure.
#define FUZZ_CHECK(condition, detail)                                       \
  do {                                                                      \
    if (!(condition)) {                                                     \
      ::signal_fuzz::CheckFailed(__FILE__, __LINE__, #condition, (detail)); \
    }                                                                       \
  } while (false)
