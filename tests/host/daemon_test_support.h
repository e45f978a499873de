// Shared by the api_* and daemon_* tests: they run the built signal-delivery-host and
// fake-hightouch binaries as real processes on free loopback ports, in a temporary data
// directory, and talk to them over HTTP. Nothing here includes generated protobuf code
// (httplib's <csignal> clashes with the `signal` namespace; see host/api/api_types.h).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "host/auth/jwt.h"
#include "httplib.h"
#include "rapidjson/document.h"

#ifndef SIGNAL_HOST_BINARY
#error "SIGNAL_HOST_BINARY must name the built signal-delivery-host"
#endif
#ifndef FAKE_HIGHTOUCH_BINARY
#error "FAKE_HIGHTOUCH_BINARY must name the built fake-hightouch"
#endif

namespace signal_test {

// The product page's credentials; the fake knows them (see StartFake).
inline constexpr char kApiKey[] = "xxxxxxxxxxxxxxxxxxxx";
inline constexpr char kJwtSecret[] = "test-secret-0123456789abcdef0123456789abcdef";
inline constexpr char kPipelineKey[] = "dk_test_pipeline_key_0123456789";

// The product page's install body, byte for byte.
inline constexpr char kProductPageBody[] = R"({
    "name": "Hightouch",
    "variant": "default",
    "config": {
      "api_key": "xxxxxxxxxxxxxxxxxxxx",
      "workspace_id": "ws-12345",
      "source_id": "src-12345"
    },
    "delivery_mode": "server_side"
  })";

// The same install, with a short batch interval so tests do not wait 5 s per batch.
inline std::string FastInstallBody(const std::string& name = "Hightouch") {
  return std::string(R"({"name":")") + name +
         R"(","variant":"default","config":{"api_key":"xxxxxxxxxxxxxxxxxxxx",)"
         R"("workspace_id":"ws-12345","source_id":"src-12345","batch_interval_ms":100},)"
         R"("delivery_mode":"server_side"})";
}

