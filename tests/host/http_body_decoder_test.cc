// BodyDecoder on its own: the declared length as an allocation hint, the decoded limit
// and the inflation ratio, independent of how the bytes arrive.
#include "host/http/body_decoder.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <string_view>

namespace signal_host::http {
namespace {

std::string Gzip(std::string_view plain) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&stream, plain.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  stream.avail_in = static_cast<uInt>(plain.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// Feeds `wire` in pieces of `piece` bytes, then finishes.
BodyDecoder::Result FeedAll(BodyDecoder& decoder, std::string_view wire, size_t piece) {
  for (size_t at = 0; at < wire.size(); at += piece) {
    const BodyDecoder::Result result = decoder.Feed(wire.substr(at, piece));
    if (result != BodyDecoder::Result::kOk) return result;
  }
  return decoder.Finish();
}

TEST(BodyDecoder, AnIdentityBodyWithItsLengthDeclaredIsReceivedIntoOneAllocation) {
  const std::string wire(112 * 1024, 'x');
  BodyDecoder decoder(ContentCoding::kIdentity, 1 << 20, 100);
  decoder.ExpectWireBytes(wire.size());
  const size_t reserved = decoder.body().capacity();
  EXPECT_GE(reserved, wire.size());
  const char* storage = decoder.body().data();
  ASSERT_EQ(FeedAll(decoder, wire, 16 * 1024), BodyDecoder::Result::kOk);
  EXPECT_EQ(decoder.body(), wire);
  EXPECT_EQ(decoder.body().data(), storage) << "the body was moved to a new allocation";
}

TEST(BodyDecoder, ADeclaredLengthIsOnlyAHintCappedAtTheLimit) {
  // A client declaring 1 GiB gets no 1 GiB allocation, and the bytes read are what is judged.
  BodyDecoder lying(ContentCoding::kIdentity, 64 * 1024, 100);
  lying.ExpectWireBytes(size_t{1} << 30);
  EXPECT_LE(lying.body().capacity(), 64u * 1024 + 64);
  ASSERT_EQ(FeedAll(lying, std::string(1000, 'a'), 100), BodyDecoder::Result::kOk);
  EXPECT_EQ(lying.body().size(), 1000u);

  BodyDecoder too_large(ContentCoding::kIdentity, 1000, 100);
  too_large.ExpectWireBytes(10);
  EXPECT_EQ(FeedAll(too_large, std::string(1001, 'a'), 7), BodyDecoder::Result::kTooLarge);
}

TEST(BodyDecoder, CompressedBodiesIgnoreTheHintAndStillMeetTheLimits) {
  const std::string plain(200 * 1024, 'z');
  const std::string wire = Gzip(plain);
  for (const size_t piece : {size_t{1}, size_t{13}, wire.size()}) {
    BodyDecoder decoder(ContentCoding::kGzip, 1 << 20, 1000);
    decoder.ExpectWireBytes(wire.size());
    ASSERT_EQ(FeedAll(decoder, wire, piece), BodyDecoder::Result::kOk) << piece;
    EXPECT_EQ(decoder.body(), plain);

    BodyDecoder bomb(ContentCoding::kGzip, 1 << 20, 10);  // 200 KiB from a few hundred bytes
    bomb.ExpectWireBytes(wire.size());
    EXPECT_EQ(FeedAll(bomb, wire, piece), BodyDecoder::Result::kRatioTooHigh) << piece;
  }
  BodyDecoder truncated(ContentCoding::kGzip, 1 << 20, 1000);
  EXPECT_EQ(FeedAll(truncated, wire.substr(0, wire.size() / 2), 64), BodyDecoder::Result::kCorrupt);
}

}  // namespace
}  // namespace signal_host::http
