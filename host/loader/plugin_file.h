// A plugin file opened for loading and checked through its descriptor.
//
// The checks run on the open descriptor (fstat), and the library is later mapped
// through /proc/self/fd/N, so the file that was checked is the file that is loaded:
// renaming another file into place after the check changes nothing. Opening never
// blocks (O_NONBLOCK), so a FIFO named *.so is refused at once instead of hanging.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace signal_host {

struct PluginFilePolicy {
  // Load a file even if it, or a directory on its path, can be changed by someone
  // other than root and the host's user; each such problem is then reported in
  // waived_problems() instead. File types are never waived: only a regular file (or
  // a link to one) can be loaded at all.
  bool allow_insecure_permissions = false;
};

class PluginFile {
 public:
  // Opens `path` (following a symbolic link) and checks what was opened: a regular
  // file, not writable by group or others, owned by root or the host's user, in a
  // directory that passes DirectoryChainProblems (both the directory that names the
  // file and the one that holds it, when a link leads elsewhere). Errors name the
  // path: NOT_FOUND (missing, dangling link), FAILED_PRECONDITION (not a regular
  // file, cannot be inspected) or PERMISSION_DENIED (the problems, not waived).
  static absl::StatusOr<PluginFile> Open(const std::string& path, const PluginFilePolicy& policy);

  PluginFile(PluginFile&& other) noexcept;
  PluginFile& operator=(PluginFile&& other) noexcept;
  PluginFile(const PluginFile&) = delete;
  PluginFile& operator=(const PluginFile&) = delete;
  ~PluginFile();

  // The path as given, and the file it led to (links resolved).
  const std::string& path() const { return path_; }
  const std::string& real_path() const { return real_path_; }
  uint64_t size() const { return size_; }
  // Permission problems the policy let through; each deserves a warning.
  const std::vector<std::string>& waived_problems() const { return waived_problems_; }

  // "/proc/self/fd/N": opening it opens this very file, whatever its name says now.
  std::string DescriptorPath() const;
  // The content's SHA-256 in hex, read through the descriptor.
  absl::StatusOr<std::string> Sha256Hex() const;

  // Gives up the descriptor without closing it (see CloseLibrary in
  // library_handle.h for why one may have to stay open).
  void Leak() { fd_ = -1; }

 private:
  PluginFile() = default;

  int fd_ = -1;
  std::string path_;
  std::string real_path_;
  uint64_t size_ = 0;
  std::vector<std::string> waived_problems_;
};

}  // namespace signal_host
