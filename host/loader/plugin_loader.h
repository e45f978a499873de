// Loading an integration plugin (.so) and serving its gRPC service.
//
// The loader first opens the file and checks who controls it (plugin_file.h): only a
// regular file that no one but root and the host's user can change is loaded, and it
// is mapped through its open descriptor so the checked file is the loaded one. It then
// opens the library, checks its C ABI descriptor against this build
// (ABI version, interface name, protobuf and gRPC versions), asks the plugin's
// factory for its grpc::Service and serves it on an in-process channel and, when
// asked, on a unix socket. After that the caller talks to the plugin only through
// gRPC. A broken plugin is refused with a message naming the problem; nothing the
// plugin does at load time can take the loading process down short of a crash in
// its own code.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/server.h"
#include "plugin_file.h"
#include "signal/integration/v1/integration.grpc.pb.h"
#include "signal_plugin_abi.h"

namespace signal_host {

struct LoadOptions {
  // When non-empty, the service is also served on this unix socket (mode 0600). A
  // stale socket left at the path is removed first; any other kind of file there is
  // an error.
  std::string unix_socket_path;
  // Largest message accepted or sent, on the server and on the in-process channel.
  int max_message_bytes = 64 * 1024 * 1024;
  // Sent in the Handshake, for the plugin's logs.
  std::string host_agent = "signal-plugin-loader";
  // How long the post-start Handshake may take.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Load a file that someone other than root and the host's user could change anyway
  // (PluginFilePolicy); the problems are then in the PluginFile given to before_dlopen.
  bool allow_insecure_permissions = false;
  // Called with the checked file just before dlopen runs its static constructors: the
  // last moment to name it in a log should it take the process down.
  std::function<void(const PluginFile&)> before_dlopen;
};

// A plugin that passed every check and is being served. Destroying it shuts the
// server down, releases the service with the plugin's destroy_service and closes
// the library, in that order.
class LoadedPlugin {
 public:
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const std::string& path() const { return path_; }
  // The file that was loaded, links resolved.
  const std::string& real_path() const { return file_->real_path(); }
  // Facts from the descriptor.
  const std::string& catalog_key() const { return catalog_key_; }
  const std::string& plugin_version() const { return plugin_version_; }
  const std::string& protobuf_version() const { return protobuf_version_; }
  const std::string& grpc_version() const { return grpc_version_; }
  // The human name the plugin gave in its Handshake.
  const std::string& plugin_name() const { return plugin_name_; }

  // A stub over the in-process channel.
  signal::integration::v1::Integration::Stub* stub() const { return stub_.get(); }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // The unix socket the service listens on; empty when none was asked for.
  const std::string& socket_path() const { return socket_path_; }

 private:
  friend absl::StatusOr<std::unique_ptr<LoadedPlugin>> LoadPlugin(
      const std::string& path, const std::vector<std::pair<std::string, std::string>>& options,
      const LoadOptions& load_options);

  LoadedPlugin() = default;

  std::string path_;
  std::string catalog_key_;
  std::string plugin_version_;
  std::string protobuf_version_;
  std::string grpc_version_;
  std::string plugin_name_;
  std::string socket_path_;

  // Teardown order is spelled out in the destructor; these are released there.
  // Open from before dlopen until after dlclose (see CloseLibrary).
  std::optional<PluginFile> file_;
  void* library_ = nullptr;
  void (*destroy_service_)(void*) = nullptr;
  void* service_ = nullptr;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<signal::integration::v1::Integration::Stub> stub_;
};

// Loads the plugin at `path`, passing `options` to its factory, and serves it.
// Errors are INVALID_ARGUMENT / FAILED_PRECONDITION / NOT_FOUND / PERMISSION_DENIED /
// INTERNAL with a message that starts with "plugin <path>" and names the problem.
absl::StatusOr<std::unique_ptr<LoadedPlugin>> LoadPlugin(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& options,
    const LoadOptions& load_options = {});

// This build's versions, as a plugin's descriptor must state them.
std::string HostProtobufVersion();
std::string HostGrpcVersion();

}  // namespace signal_host
