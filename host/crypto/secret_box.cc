#include "host/crypto/secret_box.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "host/crypto/encoding.h"
#include "host/crypto/ids.h"

namespace signal_host {
namespace {

constexpr char kKeyFormat[] =
    "ENCRYPTION_KEY must be 64 hex characters or the base64 encoding of 32 bytes "
    "(generate one with `openssl rand -hex 32`)";

// Larger inputs than this are refused rather than risk int overflow in EVP calls.
constexpr size_t kMaxPlaintextBytes = 16u << 20;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, int fd) {
  std::string text;
  char buffer[512];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read key file", path);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > 4096)
      return absl::InvalidArgumentError(
          absl::StrCat("key file ", path, " is too large to be a key; ", kKeyFormat));
  }
  return text;
}

absl::StatusOr<SecretBox> LoadKeyFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoError("cannot open key file", path);
  struct stat info;
  if (fstat(fd, &info) != 0) {
    absl::Status status = ErrnoError("cannot stat key file", path);
    close(fd);
    return status;
  }
  if (!S_ISREG(info.st_mode)) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat("key file ", path, " is not a regular file"));
  }
  if ((info.st_mode & 077) != 0) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path, " is readable by other users; run `chmod 600 ", path, "`"));
  }
  absl::StatusOr<std::string> text = ReadSmallFile(path, fd);
  close(fd);
  if (!text.ok()) return text.status();
  absl::StatusOr<SecretBox> box = SecretBox::FromKeyText(*text);
  OPENSSL_cleanse(text->data(), text->size());
  if (!box.ok()) {
    return absl::Status(box.status().code(),
                        absl::StrCat("key file ", path, ": ", box.status().message()));
  }
  return box;
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write key file", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes a fresh key to a private temporary file and links it into place, so a
// concurrent reader never sees a partial key and two creators agree on one key.
absl::Status CreateKeyFile(const std::string& path) {
  absl::StatusOr<std::string> key = RandomBytes(SecretBox::kKeyBytes);
  if (!key.ok()) return key.status();
  std::string text = HexEncode(*key) + "\n";
  OPENSSL_cleanse(key->data(), key->size());

  absl::StatusOr<std::string> suffix = RandomBytes(6);
  if (!suffix.ok()) return suffix.status();
  std::string temp_path = absl::StrCat(path, ".tmp-", HexEncode(*suffix));
  int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError("cannot create key file", temp_path);
  absl::Status status = WriteAll(fd, text, temp_path);
  OPENSSL_cleanse(text.data(), text.size());
  if (status.ok() && fchmod(fd, 0600) != 0) status = ErrnoError("cannot chmod", temp_path);
  if (status.ok() && fsync(fd) != 0) status = ErrnoError("cannot fsync", temp_path);
  close(fd);
  if (status.ok() && link(temp_path.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    status = ErrnoError("cannot create key file", path);
  }
  unlink(temp_path.c_str());
  if (!status.ok()) return status;

  // Make the new directory entry durable too.
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace

SecretBox::SecretBox(std::string_view key_bytes) {
  std::memcpy(key_.data(), key_bytes.data(), kKeyBytes);
}

SecretBox::~SecretBox() { OPENSSL_cleanse(key_.data(), key_.size()); }

absl::StatusOr<SecretBox> SecretBox::FromRawKey(std::string_view key_bytes) {
  if (key_bytes.size() != kKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an AES-256 key is 32 bytes, got ", key_bytes.size()));
  }
  return SecretBox(key_bytes);
}

absl::StatusOr<SecretBox> SecretBox::FromKeyText(std::string_view key_text) {
  {
    absl::string_view trimmed =
        absl::StripAsciiWhitespace(absl::string_view(key_text.data(), key_text.size()));
    key_text = std::string_view(trimmed.data(), trimmed.size());
  }
  if (key_text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kKeyFormat, "; it is empty"));
  }
  std::optional<std::string> key;
  if (key_text.size() == 2 * kKeyBytes) key = HexDecode(key_text);
  if (!key.has_value()) {
    key = Base64Decode(key_text);
    if (key.has_value() && key->size() != kKeyBytes) {
      size_t decoded = key->size();
      OPENSSL_cleanse(key->data(), key->size());
      return absl::InvalidArgumentError(
          absl::StrCat(kKeyFormat, "; it is base64 of ", decoded, " bytes"));
    }
  }
  if (!key.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kKeyFormat, "; got ", key_text.size(), " characters that are neither"));
  }
  SecretBox box(*key);
  OPENSSL_cleanse(key->data(), key->size());
  return box;
}

