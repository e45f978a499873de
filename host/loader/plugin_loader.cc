#include "plugin_loader.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/common.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "library_handle.h"

namespace signal_host {
namespace {

namespace v1 = signal::integration::v1;

constexpr size_t kFactoryErrorCapacity = 2048;
constexpr auto kShutdownGrace = std::chrono::seconds(5);

absl::Status Refuse(const std::string& path, absl::string_view problem) {
  return absl::FailedPreconditionError(absl::StrCat("plugin ", path, ": ", problem));
}

// A descriptor string that must be present and non-empty.
absl::Status RequireField(const std::string& path, const char* value, absl::string_view field) {
  if (value == nullptr) return Refuse(path, absl::StrCat("descriptor field ", field, " is null"));
  if (value[0] == '\0') {
    return Refuse(path, absl::StrCat("descriptor field ", field, " is empty"));
  }
  return absl::OkStatus();
}

// Removes a socket file that no server is listening on. A socket that accepts a
// connection belongs to a live process and is left alone; so is anything that is
// not a socket.
absl::Status ClearStaleSocket(const std::string& socket_path) {
  sockaddr_un address{};
  if (socket_path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path is too long (", socket_path.size(), " bytes, at most ",
                     sizeof(address.sun_path) - 1, "): ", socket_path));
  }
  struct stat info {};
  if (lstat(socket_path.c_str(), &info) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot inspect ", socket_path, ": ", std::strerror(errno)));
  }
  if (!S_ISSOCK(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(socket_path, " exists and is not a socket; refusing to replace it"));
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) {
    return absl::InternalError(absl::StrCat("socket(): ", std::strerror(errno)));
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  const bool live = connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(probe);
  if (live) {
    return absl::FailedPreconditionError(
        absl::StrCat(socket_path, " is in use by a running server"));
  }
  if (unlink(socket_path.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot remove stale socket ", socket_path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Holds one gRPC library reference for the rest of the process. Without it, the
// server of the last loaded plugin is also the last gRPC user, and destroying it
// runs grpc_shutdown(), which can wait out an executor's 10 s poll before returning
// (seen after a socket client's call was refused). It also spares every load and
// unload a full gRPC start-up and tear-down.
void KeepGrpcInitialized() {
  static const bool initialized = [] {
    grpc_init();
    return true;
  }();
  (void)initialized;
}

}  // namespace

std::string HostProtobufVersion() { return std::to_string(GOOGLE_PROTOBUF_VERSION); }

std::string HostGrpcVersion() { return grpc::Version(); }

LoadedPlugin::~LoadedPlugin() {
  // Callers first, then the server (no call may still be running in the plugin's
  // code), then the service object, and only then the code that implements it.
  stub_.reset();
  channel_.reset();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    server_->Wait();
    server_.reset();
  }
  if (service_ != nullptr && destroy_service_ != nullptr) {
    try {
      destroy_service_(service_);
    } catch (...) {
      // The ABI forbids this; there is nobody left to tell, and unloading must go on.
    }
  }
  service_ = nullptr;
  if (!socket_path_.empty()) unlink(socket_path_.c_str());
  if (file_.has_value()) CloseLibrary(library_, *file_);
}

absl::StatusOr<std::unique_ptr<LoadedPlugin>> LoadPlugin(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& options,
    const LoadOptions& load_options) {
  // Built up step by step; on any early return its destructor undoes what was done.
  std::unique_ptr<LoadedPlugin> plugin(new LoadedPlugin());
  plugin->path_ = path;

  absl::StatusOr<PluginFile> file = PluginFile::Open(
      path, {.allow_insecure_permissions = load_options.allow_insecure_permissions});
  if (!file.ok()) return file.status();
  plugin->file_.emplace(std::move(*file));
  if (load_options.before_dlopen) load_options.before_dlopen(*plugin->file_);
  absl::StatusOr<void*> library = OpenLibrary(*plugin->file_);
  if (!library.ok()) return library.status();
  plugin->library_ = *library;

  dlerror();
  void* symbol = dlsym(plugin->library_, SIGNAL_PLUGIN_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    return Refuse(path, absl::StrCat("missing entry symbol ", SIGNAL_PLUGIN_ENTRY_SYMBOL,
                                     "; is this a Signal integration plugin?"));
  }
  auto entry = reinterpret_cast<signal_plugin_entry_fn>(symbol);

  const signal_plugin_descriptor* descriptor = nullptr;
  try {
    descriptor = entry();
  } catch (const std::exception& e) {
    return Refuse(path, absl::StrCat("entry point threw: ", e.what()));
  } catch (...) {
    return Refuse(path, "entry point threw an unknown exception");
  }
  if (descriptor == nullptr) return Refuse(path, "entry point returned a null descriptor");

  if (descriptor->abi_version != SIGNAL_PLUGIN_ABI_VERSION) {
    return Refuse(path, absl::StrCat("ABI version mismatch: plugin has ", descriptor->abi_version,
                                     ", host expects ", SIGNAL_PLUGIN_ABI_VERSION));
  }
  if (absl::Status s = RequireField(path, descriptor->interface_name, "interface_name"); !s.ok()) {
    return s;
  }
  if (absl::string_view(descriptor->interface_name) != SIGNAL_PLUGIN_INTERFACE_NAME) {
    return Refuse(path,
                  absl::StrCat("wrong interface: plugin implements '", descriptor->interface_name,
                               "', host expects '", SIGNAL_PLUGIN_INTERFACE_NAME, "'"));
  }
  for (const auto& [value, field] : {std::pair{descriptor->catalog_key, "catalog_key"},
                                     std::pair{descriptor->plugin_version, "plugin_version"},
                                     std::pair{descriptor->protobuf_version, "protobuf_version"},
                                     std::pair{descriptor->grpc_version, "grpc_version"}}) {
    if (absl::Status s = RequireField(path, value, field); !s.ok()) return s;
  }
  const std::string host_protobuf = HostProtobufVersion();
  if (descriptor->protobuf_version != host_protobuf) {
    return Refuse(path, absl::StrCat("protobuf version mismatch: plugin built with ",
                                     descriptor->protobuf_version, ", host has ", host_protobuf));
  }
  const std::string host_grpc = HostGrpcVersion();
  if (descriptor->grpc_version != host_grpc) {
    return Refuse(path, absl::StrCat("gRPC version mismatch: plugin built with ",
                                     descriptor->grpc_version, ", host has ", host_grpc));
  }
  if (descriptor->create_service == nullptr) {
    return Refuse(path, "descriptor field create_service is null");
  }
  if (descriptor->destroy_service == nullptr) {
    return Refuse(path, "descriptor field destroy_service is null");
  }
  plugin->catalog_key_ = descriptor->catalog_key;
  plugin->plugin_version_ = descriptor->plugin_version;
  plugin->protobuf_version_ = descriptor->protobuf_version;
  plugin->grpc_version_ = descriptor->grpc_version;
  plugin->destroy_service_ = descriptor->destroy_service;

  // The options live in `options` for the whole call; the plugin copies them.
  std::vector<signal_plugin_option> c_options;
  c_options.reserve(options.size());
  for (const auto& [key, value] : options) c_options.push_back({key.c_str(), value.c_str()});
  std::string error(kFactoryErrorCapacity, '\0');
  try {
    plugin->service_ =
        descriptor->create_service(c_options.data(), c_options.size(), error.data(), error.size());
  } catch (const std::exception& e) {
    return Refuse(path, absl::StrCat("create_service threw an exception: ", e.what()));
  } catch (...) {
    return Refuse(path, "create_service threw an unknown exception");
  }
  if (plugin->service_ == nullptr) {
    error.back() = '\0';
    std::string message(error.c_str());
    if (message.empty()) message = "(no message)";
    return absl::InvalidArgumentError(
        absl::StrCat("plugin ", path, ": create_service failed: ", message));
  }

  KeepGrpcInitialized();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(load_options.max_message_bytes);
  builder.SetMaxSendMessageSize(load_options.max_message_bytes);
  builder.RegisterService(static_cast<grpc::Service*>(plugin->service_));
  if (!load_options.unix_socket_path.empty()) {
    if (absl::Status s = ClearStaleSocket(load_options.unix_socket_path); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("plugin ", path, ": ", s.message()));
    }
    builder.AddListeningPort("unix:" + load_options.unix_socket_path,
                             grpc::InsecureServerCredentials());
  }
  plugin->server_ = builder.BuildAndStart();
  if (plugin->server_ == nullptr) {
    return Refuse(path, load_options.unix_socket_path.empty()
                            ? std::string("could not start the gRPC server")
                            : absl::StrCat("could not start the gRPC server on unix:",
                                           load_options.unix_socket_path));
  }
  if (!load_options.unix_socket_path.empty()) {
    plugin->socket_path_ = load_options.unix_socket_path;
    // Whoever reaches the socket can drive the plugin: keep it to this user.
    chmod(plugin->socket_path_.c_str(), S_IRUSR | S_IWUSR);
  }
  if (auto* health = plugin->server_->GetHealthCheckService(); health != nullptr) {
    health->SetServingStatus("", true);
    health->SetServingStatus(SIGNAL_PLUGIN_INTERFACE_NAME, true);
  }

  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(load_options.max_message_bytes);
  channel_args.SetMaxSendMessageSize(load_options.max_message_bytes);
  plugin->channel_ = plugin->server_->InProcessChannel(channel_args);
  plugin->stub_ = v1::Integration::NewStub(plugin->channel_);

  v1::HandshakeRequest hello;
  hello.set_host_interface_version(v1::INTERFACE_VERSION_CURRENT);
  hello.set_host_agent(load_options.host_agent);
  v1::HandshakeResponse reply;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + load_options.handshake_timeout));
  grpc::Status status = plugin->stub_->Handshake(&context, hello, &reply);
  if (!status.ok()) {
    return Refuse(path, absl::StrCat("Handshake failed (", static_cast<int>(status.error_code()),
                                     "): ", status.error_message()));
  }
  if (reply.interface_version() != static_cast<uint32_t>(v1::INTERFACE_VERSION_CURRENT)) {
    return Refuse(path, absl::StrCat("interface version mismatch in Handshake: plugin speaks ",
                                     reply.interface_version(), ", host speaks ",
                                     static_cast<int>(v1::INTERFACE_VERSION_CURRENT)));
  }
  if (reply.catalog_key() != plugin->catalog_key_) {
    return Refuse(path,
                  absl::StrCat("Handshake catalog key '", reply.catalog_key(),
                               "' differs from the descriptor's '", plugin->catalog_key_, "'"));
  }
  plugin->plugin_name_ = reply.plugin_name();
  return plugin;
}

}  // namespace signal_host
