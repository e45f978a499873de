#include "scenario.h"

#include <thread>

#include "absl/strings/str_cat.h"

namespace fault_matrix {

void FaultContext::WaitForProgress(double fraction) {
  while (!pusher.Done() && pusher.Progress() < fraction) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void FaultContext::Sleep(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

void FaultContext::SetFaults(const std::string& json) {
  if (!bench_harness::SetFakeFaults(stage.control(), stage.fake_url(), json)) {
    Fail(absl::StrCat("the fake refused the faults ", json.substr(0, 200)));
  }
}

}  // namespace fault_matrix
