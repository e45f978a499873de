#include "host/delivery/throttled_log.h"

#include "absl/strings/str_cat.h"

namespace signal_host::delivery {

void ThrottledLog::Log(std::string_view line, int64_t now_ms,
                       const std::function<void(std::string_view)>& sink) {
  if (last_ms_ != std::numeric_limits<int64_t>::min() && now_ms - last_ms_ < interval_ms_) {
    ++left_out_;
    return;
  }
  last_ms_ = now_ms;
  if (!sink) return;
  if (left_out_ == 0) {
    sink(line);
  } else {
    sink(absl::StrCat(absl::string_view(line.data(), line.size()), " (", left_out_,
                      " similar lines left out)"));
  }
  left_out_ = 0;
}

}  // namespace signal_host::delivery
