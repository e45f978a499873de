// signal-plugin: loads any Signal integration plugin through the host's loader and
// drives it only over its gRPC service, the way signal-delivery-host does.
//
//   signal-plugin describe          --plugin PATH
//   signal-plugin validate          --plugin PATH --config FILE [--variant KEY]
//   signal-plugin check-credentials --plugin PATH --config FILE [--variant KEY]
//   signal-plugin translate         --plugin PATH --config FILE [--variant KEY]
//                                   [--sent-at ISO] [--show-secrets] < events.jsonl
// Every command accepts --option KEY=VALUE (repeatable, passed to the plugin) and --help.
// Exit status: 0 success, 1 violations or a failed credential check, 2 usage or load
// error.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "json_output.h"
#include "plugin_loader.h"
#include "rapidjson/document.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace signal_plugin_tool {
namespace {

namespace v1 = signal::integration::v1;

constexpr int kExitOk = 0;
constexpr int kExitRejected = 1;
constexpr int kExitUsage = 2;

// Events per Translate call, and a byte budget that keeps a call well under the
// loader's 64 MiB message limit.
constexpr size_t kChunkEvents = 500;
constexpr size_t kChunkBytes = 16 * 1024 * 1024;

constexpr auto kRpcTimeout = std::chrono::seconds(60);

constexpr absl::string_view kGeneralUsage =
    "usage: signal-plugin COMMAND --plugin PATH [options]\n"
    "\n"
    "Loads a Signal integration plugin (.so) and calls it over its gRPC service.\n"
    "\n"
    "commands:\n"
    "  describe           print the plugin's catalog entry as JSON\n"
    "  validate           merge a config with its variant's defaults and judge it\n"
    "  check-credentials  validate a config, then probe the vendor with it\n"
    "  translate          turn canonical events (JSON lines on stdin) into vendor requests\n"
    "\n"
    "Run 'signal-plugin COMMAND --help' for a command's options.\n"
    "Exit status: 0 success, 1 violations or failed check, 2 usage or load error.\n";

constexpr absl::string_view kOptionHelp =
    "  --option KEY=VALUE  plugin option, repeatable (e.g. events_base_url=http://127.0.0.1:9000)\n"
    "  --help              this text\n";

struct Command {
  absl::string_view name;
  absl::string_view synopsis;
  absl::string_view details;
  std::set<absl::string_view> flags;  // value flags besides --plugin and --option
  std::set<absl::string_view> switches;
  bool needs_config;
};

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"describe",
       "signal-plugin describe --plugin PATH",
       "Prints the catalog entry in Signal's snake_case catalog JSON.\n",
       {},
       {},
       false},
      {"validate",
       "signal-plugin validate --plugin PATH --config FILE [--variant KEY]",
       "Prints the merged config (secrets masked as \"***\") and the delivery settings,\n"
       "or one violation per line as 'field: code: message' (exit 1).\n"
       "  --config FILE       the user's config, a JSON object\n"
       "  --variant KEY       variant whose defaults are merged in (default: the first)\n",
       {"--config", "--variant"},
       {},
       true},
      {"check-credentials",
       "signal-plugin check-credentials --plugin PATH --config FILE [--variant KEY]",
       "Validates the config (violations: exit 1), then asks the plugin to probe the vendor.\n"
       "Prints outcome, message, vendor_status and probe as JSON; exit 0 only for ok.\n"
       "  --config FILE       the user's config, a JSON object\n"
       "  --variant KEY       variant whose defaults are merged in (default: the first)\n",
       {"--config", "--variant"},
       {},
       true},
      {"translate",
       "signal-plugin translate --plugin PATH --config FILE [--variant KEY] [--sent-at ISO]\n"
       "                        [--show-secrets] < events.jsonl",
       "Reads canonical Signal events, one JSON object per line (blank lines skipped), and\n"
       "prints one JSON line per vendor request and per rejected event:\n"
       "  {\"request\":{\"method\",\"url\",\"headers\",\"body\",\"message_ids\",\"lines\"}}\n"
       "  {\"rejection\":{\"message_id\",\"reason\",\"message\",\"line\"}}\n"
       "  --config FILE       the user's config, a JSON object\n"
       "  --variant KEY       variant whose defaults are merged in (default: the first)\n"
       "  --sent-at ISO       attempt time written as sentAt, RFC 3339 (default: now)\n"
       "  --show-secrets      print the Authorization header unmasked\n",
       {"--config", "--variant", "--sent-at"},
       {"--show-secrets"},
       true},
  };
  return *commands;
}

