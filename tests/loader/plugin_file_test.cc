// Which plugin files the loader opens: file types, owners and modes of the file and
// of the directories on its path, the override, and that the file that was checked
// is the file that is mapped. These tests run as root (here and in CI), which
// access() would let through everything: every fixture gets its mode with an
// explicit chmod and its owner with chown, and the loader reads both from stat.
#include "plugin_file.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "library_handle.h"
#include "plugin_loader.h"

namespace signal_host {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uid_t kSomeoneElse = 65534;  // "nobody"

std::string Canonical(const std::string& path) { return fs::canonical(path).string(); }

class PluginFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/signal-plugin-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = Canonical(pattern);
    plugins_ = MakeDirectory("plugins", 0755);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  std::string MakeDirectory(const std::string& relative, mode_t mode) {
    std::string path = root_ + "/" + relative;
    EXPECT_EQ(mkdir(path.c_str(), 0700), 0) << path;
    SetMode(path, mode);
    return path;
  }
  // Copies `from` into `directory` as `name` with exactly `mode`.
  std::string CopyInto(const std::string& directory, const std::string& name,
                       const std::string& from, mode_t mode = 0755) {
    std::string path = directory + "/" + name;
    fs::copy_file(from, path, fs::copy_options::overwrite_existing);
    SetMode(path, mode);
    return path;
  }
  static void SetMode(const std::string& path, mode_t mode) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
    struct stat info {};
    ASSERT_EQ(stat(path.c_str(), &info), 0);
    ASSERT_EQ(info.st_mode & 07777, mode) << path;
  }
  static void SetOwner(const std::string& path, uid_t uid) {
    ASSERT_EQ(lchown(path.c_str(), uid, static_cast<gid_t>(-1)), 0)
        << path << ": changing the owner needs root, which these tests run as";
  }

  std::string root_;
  std::string plugins_;
};

absl::StatusOr<PluginFile> OpenStrict(const std::string& path) {
  return PluginFile::Open(path, PluginFilePolicy{});
}

absl::StatusOr<PluginFile> OpenAllowingInsecure(const std::string& path) {
  return PluginFile::Open(path, PluginFilePolicy{.allow_insecure_permissions = true});
}

// --- file types -------------------------------------------------------------------

TEST_F(PluginFileTest, AcceptsARegularFileOnlyItsOwnerCanChange) {
  std::string path = CopyInto(plugins_, "libgood.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(file->real_path(), path);
  EXPECT_EQ(file->size(), fs::file_size(path));
  EXPECT_TRUE(file->waived_problems().empty());
  EXPECT_THAT(file->DescriptorPath(), HasSubstr("/proc/self/fd/"));
}

TEST_F(PluginFileTest, RefusesAFifoWithoutBlocking) {
  std::string path = plugins_ + "/libfifo.so";
  ASSERT_EQ(mkfifo(path.c_str(), 0644), 0);
  auto opening = std::async(std::launch::async, [&] { return OpenStrict(path); });
  if (opening.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // Release the blocked open (a writer arriving unblocks a reader), then fail.
    int writer = open(path.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) close(writer);
    ADD_FAILURE() << "opening a FIFO named .so blocked";
  }
  absl::StatusOr<PluginFile> file = opening.get();
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(file.status().message(),
              AllOf(HasSubstr(path), HasSubstr("a FIFO, not a regular file")));
}

TEST_F(PluginFileTest, RefusesADirectoryNamedSo) {
  std::string path = MakeDirectory("plugins/libdir.so", 0755);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(file.status().message(),
              AllOf(HasSubstr(path), HasSubstr("a directory, not a regular file")));
}

TEST_F(PluginFileTest, RefusesASocketNamedSo) {
  std::string path = plugins_ + "/libsocket.so";
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(address.sun_path));
  std::memcpy(address.sun_path, path.data(), path.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  close(fd);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("a socket, not a regular file"));
}

TEST_F(PluginFileTest, RefusesALinkToADevice) {
  std::string path = plugins_ + "/libnull.so";
  fs::create_symlink("/dev/null", path);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(file.status().message(),
              AllOf(HasSubstr(path), HasSubstr("a character device, not a regular file")));
}

