// The Management UI's files, compiled into the binary and served by the admin
// listener: "/" is index.html, "/ui/<name>" any other file. Responses carry an ETag
// and "Cache-Control: no-cache", so browsers revalidate and an upgraded host never
// serves a stale app.
#pragma once

#include <string_view>

namespace signal_host::api {

struct StaticAsset {
  std::string_view name;  // file name, e.g. "app.js"
  std::string_view data;
};

// The Content-Type for a file name, by extension.
std::string_view ContentTypeFor(std::string_view name);

}  // namespace signal_host::api
