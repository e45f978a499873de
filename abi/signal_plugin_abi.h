/*
 * The C ABI of a Signal integration plugin (.so).
 *
 * A plugin exports exactly one symbol, SIGNAL_PLUGIN_ENTRY_SYMBOL, a function that
 * returns a pointer to a static descriptor. The descriptor says what the plugin is
 * and how to create its gRPC service (signal.integration.v1.Integration). After
 * loading, the host talks to the plugin only through that gRPC service.
 *
 * The service object is a grpc::Service built against the protobuf and gRPC versions
 * the descriptor names; the host refuses a plugin whose versions differ from its own,
 * because both sides then share those libraries' C++ ABI.
 *
 * Rules for both sides:
 *  - No C++ exception crosses this boundary. Errors come back as NULL plus a message
 *    written into the caller's buffer (always NUL-terminated, truncated to fit).
 *  - Strings in the descriptor are static and live as long as the library is loaded.
 *  - A service returned by create_service is released with the same plugin's
 *    destroy_service, after every server using it has shut down.
 */
#ifndef SIGNAL_PLUGIN_ABI_H_
#define SIGNAL_PLUGIN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any change to the layout or meaning of the structures below. */
#define SIGNAL_PLUGIN_ABI_VERSION 1u

/* The entry point's name; the trailing _v1 tracks SIGNAL_PLUGIN_ABI_VERSION. */
#define SIGNAL_PLUGIN_ENTRY_SYMBOL "signal_plugin_descriptor_v1"

/* The gRPC service every plugin implements. */
#define SIGNAL_PLUGIN_INTERFACE_NAME "signal.integration.v1.Integration"

/* A plugin option given by the loader, e.g. {"events_base_url", "http://127.0.0.1:9000"}. */
typedef struct signal_plugin_option {
  const char* key;
  const char* value;
} signal_plugin_option;

typedef struct signal_plugin_descriptor {
  /* Must equal the loader's SIGNAL_PLUGIN_ABI_VERSION. */
  uint32_t abi_version;
  /* Must equal SIGNAL_PLUGIN_INTERFACE_NAME. */
  const char* interface_name;
  /* The catalog key the plugin serves, e.g. "hightouch". */
  const char* catalog_key;
  /* The plugin's semantic version. */
  const char* plugin_version;
  /* GOOGLE_PROTOBUF_VERSION and grpc::Version() of the build, e.g. "3021012" and "1.51.1". */
  const char* protobuf_version;
  const char* grpc_version;
  /*
   * Creates the plugin's gRPC service (a grpc::Service*, returned as void*).
   * options: option_count key/value pairs, copied by the plugin before it returns.
   * On failure returns NULL and writes a message to error[0..error_capacity).
   */
  void* (*create_service)(const signal_plugin_option* options, size_t option_count, char* error,
                          size_t error_capacity);
  /* Releases a service returned by create_service. NULL is ignored. */
  void (*destroy_service)(void* service);
} signal_plugin_descriptor;

/* The type of the exported entry point. */
typedef const signal_plugin_descriptor* (*signal_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* SIGNAL_PLUGIN_ABI_H_ */
