// The scale-out settings: where events queue (SQLite or Kafka) and where shared state
// lives (SQLite or PostgreSQL). Signal's deployments name these with environment
// variables (KAFKA_BROKERS, KAFKA_TLS_ENABLED, KAFKA_CONSUMER_GROUP, DATABASE_URL), so
// the environment overrides the file here, and flags override both.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "config.h"
#include "config_yaml.h"
#include "host/kafka/kafka_options.h"

namespace signal_host::daemon {
namespace {

const char* NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

bool ParseBoolText(std::string_view text, bool& out) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") {
    out = true;
    return true;
  }
  if (text == "false" || text == "0" || text == "no" || text == "off") {
    out = false;
    return true;
  }
  return false;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

}  // namespace

absl::Status ApplyScaleOutYaml(const YAML::Node& root, YamlReader& r, DaemonConfig& c) {
  RETURN_IF_ERROR(r.String(root["queue"], "queue", c.queue));
  if (YAML::Node kafka = root["kafka"]; kafka && !kafka.IsNull()) {
    RETURN_IF_ERROR(r.CheckKeys(
        kafka, "kafka",
        {"brokers", "tls", "consumer_group", "topic_prefix", "client_id", "ssl_ca_location",
         "sasl_mechanism", "sasl_username", "max_unfinished_per_partition", "session_timeout_ms"}));
    KafkaConfig& k = c.kafka;
    RETURN_IF_ERROR(r.String(kafka["brokers"], "kafka.brokers", k.brokers));
    RETURN_IF_ERROR(r.Bool(kafka["tls"], "kafka.tls", k.tls));
    RETURN_IF_ERROR(r.String(kafka["consumer_group"], "kafka.consumer_group", k.consumer_group));
    RETURN_IF_ERROR(r.String(kafka["topic_prefix"], "kafka.topic_prefix", k.topic_prefix));
    RETURN_IF_ERROR(r.String(kafka["client_id"], "kafka.client_id", k.client_id));
    RETURN_IF_ERROR(r.String(kafka["ssl_ca_location"], "kafka.ssl_ca_location", k.ssl_ca_location));
    RETURN_IF_ERROR(r.String(kafka["sasl_mechanism"], "kafka.sasl_mechanism", k.sasl_mechanism));
    RETURN_IF_ERROR(r.String(kafka["sasl_username"], "kafka.sasl_username", k.sasl_username));
    RETURN_IF_ERROR(r.Integer(kafka["max_unfinished_per_partition"],
                              "kafka.max_unfinished_per_partition", k.max_unfinished_per_partition,
                              1, 10000000));
    RETURN_IF_ERROR(r.Integer(kafka["session_timeout_ms"], "kafka.session_timeout_ms",
                              k.session_timeout_ms, 1000, 3600000));
  }
  if (YAML::Node database = root["database"]; database && !database.IsNull()) {
    RETURN_IF_ERROR(r.CheckKeys(database, "database", {"url", "pool_size"}));
    RETURN_IF_ERROR(r.String(database["url"], "database.url", c.database.url));
    RETURN_IF_ERROR(
        r.Integer(database["pool_size"], "database.pool_size", c.database.pool_size, 1, 256));
  }
  return absl::OkStatus();
}

absl::Status ApplyScaleOutEnvironment(DaemonConfig& c) {
  if (const char* brokers = NonEmptyEnv("KAFKA_BROKERS")) c.kafka.brokers = brokers;
  if (const char* tls = NonEmptyEnv("KAFKA_TLS_ENABLED")) {
    if (!ParseBoolText(tls, c.kafka.tls)) {
      return absl::InvalidArgumentError(
          absl::StrCat("KAFKA_TLS_ENABLED=\"", tls, "\" must be true or false"));
    }
  }
  if (const char* group = NonEmptyEnv("KAFKA_CONSUMER_GROUP")) c.kafka.consumer_group = group;
  if (const char* password = NonEmptyEnv("KAFKA_SASL_PASSWORD")) c.kafka.sasl_password = password;
  if (const char* url = NonEmptyEnv("DATABASE_URL")) c.database.url = url;
  return absl::OkStatus();
}

