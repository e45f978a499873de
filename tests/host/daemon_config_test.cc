// signal-delivery-host's settings: defaults, YAML, flags and their precedence.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "config.h"
#include "gtest/gtest.h"
#include "host/kafka/kafka_options.h"

namespace signal_host::daemon {
namespace {

std::string WriteTempFile(const std::string& text) {
  char path[] = "/tmp/signal-config-test-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  std::ofstream(path) << text;
  close(fd);
  return path;
}

TEST(DaemonConfigTest, DefaultsNeedNoFileAndNoFlag) {
  auto parsed = ParseCommandLine({});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const DaemonConfig& config = parsed->config;
  EXPECT_EQ(parsed->command, CommandLine::Command::kServe);
  EXPECT_EQ(config.data_dir, "./signal-data");
  EXPECT_EQ(config.runtime_dir, "./signal-data/run");
  EXPECT_EQ(config.DatabasePath(), "./signal-data/signal.db");
  EXPECT_FALSE(config.plugin_dir.empty());
  EXPECT_EQ(config.admin_port, 8084);
  EXPECT_EQ(config.events_port, 8080);
  EXPECT_EQ(config.bind_address, "127.0.0.1");
  EXPECT_EQ(config.rate_limit_per_minute, 100);
  EXPECT_EQ(config.admin_max_body_bytes, 1u << 20);
  EXPECT_EQ(config.events_max_body_bytes, 512u * 1024);
  EXPECT_EQ(config.max_batch_events, 500u);
  EXPECT_EQ(config.max_queue_depth, 5000000u);
  ASSERT_EQ(config.pipelines.size(), 1u);
  EXPECT_EQ(config.pipelines[0].name, "default");
  EXPECT_TRUE(config.pipelines[0].key.empty()) << "generated at start-up";
  EXPECT_EQ(config.pipelines[0].org_id, "org_default");
}

// An installed host finds its plugins relative to its own binary, wherever the prefix
// was moved; elsewhere it falls back to the build tree's directory or ./plugins.
TEST(DaemonConfigTest, DefaultPluginDirIsRelativeToTheInstalledBinary) {
  namespace fs = std::filesystem;
  char root_template[] = "/tmp/signal-prefix-test-XXXXXX";
  ASSERT_NE(mkdtemp(root_template), nullptr);
  const fs::path prefix = fs::path(root_template) / "moved" / "prefix";
  const std::string binary = (prefix / "bin" / "signal-delivery-host").string();
  fs::create_directories(prefix / "bin");

  const std::string without_plugins = DefaultPluginDir(binary);
  EXPECT_NE(without_plugins.rfind(prefix.string(), 0), 0u)
      << "no plugin directory under the prefix yet, so not one of its paths: " << without_plugins;

  const fs::path plugins = (prefix / "bin" / kPluginDirFromBinDir).lexically_normal();
  EXPECT_EQ(plugins.string().rfind(prefix.string() + "/", 0), 0u)
      << "the installed plugin directory lies inside the prefix: " << plugins;
  fs::create_directories(plugins);
  EXPECT_EQ(DefaultPluginDir(binary), plugins.string());
  fs::remove_all(root_template);
}

TEST(DaemonConfigTest, YamlThenFlags) {
  std::string file = WriteTempFile(R"(
data_dir: /var/lib/signal
log_level: debug
admin:
  port: 9084
  rate_limit_per_minute: 7
events:
  port: 9080
  max_batch_events: 50
  max_queue_depth: 1234
plugins:
  hightouch:
    options:
      events_base_url: http://yaml.example
      api_base_url: http://api.yaml.example
pipelines:
  - name: default
    key: dk_from_yaml
  - name: web
    key: dk_web
    integrations: [Hightouch]
)");
  auto parsed = ParseCommandLine({"--config", file, "--admin-port=0", "--data-dir", "/tmp/x",
                                  "--plugin-option", "hightouch.events_base_url=http://flag",
                                  "--rate-limit", "3"});
  std::remove(file.c_str());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const DaemonConfig& config = parsed->config;
  EXPECT_EQ(config.data_dir, "/tmp/x");
  EXPECT_EQ(config.runtime_dir, "/tmp/x/run");
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_EQ(config.admin_port, 0);
  EXPECT_EQ(config.events_port, 9080);
  EXPECT_EQ(config.rate_limit_per_minute, 3);
  EXPECT_EQ(config.max_batch_events, 50u);
  EXPECT_EQ(config.max_queue_depth, 1234u);
  const auto& options = config.plugin_options.at("hightouch");
  ASSERT_EQ(options.size(), 2u);
  // The flag replaced the file's value; the other option is untouched.
  EXPECT_EQ(options[0], std::make_pair(std::string("events_base_url"), std::string("http://flag")));
  EXPECT_EQ(options[1],
            std::make_pair(std::string("api_base_url"), std::string("http://api.yaml.example")));
  ASSERT_EQ(config.pipelines.size(), 2u);
  EXPECT_EQ(config.pipelines[0].key, "dk_from_yaml");
  EXPECT_EQ(config.pipelines[1].integrations, std::vector<std::string>{"Hightouch"});
  EXPECT_EQ(config.pipelines[1].org_id, "org_default");
}

TEST(DaemonConfigTest, MistakesAreNamed) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"admin:\n  prot: 1\n", "admin.prot"},
           {"admin:\n  port: 70000\n", "admin.port"},
           {"admin:\n  port: eighty\n", "admin.port"},
           {"colour: blue\n", "colour"},
           {"plugins:\n  hightouch:\n    options: [1]\n", "plugins.hightouch.options"},
           {"pipelines:\n  - name: web\n", "pipelines[0].key"},
           {"admin: [\n", "line"},
           {"events:\n  max_queue_depth: -1\n", "events.max_queue_depth"},
           {"events:\n  max_queue_depth: lots\n", "events.max_queue_depth"},
           {"events:\n  max_queue_depth: [5]\n", "events.max_queue_depth"},
           {"events:\n  max_queue_depth: 2000000000000\n", "events.max_queue_depth"},
           {"plugins:\n  allow_insecure_permissions: maybe\n",
            "plugins.allow_insecure_permissions"},
           {"plugins:\n  allow_insecure_permissions: [true]\n",
            "plugins.allow_insecure_permissions"},
       }) {
    DaemonConfig config;
    absl::Status status = ApplyYaml(c.yaml, "test.yaml", config);
    EXPECT_FALSE(status.ok()) << c.yaml;
    EXPECT_NE(std::string(status.message()).find(c.expected), std::string::npos)
        << status.message();
  }
}

