// Fatal setup errors of the bench programs: "<program>: <message>" on stderr, exit 2.
#pragma once

#include <string_view>

namespace bench_harness {

// The prefix of Die's message; set once at the start of main.
void SetProgramName(std::string_view name);

[[noreturn]] void Die(std::string_view message);

}  // namespace bench_harness
