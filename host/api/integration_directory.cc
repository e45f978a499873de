#include "integration_directory.h"

#include "json_util.h"

namespace signal_host::api {

absl::Status IntegrationDirectory::Reload() {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  auto all = configs_->AllIntegrations();
  if (!all.ok()) return all.status();
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->entries.reserve(all->size());
  for (IntegrationRecord& record : *all) {
    snapshot->by_id[record.id] = snapshot->entries.size();
    snapshot->entries.push_back({std::move(record.id), std::move(record.org_id),
                                 std::move(record.name), std::move(record.vendor),
                                 std::move(record.status)});
  }
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(snapshot);
  return absl::OkStatus();
}

std::shared_ptr<const IntegrationDirectory::Snapshot> IntegrationDirectory::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

const DirectoryEntry* IntegrationDirectory::Find(const Snapshot& snapshot,
                                                 std::string_view id) const {
  auto it = snapshot.by_id.find(AbslView(id));
  return it == snapshot.by_id.end() ? nullptr : &snapshot.entries[it->second];
}

}  // namespace signal_host::api
