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

absl::StatusOr<std::unique_ptr<LoadedPlugin>> LoadWithKey(const std::string& path,
                                                          const std::string& key,
                                                          const PluginOptionList& options,
                                                          const std::string& runtime_dir,
                                                          const std::string& host_agent) {
  LoadOptions load_options;
  load_options.host_agent = host_agent;
  if (!runtime_dir.empty() && !key.empty()) {
    load_options.unix_socket_path = (std::filesystem::path(runtime_dir) / (key + ".sock")).string();
  }
  return LoadPlugin(path, options, load_options);
}

}  // namespace

std::string GuessCatalogKey(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  if (absl::EndsWith(name, ".so")) name.resize(name.size() - 3);
  if (absl::StartsWith(name, "lib")) name.erase(0, 3);
  if (absl::StartsWith(name, "signal_")) name.erase(0, 7);
  return name;
}

absl::Status PluginRegistry::LoadFile(const std::string& path,
                                      const std::map<std::string, PluginOptionList>& options_by_key,
                                      const std::string& runtime_dir,
                                      const std::string& host_agent) {
  // The options and the socket depend on the catalog key, which is known only after
  // loading; load with the key the file name suggests, and reload in the rare case
  // that the plugin turns out to serve another key.
  std::string guess = GuessCatalogKey(path);
  if (plugins_.count(guess) > 0) {
    // Do not let a second file take over a loaded plugin's socket.
    guess.clear();
  }
  auto loaded =
      LoadWithKey(path, guess, OptionsFor(options_by_key, guess), runtime_dir, host_agent);
  if (!loaded.ok()) return loaded.status();
  std::string key = (*loaded)->catalog_key();
  if (plugins_.count(key) > 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        path, ": catalog key \"", key, "\" is already served by ", plugins_[key]->loaded->path()));
  }
  if (key != guess) {
    loaded->reset();
    loaded = LoadWithKey(path, key, OptionsFor(options_by_key, key), runtime_dir, host_agent);
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
  plugins_.emplace(key, std::move(plugin));
  return absl::OkStatus();
}

std::vector<PluginLoadFailure> PluginRegistry::LoadDirectory(
    const std::string& plugin_dir, const std::map<std::string, PluginOptionList>& options_by_key,
    const std::string& runtime_dir, const std::string& host_agent) {
  std::vector<PluginLoadFailure> failures;
  std::error_code error;
  std::vector<std::string> paths;
  for (const auto& item : std::filesystem::directory_iterator(plugin_dir, error)) {
    if (item.path().extension() == ".so" && !item.is_directory()) {
      paths.push_back(item.path().string());
    }
  }
  if (error) {
    failures.push_back(
        {plugin_dir, absl::StrCat("cannot read the plugin directory: ", error.message())});
    return failures;
  }
  std::sort(paths.begin(), paths.end());
  for (const std::string& path : paths) {
    absl::Status status = LoadFile(path, options_by_key, runtime_dir, host_agent);
    if (!status.ok()) failures.push_back({path, std::string(status.message())});
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