struct Arguments {
  const Command* command = nullptr;
  bool help = false;
  std::string plugin;
  std::map<std::string, std::string, std::less<>> values;  // --config, --variant, ...
  std::vector<std::pair<std::string, std::string>> options;
  std::set<std::string, std::less<>> switches;

  std::string Value(absl::string_view flag) const {
    auto it = values.find(flag);
    return it == values.end() ? std::string() : it->second;
  }
};

void PrintCommandUsage(const Command& command, std::FILE* out) {
  std::string text = absl::StrCat("usage: ", command.synopsis, "\n\n", command.details,
                                  "  --plugin PATH       the plugin shared library\n", kOptionHelp);
  std::fputs(text.c_str(), out);
}

int UsageError(absl::string_view message, const Command* command) {
  std::fprintf(stderr, "signal-plugin: %.*s\n", static_cast<int>(message.size()), message.data());
  if (command != nullptr) {
    std::fprintf(stderr, "usage: %.*s\n", static_cast<int>(command->synopsis.size()),
                 command->synopsis.data());
  } else {
    std::fputs("run 'signal-plugin --help' for usage\n", stderr);
  }
  return kExitUsage;
}

// Parses argv into `args`; returns an exit code when parsing ends the program.
std::optional<int> ParseArguments(int argc, char** argv, Arguments& args) {
  if (argc < 2) return UsageError("missing command", nullptr);
  absl::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    std::fputs(std::string(kGeneralUsage).c_str(), stdout);
    return kExitOk;
  }
  for (const Command& command : Commands()) {
    if (command.name == first) args.command = &command;
  }
  if (args.command == nullptr) {
    return UsageError(absl::StrCat("unknown command '", first, "'"), nullptr);
  }
  const Command& command = *args.command;
  for (int i = 2; i < argc; ++i) {
    absl::string_view token = argv[i];
    std::string flag(token);
    std::optional<std::string> inline_value;
    if (size_t eq = token.find('='); absl::StartsWith(token, "--") && eq != std::string::npos) {
      flag = std::string(token.substr(0, eq));
      inline_value = std::string(token.substr(eq + 1));
    }
    if (flag == "--help" || flag == "-h") {
      args.help = true;
      continue;
    }
    if (command.switches.count(flag) > 0) {
      if (inline_value) return UsageError(absl::StrCat(flag, " takes no value"), &command);
      args.switches.insert(flag);
      continue;
    }
    const bool value_flag =
        flag == "--plugin" || flag == "--option" || command.flags.count(flag) > 0;
    if (!value_flag) {
      return UsageError(absl::StrCat("unknown option '", flag, "' for ", command.name), &command);
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return UsageError(absl::StrCat(flag, " needs a value"), &command);
    }
    if (flag == "--plugin") {
      args.plugin = value;
    } else if (flag == "--option") {
      size_t eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        return UsageError(absl::StrCat("--option expects KEY=VALUE, got '", value, "'"), &command);
      }
      args.options.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else {
      args.values[flag] = value;
    }
  }
  if (args.help) {
    PrintCommandUsage(command, stdout);
    return kExitOk;
  }
  if (args.plugin.empty()) return UsageError("missing --plugin PATH", &command);
  if (command.needs_config && args.values.count("--config") == 0) {
    return UsageError("missing --config FILE", &command);
  }
  return std::nullopt;
}

int Fail(absl::string_view message) {
  std::fprintf(stderr, "signal-plugin: %.*s\n", static_cast<int>(message.size()), message.data());
  return kExitUsage;
}

int RpcFailure(absl::string_view rpc, const grpc::Status& status) {
  return Fail(absl::StrCat(rpc, " failed (gRPC status ", static_cast<int>(status.error_code()),
                           "): ", status.error_message()));
}

std::unique_ptr<grpc::ClientContext> RpcContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  return context;
}

std::optional<std::string> ReadFile(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = absl::StrCat("cannot read ", path);
    return std::nullopt;
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    error = absl::StrCat("error reading ", path);
    return std::nullopt;
  }
  return contents.str();
}

void PrintViolations(const v1::ValidateConfigResponse& response, std::FILE* out) {
  for (const v1::FieldViolation& violation : response.violations()) {
    std::fprintf(out, "%s: %s: %s\n", violation.field().c_str(), violation.code().c_str(),
                 violation.message().c_str());
  }
}

