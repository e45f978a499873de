// An independent judge of JSON validity for the fuzz targets' invariants.
#pragma once

#include <string>
#include <string_view>

namespace signal_fuzz {

// Empty when `text` is one valid RFC 8259 JSON text (grammar, escapes, strict UTF-8,
// number syntax of any length); otherwise what is wrong and where. Judged by RapidJSON,
// not by the project's own scanner, so a scanner bug cannot vouch for itself.
std::string StrictJsonError(std::string_view text);

}  // namespace signal_fuzz
