#include "config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config_yaml.h"
#include "yaml-cpp/yaml.h"

#ifndef SIGNAL_DEFAULT_PLUGIN_DIR
#define SIGNAL_DEFAULT_PLUGIN_DIR ""
#endif
#ifndef SIGNAL_PLUGIN_DIR_FROM_BINDIR
#define SIGNAL_PLUGIN_DIR_FROM_BINDIR "../lib/signal/plugins"
#endif

namespace signal_host::daemon {
namespace {

namespace fs = std::filesystem;

constexpr char kAllowInsecurePluginsKey[] = "allow_insecure_permissions";
constexpr char kAllowInsecurePluginsEnv[] = "SIGNAL_ALLOW_INSECURE_PLUGINS";

// The listener keys shared by admin and events.
constexpr const char* kListenerLimitKeys[] = {"max_connections",   "max_connections_per_client",
                                              "backlog",           "max_header_bytes",
                                              "header_timeout_ms", "body_timeout_ms",
                                              "idle_timeout_ms",   "max_inflate_ratio"};

absl::Status ApplyListenerLimits(const YAML::Node& node, const std::string& prefix, YamlReader& r,
                                 ListenerLimitsConfig& limits) {
  RETURN_IF_ERROR(r.Integer(node["max_connections"], prefix + ".max_connections",
                            limits.max_connections, 1, 1000000));
  RETURN_IF_ERROR(r.Integer(node["max_connections_per_client"],
                            prefix + ".max_connections_per_client",
                            limits.max_connections_per_client, 0, 1000000));
  RETURN_IF_ERROR(r.Integer(node["backlog"], prefix + ".backlog", limits.backlog, 16, 65535));
  RETURN_IF_ERROR(r.Integer(node["max_header_bytes"], prefix + ".max_header_bytes",
                            limits.max_header_bytes, 1024, 1 << 20));
  RETURN_IF_ERROR(r.Integer(node["header_timeout_ms"], prefix + ".header_timeout_ms",
                            limits.header_timeout_ms, 100, 600000));
  RETURN_IF_ERROR(r.Integer(node["body_timeout_ms"], prefix + ".body_timeout_ms",
                            limits.body_timeout_ms, 100, 3600000));
  RETURN_IF_ERROR(r.Integer(node["idle_timeout_ms"], prefix + ".idle_timeout_ms",
                            limits.idle_timeout_ms, 100, 3600000));
  RETURN_IF_ERROR(r.Integer(node["max_inflate_ratio"], prefix + ".max_inflate_ratio",
                            limits.max_inflate_ratio, 2, 100000));
  return absl::OkStatus();
}

std::set<std::string> WithListenerKeys(std::set<std::string> keys) {
  for (const char* key : kListenerLimitKeys) keys.emplace(key);
  return keys;
}

absl::Status ApplyYamlNode(const YAML::Node& root, YamlReader& r, DaemonConfig& c) {
  if (!root || root.IsNull()) return absl::OkStatus();
  RETURN_IF_ERROR(
      r.CheckKeys(root, "",
                  {"data_dir", "plugin_dir", "runtime_dir", "bind", "log_level", "admin", "events",
                   "store", "plugins", "pipelines", "queue", "kafka", "database"}));
  RETURN_IF_ERROR(ApplyScaleOutYaml(root, r, c));
  RETURN_IF_ERROR(r.String(root["data_dir"], "data_dir", c.data_dir));
  RETURN_IF_ERROR(r.String(root["plugin_dir"], "plugin_dir", c.plugin_dir));
  RETURN_IF_ERROR(r.String(root["runtime_dir"], "runtime_dir", c.runtime_dir));
  RETURN_IF_ERROR(r.String(root["bind"], "bind", c.bind_address));
  RETURN_IF_ERROR(r.String(root["log_level"], "log_level", c.log_level));

  if (YAML::Node admin = root["admin"]; admin && !admin.IsNull()) {
    RETURN_IF_ERROR(r.CheckKeys(admin, "admin",
                                WithListenerKeys({"port", "rate_limit_per_minute", "max_body_bytes",
                                                  "threads", "org_id"})));
    RETURN_IF_ERROR(ApplyListenerLimits(admin, "admin", r, c.admin_limits));
    RETURN_IF_ERROR(r.Integer(admin["port"], "admin.port", c.admin_port, 0, 65535));
    RETURN_IF_ERROR(r.Integer(admin["rate_limit_per_minute"], "admin.rate_limit_per_minute",
                              c.rate_limit_per_minute, 1, 1000000));
    RETURN_IF_ERROR(r.Integer(admin["max_body_bytes"], "admin.max_body_bytes",
                              c.admin_max_body_bytes, 1024, int64_t{1} << 30));
    RETURN_IF_ERROR(r.Integer(admin["threads"], "admin.threads", c.admin_threads, 2, 1024));
    RETURN_IF_ERROR(r.String(admin["org_id"], "admin.org_id", c.default_org_id));
  }
  if (YAML::Node events = root["events"]; events && !events.IsNull()) {
    RETURN_IF_ERROR(r.CheckKeys(events, "events",
                                WithListenerKeys({"port", "max_body_bytes", "max_batch_events",
                                                  "threads", "max_queue_depth"})));
    RETURN_IF_ERROR(ApplyListenerLimits(events, "events", r, c.events_limits));
    RETURN_IF_ERROR(r.Integer(events["port"], "events.port", c.events_port, 0, 65535));
    RETURN_IF_ERROR(r.Integer(events["max_body_bytes"], "events.max_body_bytes",
                              c.events_max_body_bytes, 1024, int64_t{1} << 30));
    RETURN_IF_ERROR(r.Integer(events["max_batch_events"], "events.max_batch_events",
                              c.max_batch_events, 1, 100000));
    RETURN_IF_ERROR(r.Integer(events["threads"], "events.threads", c.events_threads, 1, 1024));
    RETURN_IF_ERROR(r.Integer(events["max_queue_depth"], "events.max_queue_depth",
                              c.max_queue_depth, 0, int64_t{1} << 40));
  }
  if (YAML::Node store = root["store"]; store && !store.IsNull()) {
    RETURN_IF_ERROR(r.CheckKeys(store, "store", {"attempt_retention", "dead_letter_retention"}));
    RETURN_IF_ERROR(r.Integer(store["attempt_retention"], "store.attempt_retention",
                              c.attempt_retention, 1, int64_t{1} << 40));
    RETURN_IF_ERROR(r.Integer(store["dead_letter_retention"], "store.dead_letter_retention",
                              c.dead_letter_retention, 1, int64_t{1} << 40));
  }
  if (YAML::Node plugins = root["plugins"]; plugins && !plugins.IsNull()) {
    if (!plugins.IsMap()) return r.Error("plugins", "must map catalog keys to settings");
    for (const auto& item : plugins) {
      std::string key = item.first.as<std::string>();
      std::string path = absl::StrCat("plugins.", key);
      // The one setting of the plugin directory itself, beside the catalog keys.
      if (key == kAllowInsecurePluginsKey) {
        bool allow = false;
        if (!item.second.IsScalar() || !YAML::convert<bool>::decode(item.second, allow)) {
          return r.Error(path, "must be true or false");
        }
        c.allow_insecure_plugins = allow;
        continue;
      }
      if (item.second.IsNull()) continue;
      RETURN_IF_ERROR(r.CheckKeys(item.second, path, {"options"}));
      YAML::Node options = item.second["options"];
      if (!options || options.IsNull()) continue;
      if (!options.IsMap()) return r.Error(path + ".options", "must be a mapping");
      auto& list = c.plugin_options[key];
      for (const auto& option : options) {
        std::string name = option.first.as<std::string>();
        if (!option.second.IsScalar()) {
          return r.Error(absl::StrCat(path, ".options.", name), "must be a scalar");
        }
        list.emplace_back(name, option.second.as<std::string>());
      }
    }
  }
  if (YAML::Node pipelines = root["pipelines"]; pipelines && !pipelines.IsNull()) {
    if (!pipelines.IsSequence()) return r.Error("pipelines", "must be a list");
    c.pipelines.clear();
    std::set<std::string> names;
    for (size_t i = 0; i < pipelines.size(); ++i) {
      std::string path = absl::StrCat("pipelines[", i, "]");
      const YAML::Node& node = pipelines[i];
      RETURN_IF_ERROR(r.CheckKeys(node, path, {"name", "key", "org_id", "integrations"}));
      PipelineConfig pipeline;
      RETURN_IF_ERROR(r.String(node["name"], path + ".name", pipeline.name));
      RETURN_IF_ERROR(r.String(node["key"], path + ".key", pipeline.key));
      RETURN_IF_ERROR(r.String(node["org_id"], path + ".org_id", pipeline.org_id));
      if (YAML::Node list = node["integrations"]; list && !list.IsNull()) {
        if (!list.IsSequence()) return r.Error(path + ".integrations", "must be a list of names");
        for (const auto& name : list) pipeline.integrations.push_back(name.as<std::string>());
      }
      if (!names.insert(pipeline.name).second) {
        return r.Error(path + ".name", absl::StrCat("duplicate pipeline \"", pipeline.name, "\""));
      }
      if (pipeline.key.empty() && pipeline.name != "default") {
        return r.Error(path + ".key",
                       "is required (only the default pipeline gets a generated key)");
      }
      c.pipelines.push_back(std::move(pipeline));
    }
  }
  return absl::OkStatus();
}

// --- flags ----------------------------------------------------------------------------

struct Flag {
  std::string name;
  std::string value;
};

// Splits "--name=value" / "--name value"; flags without a value are listed in
// `boolean_flags`.
absl::StatusOr<std::vector<Flag>> SplitFlags(const std::vector<std::string>& args, size_t begin,
                                             const std::set<std::string>& value_flags,
                                             const std::set<std::string>& boolean_flags) {
  std::vector<Flag> flags;
  for (size_t i = begin; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg, "\""));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (boolean_flags.count(name) > 0) {
      if (has_value) return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      flags.push_back({name, ""});
      continue;
    }
    if (value_flags.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    flags.push_back({name, value});
  }
  return flags;
}

// "true"/"1"/"yes" or "false"/"0"/"no"/"" (unset in effect).
absl::Status ApplyAllowInsecurePluginsEnv(DaemonConfig& config) {
  const char* value = std::getenv(kAllowInsecurePluginsEnv);
  if (value == nullptr) return absl::OkStatus();
  const std::string text = value;
  if (text == "true" || text == "1" || text == "yes") {
    config.allow_insecure_plugins = true;
  } else if (text == "false" || text == "0" || text == "no" || text.empty()) {
    config.allow_insecure_plugins = false;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(kAllowInsecurePluginsEnv, "=\"", text, "\" must be true or false"));
  }
  return absl::OkStatus();
}

