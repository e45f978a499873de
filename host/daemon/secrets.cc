#include "secrets.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "host/crypto/encoding.h"
#include "host/crypto/ids.h"

namespace signal_host::daemon {
namespace {

namespace fs = std::filesystem;

std::string RandomHex(size_t bytes) {
  absl::StatusOr<std::string> random = RandomBytes(bytes);
  if (!random.ok()) return "";
  return HexEncode(*random);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  if ((info.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, " is readable by group or others; run chmod 600 ", path));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return absl::InternalError(absl::StrCat("cannot read ", path));
  std::string value(absl::StripAsciiWhitespace(text.str()));
  if (value.empty()) return absl::FailedPreconditionError(absl::StrCat(path, " is empty"));
  return value;
}

}  // namespace

absl::Status EnsureDirectory(const std::string& dir) {
  std::error_code error;
  if (fs::is_directory(dir, error)) return absl::OkStatus();
  fs::create_directories(dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create directory ", dir, ": ", error.message()));
  }
  ::chmod(dir.c_str(), 0700);
  return absl::OkStatus();
}

absl::StatusOr<ResolvedSecret> ReadOrCreateSecretFile(const std::string& path,
                                                      const std::string& generated) {
  auto existing = ReadSecretFile(path);
  if (existing.ok()) return ResolvedSecret{*existing, ResolvedSecret::Source::kFile};
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  if (generated.empty()) return absl::InternalError("the random generator failed");

  // Write a temporary file and link it into place: a concurrent starter either wins
  // the link or reads the winner's file.
  std::string temporary = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  std::string line = generated + "\n";
  bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                 ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    ::unlink(temporary.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  int linked = ::link(temporary.c_str(), path.c_str());
  int link_errno = errno;
  ::unlink(temporary.c_str());
  if (linked != 0) {
    if (link_errno == EEXIST) {
      auto winner = ReadSecretFile(path);
      if (!winner.ok()) return winner.status();
      return ResolvedSecret{*winner, ResolvedSecret::Source::kFile};
    }
    return absl::InternalError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(link_errno)));
  }
  return ResolvedSecret{generated, ResolvedSecret::Source::kGenerated};
}

absl::StatusOr<ResolvedSecret> ResolveJwtSecret(const std::string& data_dir) {
  if (const char* env = std::getenv("JWT_SECRET"); env != nullptr && *env != '\0') {
    return ResolvedSecret{env, ResolvedSecret::Source::kEnvironment};
  }
  if (absl::Status status = EnsureDirectory(data_dir); !status.ok()) return status;
  return ReadOrCreateSecretFile((fs::path(data_dir) / "jwt_secret").string(), RandomHex(32));
}

absl::StatusOr<ResolvedSecret> ResolvePipelineKey(const std::string& configured,
                                                  const std::string& data_dir) {
  if (!configured.empty()) return ResolvedSecret{configured, ResolvedSecret::Source::kConfig};
  if (absl::Status status = EnsureDirectory(data_dir); !status.ok()) return status;
  std::string generated = RandomHex(16);
  return ReadOrCreateSecretFile((fs::path(data_dir) / "pipeline_key").string(),
                                generated.empty() ? "" : "dk_" + generated);
}

}  // namespace signal_host::daemon
