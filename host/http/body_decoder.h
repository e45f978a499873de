// Undoes a request body's Content-Encoding (gzip, deflate) as the bytes arrive, never
// holding more than the decoded limit: a small compressed body cannot turn into a
// large allocation. zlib does the inflating.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace signal_host::http {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// "", "identity", "gzip", "x-gzip" or "deflate" (any case, surrounding blanks
// allowed). A list of codings or anything else: nullopt (the server answers 415).
std::optional<ContentCoding> ParseContentEncoding(std::string_view value);

class BodyDecoder {
 public:
  enum class Result {
    kOk,
    kTooLarge,      // the decoded body passed max_decoded_bytes
    kRatioTooHigh,  // the whole body decodes to more than max_ratio times its wire bytes
                    // (judged at Finish, whatever the arrival pattern)
    kCorrupt,       // not a valid stream of the coding (or truncated, at Finish)
  };

  // Decoded bodies at or below this size are never judged on their ratio.
  static constexpr size_t kRatioFloorBytes = 64 * 1024;

  BodyDecoder(ContentCoding coding, size_t max_decoded_bytes, double max_ratio);
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  // The body's declared length (Content-Length), before the first Feed: an identity body
  // is then received into one allocation of its size instead of a growing string, which
  // above malloc's mmap threshold costs page faults on every request. Only a hint, capped
  // at the decoded limit; the bytes actually read are what is judged.
  void ExpectWireBytes(size_t length);
  // Wire bytes of the body, in order (chunk framing already removed).
  Result Feed(std::string_view data);
  // The body is complete: a compressed stream must have ended cleanly.
  Result Finish();

  std::string& body() { return body_; }
  size_t wire_bytes() const { return wire_bytes_; }
  // What went wrong, for the error message (empty after kOk).
  const std::string& error() const { return error_; }

 private:
  struct Inflater;

  Result Inflate(std::string_view data);
  Result Fail(Result result, std::string message);

  const ContentCoding coding_;
  const size_t max_decoded_bytes_;
  const double max_ratio_;
  std::unique_ptr<Inflater> inflater_;
  std::string pending_;  // deflate: the first bytes, until the zlib header is known
  std::string body_;
  size_t wire_bytes_ = 0;
  bool stream_ended_ = false;
  std::string error_;
};

}  // namespace signal_host::http
