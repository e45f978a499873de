// Random bytes and identifiers from OpenSSL's CSPRNG.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace signal_host {

// `count` bytes from the CSPRNG; fails only if the CSPRNG is unavailable.
absl::StatusOr<std::string> RandomBytes(size_t count);

// "<prefix>_" followed by 26 lowercase Crockford base32 characters encoding 128
// random bits, e.g. NewId("tmpl") -> "tmpl_0v3q9c...". Aborts if the CSPRNG fails,
// since no caller could do anything sensible without an id.
std::string NewId(std::string_view prefix);

// A random (version 4) UUID in its canonical lowercase 8-4-4-4-12 form.
std::string NewUuidV4();

// Crockford base32 (lowercase) of 16 bytes: 26 characters, the first holding the top
// three bits (so it is 0-7), as in ULIDs. Exposed for tests.
std::string CrockfordBase32Of128(std::string_view sixteen_bytes);

}  // namespace signal_host
