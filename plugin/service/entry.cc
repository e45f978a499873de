// The plugin's C ABI entry point: the only symbol libsignal_hightouch.so exports.
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "catalog.h"
#include "google/protobuf/stubs/common.h"
#include "grpcpp/grpcpp.h"
#include "options.h"
#include "service.h"
#include "signal_plugin_abi.h"

namespace signal_hightouch {
namespace {

// Copies `message` into the loader's buffer: NUL-terminated, truncated to fit.
void WriteError(std::string_view message, char* error, size_t capacity) {
  if (error == nullptr || capacity == 0) return;
  const size_t length = message.size() < capacity - 1 ? message.size() : capacity - 1;
  message.copy(error, length);
  error[length] = '\0';
}

void* CreateService(const signal_plugin_option* options, size_t option_count, char* error,
                    size_t error_capacity) {
  try {
    std::vector<std::pair<std::string, std::string>> key_values;
    key_values.reserve(option_count);
    for (size_t i = 0; i < option_count; ++i) {
      if (options[i].key == nullptr) {
        WriteError("plugin option " + std::to_string(i) + " has a null key", error, error_capacity);
        return nullptr;
      }
      key_values.emplace_back(options[i].key, options[i].value != nullptr ? options[i].value : "");
    }
    absl::StatusOr<PluginOptions> parsed = PluginOptions::FromKeyValues(key_values);
    if (!parsed.ok()) {
      WriteError("bad plugin option: " + std::string(parsed.status().message()), error,
                 error_capacity);
      return nullptr;
    }
    absl::StatusOr<const signal::integration::v1::CatalogEntry*> entry = EmbeddedCatalog();
    if (!entry.ok()) {
      WriteError("embedded catalog does not parse: " + std::string(entry.status().message()), error,
                 error_capacity);
      return nullptr;
    }
    auto service = std::make_unique<IntegrationService>(*std::move(parsed), *entry);
    // The loader sees a grpc::Service*; convert before erasing the type.
    return static_cast<grpc::Service*>(service.release());
  } catch (const std::exception& e) {
    WriteError(std::string("creating the service failed: ") + e.what(), error, error_capacity);
  } catch (...) {
    WriteError("creating the service failed with an unknown exception", error, error_capacity);
  }
  return nullptr;
}

void DestroyService(void* service) {
  // Matches the conversion in CreateService; grpc::Service's destructor is virtual.
  delete static_cast<grpc::Service*>(service);
}

const signal_plugin_descriptor* Descriptor() {
  static const std::string protobuf_version = std::to_string(GOOGLE_PROTOBUF_VERSION);
  static const std::string grpc_version = grpc::Version();
  static const signal_plugin_descriptor descriptor = {
      .abi_version = SIGNAL_PLUGIN_ABI_VERSION,
      .interface_name = SIGNAL_PLUGIN_INTERFACE_NAME,
      .catalog_key = "hightouch",
      .plugin_version = SIGNAL_HIGHTOUCH_VERSION,
      .protobuf_version = protobuf_version.c_str(),
      .grpc_version = grpc_version.c_str(),
      .create_service = &CreateService,
      .destroy_service = &DestroyService,
  };
  return &descriptor;
}

}  // namespace
}  // namespace signal_hightouch

// The name must match SIGNAL_PLUGIN_ENTRY_SYMBOL; the loader looks it up by that string.
static_assert(std::string_view(SIGNAL_PLUGIN_ENTRY_SYMBOL) == "signal_plugin_descriptor_v1");

extern "C" __attribute__((visibility("default"))) const signal_plugin_descriptor*
signal_plugin_descriptor_v1(void) {
  try {
    return signal_hightouch::Descriptor();
  } catch (...) {
    // Only allocation of two short strings can fail here; the loader reports NULL.
    return nullptr;
  }
}
