#include "host/auth/roles.h"

namespace signal_host {

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "owner") return Role::kOwner;
  if (name == "admin") return Role::kAdmin;
  if (name == "editor") return Role::kEditor;
  if (name == "viewer") return Role::kViewer;
  return std::nullopt;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kOwner:
      return "owner";
    case Role::kAdmin:
      return "admin";
    case Role::kEditor:
      return "editor";
    case Role::kViewer:
      return "viewer";
  }
  return "viewer";
}

bool Allows(Role role, Permission permission) {
  switch (permission) {
    case Permission::kRead:
      return true;
    case Permission::kWrite:
      return role != Role::kViewer;
    case Permission::kDelete:
      return role == Role::kAdmin || role == Role::kOwner;
  }
  return false;
}

}  // namespace signal_host