TEST(DaemonConfigTest, QueueDepthLimitCanBeTurnedOff) {
  DaemonConfig config;
  ASSERT_TRUE(ApplyYaml("events:\n  max_queue_depth: 0\n", "test.yaml", config).ok());
  EXPECT_EQ(config.max_queue_depth, 0u);
  ASSERT_TRUE(ApplyYaml("events:\n  max_queue_depth: 1\n", "test.yaml", config).ok());
  EXPECT_EQ(config.max_queue_depth, 1u);
}

// Sets (or, with nullptr, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DaemonConfigTest, InsecurePluginsAreRefusedUnlessAnOperatorSaysOtherwise) {
  auto parsed = ParseCommandLine({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->config.allow_insecure_plugins);

  // The YAML key sits beside the catalog keys and is not taken for one.
  std::string file = WriteTempFile(
      "plugins:\n  allow_insecure_permissions: true\n  hightouch:\n    options:\n"
      "      events_base_url: http://x\n");
  parsed = ParseCommandLine({"--config", file});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.allow_insecure_plugins);
  EXPECT_EQ(parsed->config.plugin_options.count("allow_insecure_permissions"), 0u);
  EXPECT_EQ(parsed->config.plugin_options.at("hightouch").size(), 1u);

  {
    // The environment overrides the file; the flag overrides both.
    ScopedEnv env("SIGNAL_ALLOW_INSECURE_PLUGINS", "false");
    parsed = ParseCommandLine({"--config", file});
    ASSERT_TRUE(parsed.ok());
    EXPECT_FALSE(parsed->config.allow_insecure_plugins);
    parsed = ParseCommandLine({"--config", file, "--allow-insecure-plugins"});
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed->config.allow_insecure_plugins);
  }
  {
    ScopedEnv env("SIGNAL_ALLOW_INSECURE_PLUGINS", "true");
    parsed = ParseCommandLine({});
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed->config.allow_insecure_plugins);
  }
  {
    ScopedEnv env("SIGNAL_ALLOW_INSECURE_PLUGINS", "perhaps");
    parsed = ParseCommandLine({});
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(std::string(parsed.status().message()).find("SIGNAL_ALLOW_INSECURE_PLUGINS"),
              std::string::npos);
  }
  std::remove(file.c_str());
}

