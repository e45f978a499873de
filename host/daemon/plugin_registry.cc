#include "plugin_registry.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"

namespace signal_host::daemon {
namespace {

namespace v1 = signal::integration::v1;

constexpr auto kDescribeTimeout = std::chrono::seconds(10);

const PluginOptionList& OptionsFor(const std::map<std::string, PluginOptionList>& options_by_key,
                                   const std::string& key) {
  static const PluginOptionList kNone;
  auto it = options_by_key.find(key);
  return it == options_by_key.end() ? kNone : it->second;
}

// Logs what is about to be loaded; runs right before the plugin's code does.
void LogLoading(const PluginFile& file, const PluginLoadSettings& settings) {
  for (const std::string& problem : file.waived_problems()) {
    settings.log_warn(absl::StrCat("loading plugin ", file.path(), " although ", problem,
                                   ", because plugins.allow_insecure_permissions is set"));
  }
  absl::StatusOr<std::string> digest = file.Sha256Hex();
  settings.log_info(absl::StrCat(
      "loading plugin ", file.path(), " (",
      file.real_path() == file.path() ? "" : absl::StrCat("link to ", file.real_path(), ", "),
      "sha256 ", digest.ok() ? *digest : std::string(digest.status().message()), ", size ",
      file.size(), " bytes)"));
}

absl::StatusOr<std::unique_ptr<LoadedPlugin>> LoadWithKey(const std::string& path,
                                                          const std::string& key,
                                                          const PluginLoadSettings& settings) {
  LoadOptions load_options;
  load_options.host_agent = settings.host_agent;
  load_options.allow_insecure_permissions = settings.allow_insecure_permissions;
  load_options.before_dlopen = [&settings](const PluginFile& file) { LogLoading(file, settings); };
  if (!settings.runtime_dir.empty() && !key.empty()) {
    load_options.unix_socket_path =
        (std::filesystem::path(settings.runtime_dir) / (key + ".sock")).string();
  }
  auto loaded = LoadPlugin(path, OptionsFor(settings.options_by_key, key), load_options);
  if (!loaded.ok() && loaded.status().code() == absl::StatusCode::kPermissionDenied) {
    return absl::PermissionDeniedError(
        absl::StrCat(loaded.status().message(),
                     ". Fix the owner or mode (chmod go-w), or set "
                     "plugins.allow_insecure_permissions: true (or "
                     "SIGNAL_ALLOW_INSECURE_PLUGINS=true) to load it anyway"));
  }
  return loaded;
}

}  // namespace

std::string GuessCatalogKey(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  if (absl::EndsWith(name, ".so")) name.resize(name.size() - 3);
  if (absl::StartsWith(name, "lib")) name.erase(0, 3);
  if (absl::StartsWith(name, "signal_")) name.erase(0, 7);
  return name;
}

absl::Status PluginRegistry::LoadFile(const std::string& path, const PluginLoadSettings& settings) {
  // The options and the socket depend on the catalog key, which is known only after
  // loading; load with the key the file name suggests, and reload in the rare case
  // that the plugin turns out to serve another key.
  std::string guess = GuessCatalogKey(path);
  if (plugins_.count(guess) > 0) {
    // Do not let a second file take over a loaded plugin's socket.
    guess.clear();
  }
  auto loaded = LoadWithKey(path, guess, settings);
  if (!loaded.ok()) return loaded.status();
  std::string key = (*loaded)->catalog_key();
  if (plugins_.count(key) > 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        path, ": catalog key \"", key, "\" is already served by ", plugins_[key]->loaded->path()));
  }
  if (key != guess) {
    loaded->reset();
    loaded = LoadWithKey(path, key, settings);
    if (!loaded.ok()) return loaded.status();
  }

  auto plugin = std::make_unique<RegisteredPlugin>();
  plugin->loaded = std::move(*loaded);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDescribeTimeout);
  v1::DescribeResponse described;
  grpc::Status status = plugin->stub()->Describe(&context, v1::DescribeRequest(), &described);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat(path, ": Describe failed: ", status.error_message()));
  }
  if (described.entry().key() != key) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": Describe returned catalog key \"",
                                                      described.entry().key(),
                                                      "\" but the plugin serves \"", key, "\""));
  }
  plugin->entry = std::move(*described.mutable_entry());
  settings.log_info(absl::StrCat(
      "plugin loaded: ", key, " ", plugin->loaded->plugin_version(), " from ", path, ", gRPC on ",
      plugin->loaded->socket_path().empty() ? std::string("the in-process channel only")
                                            : plugin->loaded->socket_path()));
  plugins_.emplace(key, std::move(plugin));
  return absl::OkStatus();
}

std::vector<PluginLoadFailure> PluginRegistry::LoadDirectory(const std::string& plugin_dir,
                                                             const PluginLoadSettings& settings) {
  std::vector<PluginLoadFailure> failures;
  auto fail = [&](const std::string& path, std::string reason) {
    settings.log_error(absl::StrCat("skipped a plugin that failed to load: ", reason));
    failures.push_back({path, std::move(reason)});
  };
  std::error_code error;
  std::vector<std::string> paths;
  // Every entry named *.so, whatever its type: a directory or FIFO named so is
  // refused with a reason rather than passed over in silence.
  for (const auto& item : std::filesystem::directory_iterator(plugin_dir, error)) {
    if (item.path().extension() == ".so") paths.push_back(item.path().string());
  }
  if (error) {
    fail(plugin_dir,
         absl::StrCat("cannot read the plugin directory ", plugin_dir, ": ", error.message()));
    return failures;
  }
  std::sort(paths.begin(), paths.end());
  for (const std::string& path : paths) {
    absl::Status status = LoadFile(path, settings);
    if (!status.ok()) fail(path, std::string(status.message()));
  }
  return failures;
}

const RegisteredPlugin* PluginRegistry::Find(std::string_view key) const {
  auto it = plugins_.find(key);
  return it == plugins_.end() ? nullptr : it->second.get();
}

std::vector<const RegisteredPlugin*> PluginRegistry::All() const {
  std::vector<const RegisteredPlugin*> all;
  all.reserve(plugins_.size());
  for (const auto& [key, plugin] : plugins_) all.push_back(plugin.get());
  return all;
}

}  // namespace signal_host::daemon