// Runs ValidateConfig for --config/--variant. Returns an exit code when the program
// should stop: violations (printed to `violations_out`) or an error.
std::optional<int> Validate(const signal_host::LoadedPlugin& plugin, const Arguments& args,
                            v1::ValidateConfigResponse& response, std::FILE* violations_out) {
  std::string error;
  std::optional<std::string> config = ReadFile(args.Value("--config"), error);
  if (!config) return Fail(error);
  v1::ValidateConfigRequest request;
  request.set_variant(args.Value("--variant"));
  request.set_config_json(*std::move(config));
  auto context = RpcContext();
  grpc::Status status = plugin.stub()->ValidateConfig(context.get(), request, &response);
  if (!status.ok()) return RpcFailure("ValidateConfig", status);
  if (!response.valid() || response.violations_size() > 0) {
    PrintViolations(response, violations_out);
    return kExitRejected;
  }
  return std::nullopt;
}

int RunDescribe(const signal_host::LoadedPlugin& plugin) {
  v1::DescribeResponse response;
  auto context = RpcContext();
  grpc::Status status = plugin.stub()->Describe(context.get(), v1::DescribeRequest(), &response);
  if (!status.ok()) return RpcFailure("Describe", status);
  std::printf("%s\n", CatalogEntryJson(response.entry()).c_str());
  return kExitOk;
}

int RunValidate(const signal_host::LoadedPlugin& plugin, const Arguments& args) {
  v1::ValidateConfigResponse response;
  if (std::optional<int> stop = Validate(plugin, args, response, stdout)) return *stop;

  // Assembled as a document so that the nested pieces print with one indentation.
  rapidjson::Document root(rapidjson::kObjectType);
  auto& allocator = root.GetAllocator();
  auto add_json = [&](const char* key, const std::string& json) {
    rapidjson::Document piece(&allocator);
    piece.Parse(json.c_str(), json.size());
    root.AddMember(rapidjson::StringRef(key), rapidjson::Value(piece, allocator), allocator);
  };
  root.AddMember("valid", true, allocator);
  root.AddMember("variant", rapidjson::Value(response.variant().c_str(), allocator), allocator);
  add_json("config", MaskedConfigJson(response.merged_config_json(), response.secret_fields(),
                                      /*pretty=*/false));
  rapidjson::Value secrets(rapidjson::kArrayType);
  for (const std::string& key : response.secret_fields()) {
    secrets.PushBack(rapidjson::Value(key.c_str(), allocator), allocator);
  }
  root.AddMember("secret_fields", secrets, allocator);
  add_json("delivery", MessageJson(response.delivery(), /*pretty=*/false));

  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  root.Accept(writer);
  std::printf("%s\n", buffer.GetString());
  return kExitOk;
}

int RunCheckCredentials(const signal_host::LoadedPlugin& plugin, const Arguments& args) {
  v1::ValidateConfigResponse validated;
  if (std::optional<int> stop = Validate(plugin, args, validated, stderr)) return *stop;
  v1::CheckCredentialsRequest request;
  request.set_config_json(validated.merged_config_json());
  v1::CheckCredentialsResponse response;
  auto context = RpcContext();
  grpc::Status status = plugin.stub()->CheckCredentials(context.get(), request, &response);
  if (!status.ok()) return RpcFailure("CheckCredentials", status);
  std::printf("%s\n", MessageJson(response, /*pretty=*/true).c_str());
  return response.outcome() == v1::CheckCredentialsResponse::OK ? kExitOk : kExitRejected;
}

std::optional<int64_t> ParseSentAt(const std::string& text, std::string& error) {
  absl::Time time;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) return std::nullopt;
  return absl::ToUnixMillis(time);
}

// The Authorization value with its credential hidden: "Basic ***".
std::string MaskAuthorization(absl::string_view value) {
  size_t space = value.find(' ');
  if (space == absl::string_view::npos) return "***";
  return absl::StrCat(value.substr(0, space + 1), "***");
}

struct PendingEvent {
  std::string json;
  size_t line;
};

using JsonLineWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Prints {"<kind>":{...}} as one line; `members` writes the inner object's members
// and gets a helper that writes a string value.
template <typename Members>
void PrintJsonLine(const char* kind, Members&& members) {
  rapidjson::StringBuffer buffer;
  JsonLineWriter w(buffer);
  auto string = [&w](absl::string_view text) {
    w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  w.StartObject();
  w.Key(kind);
  w.StartObject();
  members(w, string);
  w.EndObject();
  w.EndObject();
  std::printf("%s\n", buffer.GetString());
}

// Translates one chunk and prints its requests and rejections.
int TranslateChunk(const signal_host::LoadedPlugin& plugin, const std::string& config_json,
                   int64_t sent_at_ms, bool show_secrets, std::vector<PendingEvent>& chunk) {
  v1::TranslateRequest request;
  request.set_config_json(config_json);
  request.set_sent_at_unix_ms(sent_at_ms);
  for (PendingEvent& event : chunk) request.add_events(std::move(event.json));
  v1::TranslateResponse response;
  auto context = RpcContext();
  grpc::Status status = plugin.stub()->Translate(context.get(), request, &response);
  if (!status.ok()) return RpcFailure("Translate", status);

  auto line_of = [&](uint32_t index) -> uint64_t {
    return index < chunk.size() ? chunk[index].line : 0;
  };
  for (const v1::HttpRequest& http : response.requests()) {
    PrintJsonLine("request", [&](JsonLineWriter& w, auto&& string) {
      w.Key("method");
      string(http.method());
      w.Key("url");
      string(http.url());
      w.Key("headers");
      w.StartObject();
      for (const v1::Header& header : http.headers()) {
        string(header.name());
        const bool secret = absl::EqualsIgnoreCase(header.name(), "authorization");
        string(secret && !show_secrets ? MaskAuthorization(header.value()) : header.value());
      }
      w.EndObject();
      w.Key("body");
      string(http.body());
      w.Key("message_ids");
      w.StartArray();
      for (const std::string& id : http.message_ids()) string(id);
      w.EndArray();
      w.Key("lines");
      w.StartArray();
      for (uint32_t index : http.event_indexes()) w.Uint64(line_of(index));
      w.EndArray();
    });
  }
  for (const v1::Rejection& rejection : response.rejections()) {
    PrintJsonLine("rejection", [&](JsonLineWriter& w, auto&& string) {
      w.Key("message_id");
      string(rejection.message_id());
      w.Key("reason");
      string(rejection.reason());
      w.Key("message");
      string(rejection.message());
      w.Key("line");
      w.Uint64(line_of(rejection.event_index()));
    });
  }
  chunk.clear();
  return kExitOk;
}

int RunTranslate(const signal_host::LoadedPlugin& plugin, const Arguments& args) {
  int64_t sent_at_ms = 0;
  if (std::string text = args.Value("--sent-at"); !text.empty()) {
    std::string error;
    std::optional<int64_t> parsed = ParseSentAt(text, error);
    if (!parsed) {
      return UsageError(absl::StrCat("--sent-at '", text, "' is not an RFC 3339 time: ", error),
                        args.command);
    }
    sent_at_ms = *parsed;
  }
  v1::ValidateConfigResponse validated;
  if (std::optional<int> stop = Validate(plugin, args, validated, stderr)) return *stop;
  const bool show_secrets = args.switches.count("--show-secrets") > 0;

  std::vector<PendingEvent> chunk;
  size_t chunk_bytes = 0;
  size_t line_number = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    chunk_bytes += line.size();
    chunk.push_back({std::move(line), line_number});
    line.clear();
    if (chunk.size() >= kChunkEvents || chunk_bytes >= kChunkBytes) {
      if (int code = TranslateChunk(plugin, validated.merged_config_json(), sent_at_ms,
                                    show_secrets, chunk);
          code != kExitOk) {
        return code;
      }
      chunk_bytes = 0;
    }
  }
  if (std::cin.bad()) return Fail("error reading events from stdin");
  if (!chunk.empty()) {
    return TranslateChunk(plugin, validated.merged_config_json(), sent_at_ms, show_secrets, chunk);
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  Arguments args;
  if (std::optional<int> done = ParseArguments(argc, argv, args)) return *done;

  signal_host::LoadOptions load_options;
  load_options.host_agent = absl::StrCat("signal-plugin/", SIGNAL_PLUGIN_TOOL_VERSION);
  absl::StatusOr<std::unique_ptr<signal_host::LoadedPlugin>> plugin =
      signal_host::LoadPlugin(args.plugin, args.options, load_options);
  if (!plugin.ok()) return Fail(plugin.status().message());

  absl::string_view name = args.command->name;
  int code = kExitUsage;
  if (name == "describe") {
    code = RunDescribe(**plugin);
  } else if (name == "validate") {
    code = RunValidate(**plugin, args);
  } else if (name == "check-credentials") {
    code = RunCheckCredentials(**plugin, args);
  } else if (name == "translate") {
    code = RunTranslate(**plugin, args);
  }
  std::fflush(stdout);
  return code;
}

}  // namespace
}  // namespace signal_plugin_tool

int main(int argc, char** argv) { return signal_plugin_tool::Main(argc, argv); }
