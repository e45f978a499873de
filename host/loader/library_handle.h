// dlopen and dlclose for a checked plugin file, through its descriptor.
#pragma once

#include "absl/status/statusor.h"
#include "plugin_file.h"

namespace signal_host {

// Maps `file` with dlopen("/proc/self/fd/N", RTLD_NOW | RTLD_LOCAL). This runs the
// library's static constructors. Errors name the file's real path, not /proc.
absl::StatusOr<void*> OpenLibrary(const PluginFile& file);

// dlcloses `library`, then closes `file` unless a library of its /proc name is still
// mapped. glibc finds a library that is already loaded by the name it was opened
// with: while one is mapped as "/proc/self/fd/N" (another handle holds it, or it
// cannot be unloaded), descriptor N must never name another file, so it stays open
// for the life of the process.
void CloseLibrary(void* library, PluginFile& file);

}  // namespace signal_host
