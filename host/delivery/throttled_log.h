// At most one log line per interval for a recurring problem; the lines left out are
// counted, and the next line that goes out says how many there were.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string_view>

namespace signal_host::delivery {

class ThrottledLog {
 public:
  explicit ThrottledLog(int64_t interval_ms) : interval_ms_(interval_ms) {}

  void Log(std::string_view line, int64_t now_ms,
           const std::function<void(std::string_view)>& sink);

 private:
  const int64_t interval_ms_;
  int64_t last_ms_ = std::numeric_limits<int64_t>::min();
  uint64_t left_out_ = 0;
};

}  // namespace signal_host::delivery
