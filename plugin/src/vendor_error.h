// The short error text a vendor puts in a JSON response body, made fit for operators.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace signal_hightouch {

inline constexpr size_t kMaxVendorErrorBytes = 200;

// From a JSON body: "message", else "error" (text, or an object with "message"), plus
// " (details)" when "details" is text; a body that is a JSON string is itself the text.
// Each non-empty string in `redact` is replaced by "[redacted]" before the text is cut
// to kMaxVendorErrorBytes and made printable (PrintableText). Empty when the body is
// not JSON, holds none of these, or is over 64 KiB.
std::string VendorErrorText(std::string_view body,
                            const std::vector<std::string_view>& redact = {});

}  // namespace signal_hightouch
