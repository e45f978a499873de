// The daemon's own secret files (JWT signing key, default pipeline key): created 0600
// when missing, kept across restarts, and refused with a message naming the file when
// they are empty or readable by anyone but their owner.
#include "host/daemon/secrets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace signal_host::daemon {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/secrets_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    unsetenv("JWT_SECRET");
    fs::remove_all(dir_);
  }

  void Write(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }

  static mode_t ModeOf(const std::string& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 0777;
  }

  std::string dir_;
};

TEST_F(SecretsTest, AMissingFileIsCreatedOwnerOnlyAndReadBackAfterARestart) {
  const std::string path = dir_ + "/jwt_secret";
  auto created = ReadOrCreateSecretFile(path, "generated-value");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->value, "generated-value");
  EXPECT_EQ(created->source, ResolvedSecret::Source::kGenerated);
  EXPECT_EQ(ModeOf(path), 0600u);

  auto again = ReadOrCreateSecretFile(path, "another-value");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->value, "generated-value");
  EXPECT_EQ(again->source, ResolvedSecret::Source::kFile);
}

TEST_F(SecretsTest, SurroundingWhitespaceIsTrimmed) {
  const std::string path = dir_ + "/pipeline_key";
  Write(path, "  dk_0123456789abcdef\n\n", 0600);
  auto read = ReadOrCreateSecretFile(path, "unused");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->value, "dk_0123456789abcdef");
}

TEST_F(SecretsTest, FilesReadableByGroupOrOthersAreRefusedNamingTheFix) {
  const std::string path = dir_ + "/jwt_secret";
  for (const mode_t mode : {0640, 0604, 0660, 0644}) {
    Write(path, "a-secret-value-that-is-long-enough", mode);
    auto read = ReadOrCreateSecretFile(path, "unused");
    ASSERT_FALSE(read.ok()) << std::oct << mode;
    EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(read.status().message(), HasSubstr(path));
    EXPECT_THAT(read.status().message(), HasSubstr("chmod 600"));
  }
  // The refused file was left as it was: the operator decides.
  std::ifstream in(path);
  std::string kept;
  std::getline(in, kept);
  EXPECT_EQ(kept, "a-secret-value-that-is-long-enough");
}

TEST_F(SecretsTest, AnEmptyOrBlankFileIsRefusedNotReplaced) {
  const std::string path = dir_ + "/pipeline_key";
  for (const std::string text : {std::string(), std::string(" \n\t\n")}) {
    Write(path, text, 0600);
    auto read = ReadOrCreateSecretFile(path, "generated-value");
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(read.status().message(), HasSubstr(path + " is empty"));
  }
}

TEST_F(SecretsTest, TheEnvironmentWinsOverTheFileForTheJwtSecret) {
  setenv("JWT_SECRET", "from-the-environment-at-least-32-chars", 1);
  auto from_env = ResolveJwtSecret(dir_);
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(from_env->value, "from-the-environment-at-least-32-chars");
  EXPECT_EQ(from_env->source, ResolvedSecret::Source::kEnvironment);
  EXPECT_FALSE(fs::exists(dir_ + "/jwt_secret")) << "no file is written when the env has it";

  unsetenv("JWT_SECRET");
  auto generated = ResolveJwtSecret(dir_);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(generated->source, ResolvedSecret::Source::kGenerated);
  EXPECT_EQ(generated->value.size(), 64u);  // 32 random bytes, hex
  EXPECT_EQ(ModeOf(dir_ + "/jwt_secret"), 0600u);
}

TEST_F(SecretsTest, TheConfiguredPipelineKeyWinsAndAGeneratedOneHasItsPrefix) {
  auto configured = ResolvePipelineKey("dk_configured", dir_);
  ASSERT_TRUE(configured.ok()) << configured.status();
  EXPECT_EQ(configured->value, "dk_configured");
  EXPECT_EQ(configured->source, ResolvedSecret::Source::kConfig);

  auto generated = ResolvePipelineKey("", dir_);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_THAT(generated->value, ::testing::StartsWith("dk_"));
  EXPECT_EQ(generated->value.size(), 3u + 32u);  // "dk_" and 16 random bytes, hex
}

TEST_F(SecretsTest, EnsureDirectoryCreatesParentsAndLeavesTheLastOwnerOnly) {
  const std::string nested = dir_ + "/a/b/data";
  ASSERT_TRUE(EnsureDirectory(nested).ok());
  EXPECT_TRUE(fs::is_directory(nested));
  EXPECT_EQ(ModeOf(nested), 0700u);
  // An existing directory is left alone.
  ASSERT_EQ(::chmod(nested.c_str(), 0750), 0);
  ASSERT_TRUE(EnsureDirectory(nested).ok());
  EXPECT_EQ(ModeOf(nested), 0750u);
  // A file in the way is an error that names the directory.
  Write(dir_ + "/file", "x", 0600);
  auto blocked = EnsureDirectory(dir_ + "/file/sub");
  ASSERT_FALSE(blocked.ok());
  EXPECT_THAT(blocked.message(), HasSubstr(dir_ + "/file/sub"));
}

}  // namespace
}  // namespace signal_host::daemon
