// Finds string fields that are not UTF-8 anywhere in a message: proto3 requires them to
// be, and a peer's parser refuses the whole message when one is not.
#pragma once

#include <string>

#include "google/protobuf/message.h"

namespace signal_fuzz {

// The path of the first string field (repeated and nested ones included) that is not
// valid UTF-8, e.g. "violations[2].message"; empty when every one is valid.
std::string FirstInvalidUtf8Field(const google::protobuf::Message& message);

}  // namespace signal_fuzz
