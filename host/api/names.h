// The rules for the strings the admin API stores and shows back from request bodies:
// names, identifiers (variant, delivery mode, filters) and free text (description,
// change summary). One place, so every field follows the same rule and a bad value is
// refused with a field-level 400 before anything is stored:
//   - at most `max_bytes` bytes of valid UTF-8;
//   - no control characters (U+0000..U+001F, U+007F..U+009F; free text may hold tab,
//     line feed and carriage return), no line or paragraph separators (U+2028,
//     U+2029) and no bidirectional controls (U+202A..U+202E, U+2066..U+2069), which
//     would let a name look like another in a list;
//   - names and identifiers: no space at either end (two names that differ only there
//     would look the same); a name is never empty (an empty identifier means "not
//     given", as an absent one does).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "json_util.h"

namespace signal_host::api {

enum class TextKind {
  kName,        // an integration's name
  kIdentifier,  // a variant, delivery mode, integration id or reason ("" = not given)
  kFreeText,    // a description or change summary (may be empty, may span lines)
};

// The problem with `value` as the body member `field`, or nullopt when it follows the
// rule. The detail's message names the field and, for a character, its code point and
// byte offset.
std::optional<FieldDetail> CheckText(std::string_view field, std::string_view value, TextKind kind,
                                     size_t max_bytes);

}  // namespace signal_host::api
