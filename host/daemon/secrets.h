// The daemon's own secrets: the JWT signing key and the default pipeline key. Each is
// taken from the environment or the config when given, else read from (or generated
// into) a 0600 file in the data directory, so restarts keep working tokens and keys.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace signal_host::daemon {

struct ResolvedSecret {
  std::string value;
  enum class Source { kEnvironment, kConfig, kFile, kGenerated } source;
};

// JWT_SECRET, else <data dir>/jwt_secret (created with 32 random bytes, hex).
absl::StatusOr<ResolvedSecret> ResolveJwtSecret(const std::string& data_dir);

// `configured` when non-empty, else <data dir>/pipeline_key (created as "dk_" + 32 hex).
absl::StatusOr<ResolvedSecret> ResolvePipelineKey(const std::string& configured,
                                                  const std::string& data_dir);

// Creates `dir` and its parents (the last one with mode 0700) when missing.
absl::Status EnsureDirectory(const std::string& dir);

// Reads a secret file (trimmed), or creates it atomically with `generated` when it
// does not exist. A file readable by group or others is refused.
absl::StatusOr<ResolvedSecret> ReadOrCreateSecretFile(const std::string& path,
                                                      const std::string& generated);

}  // namespace signal_host::daemon
