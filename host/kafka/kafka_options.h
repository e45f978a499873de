// Settings of the host's Kafka mode (the daemon's `queue: kafka`), shared by the
// consumer (KafkaDeliveryQueue) and the producer (KafkaIngestQueue), and how they
// become a librdkafka configuration.
//
// The daemon fills them from its settings and Signal's environment variables
// (host/daemon/config_scale_out.cc: KafkaOptionsFor).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct rd_kafka_conf_s;

namespace signal_host::kafka {

struct KafkaOptions {
  std::string brokers = "localhost:9092";
  std::string group_id = "signal-delivery";
  std::string client_id = "signal-delivery-host";
  // Records for integration X are on topic topic_prefix + X.
  std::string topic_prefix = "delivery-";
  // plaintext, ssl, sasl_plaintext or sasl_ssl.
  std::string security_protocol = "plaintext";
  std::string ssl_ca_location;           // PEM file of trusted CAs; empty: system store
  std::string ssl_certificate_location;  // client certificate (mutual TLS)
  std::string ssl_key_location;
  std::string ssl_key_password;
  std::string sasl_mechanism;  // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
  std::string sasl_username;
  std::string sasl_password;
  // Events held in memory per partition (buffered, leased or retrying) before the
  // partition is paused; it resumes below half of this.
  size_t max_unfinished_per_partition = 1000;
  int session_timeout_ms = 10000;
  // How often stored offsets are committed (auto-commit).
  int auto_commit_interval_ms = 1000;
  // How long Enqueue waits for the broker's acknowledgement (message.timeout.ms).
  int produce_timeout_ms = 30000;
  // How long closing the consumer (leave the group, final commit) may take.
  int close_timeout_ms = 10000;
  // Raw librdkafka properties applied last (they win): anything not covered above.
  std::map<std::string, std::string> extra;
};

// Owns an rd_kafka_conf_t until it is handed to rd_kafka_new.
struct ConfDeleter {
  void operator()(rd_kafka_conf_s* conf) const;
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_s, ConfDeleter>;

// The librdkafka properties common to producer and consumer (brokers, client id,
// security), then `options.extra`. InvalidArgument naming the property librdkafka
// refused.
absl::StatusOr<ConfPtr> BuildConf(const KafkaOptions& options,
                                  const std::map<std::string, std::string>& role_properties);

}  // namespace signal_host::kafka
