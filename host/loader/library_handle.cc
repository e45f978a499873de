#include "library_handle.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace signal_host {

absl::StatusOr<void*> OpenLibrary(const PluginFile& file) {
  const std::string descriptor_path = file.DescriptorPath();
  dlerror();
  void* library = dlopen(descriptor_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library != nullptr) return library;
  const char* error = dlerror();
  std::string message = error != nullptr ? error : "unknown";
  message = absl::StrReplaceAll(message, {{descriptor_path, file.real_path()}});
  return absl::FailedPreconditionError(
      absl::StrCat("plugin ", file.path(), ": dlopen failed: ", message));
}

void CloseLibrary(void* library, PluginFile& file) {
  if (library != nullptr) dlclose(library);
  const std::string descriptor_path = file.DescriptorPath();
  if (void* still_mapped = dlopen(descriptor_path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
      still_mapped != nullptr) {
    dlclose(still_mapped);
    file.Leak();
  }
}

}  // namespace signal_host