absl::Status CheckScaleOut(const DaemonConfig& c) {
  if (c.queue != "sqlite" && c.queue != "kafka") {
    return absl::InvalidArgumentError(
        absl::StrCat("queue \"", c.queue, "\" is not one of sqlite, kafka"));
  }
  // The two scale-out halves go together: the SQLite queue lives in the same file as
  // the SQLite state, and a Kafka queue's dead letters, holds and attempts must be
  // shared by every host consuming the group (and replays produced back to Kafka).
  if (c.uses_postgres() && c.queue != "kafka") {
    return absl::InvalidArgumentError(
        "database.url (DATABASE_URL) is set but queue is sqlite: shared state in PostgreSQL "
        "needs the shared queue too (queue: kafka)");
  }
  if (c.queue == "kafka" && !c.uses_postgres()) {
    return absl::InvalidArgumentError(
        "queue is kafka but database.url (DATABASE_URL) is not set: the hosts of a consumer "
        "group share their state in PostgreSQL");
  }
  if (c.uses_postgres() && c.database.url.rfind("postgres://", 0) != 0 &&
      c.database.url.rfind("postgresql://", 0) != 0) {
    return absl::InvalidArgumentError(
        "database.url (DATABASE_URL) must start with postgresql:// or postgres://");
  }
  if (c.queue == "kafka") {
    if (c.kafka.brokers.empty()) {
      return absl::InvalidArgumentError("kafka.brokers (KAFKA_BROKERS) is empty");
    }
    if (c.kafka.consumer_group.empty()) {
      return absl::InvalidArgumentError("kafka.consumer_group (KAFKA_CONSUMER_GROUP) is empty");
    }
    if (c.kafka.topic_prefix.empty()) {
      return absl::InvalidArgumentError("kafka.topic_prefix is empty");
    }
    const std::string& mechanism = c.kafka.sasl_mechanism;
    if (!mechanism.empty() && mechanism != "PLAIN" && mechanism != "SCRAM-SHA-256" &&
        mechanism != "SCRAM-SHA-512") {
      return absl::InvalidArgumentError(absl::StrCat("kafka.sasl_mechanism \"", mechanism,
                                                     "\" is not one of PLAIN, SCRAM-SHA-256, "
                                                     "SCRAM-SHA-512"));
    }
    if (!mechanism.empty() && (c.kafka.sasl_username.empty() || c.kafka.sasl_password.empty())) {
      return absl::InvalidArgumentError(
          "kafka.sasl_mechanism needs kafka.sasl_username and KAFKA_SASL_PASSWORD");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSharedSecrets(const DaemonConfig& c) {
  if (!c.uses_postgres()) return absl::OkStatus();
  std::vector<std::string> missing;
  // A key generated into one host's data dir would be that host's alone: configs
  // sealed by one host could not be opened by another, tokens would be valid on one
  // host only, and clients would need a different event-API key per host.
  if (NonEmptyEnv("ENCRYPTION_KEY") == nullptr) missing.push_back("ENCRYPTION_KEY");
  if (NonEmptyEnv("JWT_SECRET") == nullptr) missing.push_back("JWT_SECRET");
  for (const PipelineConfig& pipeline : c.pipelines) {
    if (pipeline.name == "default" && pipeline.key.empty()) {
      missing.push_back(
          "the default pipeline's key (SIGNAL_PIPELINE_KEY, --pipeline-key or "
          "pipelines[default].key)");
    }
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("with shared state (database.url) every host must be given the same ",
                   absl::StrJoin(missing, ", "), "; none may be generated per host"));
}

kafka::KafkaOptions KafkaOptionsFor(const DaemonConfig& config) {
  const KafkaConfig& k = config.kafka;
  kafka::KafkaOptions options;
  options.brokers = k.brokers;
  options.group_id = k.consumer_group;
  options.client_id = k.client_id.empty() ? "signal-delivery-host-" + HostName() : k.client_id;
  options.topic_prefix = k.topic_prefix;
  const bool sasl = !k.sasl_mechanism.empty();
  options.security_protocol =
      k.tls ? (sasl ? "sasl_ssl" : "ssl") : (sasl ? "sasl_plaintext" : "plaintext");
  options.ssl_ca_location = k.ssl_ca_location;
  options.sasl_mechanism = k.sasl_mechanism;
  options.sasl_username = k.sasl_username;
  options.sasl_password = k.sasl_password;
  options.max_unfinished_per_partition = k.max_unfinished_per_partition;
  options.session_timeout_ms = k.session_timeout_ms;
  return options;
}

}  // namespace signal_host::daemon
