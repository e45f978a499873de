// One scenario's world: a fresh work directory (the data directory optionally on its own
// tmpfs), the fake Hightouch and the host as child processes on fixed loopback ports, so
// that either can be killed and started again where clients expect it, and an admin
// client holding an editor token.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "child_process.h"
#include "fake_control.h"
#include "http_client.h"

namespace fault_matrix {

struct StageOptions {
  std::string host_bin;
  std::string fake_bin;
  std::string work_parent;     // where the work directory is made
  uint64_t tmpfs_bytes = 0;    // > 0: the data directory is a tmpfs of this size
  bool keep_work_dir = false;  // also kept when the scenario failed
};

class Stage {
 public:
  explicit Stage(StageOptions options);
  ~Stage();  // stops the children, unmounts, removes the work directory unless kept
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  // Makes the work directory and the tmpfs, picks the host's ports, writes its config.
  absl::Status Open(const std::string& scenario_name);

  // The first start picks the fake's port; later ones reuse it. Every instance appends
  // to the same message id log.
  absl::Status StartFake();
  // kill -9; the stats it had a moment before are kept in RetiredFakeStats.
  void KillFake();
  absl::Status StartHost();
  void KillHost();
  bool HostRunning() { return host_.Running(); }
  bool FakeRunning() { return fake_.Running(); }

  // Mints the admin token and installs Hightouch with `config_members`.
  absl::Status Install(const std::string& config_members);

  // Vendor requests by status and counters over every fake instance so far.
  bench_harness::FakeStats TotalFakeStats();

  void MarkFailed() { failed_ = true; }

  const std::string& work_dir() const { return work_dir_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& fake_url() const { return fake_url_; }
  const std::string& admin_url() const { return admin_url_; }
  const std::string& events_url() const { return events_url_; }
  const std::string& pipeline_key() const { return pipeline_key_; }
  const std::string& integration_id() const { return integration_id_; }
  const std::string& message_id_log() const { return message_id_log_; }
  const std::string& delivery_settings() const { return delivery_settings_; }
  int host_starts() const { return host_starts_; }
  bench_harness::HttpClient& admin() { return admin_; }
  bench_harness::HttpClient& control() { return control_; }

 private:
  StageOptions options_;
  std::string work_dir_, data_dir_, host_config_, message_id_log_;
  bool mounted_ = false;
  bool failed_ = false;
  int admin_port_ = 0, events_port_ = 0, fake_port_ = 0;
  int host_starts_ = 0, fake_starts_ = 0;
  std::string fake_url_, admin_url_, events_url_, pipeline_key_, integration_id_;
  std::string delivery_settings_;
  bench_harness::ChildProcess fake_, host_;
  bench_harness::FakeStats retired_fake_stats_;
  bench_harness::HttpClient admin_, control_;
};

}  // namespace fault_matrix
