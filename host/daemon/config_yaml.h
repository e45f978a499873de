// Reading the host's YAML settings: node readers that name the key path in every
// error (yaml-cpp throws; callers catch at the file boundary, in config.cc). Shared by
// config.cc and config_scale_out.cc.
#pragma once

#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/yaml.h"

#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    absl::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (false)

namespace signal_host::daemon {

class YamlReader {
 public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  absl::Status CheckKeys(const YAML::Node& node, const std::string& path,
                         const std::set<std::string>& allowed) {
    if (!node.IsMap()) return Error(path, "must be a mapping");
    for (const auto& item : node) {
      std::string key = item.first.as<std::string>();
      if (allowed.count(key) == 0) {
        return Error(Join(path, key),
                     absl::StrCat("unknown setting (allowed: ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status String(const YAML::Node& node, const std::string& path, std::string& out) {
    if (!node) return absl::OkStatus();
    if (!node.IsScalar()) return Error(path, "must be a string");
    out = node.as<std::string>();
    return absl::OkStatus();
  }

  template <typename Int>
  absl::Status Integer(const YAML::Node& node, const std::string& path, Int& out, int64_t min,
                       int64_t max) {
    if (!node) return absl::OkStatus();
    int64_t value = 0;
    if (!node.IsScalar() || !absl::SimpleAtoi(node.as<std::string>(), &value)) {
      return Error(path, "must be an integer");
    }
    if (value < min || value > max) {
      return Error(path, absl::StrCat("must be between ", min, " and ", max));
    }
    out = static_cast<Int>(value);
    return absl::OkStatus();
  }

  absl::Status Error(const std::string& path, const std::string& problem) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", path, ": ", problem));
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : absl::StrCat(path, ".", key);
  }

  absl::Status Bool(const YAML::Node& node, const std::string& path, bool& out) {
    if (!node) return absl::OkStatus();
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, out)) {
      return Error(path, "must be true or false");
    }
    return absl::OkStatus();
  }

 private:
  std::string source_;
};

}  // namespace signal_host::daemon
