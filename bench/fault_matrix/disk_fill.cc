#include "disk_fill.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace fault_matrix {
namespace {

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", std::strerror(errno)));
}

}  // namespace

absl::Status EnterPrivateMountNamespace() {
  if (unshare(CLONE_NEWNS) != 0) return Errno("unshare(CLONE_NEWNS) (needs root)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Errno("making / private in the new mount namespace");
  }
  return absl::OkStatus();
}

absl::Status MountTmpfs(const std::string& dir, uint64_t size_bytes) {
  const std::string options = absl::StrCat("size=", size_bytes, ",mode=0700");
  if (mount("fault_matrix_tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) !=
      0) {
    return Errno(absl::StrCat("mount -t tmpfs -o ", options, " on ", dir));
  }
  return absl::OkStatus();
}

void UnmountTmpfs(const std::string& dir) { umount2(dir.c_str(), MNT_DETACH); }

absl::StatusOr<uint64_t> FillFilesystem(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(absl::StrCat("creating ", path));
  uint64_t written = 0;
  // Most of it at once, then writes of shrinking size take the last blocks (the host
  // keeps writing meanwhile).
  struct statvfs fs {};
  if (fstatvfs(fd, &fs) == 0) {
    const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes > 0 && posix_fallocate(fd, 0, static_cast<off_t>(free_bytes)) == 0) {
      written = free_bytes;
      lseek(fd, static_cast<off_t>(written), SEEK_SET);
    }
  }
  const std::vector<char> zeros(1 << 20, 0);
  for (size_t chunk = zeros.size(); chunk > 0;) {
    const ssize_t n = write(fd, zeros.data(), chunk);
    if (n > 0) {
      written += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != ENOSPC) {
      const absl::Status status = Errno(absl::StrCat("filling ", path));
      close(fd);
      return status;
    }
    chunk /= 2;
  }
  close(fd);
  return written;
}

}  // namespace fault_matrix
