// The disk-full fault: a small tmpfs under the host's data directory, and a filler file
// that takes every free byte of it until it is deleted.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fault_matrix {

// Moves this process into its own mount namespace with private propagation, so the
// mounts it makes are seen only by it and its children and vanish with them, even if it
// is killed. Call before any thread starts. Needs root (CAP_SYS_ADMIN).
absl::Status EnterPrivateMountNamespace();

absl::Status MountTmpfs(const std::string& dir, uint64_t size_bytes);
// Detaches the mount (lazily, so open files of a dead child do not keep it busy).
void UnmountTmpfs(const std::string& dir);

// Writes `path` until its filesystem has no free byte left; returns the bytes written.
absl::StatusOr<uint64_t> FillFilesystem(const std::string& path);

}  // namespace fault_matrix