TEST_F(PluginFileTest, RefusesADanglingLink) {
  std::string path = plugins_ + "/libdangling.so";
  fs::create_symlink(root_ + "/gone.so", path);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(),
              AllOf(HasSubstr(path), HasSubstr("dangling symbolic link to " + root_ + "/gone.so")));
}

TEST_F(PluginFileTest, RefusesAMissingFile) {
  absl::StatusOr<PluginFile> file = OpenStrict(plugins_ + "/libnothing.so");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr("cannot open: No such file or directory"));
}

TEST_F(PluginFileTest, TheOverrideNeverAllowsAFileThatIsNotRegular) {
  std::string fifo = plugins_ + "/libfifo.so";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  std::string directory = MakeDirectory("plugins/libdir.so", 0755);
  std::string dangling = plugins_ + "/libdangling.so";
  fs::create_symlink(root_ + "/gone.so", dangling);
  for (const std::string& path : {fifo, directory, dangling}) {
    absl::StatusOr<PluginFile> file = OpenAllowingInsecure(path);
    EXPECT_FALSE(file.ok()) << path;
  }
}

// --- owners and modes of the file -------------------------------------------------

TEST_F(PluginFileTest, RefusesAWorldWritableFile) {
  std::string path = CopyInto(plugins_, "libworld.so", BROKEN_PLUGIN_NO_ENTRY, 0646);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(file.status().message(),
              AllOf(HasSubstr("plugin " + path + ": refused"),
                    HasSubstr(path + " is writable by others (mode 0646)")));
}

TEST_F(PluginFileTest, RefusesAGroupWritableFile) {
  std::string path = CopyInto(plugins_, "libgroup.so", BROKEN_PLUGIN_NO_ENTRY, 0664);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(file.status().message(), HasSubstr(path + " is writable by group (mode 0664)"));
}

