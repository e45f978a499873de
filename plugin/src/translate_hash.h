// The hash behind derived message ids.
#pragma once

#include <cstdint>
#include <string_view>

namespace signal_hightouch {

// MurmurHash3 x64-128 with seed 0: h1 in *out_high, h2 in *out_low. Its output is
// fixed for all time and platforms (it reads bytes, not words), so an event without
// a messageId gets the same derived id on every retry and after every upgrade.
void Hash128(std::string_view data, uint64_t* out_high, uint64_t* out_low);

}  // namespace signal_hightouch