absl::Status ParsePort(const std::string& flag, const std::string& text, int& out) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0 || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": \"", text, "\" is not a port (0-65535)"));
  }
  out = value;
  return absl::OkStatus();
}

absl::Status ReadFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return absl::OkStatus();
}

// Applies the flags shared by serve and token: --config first (so other flags win).
absl::Status ApplyConfigFile(const std::vector<Flag>& flags, DaemonConfig& config) {
  for (const Flag& flag : flags) {
    if (flag.name != "config") continue;
    std::string text;
    RETURN_IF_ERROR(ReadFile(flag.value, text));
    RETURN_IF_ERROR(ApplyYaml(text, flag.value, config));
    config.config_file = flag.value;
  }
  return absl::OkStatus();
}

}  // namespace

std::string DaemonConfig::DatabasePath() const {
  return (fs::path(data_dir) / "signal.db").string();
}
std::string DaemonConfig::JwtSecretPath() const {
  return (fs::path(data_dir) / "jwt_secret").string();
}
std::string DaemonConfig::EncryptionKeyPath() const {
  return (fs::path(data_dir) / "encryption_key").string();
}
std::string DaemonConfig::PipelineKeyPath() const {
  return (fs::path(data_dir) / "pipeline_key").string();
}

absl::Status ApplyYaml(const std::string& yaml_text, const std::string& source,
                       DaemonConfig& config) {
  YamlReader reader(source);
  try {
    YAML::Node root = YAML::Load(yaml_text);
    return ApplyYamlNode(root, reader, config);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.what()));
  }
}

