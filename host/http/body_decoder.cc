#include "host/http/body_decoder.h"

#include <zlib.h>

#include <algorithm>

#include "host/http/ascii.h"

namespace signal_host::http {
namespace {

// RFC 1950: CM = 8 (deflate), a window of at most 32 KiB, and a header checksum.
bool LooksLikeZlibHeader(unsigned char cmf, unsigned char flg) {
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

constexpr size_t kOutputStep = 64 * 1024;

}  // namespace

std::optional<ContentCoding> ParseContentEncoding(std::string_view value) {
  value = TrimBlanks(value);
  if (value.empty() || EqualsIgnoringCase(value, "identity")) return ContentCoding::kIdentity;
  if (EqualsIgnoringCase(value, "gzip") || EqualsIgnoringCase(value, "x-gzip")) {
    return ContentCoding::kGzip;
  }
  if (EqualsIgnoringCase(value, "deflate")) return ContentCoding::kDeflate;
  return std::nullopt;
}

struct BodyDecoder::Inflater {
  z_stream stream{};
  bool initialised = false;

  ~Inflater() {
    if (initialised) inflateEnd(&stream);
  }
  bool Init(int window_bits) {
    initialised = inflateInit2(&stream, window_bits) == Z_OK;
    return initialised;
  }
};

BodyDecoder::BodyDecoder(ContentCoding coding, size_t max_decoded_bytes, double max_ratio)
    : coding_(coding), max_decoded_bytes_(max_decoded_bytes), max_ratio_(max_ratio) {}

BodyDecoder::~BodyDecoder() = default;

BodyDecoder::Result BodyDecoder::Fail(Result result, std::string message) {
  error_ = std::move(message);
  return result;
}

void BodyDecoder::ExpectWireBytes(size_t length) {
  if (coding_ == ContentCoding::kIdentity) body_.reserve(std::min(length, max_decoded_bytes_));
}

BodyDecoder::Result BodyDecoder::Feed(std::string_view data) {
  if (!error_.empty()) return Result::kCorrupt;
  wire_bytes_ += data.size();
  if (coding_ == ContentCoding::kIdentity) {
    if (body_.size() + data.size() > max_decoded_bytes_) {
      return Fail(Result::kTooLarge, "the body is larger than the limit");
    }
    body_.append(data);
    return Result::kOk;
  }
  if (data.empty()) return Result::kOk;
  if (inflater_ == nullptr) {
    int window_bits = 15 + 16;  // gzip
    if (coding_ == ContentCoding::kDeflate) {
      // "deflate" means the zlib format (RFC 9110), but some clients send a raw
      // deflate stream: the first two bytes tell which.
      pending_.append(data);
      if (pending_.size() < 2) return Result::kOk;
      const auto cmf = static_cast<unsigned char>(pending_[0]);
      const auto flg = static_cast<unsigned char>(pending_[1]);
      window_bits = LooksLikeZlibHeader(cmf, flg) ? 15 : -15;
    }
    inflater_ = std::make_unique<Inflater>();
    if (!inflater_->Init(window_bits)) {
      return Fail(Result::kCorrupt, "the decompressor could not start");
    }
    if (!pending_.empty()) {
      const std::string first = std::move(pending_);
      pending_.clear();
      return Inflate(first);
    }
  }
  return Inflate(data);
}

BodyDecoder::Result BodyDecoder::Inflate(std::string_view data) {
  z_stream& z = inflater_->stream;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  while (z.avail_in > 0) {
    if (stream_ended_) {
      // gzip allows several members back to back; anything else after the end of a
      // stream is not part of the body.
      if (coding_ != ContentCoding::kGzip) {
        return Fail(Result::kCorrupt, "bytes follow the end of the compressed stream");
      }
      if (inflateReset(&z) != Z_OK) return Fail(Result::kCorrupt, "the gzip stream is invalid");
      stream_ended_ = false;
    }
    // Never make room beyond one byte past the limit.
    const size_t room = std::min(kOutputStep, max_decoded_bytes_ + 1 - body_.size());
    const size_t before = body_.size();
    body_.resize(before + room);
    z.next_out = reinterpret_cast<Bytef*>(body_.data() + before);
    z.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&z, Z_NO_FLUSH);
    body_.resize(before + room - z.avail_out);
    if (rc == Z_STREAM_END) {
      stream_ended_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Fail(Result::kCorrupt, coding_ == ContentCoding::kGzip
                                        ? "the body is not valid gzip"
                                        : "the body is not valid deflate data");
    }
    if (body_.size() > max_decoded_bytes_) {
      return Fail(Result::kTooLarge, "the decompressed body is larger than the limit");
    }
    if (rc == Z_BUF_ERROR && z.avail_out != 0) break;  // needs more input
  }
  return Result::kOk;
}

BodyDecoder::Result BodyDecoder::Finish() {
  if (!error_.empty()) return Result::kCorrupt;
  if (coding_ == ContentCoding::kIdentity) return Result::kOk;
  if (wire_bytes_ == 0) return Result::kOk;  // an empty body needs no decoding
  if (inflater_ == nullptr || !stream_ended_) {
    return Fail(Result::kCorrupt, "the compressed body ends before its stream does");
  }
  // Judged on the whole body, so that the verdict does not depend on how the bytes
  // happened to arrive; while they arrive, the decoded limit bounds the work.
  if (body_.size() > kRatioFloorBytes &&
      static_cast<double>(body_.size()) > max_ratio_ * static_cast<double>(wire_bytes_)) {
    return Fail(Result::kRatioTooHigh, "the body decompresses beyond the allowed ratio");
  }
  return Result::kOk;
}

}  // namespace signal_host::http