TEST_F(PluginFileTest, RefusesAFileOwnedBySomeoneElse) {
  std::string path = CopyInto(plugins_, "libforeign.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  SetOwner(path, kSomeoneElse);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(file.status().message(), HasSubstr(path + " is owned by uid 65534, not by root"));
}

// --- the directory and the directories above --------------------------------------

TEST_F(PluginFileTest, RefusesAFileInAWorldWritableDirectory) {
  std::string path = CopyInto(plugins_, "libgood.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  SetMode(plugins_, 0777);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(
      file.status().message(),
      AllOf(HasSubstr("plugin " + path + ": refused"),
            HasSubstr("directory " + plugins_ + " is writable by group and others (mode 0777)")));
}

TEST_F(PluginFileTest, RefusesAFileInAGroupWritableDirectory) {
  std::string path = CopyInto(plugins_, "libgood.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  SetMode(plugins_, 0775);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(),
              HasSubstr("directory " + plugins_ + " is writable by group (mode 0775)"));
}

TEST_F(PluginFileTest, TheStickyBitDoesNotExcuseThePluginDirectoryItself) {
  // In a sticky directory others still add files (and links to any library).
  std::string path = CopyInto(plugins_, "libgood.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  SetMode(plugins_, 01777);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("directory " + plugins_ + " is writable by"));
}

TEST_F(PluginFileTest, RefusesADirectoryOwnedBySomeoneElse) {
  std::string path = CopyInto(plugins_, "libgood.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  SetOwner(plugins_, kSomeoneElse);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr(plugins_ + " is owned by uid 65534"));
}

TEST_F(PluginFileTest, ChecksTheDirectoriesAboveAndExcusesStickyOnes) {
  std::string above = MakeDirectory("above", 0777);
  std::string inner = MakeDirectory("above/plugins", 0755);
  std::string path = CopyInto(inner, "libgood.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(),
              HasSubstr("directory " + above + " is writable by group and others (mode 0777)"));

  // Sticky, like /tmp: others cannot rename or remove the entry the path goes through.
  SetMode(above, 01777);
  EXPECT_TRUE(OpenStrict(path).ok());
  // Unless that entry is theirs.
  SetOwner(inner, kSomeoneElse);
  file = OpenStrict(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr(inner + " is owned by uid 65534"));
}

// --- symbolic links ------------------------------------------------------------------

TEST_F(PluginFileTest, FollowsALinkToAGoodFile) {
  std::string elsewhere = MakeDirectory("elsewhere", 0755);
  std::string target = CopyInto(elsewhere, "libreal.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  std::string link = plugins_ + "/liblink.so";
  fs::create_symlink(target, link);
  absl::StatusOr<PluginFile> file = OpenStrict(link);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->path(), link);
  EXPECT_EQ(file->real_path(), target);
}

TEST_F(PluginFileTest, RefusesALinkToAWorldWritableFile) {
  std::string elsewhere = MakeDirectory("elsewhere", 0755);
  std::string target = CopyInto(elsewhere, "libreal.so", BROKEN_PLUGIN_NO_ENTRY, 0666);
  std::string link = plugins_ + "/liblink.so";
  fs::create_symlink(target, link);
  absl::StatusOr<PluginFile> file = OpenStrict(link);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(),
              AllOf(HasSubstr("plugin " + link + ": refused"),
                    HasSubstr(target + " is writable by group and others (mode 0666)")));
}

TEST_F(PluginFileTest, RefusesALinkIntoAWorldWritableDirectory) {
  std::string elsewhere = MakeDirectory("elsewhere", 0777);
  std::string target = CopyInto(elsewhere, "libreal.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  std::string link = plugins_ + "/liblink.so";
  fs::create_symlink(target, link);
  absl::StatusOr<PluginFile> file = OpenStrict(link);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("directory " + elsewhere + " is writable"));
}

TEST_F(PluginFileTest, RefusesAGoodLinkInAWorldWritableDirectory) {
  // Whoever can write the directory can point the link at any library.
  std::string elsewhere = MakeDirectory("elsewhere", 0755);
  std::string target = CopyInto(elsewhere, "libreal.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  std::string link = plugins_ + "/liblink.so";
  fs::create_symlink(target, link);
  SetMode(plugins_, 0777);
  absl::StatusOr<PluginFile> file = OpenStrict(link);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("directory " + plugins_ + " is writable"));
}

// --- the override ---------------------------------------------------------------------

TEST_F(PluginFileTest, TheOverrideOpensTheFileAndReportsEveryProblem) {
  std::string path = CopyInto(plugins_, "libworld.so", BROKEN_PLUGIN_NO_ENTRY, 0666);
  SetMode(plugins_, 0777);
  absl::StatusOr<PluginFile> file = OpenAllowingInsecure(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT(file->waived_problems(),
              ::testing::UnorderedElementsAre(
                  path + " is writable by group and others (mode 0666)",
                  "directory " + plugins_ + " is writable by group and others (mode 0777)"));
}

// --- what gets mapped -----------------------------------------------------------------

TEST_F(PluginFileTest, TheDigestIsTheFilesSha256) {
  std::string path = CopyInto(plugins_, "libgood.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<std::string> digest = file->Sha256Hex();
  ASSERT_TRUE(digest.ok()) << digest.status();
  // An independent implementation: coreutils' sha256sum.
  std::string command = "sha256sum '" + path + "'";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof(line), pipe), nullptr);
  pclose(pipe);
  EXPECT_EQ(*digest, std::string(line).substr(0, 64));
}

TEST_F(PluginFileTest, TheCheckedFileIsTheMappedFileEvenIfItsNameIsReplaced) {
  // The checked file exports signal_plugin_descriptor_v0; the one swapped in under
  // its name afterwards exports signal_plugin_descriptor_v1.
  std::string path = CopyInto(plugins_, "libswap.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  absl::StatusOr<PluginFile> file = OpenStrict(path);
  ASSERT_TRUE(file.ok()) << file.status();
  std::string other = CopyInto(plugins_, "other.tmp", BROKEN_PLUGIN_NULL_DESCRIPTOR, 0755);
  ASSERT_EQ(rename(other.c_str(), path.c_str()), 0);

  absl::StatusOr<void*> library = OpenLibrary(*file);
  ASSERT_TRUE(library.ok()) << library.status();
  EXPECT_NE(dlsym(*library, "signal_plugin_descriptor_v0"), nullptr);
  EXPECT_EQ(dlsym(*library, "signal_plugin_descriptor_v1"), nullptr);
  CloseLibrary(*library, *file);
}

TEST_F(PluginFileTest, ADescriptorNameStillMappedIsNeverGivenToAnotherFile) {
  // glibc finds loaded libraries by name. While a library mapped as /proc/self/fd/N
  // stays loaded (here: a second handle holds it), N must not name another file, or
  // dlopen of that file would return the old library.
  std::string first_path = CopyInto(plugins_, "libfirst.so", BROKEN_PLUGIN_NO_ENTRY, 0755);
  std::string first_name;
  void* held = nullptr;
  {
    absl::StatusOr<PluginFile> first = OpenStrict(first_path);
    ASSERT_TRUE(first.ok());
    absl::StatusOr<void*> first_library = OpenLibrary(*first);
    ASSERT_TRUE(first_library.ok()) << first_library.status();
    held = dlopen(first->DescriptorPath().c_str(), RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(held, nullptr);
    first_name = first->DescriptorPath();
    CloseLibrary(*first_library, *first);
  }  // `first` goes, and would close its descriptor

  std::string second_path = CopyInto(plugins_, "libsecond.so", BROKEN_PLUGIN_NULL_DESCRIPTOR);
  absl::StatusOr<PluginFile> second = OpenStrict(second_path);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->DescriptorPath(), first_name);
  absl::StatusOr<void*> second_library = OpenLibrary(*second);
  ASSERT_TRUE(second_library.ok()) << second_library.status();
  EXPECT_NE(dlsym(*second_library, "signal_plugin_descriptor_v1"), nullptr);
  CloseLibrary(*second_library, *second);
  dlclose(held);
}

TEST_F(PluginFileTest, DlopenErrorsNameTheRealPathNotTheDescriptor) {
  std::string path = plugins_ + "/libtext.so";
  std::ofstream(path) << "not an ELF file";
  SetMode(path, 0644);
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadPlugin(path, {});
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(),
              AllOf(HasSubstr("plugin " + path + ": dlopen failed: " + path),
                    Not(HasSubstr("/proc/self/fd"))));
}

// --- LoadPlugin -----------------------------------------------------------------------

TEST_F(PluginFileTest, LoadPluginRefusesAnUnsafeFileBeforeAnyOfItsCodeRuns) {
  // The fixture aborts the process in a static constructor: were it mapped, this test
  // binary would die.
  std::string path = CopyInto(plugins_, "libaborts.so", CRASHING_PLUGIN_ABORT, 0666);
  int hook_calls = 0;
  LoadOptions options;
  options.before_dlopen = [&](const PluginFile&) { ++hook_calls; };
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadPlugin(path, {}, options);
  ASSERT_FALSE(plugin.ok());
  EXPECT_EQ(plugin.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(hook_calls, 0);
}

TEST_F(PluginFileTest, LoadPluginFollowsALinkToTheRealPlugin) {
  std::string link = plugins_ + "/libsignal_hightouch.so";
  fs::create_symlink(SIGNAL_HIGHTOUCH_PLUGIN, link);
  std::vector<std::string> seen;
  LoadOptions options;
  options.before_dlopen = [&](const PluginFile& file) { seen.push_back(file.real_path()); };
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadPlugin(link, {}, options);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ((*plugin)->path(), link);
  EXPECT_EQ((*plugin)->real_path(), Canonical(SIGNAL_HIGHTOUCH_PLUGIN));
  EXPECT_EQ((*plugin)->catalog_key(), "hightouch");
  EXPECT_EQ(seen, std::vector<std::string>{Canonical(SIGNAL_HIGHTOUCH_PLUGIN)});
}

TEST_F(PluginFileTest, LoadPluginWithTheOverrideHandsTheProblemsToTheHook) {
  std::string link = plugins_ + "/libsignal_hightouch.so";
  fs::create_symlink(SIGNAL_HIGHTOUCH_PLUGIN, link);
  SetMode(plugins_, 0757);
  std::vector<std::string> problems;
  LoadOptions options;
  options.allow_insecure_permissions = true;
  options.before_dlopen = [&](const PluginFile& file) { problems = file.waived_problems(); };
  absl::StatusOr<std::unique_ptr<LoadedPlugin>> plugin = LoadPlugin(link, {}, options);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ(problems, std::vector<std::string>{"directory " + plugins_ +
                                               " is writable by others (mode 0757)"});

  options.allow_insecure_permissions = false;
  plugin = LoadPlugin(link, {}, options);
  ASSERT_FALSE(plugin.ok());
  EXPECT_EQ(plugin.status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace signal_host
