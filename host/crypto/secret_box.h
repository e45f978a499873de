// SecretBox seals small secrets (integration configs) with AES-256-GCM under the
// host's ENCRYPTION_KEY, so that the database never holds them in the clear.
//
// Sealed form: "v1:" + base64(12-byte random nonce | ciphertext | 16-byte tag).
// Optional associated data binds a sealed value to its context (e.g. the revision id
// it belongs to), so a value copied to another row does not open.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace signal_host {

class SecretBox {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;
  static constexpr std::string_view kVersionPrefix = "v1:";

  // From ENCRYPTION_KEY's text: 64 hex characters, or base64 of exactly 32 bytes.
  // Surrounding whitespace is ignored. The error names the expected format and never
  // echoes the key.
  static absl::StatusOr<SecretBox> FromKeyText(std::string_view key_text);
  // From 32 raw key bytes.
  static absl::StatusOr<SecretBox> FromRawKey(std::string_view key_bytes);
  // Reads the key file at `path` (key text as above) or, when it does not exist,
  // creates it atomically with a fresh random key (hex) and mode 0600. A key file
  // readable by group or others is refused. `created` (optional) tells which happened.
  static absl::StatusOr<SecretBox> LoadOrCreateKeyFile(const std::string& path,
                                                       bool* created = nullptr);

  SecretBox(const SecretBox& other) = default;
  SecretBox& operator=(const SecretBox& other) = default;
  ~SecretBox();

  absl::StatusOr<std::string> Seal(std::string_view plaintext,
                                   std::string_view associated_data = {}) const;
  // Fails (never crashes) on a wrong version, bad base64, truncation, a wrong key,
  // different associated data or any tampering.
  absl::StatusOr<std::string> Open(std::string_view sealed,
                                   std::string_view associated_data = {}) const;

 private:
  explicit SecretBox(std::string_view key_bytes);
  std::array<uint8_t, kKeyBytes> key_{};
};

}  // namespace signal_host