TEST(DaemonConfigTest, ScaleOutSettingsFromYamlThenEnvironmentThenFlags) {
  auto parsed = ParseCommandLine({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->config.queue, "sqlite");
  EXPECT_FALSE(parsed->config.uses_postgres());
  EXPECT_EQ(parsed->config.kafka.brokers, "localhost:9092") << "Signal's documented default";
  EXPECT_EQ(parsed->config.kafka.topic_prefix, "delivery-");

  std::string file = WriteTempFile(
      "queue: kafka\n"
      "kafka:\n  brokers: k1:9092,k2:9092\n  tls: true\n  consumer_group: from-file\n"
      "  sasl_mechanism: SCRAM-SHA-512\n  sasl_username: signal\n"
      "  max_unfinished_per_partition: 500\n"
      "database:\n  url: postgresql://signal@db/signal\n  pool_size: 4\n");
  {
    // A SASL mechanism without the password (environment only) is refused by name.
    parsed = ParseCommandLine({"--config", file});
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(std::string(parsed.status().message()).find("KAFKA_SASL_PASSWORD"),
              std::string::npos);
  }
  ScopedEnv password("KAFKA_SASL_PASSWORD", "s3cret");
  parsed = ParseCommandLine({"--config", file});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const KafkaConfig& kafka = parsed->config.kafka;
  EXPECT_EQ(parsed->config.queue, "kafka");
  EXPECT_EQ(kafka.brokers, "k1:9092,k2:9092");
  EXPECT_TRUE(kafka.tls);
  EXPECT_EQ(kafka.consumer_group, "from-file");
  EXPECT_EQ(kafka.sasl_password, "s3cret");
  EXPECT_EQ(kafka.max_unfinished_per_partition, 500u);
  EXPECT_EQ(parsed->config.database.url, "postgresql://signal@db/signal");
  EXPECT_EQ(parsed->config.database.pool_size, 4);
  EXPECT_TRUE(parsed->config.uses_postgres());

  {
    // Signal's environment names override the file ...
    ScopedEnv brokers("KAFKA_BROKERS", "env-broker:9093");
    ScopedEnv tls("KAFKA_TLS_ENABLED", "false");
    ScopedEnv group("KAFKA_CONSUMER_GROUP", "from-env");
    ScopedEnv url("DATABASE_URL", "postgres://env@db2/signal");
    parsed = ParseCommandLine({"--config", file});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->config.kafka.brokers, "env-broker:9093");
    EXPECT_FALSE(parsed->config.kafka.tls);
    EXPECT_EQ(parsed->config.kafka.consumer_group, "from-env");
    EXPECT_EQ(parsed->config.database.url, "postgres://env@db2/signal");
    // ... and flags override the environment.
    parsed = ParseCommandLine({"--config", file, "--kafka-brokers", "flag:1", "--kafka-group",
                               "from-flag", "--database-url", "postgresql://flag/db"});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->config.kafka.brokers, "flag:1");
    EXPECT_EQ(parsed->config.kafka.consumer_group, "from-flag");
    EXPECT_EQ(parsed->config.database.url, "postgresql://flag/db");
  }
  {
    ScopedEnv tls("KAFKA_TLS_ENABLED", "sometimes");
    parsed = ParseCommandLine({"--config", file});
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(std::string(parsed.status().message()).find("KAFKA_TLS_ENABLED"), std::string::npos);
  }
  std::remove(file.c_str());
}

