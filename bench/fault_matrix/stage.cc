#include "stage.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "disk_fill.h"
#include "host_control.h"

namespace fault_matrix {
namespace {

// A port that is free now on loopback (the kernel's choice; the host binds it a moment
// later with SO_REUSEADDR).
absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  if (port == 0) return absl::UnavailableError("no free loopback port");
  return port;
}

void AddStats(bench_harness::FakeStats& total, const bench_harness::FakeStats& more) {
  total.events_accepted += more.events_accepted;
  total.duplicate_message_ids += more.duplicate_message_ids;
  total.bytes_received += more.bytes_received;
  total.connections_reset += more.connections_reset;
  total.requests_hung += more.requests_hung;
  for (const auto& [status, count] : more.status_counts) total.status_counts[status] += count;
}

}  // namespace

Stage::Stage(StageOptions options) : options_(std::move(options)) {
  // Also drops "Expect: 100-continue", which curl would send with a large fault set.
  control_.SetHeaders({"Content-Type: application/json"});
}

Stage::~Stage() {
  host_.Stop(std::chrono::seconds(30));
  fake_.Stop(std::chrono::seconds(10));
  if (mounted_) UnmountTmpfs(data_dir_);
  if (!work_dir_.empty() && !options_.keep_work_dir && !failed_) {
    std::error_code ignored;
    std::filesystem::remove_all(work_dir_, ignored);
  }
}

absl::Status Stage::Open(const std::string& scenario_name) {
  std::string dir_template = absl::StrCat(options_.work_parent, "/fault_matrix.", scenario_name,
                                          ".XXXXXX");
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::UnavailableError("mkdtemp failed in " + options_.work_parent);
  }
  work_dir_ = dir_template;
  data_dir_ = work_dir_ + "/data";
  message_id_log_ = work_dir_ + "/fake-message-ids.log";
  std::error_code error;
  std::filesystem::create_directories(data_dir_, error);
  if (error) return absl::UnavailableError("cannot create " + data_dir_ + ": " + error.message());
  if (options_.tmpfs_bytes > 0) {
    if (absl::Status mounted = MountTmpfs(data_dir_, options_.tmpfs_bytes); !mounted.ok()) {
      return mounted;
    }
    mounted_ = true;
  }
  absl::StatusOr<int> admin_port = FreeLoopbackPort();
  if (!admin_port.ok()) return admin_port.status();
  absl::StatusOr<int> events_port = FreeLoopbackPort();
  if (!events_port.ok()) return events_port.status();
  admin_port_ = *admin_port;
  events_port_ = *events_port;
  // The harness polls the admin API and pages through dead letters: lift its per-user
  // rate limit, which is meant for people.
  host_config_ = work_dir_ + "/host.yaml";
  std::ofstream(host_config_) << "admin:\n  rate_limit_per_minute: 1000000\n";
  return absl::OkStatus();
}

absl::Status Stage::StartFake() {
  ++fake_starts_;
  const std::string n = std::to_string(fake_starts_);
  const std::string key = bench_harness::kVendorKey;
  fake_.Start({options_.fake_bin, "--port", std::to_string(fake_port_), "--write-key", key,
               "--api-key", key, "--source", "src-12345:12345", "--max-recorded-events", "0",
               "--message-id-log", message_id_log_},
              work_dir_ + "/fake-" + n + ".out", work_dir_ + "/fake-" + n + ".err");
  absl::StatusOr<std::string> url = fake_.WaitForLine("listening on ", std::chrono::seconds(30));
  if (!url.ok()) return url.status();
  if (fake_port_ == 0) {
    fake_url_ = *url;
    fake_port_ = std::atoi(fake_url_.substr(fake_url_.rfind(':') + 1).c_str());
  } else if (*url != fake_url_) {
    return absl::InternalError(absl::StrCat("the fake came back on ", *url, ", not ", fake_url_));
  }
  return absl::OkStatus();
}

void Stage::KillFake() {
  AddStats(retired_fake_stats_, bench_harness::GetFakeStats(control_, fake_url_));
  fake_.Kill();
}

absl::Status Stage::StartHost() {
  ++host_starts_;
  const std::string n = std::to_string(host_starts_);
  host_.Start({options_.host_bin, "--data-dir", data_dir_, "--config", host_config_,
               "--admin-port", std::to_string(admin_port_), "--events-port",
               std::to_string(events_port_), "--plugin-option",
               "hightouch.events_base_url=" + fake_url_, "--plugin-option",
               "hightouch.api_base_url=" + fake_url_},
              work_dir_ + "/host-" + n + ".out", work_dir_ + "/host-" + n + ".log");
  absl::StatusOr<bench_harness::HostEndpoints> endpoints =
      bench_harness::WaitForHostEndpoints(host_, std::chrono::seconds(60));
  if (!endpoints.ok()) return endpoints.status();
  if (!pipeline_key_.empty() && endpoints->pipeline_key != pipeline_key_) {
    return absl::InternalError("the restarted host has another pipeline key");
  }
  admin_url_ = endpoints->admin_url;
  events_url_ = endpoints->events_url;
  pipeline_key_ = endpoints->pipeline_key;
  return absl::OkStatus();
}

void Stage::KillHost() { host_.Kill(); }

absl::Status Stage::Install(const std::string& config_members) {
  const std::string token = bench_harness::MintEditorToken(options_.host_bin, data_dir_);
  if (token.empty()) return absl::UnavailableError("signal-delivery-host token printed nothing");
  admin_.SetHeaders({"Authorization: Bearer " + token, "Content-Type: application/json"});
  admin_.SetTimeoutMs(30000);
  control_.SetTimeoutMs(10000);
  const bench_harness::Installed installed =
      bench_harness::InstallHightouch(admin_, admin_url_, config_members);
  if (installed.answer.status != 201 || installed.integration_id.empty()) {
    return absl::UnavailableError(absl::StrCat("install answered ", installed.answer.status, ": ",
                                               installed.answer.body.substr(0, 400),
                                               installed.answer.error));
  }
  integration_id_ = installed.integration_id;
  delivery_settings_ = installed.delivery_settings;
  return absl::OkStatus();
}

bench_harness::FakeStats Stage::TotalFakeStats() {
  bench_harness::FakeStats total = retired_fake_stats_;
  if (fake_.Running()) AddStats(total, bench_harness::GetFakeStats(control_, fake_url_));
  total.requests_by_status.clear();
  for (const auto& [status, count] : total.status_counts) {
    absl::StrAppend(&total.requests_by_status, total.requests_by_status.empty() ? "" : " ",
                    status, ":", count);
  }
  return total;
}

}  // namespace fault_matrix
