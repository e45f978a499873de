#include "plugin_file.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "path_trust.h"

namespace signal_host {
namespace {

constexpr size_t kDigestChunkBytes = 1 << 20;

std::string KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

absl::Status NotRegular(const std::string& path, mode_t mode) {
  return absl::FailedPreconditionError(
      absl::StrCat("plugin ", path, ": refused: ", KindOf(mode), ", not a regular file"));
}

absl::Status CannotOpen(const std::string& path, int error) {
  return absl::NotFoundError(
      absl::StrCat("plugin ", path, ": cannot open: ", std::strerror(error)));
}

std::string ReadLink(const std::string& path) {
  char target[PATH_MAX];
  ssize_t length = readlink(path.c_str(), target, sizeof(target));
  return length < 0 ? std::string() : std::string(target, static_cast<size_t>(length));
}

// The directory a path names its file in, with links resolved: where whoever may
// write can swap the name for another file.
absl::StatusOr<std::string> RealDirectoryOf(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  if (parent.empty()) parent = ".";
  std::unique_ptr<char, decltype(&std::free)> resolved(realpath(parent.c_str(), nullptr),
                                                       &std::free);
  if (resolved == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot resolve directory ", parent, ": ", std::strerror(errno)));
  }
  return std::string(resolved.get());
}

void AddUnique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const std::string& item : from) {
    if (std::find(to.begin(), to.end(), item) == to.end()) to.push_back(item);
  }
}

}  // namespace

absl::StatusOr<PluginFile> PluginFile::Open(const std::string& path,
                                            const PluginFilePolicy& policy) {
  // A first look by name refuses devices and FIFOs without opening them (opening a
  // device can have effects of its own); the descriptor's fstat below decides.
  struct stat named {};
  if (lstat(path.c_str(), &named) != 0) return CannotOpen(path, errno);
  const bool is_link = S_ISLNK(named.st_mode);
  if (is_link && stat(path.c_str(), &named) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("plugin ", path,
                                              ": cannot open: dangling symbolic link to ",
                                              ReadLink(path), " (no such file)"));
    }
    return CannotOpen(path, errno);
  }
  if (!S_ISREG(named.st_mode)) return NotRegular(path, named.st_mode);

  PluginFile file;
  file.path_ = path;
  // The link itself lives in a checked directory; its target is checked through the
  // descriptor. Without a link, O_NOFOLLOW keeps one from being slipped in now.
  file.fd_ =
      open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (is_link ? 0 : O_NOFOLLOW));
  if (file.fd_ < 0) return CannotOpen(path, errno);
  struct stat opened {};
  if (fstat(file.fd_, &opened) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("plugin ", path, ": cannot inspect: ", std::strerror(errno)));
  }
  if (!S_ISREG(opened.st_mode)) return NotRegular(path, opened.st_mode);
  file.size_ = static_cast<uint64_t>(opened.st_size);

  file.real_path_ = ReadLink(file.DescriptorPath());
  if (file.real_path_.empty() || file.real_path_[0] != '/') {
    return absl::FailedPreconditionError(
        absl::StrCat("plugin ", path, ": cannot resolve ", file.DescriptorPath(),
                     " (plugins are loaded through /proc; is it mounted?)"));
  }

  std::vector<std::string> problems = FilePermissionProblems(file.real_path_, opened);
  std::vector<std::string> directories = {
      std::filesystem::path(file.real_path_).parent_path().string()};
  absl::StatusOr<std::string> naming_directory = RealDirectoryOf(path);
  if (!naming_directory.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("plugin ", path, ": ", naming_directory.status().message()));
  }
  if (*naming_directory != directories[0]) directories.push_back(*naming_directory);
  for (const std::string& directory : directories) {
    absl::StatusOr<std::vector<std::string>> chain = DirectoryChainProblems(directory);
    if (!chain.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("plugin ", path, ": ", chain.status().message()));
    }
    AddUnique(problems, *chain);
  }
  if (!problems.empty() && !policy.allow_insecure_permissions) {
    return absl::PermissionDeniedError(absl::StrCat(
        "plugin ", path, ": refused: someone other than root and the host's user can change it: ",
        absl::StrJoin(problems, "; ")));
  }
  file.waived_problems_ = std::move(problems);
  return file;
}

PluginFile::PluginFile(PluginFile&& other) noexcept
    : fd_(other.fd_),
      path_(std::move(other.path_)),
      real_path_(std::move(other.real_path_)),
      size_(other.size_),
      waived_problems_(std::move(other.waived_problems_)) {
  other.fd_ = -1;
}

PluginFile& PluginFile::operator=(PluginFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
    path_ = std::move(other.path_);
    real_path_ = std::move(other.real_path_);
    size_ = other.size_;
    waived_problems_ = std::move(other.waived_problems_);
  }
  return *this;
}

PluginFile::~PluginFile() {
  if (fd_ >= 0) close(fd_);
}

std::string PluginFile::DescriptorPath() const { return absl::StrCat("/proc/self/fd/", fd_); }

absl::StatusOr<std::string> PluginFile::Sha256Hex() const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  &EVP_MD_CTX_free);
  if (context == nullptr || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("cannot start a SHA-256 digest");
  }
  std::string chunk(kDigestChunkBytes, '\0');
  off_t offset = 0;
  while (true) {
    ssize_t n = pread(fd_, chunk.data(), chunk.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("plugin ", path_, ": cannot read: ", std::strerror(errno)));
    }
    if (n == 0) break;
    EVP_DigestUpdate(context.get(), chunk.data(), static_cast<size_t>(n));
    offset += n;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context.get(), digest, &length) != 1) {
    return absl::InternalError("cannot finish a SHA-256 digest");
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace signal_host