TEST(DaemonConfigTest, ScaleOutCombinationsTheHostCannotRunAreRefused) {
  struct Case {
    std::vector<std::string> args;
    const char* named;  // a word the error must contain
  };
  for (const Case& c : std::vector<Case>{
           {{"--queue", "rabbitmq"}, "sqlite, kafka"},
           {{"--database-url", "postgresql://db/signal"}, "queue: kafka"},
           {{"--queue", "kafka", "--database-url", "mysql://db/signal"}, "postgresql://"},
           {{"--queue", "kafka"}, "DATABASE_URL"},
           {{"--queue", "kafka", "--database-url", "postgresql://db/s", "--kafka-brokers", ""},
            "KAFKA_BROKERS"},
           {{"--queue", "kafka", "--database-url", "postgresql://db/s", "--kafka-group", ""},
            "KAFKA_CONSUMER_GROUP"},
       }) {
    auto parsed = ParseCommandLine(c.args);
    ASSERT_FALSE(parsed.ok()) << c.args[0] << " " << c.args[1];
    EXPECT_NE(std::string(parsed.status().message()).find(c.named), std::string::npos)
        << parsed.status();
  }
  for (const char* yaml :
       {"kafka:\n  brokerz: x\n", "database:\n  pool_size: 0\n", "kafka:\n  tls: maybe\n",
        "queue: kafka\nkafka:\n  sasl_mechanism: "
        "GSSAPI\n"}) {
    std::string file = WriteTempFile(yaml);
    EXPECT_FALSE(ParseCommandLine({"--config", file}).ok()) << yaml;
    std::remove(file.c_str());
  }
  auto parsed = ParseCommandLine({"--queue", "kafka", "--kafka-brokers", "127.0.0.1:9092",
                                  "--database-url", "postgresql://127.0.0.1:5432/signal"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.uses_postgres());
}

TEST(DaemonConfigTest, SharedStateNeedsSharedSecretsFromOutside) {
  ScopedEnv no_key("ENCRYPTION_KEY", nullptr);
  ScopedEnv no_jwt("JWT_SECRET", nullptr);
  ScopedEnv no_pipeline("SIGNAL_PIPELINE_KEY", nullptr);
  // The embedded mode generates what is missing, per data dir.
  auto parsed = ParseCommandLine({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(CheckSharedSecrets(parsed->config).ok());

  const std::vector<std::string> shared = {"--queue", "kafka", "--database-url",
                                           "postgresql://db/signal"};
  parsed = ParseCommandLine(shared);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::Status status = CheckSharedSecrets(parsed->config);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  for (const char* named : {"ENCRYPTION_KEY", "JWT_SECRET", "SIGNAL_PIPELINE_KEY"}) {
    EXPECT_NE(std::string(status.message()).find(named), std::string::npos) << status;
  }

  ScopedEnv key("ENCRYPTION_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  ScopedEnv jwt("JWT_SECRET", "a-jwt-secret-of-at-least-32-characters!!");
  {
    ScopedEnv pipeline("SIGNAL_PIPELINE_KEY", "dk_from_env");
    parsed = ParseCommandLine(shared);
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(CheckSharedSecrets(parsed->config).ok());
    EXPECT_EQ(parsed->config.pipelines[0].key, "dk_from_env");
    // The flag wins over the environment.
    std::vector<std::string> with_flag = shared;
    with_flag.insert(with_flag.end(), {"--pipeline-key", "dk_from_flag"});
    parsed = ParseCommandLine(with_flag);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->config.pipelines[0].key, "dk_from_flag");
  }
  parsed = ParseCommandLine(shared);
  ASSERT_TRUE(parsed.ok());
  status = CheckSharedSecrets(parsed->config);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(std::string(status.message()).find("ENCRYPTION_KEY"), std::string::npos) << status;
}

TEST(DaemonConfigTest, MigrateSubcommand) {
  auto parsed = ParseCommandLine({"migrate", "--database-url", "postgresql://db/signal"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, CommandLine::Command::kMigrate);
  EXPECT_FALSE(parsed->migrate_status_only);
  parsed = ParseCommandLine({"migrate", "--status", "--database-url", "postgresql://db/signal"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->migrate_status_only);
  {
    ScopedEnv url("DATABASE_URL", nullptr);
    parsed = ParseCommandLine({"migrate"});
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(std::string(parsed.status().message()).find("DATABASE_URL"), std::string::npos);
  }
  EXPECT_FALSE(ParseCommandLine({"migrate", "--force"}).ok());
}

TEST(DaemonConfigTest, KafkaClientSettingsFollowTheConfig) {
  ScopedEnv no_tls("KAFKA_TLS_ENABLED", nullptr);
  ScopedEnv password("KAFKA_SASL_PASSWORD", "pw");
  auto parsed = ParseCommandLine({"--queue", "kafka", "--database-url", "postgresql://db/s",
                                  "--kafka-brokers", "b1:9092", "--kafka-group", "g1"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  kafka::KafkaOptions options = KafkaOptionsFor(parsed->config);
  EXPECT_EQ(options.brokers, "b1:9092");
  EXPECT_EQ(options.group_id, "g1");
  EXPECT_EQ(options.topic_prefix, "delivery-");
  EXPECT_EQ(options.security_protocol, "plaintext");
  EXPECT_EQ(options.client_id.rfind("signal-delivery-host-", 0), 0u) << options.client_id;
  EXPECT_EQ(options.max_unfinished_per_partition, 10000u);

  DaemonConfig config = parsed->config;
  config.kafka.tls = true;
  EXPECT_EQ(KafkaOptionsFor(config).security_protocol, "ssl");
  config.kafka.sasl_mechanism = "SCRAM-SHA-256";
  config.kafka.sasl_username = "signal";
  config.kafka.sasl_password = "pw";
  options = KafkaOptionsFor(config);
  EXPECT_EQ(options.security_protocol, "sasl_ssl");
  EXPECT_EQ(options.sasl_mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(options.sasl_password, "pw");
  config.kafka.tls = false;
  config.kafka.client_id = "pod-7";
  options = KafkaOptionsFor(config);
  EXPECT_EQ(options.security_protocol, "sasl_plaintext");
  EXPECT_EQ(options.client_id, "pod-7");
}

TEST(DaemonConfigTest, BadFlags) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--admin-port", "x"},
           {"--admin-port", "65536"},
           {"--nope"},
           {"--data-dir"},
           {"--plugin-option", "novalue"},
           {"--plugin-option", "hightouch=1"},
           {"--log-level", "loud"},
           {"--rate-limit", "0"},
           {"positional"},
           {"--config", "/nonexistent/signal.yaml"},
           {"token"},
           {"token", "--role", "admin", "--ttl", "-5"},
           {"--allow-insecure-plugins=yes"},
       }) {
    EXPECT_FALSE(ParseCommandLine(args).ok()) << args[0];
  }
}

TEST(DaemonConfigTest, TokenSubcommand) {
  auto parsed = ParseCommandLine({"token", "--role", "viewer", "--org", "org_x", "--sub", "usr_y",
                                  "--ttl", "60", "--data-dir", "/tmp/d"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, CommandLine::Command::kToken);
  EXPECT_EQ(parsed->token_role, "viewer");
  EXPECT_EQ(parsed->token_org, "org_x");
  EXPECT_EQ(parsed->token_subject, "usr_y");
  EXPECT_EQ(parsed->token_ttl_seconds, 60);
  EXPECT_EQ(parsed->config.data_dir, "/tmp/d");
}

TEST(DaemonConfigTest, HelpDocumentsEverySettingAndTheEnvironment) {
  auto parsed = ParseCommandLine({"--help"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->command, CommandLine::Command::kHelp);
  std::string help = HelpText();
  for (const char* word : {"--config",
                           "--data-dir",
                           "--plugin-dir",
                           "--runtime-dir",
                           "--admin-port",
                           "--events-port",
                           "--bind",
                           "--log-level",
                           "--plugin-option",
                           "--rate-limit",
                           "--pipeline-key",
                           "JWT_SECRET",
                           "ENCRYPTION_KEY",
                           "token",
                           "SIGTERM",
                           "max_body_bytes",
                           "events.max_queue_depth",
                           "--allow-insecure-plugins",
                           "plugins.allow_insecure_permissions",
                           "SIGNAL_ALLOW_INSECURE_PLUGINS",
                           "--queue",
                           "--kafka-brokers",
                           "--kafka-group",
                           "--database-url",
                           "KAFKA_BROKERS",
                           "KAFKA_TLS_ENABLED",
                           "KAFKA_CONSUMER_GROUP",
                           "KAFKA_SASL_PASSWORD",
                           "DATABASE_URL",
                           "migrate"}) {
    EXPECT_NE(help.find(word), std::string::npos) << word;
  }
}

}  // namespace
}  // namespace signal_host::daemon
