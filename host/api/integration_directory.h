// An in-memory snapshot of the installed integrations (id, org, name, status), read
// by the event API on every request to route events, and by Live Events for names.
// The admin API reloads it after every change it makes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "host/store/config_store.h"

namespace signal_host::api {

struct DirectoryEntry {
  std::string id;
  std::string org_id;
  std::string name;
  std::string vendor;
  std::string status;
};

class IntegrationDirectory {
 public:
  struct Snapshot {
    std::vector<DirectoryEntry> entries;             // in store order
    absl::flat_hash_map<std::string, size_t> by_id;  // index into entries
  };

  explicit IntegrationDirectory(ConfigReader* configs) : configs_(configs) {}

  absl::Status Reload();
  std::shared_ptr<const Snapshot> Current() const;
  // nullptr when unknown (e.g. deleted).
  const DirectoryEntry* Find(const Snapshot& snapshot, std::string_view id) const;

 private:
  ConfigReader* const configs_;
  std::mutex reload_mu_;  // one reload at a time, so the newest read wins
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_ = std::make_shared<Snapshot>();
};

}  // namespace signal_host::api
