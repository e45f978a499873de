// The plugins signal-delivery-host has loaded, and the catalog they describe.
//
// Loading is forgiving: a plugin that fails any check is reported with the reason
// and skipped; the host carries on with the others. Each loaded plugin is served
// in-process and on <runtime dir>/<catalog key>.sock.
#pragma once

#include <map>
#include <memory>
#include <string>
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

struct PluginLoadFailure {
  std::string path;
  std::string reason;
};

class PluginRegistry {
 public:
  PluginRegistry() = default;
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads every *.so in `plugin_dir` (sorted by file name). `options_by_key` holds
  // the plugin options per catalog key. Failures are returned, not fatal; a missing
  // directory is one failure.
  std::vector<PluginLoadFailure> LoadDirectory(
      const std::string& plugin_dir, const std::map<std::string, PluginOptionList>& options_by_key,
      const std::string& runtime_dir, const std::string& host_agent);

  // Loads one plugin file; the catalog key must not be loaded already.
  absl::Status LoadFile(const std::string& path,
                        const std::map<std::string, PluginOptionList>& options_by_key,
                        const std::string& runtime_dir, const std::string& host_agent);

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
