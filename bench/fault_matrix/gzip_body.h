// gzip compression of a request body (zlib), for the inflating-request scenario.
#pragma once

#include <string>
#include <string_view>

namespace fault_matrix {

// The gzip stream of `data`; "" if zlib fails.
std::string Gzip(std::string_view data);

}  // namespace fault_matrix
