// signal-delivery-host's settings: embedded defaults, then the YAML file, then flags
// (and, for secrets, the environment). Every setting has a default, so the binary
// runs with no file and no flag.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace YAML {
class Node;
}

namespace signal_host::kafka {
struct KafkaOptions;  // host/kafka/kafka_options.h
}  // namespace signal_host::kafka

namespace signal_host::daemon {

class YamlReader;  // config_yaml.h

// A pipeline: an event-API key and the integrations its events go to.
struct PipelineConfig {
  std::string name = "default";
  // The Bearer key clients send to the event API. Empty for the default pipeline
  // means: generate one on first start and keep it in <data dir>/pipeline_key.
  std::string key;
  std::string org_id;  // empty: admin.org_id
  // Integration names; empty means every enabled integration of the org.
  std::vector<std::string> integrations;
};

// Limits of one HTTP listener (see host/http/server.h for what each one bounds).
struct ListenerLimitsConfig {
  size_t max_connections = 0;
  size_t max_connections_per_client = 0;  // 0: no per-client cap
  int backlog = 4096;
  size_t max_header_bytes = 16 * 1024;
  int header_timeout_ms = 10000;
  int body_timeout_ms = 30000;
  int idle_timeout_ms = 5000;
  int max_inflate_ratio = 100;
};

// Kafka, for `queue: kafka`: the host consumes Signal's delivery-{integration_id}
// topics as one consumer group and its event API produces to them.
struct KafkaConfig {
  std::string brokers = "localhost:9092";               // env KAFKA_BROKERS
  bool tls = false;                                     // env KAFKA_TLS_ENABLED
  std::string consumer_group = "signal-delivery-host";  // env KAFKA_CONSUMER_GROUP
  std::string topic_prefix = "delivery-";
  std::string client_id;        // empty: signal-delivery-host-<hostname>
  std::string ssl_ca_location;  // PEM file; empty: the system's CAs
  // SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none.
  std::string sasl_mechanism;
  std::string sasl_username;
  std::string sasl_password;  // env KAFKA_SASL_PASSWORD only (a secret stays out of files)
  // Events read but not yet finished, per partition, before that partition pauses.
  size_t max_unfinished_per_partition = 10000;
  int session_timeout_ms = 10000;
};

// PostgreSQL, for state shared by several hosts (configs, dead letters, attempts,
// holds). Empty url: the SQLite file in the data dir.
struct DatabaseConfig {
  std::string url;  // env DATABASE_URL, e.g. postgresql://signal@db:5432/signal
  int pool_size = 8;
};

struct DaemonConfig {
  std::string config_file;  // the file read, if any

  std::string data_dir = "./signal-data";
  std::string plugin_dir;   // default: DefaultPluginDir(the running binary)
  std::string runtime_dir;  // default: <data dir>/run
  std::string bind_address = "127.0.0.1";
  int admin_port = 8084;
  int events_port = 8080;
  std::string log_level = "info";  // debug, info, warn, error

  // Admin API.
  int rate_limit_per_minute = 100;  // per user (JWT sub)
  size_t admin_max_body_bytes = 1 << 20;
  int admin_threads = 16;  // workers; a slow client holds no thread
  ListenerLimitsConfig admin_limits{/*max_connections=*/1024, /*max_connections_per_client=*/64};
  std::string default_org_id = "org_default";

  // Event API.
  size_t events_max_body_bytes = 512 * 1024;
  size_t max_batch_events = 500;
  // Workers: requests being handled at once (each waits for its events' commit).
  int events_threads = 32;
  ListenerLimitsConfig events_limits{/*max_connections=*/10000,
                                     /*max_connections_per_client=*/1024};
  // Refuse events (503) while a routed integration has this many queued; 0: no limit.
  size_t max_queue_depth = 5000000;

  // Store.
  size_t attempt_retention = 10000;
  size_t dead_letter_retention = 100000;

  // Where events queue: "sqlite" (the embedded default, with the state in the same
  // file) or "kafka" (with the state in PostgreSQL, database.url).
  std::string queue = "sqlite";
  KafkaConfig kafka;
  DatabaseConfig database;
  bool uses_postgres() const { return !database.url.empty(); }

  // Load plugin files that someone other than root and the host's user could change
  // (group/other-writable file or directory, foreign owner), with a warning each.
  // YAML plugins.allow_insecure_permissions, env SIGNAL_ALLOW_INSECURE_PLUGINS, flag
  // --allow-insecure-plugins (each overrides the one before).
  bool allow_insecure_plugins = false;

  // Catalog key -> plugin options, in file order then flag order.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> plugin_options;

  std::vector<PipelineConfig> pipelines;

  // Derived paths.
  std::string DatabasePath() const;
  std::string JwtSecretPath() const;
  std::string EncryptionKeyPath() const;
  std::string PipelineKeyPath() const;
};

// What the command line asked for.
struct CommandLine {
  enum class Command { kServe, kToken, kMigrate, kHelp };
  Command command = Command::kServe;
  DaemonConfig config;
  // token subcommand
  std::string token_role;
  std::string token_org = "org_default";
  std::string token_subject = "usr_local";
  int64_t token_ttl_seconds = 3600;
  // migrate subcommand: only report the versions (--status), change nothing.
  bool migrate_status_only = false;
};

// Parses argv (without argv[0]): reads --config's YAML file when given, applies the
// flags over it and fills the derived defaults. Errors name the flag or YAML key.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// Reads YAML text over `config` (used by ParseCommandLine; exposed for tests).
absl::Status ApplyYaml(const std::string& yaml_text, const std::string& source,
                       DaemonConfig& config);

// The scale-out settings (config_scale_out.cc): the YAML keys queue, kafka and
// database; then the environment (KAFKA_BROKERS, KAFKA_TLS_ENABLED,
// KAFKA_CONSUMER_GROUP, KAFKA_SASL_PASSWORD, DATABASE_URL), which overrides the file;
// and the check that the combination is one the host can run.
absl::Status ApplyScaleOutYaml(const YAML::Node& root, YamlReader& reader, DaemonConfig& config);
absl::Status ApplyScaleOutEnvironment(DaemonConfig& config);
absl::Status CheckScaleOut(const DaemonConfig& config);
// With PostgreSQL, the secrets every host must share come from the environment or the
// config, never generated per host: ENCRYPTION_KEY, JWT_SECRET and the default
// pipeline's key. FailedPrecondition naming what is missing.
absl::Status CheckSharedSecrets(const DaemonConfig& config);
// The Kafka client settings of the config: brokers, group, client id (default
// signal-delivery-host-<hostname>), security.protocol from kafka.tls and the SASL
// mechanism (plaintext, ssl, sasl_plaintext or sasl_ssl), bounds and timeouts.
kafka::KafkaOptions KafkaOptionsFor(const DaemonConfig& config);

// Fills the paths left empty: runtime dir, plugin dir.
void FillDerivedDefaults(DaemonConfig& config);

// The installed plugin directory relative to the directory of the host binary
// ("../lib/signal/plugins"; cmake/Install.cmake sets it from the install layout).
extern const char kPluginDirFromBinDir[];

// The plugin directory when none is configured: <dir of executable>/kPluginDirFromBinDir
// when it exists (an installed host, wherever its prefix was moved), else the build
// tree's plugin directory when it exists, else ./plugins.
std::string DefaultPluginDir(const std::string& executable);

// The --help text: every setting, its YAML key, flag and default, and the
// environment variables.
std::string HelpText();

}  // namespace signal_host::daemon
