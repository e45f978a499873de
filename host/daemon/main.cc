// signal-delivery-host: loads integration plugins, serves the Management API (with
// the UI) and the event API, and delivers queued events through the plugins.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "admin_service.h"
#include "attempt_hub.h"
#include "backends.h"
#include "config.h"
#include "event_service.h"
#include "host/auth/jwt.h"
#include "host/crypto/ids.h"
#include "host/crypto/secret_box.h"
#include "host/delivery/delivery_engine.h"
#include "host/kafka/kafka_delivery_queue.h"
#include "host/kafka/kafka_metrics.h"
#include "host/metrics/host_metrics.h"
#include "host/store/config_changes.h"
#include "host/store/postgres/pg_migrations.h"
#include "http_frontend.h"
#include "integration_directory.h"
#include "log.h"
#include "plugin_registry.h"
#include "secrets.h"
#include "stop_signals.h"
#include "ui_assets.h"

#ifndef SIGNAL_HOST_VERSION
#define SIGNAL_HOST_VERSION "0.0.0"
#endif

namespace signal_host::daemon {
namespace {

using api::LogError;
using api::LogInfo;
using api::LogWarn;

constexpr char kHostAgent[] = "signal-delivery-host/" SIGNAL_HOST_VERSION;

// Prints a line on stdout at once: tests and scripts read the bound ports from it.
void Announce(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void ApplyListenerConfig(int port, int threads, size_t max_body_bytes,
                         const ListenerLimitsConfig& limits, http::ServerOptions& out) {
  out.port = port;
  out.worker_threads = threads;
  out.backlog = limits.backlog;
  out.max_connections = limits.max_connections;
  out.max_connections_per_client = limits.max_connections_per_client;
  out.limits.max_body_bytes = max_body_bytes;
  out.limits.max_header_bytes = limits.max_header_bytes;
  out.limits.header_timeout = std::chrono::milliseconds(limits.header_timeout_ms);
  out.limits.body_timeout = std::chrono::milliseconds(limits.body_timeout_ms);
  out.limits.idle_timeout = std::chrono::milliseconds(limits.idle_timeout_ms);
  out.limits.max_inflate_ratio = limits.max_inflate_ratio;
}

std::string DisplayHost(const std::string& bind) {
  return bind == "0.0.0.0" || bind.empty() ? "127.0.0.1" : bind;
}

int Fail(const absl::Status& status) {
  LogError(std::string(status.message()));
  return 1;
}

absl::StatusOr<std::string> JwtSecretFor(const DaemonConfig& config) {
  auto secret = ResolveJwtSecret(config.data_dir);
  if (!secret.ok()) return secret.status();
  if (secret->source == ResolvedSecret::Source::kGenerated) {
    LogInfo(absl::StrCat("JWT_SECRET is not set; generated a signing key into ",
                         config.JwtSecretPath(), " (mode 0600)"));
  } else if (secret->source == ResolvedSecret::Source::kEnvironment && secret->value.size() < 32) {
    LogWarn("JWT_SECRET is shorter than 32 characters; use at least 256 bits");
  }
  return secret->value;
}

int RunToken(const CommandLine& command_line) {
  std::optional<Role> role = ParseRole(command_line.token_role);
  if (!role) {
    std::cerr << "signal-delivery-host: unknown role \"" << command_line.token_role
              << "\" (use viewer, editor, admin or owner)\n";
    return 2;
  }
  auto secret = JwtSecretFor(command_line.config);
  if (!secret.ok()) return Fail(secret.status());
  Claims claims;
  claims.sub = command_line.token_subject;
  claims.org_id = command_line.token_org;
  claims.role = *role;
  claims.iat = absl::ToUnixSeconds(absl::Now());
  claims.exp = claims.iat + command_line.token_ttl_seconds;
  auto token = SignToken(claims, *secret);
  if (!token.ok()) return Fail(token.status());
  std::cout << *token << "\n";
  return 0;
}

// Creates or upgrades the PostgreSQL schema; safe while hosts run and when several
// run it at once (each step takes an advisory lock). Exit codes: 0 done (or, with
// --status, up to date), 1 failed (no connection, a step failed, a database newer than
// this build), 3 (--status) migrations pending. Usage errors exit 2 from main().
int RunMigrate(const CommandLine& command_line) {
  constexpr int kPending = 3;
  auto conn =
      pg::Connection::Open(command_line.config.database.url, "signal-delivery-host migrate");
  if (!conn.ok()) return Fail(conn.status());
  auto before = pg::SchemaVersion(**conn);
  if (!before.ok()) return Fail(before.status());
  const int known = pg::LatestSchemaVersion();
  if (command_line.migrate_status_only) {
    std::cout << "schema version " << *before << " (this build knows " << known << ")\n";
    if (*before > known) {
      LogError("the database is newer than this build: upgrade signal-delivery-host");
      return 1;
    }
    if (*before < known) {
      std::cout << known - *before << " migration(s) pending: run `signal-delivery-host migrate`\n";
      return kPending;
    }
    return 0;
  }
  if (absl::Status status = pg::Migrate(**conn); !status.ok()) return Fail(status);
  auto after = pg::SchemaVersion(**conn);
  if (!after.ok()) return Fail(after.status());
  if (*after == *before) {
    std::cout << "schema version " << *after << ": up to date\n";
  } else {
    std::cout << "schema version " << *before << " -> " << *after << ": migrated\n";
  }
  return 0;
}

// Loads every plugin, logging each step as it happens: the order of the lines names
// the plugin that was loading if the process dies. Plugins load before the store
// opens and before any listener starts, so a SIGTERM while one hangs can end the
// process at once with nothing to close.
void LoadPlugins(const DaemonConfig& config, PluginRegistry& plugins) {
  PluginLoadSettings settings;
  settings.options_by_key = config.plugin_options;
  settings.runtime_dir = config.runtime_dir;
  settings.host_agent = kHostAgent;
  settings.allow_insecure_permissions = config.allow_insecure_plugins;
  settings.log_info = [](std::string_view line) { LogInfo(line); };
  settings.log_warn = [](std::string_view line) { LogWarn(line); };
  settings.log_error = [](std::string_view line) { LogError(line); };
  LogInfo(absl::StrCat("loading plugins from ", config.plugin_dir,
                       config.allow_insecure_plugins
                           ? " (plugins.allow_insecure_permissions is set: files that others "
                             "can change load with a warning)"
                           : ""));
  plugins.LoadDirectory(config.plugin_dir, settings);
  if (plugins.size() == 0) {
    LogWarn(absl::StrCat("no plugin loaded from ", config.plugin_dir,
                         "; the catalog is empty until one is added and the host restarted"));
  }
}

int RunServe(const CommandLine& command_line) {
  const DaemonConfig& config = command_line.config;
  LogInfo(absl::StrCat(kHostAgent, " starting; data dir ", config.data_dir,
                       config.config_file.empty() ? "" : ", config " + config.config_file));

  // Signals are taken synchronously by the main thread; block them before any thread
  // starts so every thread inherits the mask.
  BlockStopSignals();

  if (absl::Status status = CheckSharedSecrets(config); !status.ok()) return Fail(status);
  if (absl::Status status = EnsureDirectory(config.data_dir); !status.ok()) return Fail(status);
  if (absl::Status status = EnsureDirectory(config.runtime_dir); !status.ok()) {
    return Fail(status);
  }
  auto jwt_secret = JwtSecretFor(config);
  if (!jwt_secret.ok()) return Fail(jwt_secret.status());

  PluginRegistry plugins;
  if (const char* received = RunUnlessStopped([&] { LoadPlugins(config, plugins); })) {
    LogInfo(absl::StrCat("received ", received, " while loading plugins; exiting"));
    // The loading thread may be stuck inside a plugin, holding the dynamic linker's
    // lock that exit()'s destructors would wait for.
    _exit(0);
  }

  std::optional<SecretBox> secret_box;
  if (const char* key = std::getenv("ENCRYPTION_KEY"); key != nullptr && *key != '\0') {
    auto box = SecretBox::FromKeyText(key);
    if (!box.ok()) return Fail(box.status());
    secret_box.emplace(*box);
  } else {
    bool created = false;
    auto box = SecretBox::LoadOrCreateKeyFile(config.EncryptionKeyPath(), &created);
    if (!box.ok()) return Fail(box.status());
    secret_box.emplace(*box);
    if (created) {
      LogInfo(absl::StrCat("ENCRYPTION_KEY is not set; generated a key into ",
                           config.EncryptionKeyPath(), " (mode 0600)"));
    }
  }

  auto opened = Backends::Open(config, &*secret_box);
  if (!opened.ok()) return Fail(opened.status());
  std::unique_ptr<Backends> backends = std::move(*opened);
  LogInfo(absl::StrCat("state and queue: ", backends->Describe()));

  std::vector<api::PipelineRoute> pipelines;
  for (const PipelineConfig& pipeline : config.pipelines) {
    std::string key = pipeline.key;
    if (pipeline.name == "default") {
      auto resolved = ResolvePipelineKey(pipeline.key, config.data_dir);
      if (!resolved.ok()) return Fail(resolved.status());
      key = resolved->value;
    }
    pipelines.push_back({pipeline.name, key, pipeline.org_id, pipeline.integrations});
  }

  metrics::Registry registry;
  auto host_metrics = metrics::HostMetrics::Create(registry);
  if (!host_metrics.ok()) return Fail(host_metrics.status());

  api::AttemptHub hub;
  delivery::EngineOptions engine_options;
  engine_options.log = [](std::string_view line) { LogInfo(line); };
  engine_options.sender.user_agent = kHostAgent;
  // Each part gets only the narrow interfaces it uses (backends.h).
  delivery::DeliveryEngine engine(
      backends->configs(), backends->delivery(),
      [&plugins](std::string_view vendor) -> delivery::DeliveryEngine::Stub* {
        const RegisteredPlugin* plugin = plugins.Find(vendor);
        return plugin == nullptr ? nullptr : plugin->stub();
      },
      host_metrics->get(), engine_options);
  engine.SetAttemptListener([&hub](const AttemptRecord& attempt) { hub.Publish(attempt); });
  if (absl::Status status = engine.Start(); !status.ok()) return Fail(status);

  api::IntegrationDirectory directory(backends->configs());
  if (absl::Status status = directory.Reload(); !status.ok()) return Fail(status);

  // Kafka: the consumer follows the integrations this host can deliver and wakes the
  // engine when their records arrive. PostgreSQL: other hosts' installs, revisions and
  // holds reach this host's directory, engine and subscriptions within seconds.
  auto served = [&plugins](std::string_view vendor) { return plugins.Find(vendor) != nullptr; };
  auto sync_subscriptions = [&backends, &served] {
    if (absl::Status status = backends->SyncSubscriptions(served); !status.ok()) {
      LogError(absl::StrCat("updating the Kafka subscriptions failed: ", status.ToString()));
    }
  };
  std::unique_ptr<kafka::KafkaMetrics> kafka_metrics;
  if (kafka::KafkaDeliveryQueue* consumer = backends->kafka_queue()) {
    auto created = kafka::KafkaMetrics::Create(registry, consumer);
    if (!created.ok()) return Fail(created.status());
    kafka_metrics = std::move(*created);
    consumer->SetArrivalListener([&engine](std::string_view id) { engine.Notify(id); });
    sync_subscriptions();
  }
  if (ConfigChangeFeed* changes = backends->changes()) {
    changes->SetListener([&](std::string_view integration_id) {
      if (absl::Status status = directory.Reload(); !status.ok()) {
        LogError(absl::StrCat("reloading the integration directory failed: ", status.ToString()));
      }
      if (integration_id.empty()) {
        // A re-sync after a lost connection: anything may have changed.
        absl::StatusOr<std::vector<IntegrationRecord>> all = backends->configs()->AllIntegrations();
        if (all.ok()) {
          for (const IntegrationRecord& record : *all) (void)engine.Refresh(record.id);
        }
      } else if (absl::Status status = engine.Refresh(integration_id); !status.ok()) {
        LogError(absl::StrCat("delivery refresh of ", std::string(integration_id),
                              " failed: ", status.ToString()));
      }
      sync_subscriptions();
    });
  }

  std::atomic<bool> ready{false};
  api::AdminServiceOptions admin_options;
  admin_options.jwt_secret = *jwt_secret;
  admin_options.rate_limit_per_minute = config.rate_limit_per_minute;
  admin_options.max_live_streams = std::max(1, config.admin_threads / 2);
  api::AdminService admin_service(admin_options,
                                  {.configs = backends->configs(),
                                   .dead_letters = backends->dead_letters(),
                                   .attempts = backends->attempts(),
                                   .queue = backends->ingest(),
                                   .plugins = &plugins,
                                   .directory = &directory,
                                   .engine = &engine,
                                   .hub = &hub,
                                   .registry = &registry,
                                   .ready = &ready,
                                   .backend_health = [&backends] { return backends->Health(); },
                                   .after_change =
                                       [&](std::string_view) {
                                         if (backends->kafka_queue()) {
                                           sync_subscriptions();
                                         }
                                       }});
  api::EventService event_service({pipelines, config.max_batch_events, config.max_queue_depth},
                                  {.queue = backends->ingest(),
                                   .directory = &directory,
                                   .engine = &engine,
                                   .metrics = host_metrics->get(),
                                   .new_message_id = [] { return NewUuidV4(); }});
  api::FrontendOptions frontend_options;
  frontend_options.bind_address = config.bind_address;
  ApplyListenerConfig(config.admin_port, config.admin_threads, config.admin_max_body_bytes,
                      config.admin_limits, frontend_options.admin);
  // A live-event stream holds a thread of its own; the admin service refuses more.
  frontend_options.admin.max_streams = static_cast<size_t>(admin_options.max_live_streams);
  ApplyListenerConfig(config.events_port, config.events_threads, config.events_max_body_bytes,
                      config.events_limits, frontend_options.events);
  frontend_options.ui_assets = UiAssets();
  frontend_options.registry = &registry;
  api::HttpFrontend frontend(frontend_options, &admin_service, &event_service);
  if (absl::Status status = frontend.Start(); !status.ok()) return Fail(status);
  ready = true;

  std::string host = DisplayHost(config.bind_address);
  Announce(absl::StrCat("admin listening on http://", host, ":", frontend.admin_port()));
  Announce(absl::StrCat("events listening on http://", host, ":", frontend.events_port()));
  for (const api::PipelineRoute& pipeline : pipelines) {
    Announce(absl::StrCat("pipeline ", pipeline.name, " key: ", pipeline.key));
  }
  LogInfo(absl::StrCat("ready: ", plugins.size(), " plugin(s), Management UI at http://", host, ":",
                       frontend.admin_port(), "/"));

  const char* received = WaitForStopSignal();
  LogInfo(
      absl::StrCat("received ", received, "; no longer accepting requests, draining deliveries"));
  ready = false;
  hub.Close();
  frontend.Stop();
  if (ConfigChangeFeed* changes = backends->changes()) changes->SetListener(nullptr);
  engine.Stop();
  // The consumer's final commit and leaving the group come after the engine
  // finished or released everything in flight.
  kafka_metrics.reset();
  backends.reset();
  plugins.Clear();
  LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace signal_host::daemon

int main(int argc, char** argv) {
  using signal_host::daemon::CommandLine;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto command_line = signal_host::daemon::ParseCommandLine(args);
  if (!command_line.ok()) {
    std::cerr << "signal-delivery-host: " << command_line.status().message()
              << "\nRun signal-delivery-host --help for the settings.\n";
    return 2;
  }
  switch (command_line->command) {
    case CommandLine::Command::kHelp:
      std::cout << signal_host::daemon::HelpText();
      return 0;
    case CommandLine::Command::kToken:
      return signal_host::daemon::RunToken(*command_line);
    case CommandLine::Command::kMigrate:
      return signal_host::daemon::RunMigrate(*command_line);
    case CommandLine::Command::kServe:
      signal_host::api::SetLogLevel(command_line->config.log_level);
      return signal_host::daemon::RunServe(*command_line);
  }
  return 0;
}
