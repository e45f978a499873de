// The plugins signal-delivery-host has loaded, and the catalog they describe.
//
// Loading is forgiving: a plugin that fails any check is reported with the reason
// and skipped; the host carries on with the others. Each loaded plugin is served
// in-process and on <runtime dir>/<catalog key>.sock. Every step is logged as it
// happens, and "loading plugin <path> (sha256 ..., N bytes)" reaches the log before
// the plugin's code first runs: if it crashes the process, the last line names it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugin_loader.h"
#include "signal/integration/v1/integration.grpc.pb.h"

namespace signal_host::daemon {

using PluginOptionList = std::vector<std::pair<std::string, std::string>>;

struct RegisteredPlugin {
  std::unique_ptr<LoadedPlugin> loaded;
  signal::integration::v1::CatalogEntry entry;

  const std::string& key() const { return entry.key(); }
  signal::integration::v1::Integration::Stub* stub() const { return loaded->stub(); }
};

// How plugins are loaded, and where the registry reports.
struct PluginLoadSettings {
  // Plugin options per catalog key.
  std::map<std::string, PluginOptionList> options_by_key;
  // Each plugin also serves on <runtime_dir>/<key>.sock; empty: no socket.
  std::string runtime_dir;
  std::string host_agent;
  // plugins.allow_insecure_permissions: load a file that someone other than root and
  // the host's user could change anyway, with a warning naming each problem.
  bool allow_insecure_permissions = false;
  // Log lines, written in the order things happen.
  std::function<void(std::string_view)> log_info = [](std::string_view) {};
  std::function<void(std::string_view)> log_warn = [](std::string_view) {};
  std::function<void(std::string_view)> log_error = [](std::string_view) {};
};

struct PluginLoadFailure {
  std::string path;
  std::string reason;
};

class PluginRegistry {
 public:
  PluginRegistry() = default;
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads every entry named *.so in `plugin_dir`, sorted by name; what is not a
  // loadable plugin (a directory, a FIFO, a file others can change...) is refused
  // and logged. Failures are logged and returned, not fatal; a missing directory is
  // one failure.
  std::vector<PluginLoadFailure> LoadDirectory(const std::string& plugin_dir,
                                               const PluginLoadSettings& settings);

  // Loads one plugin file; the catalog key must not be loaded already. Logs the
  // loading and the success; the caller reports a failure.
  absl::Status LoadFile(const std::string& path, const PluginLoadSettings& settings);

  // nullptr when no plugin serves `key`.
  const RegisteredPlugin* Find(std::string_view key) const;
  // Every plugin, ordered by catalog key.
  std::vector<const RegisteredPlugin*> All() const;
  size_t size() const { return plugins_.size(); }

  // Unloads every plugin (servers shut down, libraries closed).
  void Clear() { plugins_.clear(); }

 private:
  std::map<std::string, std::unique_ptr<RegisteredPlugin>, std::less<>> plugins_;
};

// The catalog key a plugin file most likely serves, from its name:
// "libsignal_hightouch.so" -> "hightouch". Used to pick options before loading.
std::string GuessCatalogKey(const std::string& path);

}  // namespace signal_host::daemon