const char kPluginDirFromBinDir[] = SIGNAL_PLUGIN_DIR_FROM_BINDIR;

std::string DefaultPluginDir(const std::string& executable) {
  std::error_code error;
  if (!executable.empty()) {
    const fs::path installed =
        (fs::path(executable).parent_path() / kPluginDirFromBinDir).lexically_normal();
    if (fs::is_directory(installed, error)) return installed.string();
  }
  const std::string built = SIGNAL_DEFAULT_PLUGIN_DIR;
  if (!built.empty() && fs::is_directory(built, error)) return built;
  return "./plugins";
}

void FillDerivedDefaults(DaemonConfig& config) {
  if (config.runtime_dir.empty()) {
    config.runtime_dir = (fs::path(config.data_dir) / "run").string();
  }
  if (config.plugin_dir.empty()) {
    // The binary's real path (links resolved), so a relocated prefix still finds its plugins.
    std::error_code error;
    config.plugin_dir = DefaultPluginDir(fs::read_symlink("/proc/self/exe", error).string());
  }
  bool has_default = false;
  for (const PipelineConfig& pipeline : config.pipelines) {
    has_default = has_default || pipeline.name == "default";
  }
  if (!has_default) config.pipelines.insert(config.pipelines.begin(), PipelineConfig());
  for (PipelineConfig& pipeline : config.pipelines) {
    if (pipeline.org_id.empty()) pipeline.org_id = config.default_org_id;
  }
}

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine command_line;
  DaemonConfig& config = command_line.config;
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    command_line.command = CommandLine::Command::kHelp;
    return command_line;
  }

  if (!args.empty() && args[0] == "token") {
    command_line.command = CommandLine::Command::kToken;
    auto flags = SplitFlags(args, 1, {"role", "org", "sub", "ttl", "config", "data-dir"}, {"help"});
    if (!flags.ok()) return flags.status();
    RETURN_IF_ERROR(ApplyConfigFile(*flags, config));
    for (const Flag& flag : *flags) {
      if (flag.name == "help") {
        command_line.command = CommandLine::Command::kHelp;
      } else if (flag.name == "role") {
        command_line.token_role = flag.value;
      } else if (flag.name == "org") {
        command_line.token_org = flag.value;
      } else if (flag.name == "sub") {
        command_line.token_subject = flag.value;
      } else if (flag.name == "ttl") {
        if (!absl::SimpleAtoi(flag.value, &command_line.token_ttl_seconds) ||
            command_line.token_ttl_seconds <= 0) {
          return absl::InvalidArgumentError("--ttl must be a positive number of seconds");
        }
      } else if (flag.name == "data-dir") {
        config.data_dir = flag.value;
      }
    }
    bool org_given = std::any_of(flags->begin(), flags->end(),
                                 [](const Flag& flag) { return flag.name == "org"; });
    if (!org_given) command_line.token_org = config.default_org_id;
    if (command_line.command == CommandLine::Command::kToken && command_line.token_role.empty()) {
      return absl::InvalidArgumentError("token needs --role (viewer, editor, admin or owner)");
    }
    FillDerivedDefaults(config);
    return command_line;
  }

  if (!args.empty() && args[0] == "migrate") {
    command_line.command = CommandLine::Command::kMigrate;
    auto flags = SplitFlags(args, 1, {"config", "database-url"}, {"help", "status"});
    if (!flags.ok()) return flags.status();
    RETURN_IF_ERROR(ApplyConfigFile(*flags, config));
    RETURN_IF_ERROR(ApplyScaleOutEnvironment(config));
    for (const Flag& flag : *flags) {
      if (flag.name == "help") {
        command_line.command = CommandLine::Command::kHelp;
      } else if (flag.name == "status") {
        command_line.migrate_status_only = true;
      } else if (flag.name == "database-url") {
        config.database.url = flag.value;
      }
    }
    if (command_line.command == CommandLine::Command::kMigrate && !config.uses_postgres()) {
      return absl::InvalidArgumentError(
          "migrate needs a PostgreSQL database: --database-url, database.url or DATABASE_URL "
          "(the SQLite file migrates itself when the host opens it)");
    }
    return command_line;
  }

  auto flags = SplitFlags(args, 0,
                          {"config", "data-dir", "plugin-dir", "runtime-dir", "admin-port",
                           "events-port", "bind", "log-level", "plugin-option", "rate-limit",
                           "pipeline-key", "queue", "kafka-brokers", "kafka-group", "database-url"},
                          {"help", "allow-insecure-plugins"});
  if (!flags.ok()) return flags.status();
  RETURN_IF_ERROR(ApplyConfigFile(*flags, config));
  RETURN_IF_ERROR(ApplyAllowInsecurePluginsEnv(config));
  RETURN_IF_ERROR(ApplyScaleOutEnvironment(config));
  std::string pipeline_key;
  for (const Flag& flag : *flags) {
    if (flag.name == "help") {
      command_line.command = CommandLine::Command::kHelp;
    } else if (flag.name == "allow-insecure-plugins") {
      config.allow_insecure_plugins = true;
    } else if (flag.name == "data-dir") {
      config.data_dir = flag.value;
    } else if (flag.name == "plugin-dir") {
      config.plugin_dir = flag.value;
    } else if (flag.name == "runtime-dir") {
      config.runtime_dir = flag.value;
    } else if (flag.name == "admin-port") {
      RETURN_IF_ERROR(ParsePort(flag.name, flag.value, config.admin_port));
    } else if (flag.name == "events-port") {
      RETURN_IF_ERROR(ParsePort(flag.name, flag.value, config.events_port));
    } else if (flag.name == "bind") {
      config.bind_address = flag.value;
    } else if (flag.name == "log-level") {
      config.log_level = flag.value;
    } else if (flag.name == "rate-limit") {
      if (!absl::SimpleAtoi(flag.value, &config.rate_limit_per_minute) ||
          config.rate_limit_per_minute < 1) {
        return absl::InvalidArgumentError("--rate-limit must be a positive number per minute");
      }
    } else if (flag.name == "pipeline-key") {
      pipeline_key = flag.value;
    } else if (flag.name == "queue") {
      config.queue = flag.value;
    } else if (flag.name == "kafka-brokers") {
      config.kafka.brokers = flag.value;
    } else if (flag.name == "kafka-group") {
      config.kafka.consumer_group = flag.value;
    } else if (flag.name == "database-url") {
      config.database.url = flag.value;
    } else if (flag.name == "plugin-option") {
      // KEY.NAME=VALUE, e.g. hightouch.events_base_url=http://127.0.0.1:9000
      size_t dot = flag.value.find('.');
      size_t eq = flag.value.find('=');
      if (dot == std::string::npos || eq == std::string::npos || dot == 0 || eq < dot + 2) {
        return absl::InvalidArgumentError(
            absl::StrCat("--plugin-option \"", flag.value, "\" must look like KEY.NAME=VALUE"));
      }
      // A flag replaces the file's value of the same option.
      auto& list = config.plugin_options[flag.value.substr(0, dot)];
      std::string name = flag.value.substr(dot + 1, eq - dot - 1);
      std::string value = flag.value.substr(eq + 1);
      auto same = std::find_if(list.begin(), list.end(),
                               [&](const auto& option) { return option.first == name; });
      if (same != list.end()) {
        same->second = value;
      } else {
        list.emplace_back(name, value);
      }
    }
  }
  if (config.log_level != "debug" && config.log_level != "info" && config.log_level != "warn" &&
      config.log_level != "error") {
    return absl::InvalidArgumentError(absl::StrCat("log level \"", config.log_level,
                                                   "\" is not one of debug, info, warn, error"));
  }
  RETURN_IF_ERROR(CheckScaleOut(config));
  FillDerivedDefaults(config);
  if (pipeline_key.empty()) {
    // The flag wins over the environment, which wins over the file.
    if (const char* env = std::getenv("SIGNAL_PIPELINE_KEY"); env != nullptr && *env != '\0') {
      pipeline_key = env;
    }
  }
  if (!pipeline_key.empty()) {
    for (PipelineConfig& pipeline : config.pipelines) {
      if (pipeline.name == "default") pipeline.key = pipeline_key;
    }
  }
  return command_line;
}