absl::StatusOr<SecretBox> SecretBox::LoadOrCreateKeyFile(const std::string& path, bool* created) {
  if (created != nullptr) *created = false;
  if (access(path.c_str(), F_OK) != 0) {
    if (errno != ENOENT) return ErrnoError("cannot access key file", path);
    absl::Status status = CreateKeyFile(path);
    if (!status.ok()) return status;
    // Another process may have won the race; either way the file now holds the key.
    if (created != nullptr) *created = true;
  }
  return LoadKeyFile(path);
}

absl::StatusOr<std::string> SecretBox::Seal(std::string_view plaintext,
                                            std::string_view associated_data) const {
  if (plaintext.size() > kMaxPlaintextBytes || associated_data.size() > kMaxPlaintextBytes) {
    return absl::InvalidArgumentError("value too large to seal");
  }
  absl::StatusOr<std::string> nonce = RandomBytes(kNonceBytes);
  if (!nonce.ok()) return nonce.status();

  std::string raw = *nonce;
  raw.resize(kNonceBytes + plaintext.size() + kTagBytes);
  unsigned char* out = reinterpret_cast<unsigned char*>(raw.data()) + kNonceBytes;

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int total = 0;
  bool ok =
      ctx != nullptr &&
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), Bytes(*nonce)) == 1 &&
      (associated_data.empty() ||
       EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(associated_data),
                         static_cast<int>(associated_data.size())) == 1) &&
      EVP_EncryptUpdate(ctx.get(), out, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) == 1;
  total = len;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), out + total, &len) == 1;
  total += ok ? len : 0;
  ok = ok && static_cast<size_t>(total) == plaintext.size() &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, out + total) == 1;
  if (!ok) {
    OPENSSL_cleanse(raw.data(), raw.size());
    return absl::InternalError("AES-256-GCM encryption failed");
  }
  return std::string(kVersionPrefix) + Base64Encode(raw);
}

absl::StatusOr<std::string> SecretBox::Open(std::string_view sealed,
                                            std::string_view associated_data) const {
  if (sealed.substr(0, kVersionPrefix.size()) != kVersionPrefix) {
    return absl::InvalidArgumentError("sealed value has an unknown format version");
  }
  if (sealed.size() > 2 * kMaxPlaintextBytes) {
    return absl::InvalidArgumentError("sealed value too large");
  }
  std::optional<std::string> raw = Base64Decode(sealed.substr(kVersionPrefix.size()));
  if (!raw.has_value()) return absl::InvalidArgumentError("sealed value is not valid base64");
  if (raw->size() < kNonceBytes + kTagBytes) {
    return absl::InvalidArgumentError("sealed value is truncated");
  }
  const size_t cipher_len = raw->size() - kNonceBytes - kTagBytes;
  const unsigned char* nonce = Bytes(*raw);
  const unsigned char* cipher = nonce + kNonceBytes;
  std::string tag = raw->substr(kNonceBytes + cipher_len);

  std::string plaintext(cipher_len, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(plaintext.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce) == 1 &&
            (associated_data.empty() ||
             EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(associated_data),
                               static_cast<int>(associated_data.size())) == 1) &&
            EVP_DecryptUpdate(ctx.get(), out, &len, cipher, static_cast<int>(cipher_len)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1;
  int final_len = 0;
  // DecryptFinal verifies the tag: any tampering, wrong key or associated data fails here.
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), out + len, &final_len) == 1;
  if (!ok) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return absl::DataLossError(
        "sealed value failed authentication (wrong ENCRYPTION_KEY or the data was altered)");
  }
  return plaintext;
}

}  // namespace signal_host
