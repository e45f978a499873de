// Management API roles and what each may do (Signal's RBAC for integrations).
#pragma once

#include <optional>
#include <string_view>

namespace signal_host {

enum class Role { kViewer, kEditor, kAdmin, kOwner };

enum class Permission {
  kRead,    // catalog, integrations, revisions, dead letters, live events
  kWrite,   // install, create revisions
  kDelete,  // delete integrations, replay dead letters
};

// "owner", "admin", "editor" or "viewer" (exact, lowercase); nullopt otherwise.
std::optional<Role> ParseRole(std::string_view name);
std::string_view RoleName(Role role);

// viewer: read; editor: read, write; admin and owner: read, write, delete.
bool Allows(Role role, Permission permission);

}  // namespace signal_host
