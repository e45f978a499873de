// SecretBox (AES-256-GCM), key parsing and key files, codecs, HMAC and ids.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "host/crypto/encoding.h"
#include "host/crypto/hmac.h"
#include "host/crypto/ids.h"
#include "host/crypto/secret_box.h"

namespace signal_host {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kHexKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

SecretBox TestBox(const char* hex = kHexKey) {
  absl::StatusOr<SecretBox> box = SecretBox::FromKeyText(hex);
  EXPECT_TRUE(box.ok()) << box.status();
  return *box;
}

std::string TempDir() {
  std::string pattern = ::testing::TempDir() + "/crypto_test_XXXXXX";
  char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

// Flips one bit of the decoded sealed bytes at `offset` and re-encodes.
std::string FlipByte(const std::string& sealed, size_t offset) {
  std::string raw = *Base64Decode(sealed.substr(3));
  raw[offset] = static_cast<char>(raw[offset] ^ 0x01);
  return "v1:" + Base64Encode(raw);
}

TEST(SecretBoxTest, RoundTripsAndFormat) {
  SecretBox box = TestBox();
  for (std::string plaintext :
       {std::string(), std::string("x"), std::string(R"({"api_key":"sk_live_abc"})"),
        std::string(100000, '\xff')}) {
    absl::StatusOr<std::string> sealed = box.Seal(plaintext);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_THAT(*sealed, MatchesRegex("v1:[A-Za-z0-9+/]+=*"));
    std::string raw = *Base64Decode(sealed->substr(3));
    EXPECT_EQ(raw.size(), 12 + plaintext.size() + 16);
    absl::StatusOr<std::string> opened = box.Open(*sealed);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST(SecretBoxTest, SealingTwiceUsesFreshNonces) {
  SecretBox box = TestBox();
  absl::StatusOr<std::string> a = box.Seal("same secret");
  absl::StatusOr<std::string> b = box.Seal("same secret");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_NE(Base64Decode(a->substr(3))->substr(0, 12), Base64Decode(b->substr(3))->substr(0, 12));
}

TEST(SecretBoxTest, CiphertextDoesNotContainPlaintext) {
  SecretBox box = TestBox();
  const std::string secret = "sk_live_0123456789abcdef";
  absl::StatusOr<std::string> sealed = box.Seal(secret);
  ASSERT_TRUE(sealed.ok());
  EXPECT_THAT(*sealed, Not(HasSubstr(secret)));
  EXPECT_THAT(*Base64Decode(sealed->substr(3)), Not(HasSubstr(secret)));
}

TEST(SecretBoxTest, DetectsTamperingInEveryRegion) {
  SecretBox box = TestBox();
  const std::string plaintext = "a secret of some length";
  absl::StatusOr<std::string> sealed = box.Seal(plaintext);
  ASSERT_TRUE(sealed.ok());
  const size_t total = 12 + plaintext.size() + 16;
  // Every byte: nonce [0,12), ciphertext [12, 12+n), tag [12+n, total).
  for (size_t offset = 0; offset < total; ++offset) {
    absl::StatusOr<std::string> opened = box.Open(FlipByte(*sealed, offset));
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << "offset " << offset;
  }
}

TEST(SecretBoxTest, RefusesWrongKeyAndWrongAssociatedData) {
  SecretBox box = TestBox();
  SecretBox other = TestBox("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  absl::StatusOr<std::string> sealed = box.Seal("secret", "rev_1");
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(box.Open(*sealed, "rev_1").ok());
  absl::StatusOr<std::string> wrong_key = other.Open(*sealed, "rev_1");
  EXPECT_EQ(wrong_key.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(wrong_key.status().message(), HasSubstr("ENCRYPTION_KEY"));
  EXPECT_EQ(box.Open(*sealed, "rev_2").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(box.Open(*sealed).status().code(), absl::StatusCode::kDataLoss);
}

TEST(SecretBoxTest, RefusesMalformedSealedValues) {
  SecretBox box = TestBox();
  absl::StatusOr<std::string> sealed = box.Seal("secret");
  ASSERT_TRUE(sealed.ok());
  const std::string raw = *Base64Decode(sealed->substr(3));
  for (const std::string& bad : {
           std::string(), std::string("v1:"),
           std::string("v2:") + sealed->substr(3),               // unknown version
           sealed->substr(3),                                    // no version
           std::string("v1:!!!!"),                               // not base64
           "v1:" + Base64Encode(raw.substr(0, 27)),              // shorter than nonce + tag
           "v1:" + Base64Encode(raw.substr(0, 12)),              // nonce only
           "v1:" + Base64Encode(raw.substr(0, raw.size() - 1)),  // truncated tag
           *sealed + "AAAA",                                     // trailing garbage
       }) {
    absl::StatusOr<std::string> opened = box.Open(bad);
    EXPECT_FALSE(opened.ok()) << bad;
  }
  // An oversized sealed value is refused without decoding.
  EXPECT_FALSE(box.Open("v1:" + std::string(33u << 20, 'A')).ok());
}

TEST(SecretBoxKeyTest, AcceptsHexAndBase64Keys) {
  std::string key_bytes;
  for (int i = 0; i < 32; ++i) key_bytes.push_back(static_cast<char>(i));
  absl::StatusOr<SecretBox> from_hex = SecretBox::FromKeyText(kHexKey);
  absl::StatusOr<SecretBox> from_upper_hex =
      SecretBox::FromKeyText("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
  absl::StatusOr<SecretBox> from_base64 = SecretBox::FromKeyText(Base64Encode(key_bytes) + "\n");
  absl::StatusOr<SecretBox> from_raw = SecretBox::FromRawKey(key_bytes);
  ASSERT_TRUE(from_hex.ok() && from_upper_hex.ok() && from_base64.ok() && from_raw.ok());
  // All four are the same key: each opens what another sealed.
  absl::StatusOr<std::string> sealed = from_hex->Seal("x");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(*from_upper_hex->Open(*sealed), "x");
  EXPECT_EQ(*from_base64->Open(*sealed), "x");
  EXPECT_EQ(*from_raw->Open(*sealed), "x");
}

TEST(SecretBoxKeyTest, RefusesBadKeysWithAClearMessage) {
  const std::string secretish = "zzzz-my-password-zzzz";
  for (const std::string& bad : {
           std::string(),
           std::string("   "),
           std::string(kHexKey).substr(0, 62),       // 31 bytes of hex
           std::string(kHexKey) + "00",              // 33 bytes of hex
           std::string(kHexKey).replace(0, 1, "g"),  // not hex (and not 32-byte base64)
           Base64Encode(std::string(16, 'k')),       // 16 bytes
           Base64Encode(std::string(33, 'k')),       // 33 bytes
           secretish,
       }) {
    absl::StatusOr<SecretBox> box = SecretBox::FromKeyText(bad);
    ASSERT_FALSE(box.ok()) << bad;
    EXPECT_EQ(box.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(box.status().message(), HasSubstr("64 hex characters"));
    EXPECT_THAT(box.status().message(), HasSubstr("base64"));
    if (!bad.empty() && bad != "   ") {
      EXPECT_THAT(box.status().message(), Not(HasSubstr(bad)));
    }
  }
  EXPECT_FALSE(SecretBox::FromRawKey(std::string(31, 'k')).ok());
}

TEST(SecretBoxKeyFileTest, CreatesA0600KeyFileAndReloadsTheSameKey) {
  const std::string dir = TempDir();
  const std::string path = dir + "/encryption.key";
  bool created = false;
  absl::StatusOr<SecretBox> first = SecretBox::LoadOrCreateKeyFile(path, &created);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(created);
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, MatchesRegex("[0-9a-f]{64}\n"));

  absl::StatusOr<SecretBox> second = SecretBox::LoadOrCreateKeyFile(path, &created);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(created);
  absl::StatusOr<std::string> sealed = first->Seal("persisted");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(*second->Open(*sealed), "persisted");
  // No temporary files are left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1u);
  std::filesystem::remove_all(dir);
}

TEST(SecretBoxKeyFileTest, RefusesLooseOrBrokenKeyFiles) {
  const std::string dir = TempDir();
  const std::string loose = dir + "/loose.key";
  {
    std::ofstream out(loose);
    out << kHexKey << "\n";
  }
  chmod(loose.c_str(), 0644);
  absl::StatusOr<SecretBox> box = SecretBox::LoadOrCreateKeyFile(loose);
  EXPECT_EQ(box.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(box.status().message(), HasSubstr("chmod 600"));

  chmod(loose.c_str(), 0600);
  EXPECT_TRUE(SecretBox::LoadOrCreateKeyFile(loose).ok());

  const std::string broken = dir + "/broken.key";
  {
    std::ofstream out(broken);
    out << "not a key\n";
  }
  chmod(broken.c_str(), 0600);
  box = SecretBox::LoadOrCreateKeyFile(broken);
  EXPECT_EQ(box.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(box.status().message(), HasSubstr("64 hex characters"));

  const std::string huge = dir + "/huge.key";
  {
    std::ofstream out(huge);
    out << std::string(1 << 20, 'a');
  }
  chmod(huge.c_str(), 0600);
  EXPECT_FALSE(SecretBox::LoadOrCreateKeyFile(huge).ok());

  // A directory where the key file should be.
  const std::string directory = dir + "/a_directory";
  std::filesystem::create_directory(directory);
  EXPECT_FALSE(SecretBox::LoadOrCreateKeyFile(directory).ok());
  // A missing parent directory.
  EXPECT_FALSE(SecretBox::LoadOrCreateKeyFile(dir + "/missing/key").ok());
  std::filesystem::remove_all(dir);
}

TEST(EncodingTest, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(Base64Decode(encoded), plain);
    std::string unpadded = encoded;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    EXPECT_EQ(Base64UrlEncode(plain), unpadded);
    EXPECT_EQ(Base64UrlDecode(unpadded), plain);
    EXPECT_EQ(Base64Decode(unpadded), plain);  // unpadded accepted by the std decoder
  }
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(EncodingTest, DecodersAreStrict) {
  for (const char* bad : {"Zg=", "Z", "Zh==", "Zm9v!", "Zm 9v", "====", "Zg==Zg==", "-_8="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
  for (const char* bad : {"Zg==", "Zh", "+/8", "Z", "Zm9v.", "Zm9v\n"}) {
    EXPECT_FALSE(Base64UrlDecode(bad).has_value()) << bad;
  }
  EXPECT_EQ(HexEncode(std::string("\x00\xab\xff", 3)), "00abff");
  EXPECT_EQ(HexDecode("00ABff"), std::string("\x00\xab\xff", 3));
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

TEST(HmacTest, MatchesRfc4231TestCase2) {
  std::string mac = HmacSha256("Jefe", "what do ya want for nothing?");
  EXPECT_EQ(HexEncode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HmacSha256("", "").size(), kHmacSha256Bytes);
}

TEST(HmacTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(IdsTest, PrefixedIdsAreCrockfordAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewId("tmpl");
    EXPECT_THAT(id, MatchesRegex("tmpl_[0-7][0-9a-hjkmnp-tv-z]{25}"));
    EXPECT_TRUE(seen.insert(id).second);
  }
  EXPECT_EQ(CrockfordBase32Of128(std::string(16, '\0')), std::string(26, '0'));
  EXPECT_EQ(CrockfordBase32Of128(std::string(16, '\xff')), "7" + std::string(25, 'z'));
  std::string one(16, '\0');
  one[15] = 33;  // 0b100001 -> "11"
  EXPECT_EQ(CrockfordBase32Of128(one), std::string(24, '0') + "11");
}

TEST(IdsTest, UuidV4HasVersionAndVariant) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string uuid = NewUuidV4();
    EXPECT_THAT(
        uuid, MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
    EXPECT_TRUE(seen.insert(uuid).second);
  }
  absl::StatusOr<std::string> bytes = RandomBytes(32);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 32u);
}

}  // namespace
}  // namespace signal_host
