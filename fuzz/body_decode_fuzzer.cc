// Fuzz target: the listeners' streaming Content-Encoding decoder (host/http
// body_decoder) over arbitrary bytes. The first byte picks the coding and the decoded
// limit, the second how the wire bytes are cut into pieces; the rest is the body.
//
// Invariants: never more than the limit is kept; the verdict and the body do not depend
// on how the bytes arrive (one piece, or pieces of any size); an accepted compressed
// body stays within the inflation ratio past its floor; an identity body comes out as
// it went in.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "host/http/body_decoder.h"

namespace {

using signal_host::http::BodyDecoder;
using signal_host::http::ContentCoding;

struct Outcome {
  BodyDecoder::Result result;
  std::string body;
};

Outcome Decode(ContentCoding coding, size_t limit, double ratio, std::string_view wire,
               size_t piece) {
  BodyDecoder decoder(coding, limit, ratio);
  BodyDecoder::Result result = BodyDecoder::Result::kOk;
  for (size_t at = 0; at < wire.size() && result == BodyDecoder::Result::kOk; at += piece) {
    result = decoder.Feed(wire.substr(at, piece));
    FUZZ_CHECK(decoder.body().size() <= limit + 1, "kept more than one byte past the limit");
  }
  if (result == BodyDecoder::Result::kOk) result = decoder.Finish();
  return {result, result == BodyDecoder::Result::kOk ? decoder.body() : std::string()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const ContentCoding coding = data[0] % 3 == 0   ? ContentCoding::kIdentity
                               : data[0] % 3 == 1 ? ContentCoding::kGzip
                                                  : ContentCoding::kDeflate;
  // Small limits reach the limit paths; 1 MiB lets bombs meet the ratio bound.
  const size_t limit = (data[0] / 3) % 2 == 0 ? 4096 : 1 << 20;
  const double ratio = 20;
  const size_t piece = 1 + data[1] % 64;
  const std::string_view wire = signal_fuzz::AsText(data + 2, size - 2);

  const Outcome whole = Decode(coding, limit, ratio, wire, wire.size() + 1);
  const Outcome pieces = Decode(coding, limit, ratio, wire, piece);
  FUZZ_CHECK(whole.result == pieces.result, "the verdict depends on how the bytes arrive");
  FUZZ_CHECK(whole.body == pieces.body, "the body depends on how the bytes arrive");
  if (whole.result == BodyDecoder::Result::kOk) {
    FUZZ_CHECK(whole.body.size() <= limit, "an accepted body is over the limit");
    if (coding == ContentCoding::kIdentity) {
      FUZZ_CHECK(whole.body == wire, "identity changed the body");
    } else if (whole.body.size() > BodyDecoder::kRatioFloorBytes) {
      FUZZ_CHECK(static_cast<double>(whole.body.size()) <= ratio * wire.size(),
                 "an accepted body inflated past the ratio");
    }
  }
  return 0;
}