std::string HelpText() {
  return R"(signal-delivery-host: loads Signal integration plugins and delivers events durably.

Usage:
  signal-delivery-host [--config FILE] [flags]     serve the admin and event APIs
  signal-delivery-host token --role ROLE [--org ORG] [--sub SUB] [--ttl SECONDS]
                       [--config FILE] [--data-dir DIR]
                                                   print an HS256 JWT for the admin API
  signal-delivery-host migrate [--database-url URL] [--config FILE] [--status]
                                                   create or upgrade the PostgreSQL schema
                                                   (versioned; --status only reports)
  signal-delivery-host --help

Settings (flag / YAML key: default)
  --config FILE                 YAML file with the settings below (flags win over it)
  --data-dir DIR      data_dir: ./signal-data
                      SQLite database signal.db, and the generated jwt_secret,
                      encryption_key and pipeline_key files (mode 0600)
  --plugin-dir DIR    plugin_dir: <binary's dir>/)" SIGNAL_PLUGIN_DIR_FROM_BINDIR R"(
                      when it exists (an installed host), else the build's plugin
                      directory, else ./plugins;
                      every *.so in it is loaded; a broken one is logged and skipped.
                      Only regular files (or links to them) that nobody but root and
                      the host's user can change are loaded: not writable by group or
                      others, owned by root or that user, in directories that are
                      neither (sticky ones like /tmp above the directory excepted)
  --allow-insecure-plugins
                      plugins.allow_insecure_permissions: false   load plugin files that
                      fail those ownership and mode checks anyway, with a warning each
                      (also SIGNAL_ALLOW_INSECURE_PLUGINS=true); FIFOs, devices,
                      directories and dangling links are refused regardless
  --runtime-dir DIR   runtime_dir: <data dir>/run
                      each plugin also serves its gRPC interface on <dir>/<key>.sock
  --bind ADDR         bind: 127.0.0.1   address of both listeners
  --admin-port N      admin.port: 8084  Management API, UI, /metrics, /healthz, /readyz
                                        (0 picks a free port; the bound ports are printed)
  --events-port N     events.port: 8080 event API (/v1/t, /v1/p, /v1/i, /v1/g, /v1/batch)
  --log-level L       log_level: info   debug, info, warn or error (to stderr)
  --rate-limit N      admin.rate_limit_per_minute: 100   admin requests per user per minute
  --pipeline-key KEY  pipelines[default].key: generated once and kept in <data dir>
  --plugin-option KEY.NAME=VALUE
                      plugins.KEY.options.NAME   an option for the plugin serving catalog
                      key KEY (repeatable), e.g.
                      --plugin-option hightouch.events_base_url=http://127.0.0.1:9000
                      admin.max_body_bytes: 1048576    events.max_body_bytes: 524288
                      events.max_batch_events: 500     admin.threads: 16
                      events.threads: 32 (requests handled at once; slow clients hold
                      no thread)
                      admin.max_connections: 1024    events.max_connections: 10000
                      admin.max_connections_per_client: 64 (0: no cap)
                      events.max_connections_per_client: 1024 (raise or 0 behind a proxy)
                      *.backlog: 4096   *.max_header_bytes: 16384
                      *.header_timeout_ms: 10000 (first byte to end of the head)
                      *.body_timeout_ms: 30000   *.idle_timeout_ms: 5000 (keep-alive)
                      *.max_inflate_ratio: 100   (gzip/deflate bodies: decoded bytes per
                      byte read; max_body_bytes applies to the decoded body too)
                      admin.org_id: org_default
                      store.attempt_retention: 10000   store.dead_letter_retention: 100000
                      events.max_queue_depth: 5000000  (0: no limit) while an integration
                      a pipeline routes to has this many events queued or more, the event
                      API answers 503 QUEUE_FULL with Retry-After: 1 and queues nothing

Scale-out (docs/ARCHITECTURE.md, "Scale-out mode")
  --queue Q           queue: sqlite   where events queue: sqlite (the file in the data
                      dir) or kafka (Signal's delivery-{integration_id} topics, consumed
                      as one consumer group; the event API produces to them)
  --kafka-brokers L   kafka.brokers: localhost:9092   (env KAFKA_BROKERS)
  --kafka-group G     kafka.consumer_group: signal-delivery-host   (env KAFKA_CONSUMER_GROUP)
                      kafka.tls: false (env KAFKA_TLS_ENABLED: true or false)
                      kafka.ssl_ca_location: the system's CAs
                      kafka.sasl_mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
                      kafka.sasl_username, password from env KAFKA_SASL_PASSWORD only
                      kafka.topic_prefix: delivery-   kafka.client_id: <hostname>
                      kafka.max_unfinished_per_partition: 10000 (then it pauses)
                      kafka.session_timeout_ms: 10000
  --database-url URL  database.url: empty (SQLite)   (env DATABASE_URL)
                      postgresql://... : configs, revisions, holds, dead letters and
                      attempts shared by every host (needs queue: kafka); create or
                      upgrade the schema first with signal-delivery-host migrate
                      database.pool_size: 8
  The environment overrides the file for these; flags override both.

Pipelines (YAML only)
  pipelines:
    - name: default            # routes to every enabled integration of its org
      key: dk_...              # optional for "default"; generated when absent
    - name: web
      key: dk_web_...
      org_id: org_default
      integrations: [Hightouch]   # integration names

Example file
  data_dir: /var/lib/signal
  plugins:
    hightouch:
      options:
        events_base_url: https://{region}.hightouch-events.com
        api_base_url: https://api.hightouch.com

Environment
  JWT_SECRET       HS256 key for admin tokens (at least 32 characters). When unset, one is
                   generated into <data dir>/jwt_secret (0600) and reused.
  ENCRYPTION_KEY   AES-256-GCM key for secrets at rest: 64 hex characters or base64 of 32
                   bytes. When unset, one is generated into <data dir>/encryption_key (0600).
  KAFKA_BROKERS    kafka.brokers (Signal's names for the scale-out settings; they
  KAFKA_TLS_ENABLED                   override the file, flags override them)
  KAFKA_CONSUMER_GROUP                kafka.consumer_group
  KAFKA_SASL_PASSWORD                 the SASL password (environment only)
  DATABASE_URL     database.url. With it, JWT_SECRET, ENCRYPTION_KEY and the default
                   pipeline's key must be given, the same to every host; none is generated.
  SIGNAL_PIPELINE_KEY
                   the default pipeline's event-API key (overrides pipelines[default].key;
                   --pipeline-key overrides it).
  SIGNAL_ALLOW_INSECURE_PLUGINS
                   true or false: overrides plugins.allow_insecure_permissions (and is
                   overridden by --allow-insecure-plugins).

Signals
  SIGTERM, SIGINT  stop accepting requests, drain deliveries in flight, close the store, exit 0.
                   While plugins are still loading: exit 0 at once (nothing is open yet).
)";
}

}  // namespace signal_host::daemon