// Polls `condition` every 20 ms until it holds or `timeout` passes.
inline bool WaitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "signal-host-test-XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) std::abort();
    path_ = buffer.data();
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A child process whose stdout lines are collected by a reader thread.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               const std::string& stderr_path) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) std::abort();
    program_ = argv.empty() ? "" : argv[0];
    // Kept open here too, so its end can be shown even once the file has been deleted.
    stderr_fd_ = open(stderr_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    pid_ = fork();
    if (pid_ == 0) {
      // Children read nothing from the test's stdin (whatever the test runner left there).
      const int null_fd = open("/dev/null", O_RDONLY);
      if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
      dup2(fds[1], STDOUT_FILENO);
      if (stderr_fd_ >= 0) dup2(stderr_fd_, STDERR_FILENO);
      for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    read_fd_ = fds[0];
    reader_ = std::thread([this] { ReadLoop(); });
  }

  // A child still running is stopped with SIGTERM, so that it exits normally: a coverage
  // build writes its counters, and a sanitizer build runs its exit checks (leaks) and
  // exits non-zero on any report, only then. Not stopping within 20 s, or stopping with
  // an error, fails the test, with the end of the child's stderr.
  ~ChildProcess() {
    if (Running()) {
      kill(pid_, SIGTERM);
      if (!WaitFor(std::chrono::seconds(20)).has_value()) {
        kill(pid_, SIGKILL);
        Wait();
        ADD_FAILURE() << program_ << " ignored SIGTERM for 20 s; its stderr ends:\n"
                      << StderrTail();
      } else if (exit_code_ != 0) {
        ADD_FAILURE() << program_ << " exited with " << exit_code_
                      << " after SIGTERM; its stderr ends:\n"
                      << StderrTail();
      }
    }
    if (reader_.joinable()) reader_.join();
    close(read_fd_);
    if (stderr_fd_ >= 0) close(stderr_fd_);
  }

  // The last 8 KiB the child wrote to stderr.
  std::string StderrTail() const {
    constexpr off_t kTail = 8192;
    const off_t size = stderr_fd_ >= 0 ? lseek(stderr_fd_, 0, SEEK_END) : 0;
    if (size <= 0) return "";
    const off_t start = size > kTail ? size - kTail : 0;
    std::string tail(static_cast<size_t>(size - start), '\0');
    const ssize_t n = pread(stderr_fd_, tail.data(), tail.size(), start);
    tail.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return tail;
  }

  // The first stdout line (so far or within `timeout`) that starts with `prefix`.
  std::optional<std::string> WaitForLine(
      const std::string& prefix, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<std::string> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const std::string& line : lines_) {
        if (line.rfind(prefix, 0) == 0) {
          found = line;
          return true;
        }
      }
      return eof_;
    });
    return found;
  }

  void Signal(int signal_number) { kill(pid_, signal_number); }

  // Waits for the exit; returns the exit code, or 128 + signal number.
  int Wait() {
    if (exited_) return exit_code_;
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

  // Waits up to `timeout` for the exit; nullopt if still running.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout) {
    if (exited_) return exit_code_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  bool Running() { return !exited_ && !WaitFor(std::chrono::milliseconds(0)).has_value(); }
  pid_t pid() const { return pid_; }

 private:
  void ReadLoop() {
    std::string pending;
    char buffer[4096];
    while (true) {
      ssize_t n = read(read_fd_, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buffer, static_cast<size_t>(n));
      size_t newline;
      while ((newline = pending.find('\n')) != std::string::npos) {
        std::lock_guard<std::mutex> lock(mu_);
        lines_.push_back(pending.substr(0, newline));
        pending.erase(0, newline + 1);
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    eof_ = true;
    cv_.notify_all();
  }

  std::string program_;
  int stderr_fd_ = -1;
  pid_t pid_ = -1;
  int read_fd_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
  bool exited_ = false;
  int exit_code_ = -1;
};

// The parts of an HTTP answer the tests look at.
struct Reply {
  int status = 0;  // 0: no answer
  std::string body;
  httplib::Headers headers;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  rapidjson::Document Json() const {
    rapidjson::Document document;
    document.Parse(body.c_str(), body.size());
    return document;
  }
  // error.code of an error envelope, or "".
  std::string ErrorCode() const {
    rapidjson::Document document = Json();
    if (!document.IsObject() || !document.HasMember("error")) return "";
    const rapidjson::Value& error = document["error"];
    return error.IsObject() && error.HasMember("code") && error["code"].IsString()
               ? error["code"].GetString()
               : "";
  }
};

inline Reply Send(int port, const std::string& method, const std::string& path,
                  const std::string& body = "", const std::string& bearer = "",
                  const std::string& content_type = "application/json") {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(60, 0);
  client.set_write_timeout(60, 0);
  httplib::Headers headers;
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
  auto reply_of = [](const httplib::Result& result) -> Reply {
    if (!result) return {};
    return {result->status, result->body, result->headers};
  };
  if (method == "GET") return reply_of(client.Get(path.c_str(), headers));
  if (method == "DELETE") return reply_of(client.Delete(path.c_str(), headers));
  if (method == "POST") {
    return reply_of(client.Post(path.c_str(), headers, body, content_type.c_str()));
  }
  ADD_FAILURE() << "unsupported method " << method;
  return {};
}

// A JWT signed with kJwtSecret (the hosts started here get it as JWT_SECRET).
inline std::string Token(const std::string& role, int64_t ttl_seconds = 3600,
                         const std::string& org = "org_default",
                         const std::string& sub = "usr_test",
                         const std::string& secret = kJwtSecret) {
  signal_host::Claims claims;
  claims.sub = sub;
  claims.org_id = org;
  claims.role = *signal_host::ParseRole(role);
  claims.iat = absl::ToUnixSeconds(absl::Now()) - (ttl_seconds < 0 ? 7200 : 0);
  claims.exp = claims.iat + (ttl_seconds < 0 ? 7200 + ttl_seconds : ttl_seconds);
  return *signal_host::SignToken(claims, secret);
}

// A port nothing listens on (bound, then released).
inline int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

struct FakeHightouch {
  std::unique_ptr<ChildProcess> process;
  std::string url;
  int port = 0;

  // Accepted events as recorded by the fake, one JSON document each.
  std::vector<std::string> Events() const {
    Reply reply = Send(port, "GET", "/_fake/events");
    std::vector<std::string> events;
    size_t start = 0;
    while (start < reply.body.size()) {
      size_t end = reply.body.find('\n', start);
      if (end == std::string::npos) end = reply.body.size();
      if (end > start) events.push_back(reply.body.substr(start, end - start));
      start = end + 1;
    }
    return events;
  }
  // messageId -> how many times the fake accepted it.
  std::map<std::string, int> MessageIdCounts() const {
    std::map<std::string, int> counts;
    for (const std::string& event : Events()) {
      rapidjson::Document document;
      document.Parse(event.c_str(), event.size());
      if (document.IsObject() && document.HasMember("messageId") &&
          document["messageId"].IsString()) {
        ++counts[document["messageId"].GetString()];
      }
    }
    return counts;
  }
  void SetFaults(const std::string& json) const {
    Reply reply = Send(port, "POST", "/_fake/faults", json);
    ASSERT_EQ(reply.status, 200) << reply.body;
  }
};

inline FakeHightouch StartFake(const TempDir& dir) {
  FakeHightouch fake;
  fake.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{FAKE_HIGHTOUCH_BINARY, "--port", "0", "--write-key", kApiKey,
                               "--api-key", kApiKey, "--source", "src-12345:12345"},
      std::map<std::string, std::string>{}, dir.Sub("fake.stderr"));
  std::optional<std::string> line = fake.process->WaitForLine("listening on ");
  EXPECT_TRUE(line.has_value()) << "fake-hightouch did not start";
  if (line) {
    fake.url = line->substr(std::string("listening on ").size());
    fake.port = std::stoi(fake.url.substr(fake.url.rfind(':') + 1));
  }
  return fake;
}

struct HostProcess {
  std::unique_ptr<ChildProcess> process;
  int admin_port = 0;
  int events_port = 0;
  std::string pipeline_key;
  std::string stderr_path;

  Reply Admin(const std::string& method, const std::string& path, const std::string& body = "",
              const std::string& bearer = "") const {
    return Send(admin_port, method, path, body, bearer);
  }
  Reply Event(const std::string& path, const std::string& body,
              const std::string& key = kPipelineKey) const {
    return Send(events_port, "POST", path, body, key);
  }
};

struct HostSettings {
  std::string data_dir;
  std::string fake_url;      // plugin options point here when non-empty
  std::string api_base_url;  // overrides fake_url for the REST API
  std::string plugin_dir;    // empty: the build's plugin directory
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> env;
};

inline HostSettings Settings(std::string data_dir, std::string fake_url) {
  HostSettings settings;
  settings.data_dir = std::move(data_dir);
  settings.fake_url = std::move(fake_url);
  return settings;
}

inline HostProcess StartHost(const HostSettings& settings) {
  HostProcess host;
  std::vector<std::string> argv = {
      SIGNAL_HOST_BINARY, "--data-dir", settings.data_dir, "--admin-port", "0",
      "--events-port",    "0",          "--pipeline-key",  kPipelineKey};
  if (!settings.plugin_dir.empty()) {
    argv.push_back("--plugin-dir");
    argv.push_back(settings.plugin_dir);
  }
  if (!settings.fake_url.empty()) {
    argv.push_back("--plugin-option");
    argv.push_back("hightouch.events_base_url=" + settings.fake_url);
    argv.push_back("--plugin-option");
    argv.push_back("hightouch.api_base_url=" +
                   (settings.api_base_url.empty() ? settings.fake_url : settings.api_base_url));
    argv.push_back("--plugin-option");
    argv.push_back("hightouch.probe_timeout_ms=5000");
  }
  argv.insert(argv.end(), settings.extra_args.begin(), settings.extra_args.end());
  std::map<std::string, std::string> env = settings.env;
  env.emplace("JWT_SECRET", kJwtSecret);
  host.stderr_path = settings.data_dir + ".stderr";
  host.process = std::make_unique<ChildProcess>(argv, env, host.stderr_path);
  std::optional<std::string> admin = host.process->WaitForLine("admin listening on ");
  std::optional<std::string> events = host.process->WaitForLine("events listening on ");
  std::optional<std::string> key = host.process->WaitForLine("pipeline default key: ");
  EXPECT_TRUE(admin && events && key)
      << "signal-delivery-host did not start; see " << host.stderr_path;
  if (admin && events && key) {
    host.admin_port = std::stoi(admin->substr(admin->rfind(':') + 1));
    host.events_port = std::stoi(events->substr(events->rfind(':') + 1));
    host.pipeline_key = key->substr(std::string("pipeline default key: ").size());
  }
  return host;
}

// The id of the integration an install answered with.
inline std::string IntegrationIdOf(const Reply& reply) {
  rapidjson::Document document = reply.Json();
  if (!document.IsObject() || !document.HasMember("integration")) return "";
  return document["integration"]["id"].GetString();
}

}  // namespace signal_test
