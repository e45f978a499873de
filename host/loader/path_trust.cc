#include "path_trust.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace signal_host {
namespace {

std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// "group", "others" or "group and others"; empty when neither may write.
std::string WhoElseMayWrite(mode_t mode) {
  const bool group = (mode & S_IWGRP) != 0;
  const bool others = (mode & S_IWOTH) != 0;
  if (group && others) return "group and others";
  if (group) return "group";
  if (others) return "others";
  return "";
}

std::string OwnerProblem(const std::string& path, uid_t uid) {
  const uid_t self = geteuid();
  return absl::StrCat(path, " is owned by uid ", uid, ", not by root",
                      self == 0 ? "" : absl::StrCat(" or uid ", self),
                      " (the user the host runs as)");
}

// Adds the problems of one directory on the chain.
void CheckDirectory(const std::string& path, const struct stat& info, bool is_target,
                    std::vector<std::string>& problems) {
  if (!IsTrustedOwner(info.st_uid)) problems.push_back(OwnerProblem(path, info.st_uid));
  const std::string writers = WhoElseMayWrite(info.st_mode);
  if (writers.empty()) return;
  if (!is_target && (info.st_mode & S_ISVTX) != 0) return;
  problems.push_back(absl::StrCat("directory ", path, " is writable by ", writers, " (mode ",
                                  OctalMode(info.st_mode), ")"));
}

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  void Reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool IsTrustedOwner(uid_t uid) { return uid == 0 || uid == geteuid(); }

std::vector<std::string> FilePermissionProblems(const std::string& path, const struct stat& info) {
  std::vector<std::string> problems;
  if (!IsTrustedOwner(info.st_uid)) problems.push_back(OwnerProblem(path, info.st_uid));
  if (std::string writers = WhoElseMayWrite(info.st_mode); !writers.empty()) {
    problems.push_back(
        absl::StrCat(path, " is writable by ", writers, " (mode ", OctalMode(info.st_mode), ")"));
  }
  return problems;
}

absl::StatusOr<std::vector<std::string>> DirectoryChainProblems(const std::string& real_dir) {
  if (real_dir.empty() || real_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("not an absolute path: ", real_dir));
  }
  std::vector<std::string> problems;
  std::vector<std::string> names = absl::StrSplit(real_dir, '/', absl::SkipEmpty());
  // O_PATH descriptors, each opened relative to its parent: the walk sees one
  // consistent chain even if a name is replaced by a link meanwhile (O_NOFOLLOW).
  ScopedFd current(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (current.get() < 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open /: ", std::strerror(errno)));
  }
  std::string path = "/";
  for (size_t i = 0;; ++i) {
    struct stat info {};
    if (fstat(current.get(), &info) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot inspect directory ", path, ": ", std::strerror(errno)));
    }
    CheckDirectory(path, info, /*is_target=*/i == names.size(), problems);
    if (i == names.size()) break;
    path = absl::StrCat(path == "/" ? "" : path, "/", names[i]);
    const int next =
        openat(current.get(), names[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open directory ", path, ": ", std::strerror(errno)));
    }
    current.Reset(next);
  }
  return problems;
}

}  // namespace signal_host
