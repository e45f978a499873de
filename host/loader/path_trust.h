// Who controls a plugin file and the directories it lives in.
//
// A plugin runs inside the host with every secret the host holds, so whoever can
// change the file, or rename entries in a directory on its path, can run code as the
// host. These checks read owners and modes from stat, never access(): the host may run
// as root, and access() lets root through everything.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace signal_host {

// Root, or the user the process runs as (its effective uid).
bool IsTrustedOwner(uid_t uid);

// What is wrong with letting `path` (described by `info`) be changed: writable by
// group or others, or owned by someone untrusted. Empty when nothing is.
std::vector<std::string> FilePermissionProblems(const std::string& path, const struct stat& info);

// The same for the directory `real_dir` (absolute, symbolic links resolved) and every
// directory above it, walked from "/" without following links. `real_dir` itself must
// not be writable by group or others at all. A directory above it may be if it has
// the sticky bit (as /tmp does): then nobody else can rename or remove the entry the
// walk goes through, whose owner is checked in turn. Errors only when a directory
// cannot be looked at.
absl::StatusOr<std::vector<std::string>> DirectoryChainProblems(const std::string& real_dir);

}  // namespace signal_host
