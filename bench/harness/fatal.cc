#include "fatal.h"

#include <cstdlib>
#include <iostream>
#include <string>

namespace bench_harness {
namespace {
std::string& ProgramName() {
  static std::string name = "bench";
  return name;
}
}  // namespace

void SetProgramName(std::string_view name) { ProgramName() = std::string(name); }

void Die(std::string_view message) {
  std::cerr << ProgramName() << ": " << message << "\n";
  std::exit(2);
}

}  // namespace bench_harness
