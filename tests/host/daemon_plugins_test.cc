// signal-delivery-host as a process against bad plugin files and directories: what
// it refuses (and says so, naming the file and the reason), what the override lets
// through with a warning, a plugin that kills the process while loading (named in
// the log first) and one that stalls while loading (SIGTERM still stops the host).
// The tests run as root (here and in CI): modes are set with chmod and owners with
// chown, never left to the umask.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "daemon_test_support.h"

#ifndef ABORTING_PLUGIN
#error "ABORTING_PLUGIN must name the fixture that aborts in its constructor"
#endif
#ifndef STALLING_PLUGIN
#error "STALLING_PLUGIN must name the fixture that stalls in its constructor"
#endif

namespace signal_test {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kSomeoneElse = 65534;  // "nobody"

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The log lines containing `text`.
std::vector<std::string> LinesWith(const std::string& log, const std::string& text) {
  std::vector<std::string> found;
  for (const std::string& line : Lines(log)) {
    if (line.find(text) != std::string::npos) found.push_back(line);
  }
  return found;
}

void SetMode(const std::string& path, mode_t mode) {
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  ASSERT_EQ(info.st_mode & 07777, mode) << path;
}

std::string CopyAs(const std::string& from, const std::string& to, mode_t mode) {
  fs::copy_file(from, to);
  SetMode(to, mode);
  return to;
}

std::string Sha256Sum(const std::string& path) {
  FILE* pipe = popen(("sha256sum '" + path + "'").c_str(), "r");
  if (pipe == nullptr) return "";
  char line[256] = {};
  std::string digest = fgets(line, sizeof(line), pipe) != nullptr ? std::string(line, 64) : "";
  pclose(pipe);
  return digest;
}

// A plugin directory of its own, mode 0755 whatever the umask.
std::string PluginDir(const TempDir& dir) {
  std::string path = dir.Sub("plugins");
  fs::create_directories(path);
  SetMode(path, 0755);
  return path;
}

// Runs the host on `plugin_dir` without waiting for it to listen (it may never).
std::unique_ptr<ChildProcess> RunHostOn(const TempDir& dir, const std::string& plugin_dir,
                                        std::string* stderr_path) {
  *stderr_path = dir.Sub("host.stderr");
  return std::make_unique<ChildProcess>(
      std::vector<std::string>{SIGNAL_HOST_BINARY, "--data-dir", dir.Sub("data"), "--plugin-dir",
                               plugin_dir, "--admin-port", "0", "--events-port", "0"},
      std::map<std::string, std::string>{{"JWT_SECRET", kJwtSecret}}, *stderr_path);
}

size_t CatalogSize(const HostProcess& host) {
  Reply catalog = host.Admin("GET", "/v1/admin/integration-catalog", "", Token("viewer"));
  return catalog.status == 200 ? catalog.Json()["data"].Size() : 9999;
}

TEST(DaemonPluginsTest, RefusesEveryFileThatIsNotAPluginOnlyTrustedUsersControl) {
  TempDir dir;
  const std::string plugins = PluginDir(dir);
  const std::string good = plugins + "/libsignal_hightouch.so";
  fs::create_symlink(SIGNAL_HIGHTOUCH_PLUGIN, good);
  // Each bad entry is a copy of a fixture that dlopen would open fine: a refusal
  // for any other reason than the one expected shows in the message.
  std::map<std::string, std::string> expected = {
      {CopyAs(BROKEN_PLUGIN, plugins + "/libworld.so", 0646),
       plugins + "/libworld.so is writable by others (mode 0646)"},
      {CopyAs(BROKEN_PLUGIN, plugins + "/libgroup.so", 0664),
       plugins + "/libgroup.so is writable by group (mode 0664)"},
      {CopyAs(BROKEN_PLUGIN, plugins + "/libforeign.so", 0755),
       plugins + "/libforeign.so is owned by uid 65534"},
      {plugins + "/libfifo.so", "a FIFO, not a regular file"},
      {plugins + "/libdangling.so", "dangling symbolic link to " + dir.Sub("gone.so")},
      {plugins + "/libdir.so", "a directory, not a regular file"},
  };
  ASSERT_EQ(chown((plugins + "/libforeign.so").c_str(), kSomeoneElse, static_cast<gid_t>(-1)), 0);
  ASSERT_EQ(mkfifo((plugins + "/libfifo.so").c_str(), 0644), 0);
  fs::create_symlink(dir.Sub("gone.so"), plugins + "/libdangling.so");
  fs::create_directory(plugins + "/libdir.so");

  HostSettings settings = Settings(dir.Sub("data"), "");
  settings.plugin_dir = plugins;
  // Starting at all proves the FIFO did not hang start-up.
  HostProcess host = StartHost(settings);
  ASSERT_TRUE(host.process->Running());
  std::string log = ReadFile(host.stderr_path);
  for (const auto& [path, reason] : expected) {
    std::vector<std::string> refusals = LinesWith(log, "plugin " + path + ": ");
    ASSERT_EQ(refusals.size(), 1u) << path << "\n" << log;
    EXPECT_NE(refusals[0].find("ERROR skipped a plugin that failed to load"), std::string::npos)
        << refusals[0];
    EXPECT_NE(refusals[0].find(reason), std::string::npos) << refusals[0];
    // Refused before any of its code could run.
    EXPECT_TRUE(LinesWith(log, "loading plugin " + path).empty()) << log;
  }
  EXPECT_NE(LinesWith(log, "plugins.allow_insecure_permissions: true").size(), 0u) << log;
  // The link to the real plugin is followed and loaded.
  EXPECT_EQ(LinesWith(log, "loading plugin " + good + " (link to " +
                               fs::canonical(SIGNAL_HIGHTOUCH_PLUGIN).string() + ", sha256 ")
                .size(),
            1u)
      << log;
  EXPECT_EQ(CatalogSize(host), 1u);
  EXPECT_EQ(host.Admin("GET", "/readyz").status, 200);
}

TEST(DaemonPluginsTest, RefusesAPluginInAWorldWritableDirectory) {
  TempDir dir;
  const std::string plugins = PluginDir(dir);
  fs::create_symlink(SIGNAL_HIGHTOUCH_PLUGIN, plugins + "/libsignal_hightouch.so");
  SetMode(plugins, 0777);
  HostSettings settings = Settings(dir.Sub("data"), "");
  settings.plugin_dir = plugins;
  HostProcess host = StartHost(settings);
  std::string log = ReadFile(host.stderr_path);
  std::vector<std::string> refusals =
      LinesWith(log, "plugin " + plugins + "/libsignal_hightouch.so: refused");
  ASSERT_EQ(refusals.size(), 1u) << log;
  EXPECT_NE(
      refusals[0].find("directory " + plugins + " is writable by group and others (mode 0777)"),
      std::string::npos)
      << refusals[0];
  EXPECT_EQ(CatalogSize(host), 0u);
  EXPECT_EQ(host.Admin("GET", "/readyz").status, 503);
}

TEST(DaemonPluginsTest, TheOverrideLoadsAnInsecurePluginWithAWarningPerProblem) {
  TempDir dir;
  const std::string plugins = PluginDir(dir);
  const std::string path =
      CopyAs(SIGNAL_HIGHTOUCH_PLUGIN, plugins + "/libsignal_hightouch.so", 0666);
  SetMode(plugins, 0777);
  std::ofstream(dir.Sub("config.yaml")) << "plugins:\n  allow_insecure_permissions: true\n";
  HostSettings settings = Settings(dir.Sub("data"), "");
  settings.plugin_dir = plugins;
  settings.extra_args = {"--config", dir.Sub("config.yaml")};
  HostProcess host = StartHost(settings);
  EXPECT_EQ(CatalogSize(host), 1u);
  std::string log = ReadFile(host.stderr_path);
  std::vector<std::string> warnings = LinesWith(log, "WARN loading plugin " + path + " although ");
  ASSERT_EQ(warnings.size(), 2u) << log;
  EXPECT_NE(warnings[0].find(path + " is writable by group and others (mode 0666)"),
            std::string::npos)
      << warnings[0];
  EXPECT_NE(warnings[1].find("directory " + plugins + " is writable by group and others"),
            std::string::npos)
      << warnings[1];
  EXPECT_NE(warnings[1].find("because plugins.allow_insecure_permissions is set"),
            std::string::npos);
}

TEST(DaemonPluginsTest, APluginThatAbortsWhileLoadingIsNamedInTheLogBeforeTheHostDies) {
  TempDir dir;
  const std::string plugins = PluginDir(dir);
  const std::string crash = CopyAs(ABORTING_PLUGIN, plugins + "/libcrash.so", 0755);
  fs::create_symlink(SIGNAL_HIGHTOUCH_PLUGIN, plugins + "/libsignal_hightouch.so");
  std::string stderr_path;
  std::unique_ptr<ChildProcess> host = RunHostOn(dir, plugins, &stderr_path);
  std::optional<int> code = host->WaitFor(std::chrono::seconds(60));
  ASSERT_TRUE(code.has_value()) << "the host neither died nor started";
  EXPECT_EQ(*code, 128 + SIGABRT);

  std::vector<std::string> lines = Lines(ReadFile(stderr_path));
  // The last "loading plugin" line names the culprit, with its digest and size, and
  // comes before the fixture's own last words.
  size_t loading = lines.size();
  size_t last_words = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find("loading plugin ") != std::string::npos &&
        lines[i].find("loading plugins from") == std::string::npos) {
      loading = i;
    }
    if (lines[i].find("crashing fixture: aborting") != std::string::npos) last_words = i;
  }
  ASSERT_LT(loading, lines.size()) << ReadFile(stderr_path);
  EXPECT_NE(lines[loading].find("INFO loading plugin " + crash + " (sha256 " + Sha256Sum(crash) +
                                ", size " + std::to_string(fs::file_size(crash)) + " bytes)"),
            std::string::npos)
      << lines[loading];
  ASSERT_LT(last_words, lines.size());
  EXPECT_LT(loading, last_words);
}

TEST(DaemonPluginsTest, SigtermWhileAPluginStallsInItsConstructorStopsTheHost) {
  TempDir dir;
  const std::string plugins = PluginDir(dir);
  const std::string stall = CopyAs(STALLING_PLUGIN, plugins + "/libstall.so", 0755);
  std::string stderr_path;
  std::unique_ptr<ChildProcess> host = RunHostOn(dir, plugins, &stderr_path);
  ASSERT_TRUE(WaitUntil([&] {
    return !LinesWith(ReadFile(stderr_path), "loading plugin " + stall).empty();
  })) << ReadFile(stderr_path);
  ASSERT_TRUE(host->Running());
  host->Signal(SIGTERM);
  std::optional<int> code = host->WaitFor(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value()) << "SIGTERM did not stop a host stuck loading a plugin";
  EXPECT_EQ(*code, 0);
  std::string log = ReadFile(stderr_path);
  EXPECT_EQ(LinesWith(log, "received SIGTERM while loading plugins; exiting").size(), 1u) << log;
  // It never got as far as listening.
  EXPECT_FALSE(host->WaitForLine("admin listening", std::chrono::milliseconds(100)).has_value());
}

}  // namespace
}  // namespace signal_test
