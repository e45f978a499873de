#include "json_rule.h"

#include "absl/strings/str_cat.h"

namespace signal_host::api {
namespace {

// Takes every token: only the rule itself can end the scan.
struct AcceptEveryToken {
  bool StartContainer(bool, const char*) { return true; }
  bool EndContainer(bool, const char*) { return true; }
  bool Key(const JsonString&, const char*) { return true; }
  bool Scalar(const ScalarToken&) { return true; }
};

}  // namespace

absl::Status ValidateJson(std::string_view text, int max_depth) {
  AcceptEveryToken handler;
  Scanner<AcceptEveryToken> scanner(text, handler, max_depth);
  switch (scanner.Run()) {
    case ScanOutcome::kDone:
    case ScanOutcome::kStopped:  // never: the handler takes everything
      return absl::OkStatus();
    case ScanOutcome::kTooDeep:
      return TooDeepJsonError();
    case ScanOutcome::kSyntaxError:
      break;
  }
  return MalformedJsonError(scanner.error_offset(), scanner.error_what());
}

absl::Status MalformedJsonError(size_t offset, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed JSON at byte ", offset, ": ",
                                                 absl::string_view(what.data(), what.size())));
}

absl::Status TooDeepJsonError() {
  return absl::InvalidArgumentError(
      absl::StrCat("JSON nests deeper than ", kMaxJsonDepth, " levels"));
}

}  // namespace signal_host::api
