#include "tests/postgres/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace signal_test {
namespace {

constexpr char kUser[] = "signal";

// The newest installed server's bin dir, e.g. /usr/lib/postgresql/15/bin.
absl::StatusOr<std::string> FindBinDir() {
  glob_t found{};
  std::vector<std::string> dirs;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &found) == 0) {
    for (size_t i = 0; i < found.gl_pathc; ++i) {
      dirs.push_back(std::filesystem::path(found.gl_pathv[i]).parent_path().string());
    }
  }
  globfree(&found);
  if (dirs.empty()) {
    return absl::NotFoundError(
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): install "
        "Debian's postgresql package (scripts/install-deps.sh)");
  }
  // Versions compare numerically: 9 < 15 < 16.
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    auto version = [](const std::string& dir) {
      return std::atoi(std::filesystem::path(dir).parent_path().filename().c_str());
    };
    return version(a) < version(b);
  });
  return dirs.back();
}

absl::StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  if (port <= 0) return absl::InternalError("no free loopback port");
  return port;
}

std::string ReadTail(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(
    const PostgresServerOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->fsync_ = options.fsync;
  absl::StatusOr<std::string> bin = FindBinDir();
  if (!bin.ok()) return bin.status();
  server->bin_dir_ = *bin;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/signal-pg-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  server->dir_ = pattern;
  if (geteuid() == 0) {
    // initdb refuses to run as root: the server runs as the package's system user.
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return absl::NotFoundError(
          "running as root, but there is no `postgres` user to run "
          "the server as (Debian's postgresql package creates it)");
    }
    if (chown(server->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("cannot chown ", server->dir_, " to postgres"));
    }
    server->as_postgres_user_ = true;
  }
  if (absl::Status init =
          server->RunTool("initdb", {"-D", server->dir_ + "/data", "-U", kUser, "-A", "trust", "-E",
                                     "UTF8", "--locale=C", "--no-sync", "--no-instructions"});
      !init.ok()) {
    return init;
  }
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  server->port_ = *port;
  if (absl::Status start = server->StartServer(); !start.ok()) return start;
  server->startup_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return server;
}

PostgresServer::~PostgresServer() {
  if (running_) Stop().IgnoreError();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

absl::Status PostgresServer::RunTool(const std::string& tool,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  if (as_postgres_user_) argv = {"runuser", "-u", "postgres", "--"};
  argv.push_back(bin_dir_ + "/" + tool);
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);
  const std::string log = dir_ + "/commands.log";
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    // The server's user must be able to write its own log lines into the dir.
    execvp(raw[0], raw.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat(tool, " failed (status ", status, "): ", ReadTail(log)));
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::StartServer() {
  const std::string settings = absl::StrCat(
      "-c listen_addresses=127.0.0.1 -p ", port_, " -c unix_socket_directories=", dir_,
      " -c fsync=", fsync_ ? "on" : "off", " -c max_connections=60 -c shared_buffers=32MB");
  absl::Status started = RunTool("pg_ctl", {"-D", dir_ + "/data", "-l", dir_ + "/data/server.log",
                                            "-w", "-t", "30", "-o", settings, "start"});
  if (!started.ok()) {
    return absl::Status(
        started.code(),
        absl::StrCat(started.message(), "\nserver log: ", ReadTail(dir_ + "/data/server.log")));
  }
  running_ = true;
  return absl::OkStatus();
}

absl::Status PostgresServer::Stop() {
  if (!running_) return absl::OkStatus();
  absl::Status stopped =
      RunTool("pg_ctl", {"-D", dir_ + "/data", "-w", "-t", "30", "-m", "fast", "stop"});
  if (stopped.ok()) running_ = false;
  return stopped;
}

absl::Status PostgresServer::Restart() {
  if (absl::Status stopped = Stop(); !stopped.ok()) return stopped;
  return StartServer();
}

std::string PostgresServer::url(std::string_view database) const {
  return absl::StrCat("postgresql://", kUser, "@127.0.0.1:", port_, "/",
                      absl::string_view(database.data(), database.size()));
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase() {
  const std::string name = absl::StrCat("test_", getpid(), "_", ++databases_);
  PGconn* conn = PQconnectdb(url().c_str());
  absl::Status status;
  if (PQstatus(conn) != CONNECTION_OK) {
    status = absl::UnavailableError(absl::StrCat("cannot connect: ", PQerrorMessage(conn)));
  } else {
    // The name is ours (letters, digits, '_'): safe as an identifier.
    PGresult* result = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      status = absl::InternalError(absl::StrCat("CREATE DATABASE: ", PQerrorMessage(conn)));
    }
    PQclear(result);
  }
  PQfinish(conn);
  if (!status.ok()) return status;
  return url(name);
}

std::unique_ptr<PostgresServer>& PostgresEnvironment::instance() {
  static std::unique_ptr<PostgresServer> server;
  return server;
}

void PostgresEnvironment::SetUp() {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start();
  // Not fatal here, so that every test still runs and fails on its own (a fatal
  // failure would mark them skipped).
  if (!server.ok()) {
    ADD_FAILURE() << "cannot start a PostgreSQL server for the tests: " << server.status();
    return;
  }
  instance() = *std::move(server);
}

void PostgresEnvironment::TearDown() { instance().reset(); }

PostgresServer* PostgresEnvironment::server() {
  PostgresServer* server = instance().get();
  EXPECT_NE(server, nullptr) << "the PostgreSQL test server did not start";
  return server;
}

}  // namespace signal_test
