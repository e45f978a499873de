#include "postgres_cluster.h"

#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "process_stats.h"
#include "system_info.h"

namespace bench_harness {
namespace {

// The newest /usr/lib/postgresql/<major>/bin with an initdb, or "".
std::string NewestBinDir() {
  int best = -1;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ignored)) {
    int major = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &major) || major <= best) continue;
    if (access((entry.path() / "bin/initdb").c_str(), X_OK) == 0) best = major;
  }
  return best < 0 ? "" : absl::StrCat("/usr/lib/postgresql/", best, "/bin");
}

// A loopback port nobody listens on now (the server binds it a moment later).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start() {
  std::unique_ptr<PostgresCluster> pg(new PostgresCluster());
  pg->bin_dir_ = NewestBinDir();
  if (pg->bin_dir_.empty()) {
    return absl::FailedPreconditionError(
        "no PostgreSQL server binaries under /usr/lib/postgresql (scripts/install-deps.sh "
        "installs Debian's postgresql)");
  }
  std::string dir = "/tmp/bench-pg.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return absl::InternalError("mkdtemp /tmp/bench-pg failed");
  pg->dir_ = dir;
  pg->as_postgres_user_ = geteuid() == 0;
  if (pg->as_postgres_user_) {
    const passwd* user = getpwnam("postgres");
    if (user == nullptr) return absl::FailedPreconditionError("running as root, no postgres user");
    if (chown(dir.c_str(), user->pw_uid, user->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", dir, " to postgres failed"));
    }
  }
  const int port = FreePort();
  if (port == 0) return absl::InternalError("no free loopback port for PostgreSQL");
  const std::string data = dir + "/data";
  // initdb may skip its own fsync (a crash here only loses a throwaway cluster); the
  // server runs with fsync on, PostgreSQL's default.
  if (!pg->Run("initdb", absl::StrCat("-D ", ShellQuote(data),
                                      " -U signal --auth=trust -E UTF8 --no-sync"))) {
    return absl::InternalError(absl::StrCat("initdb failed; see ", dir, "/commands.log"));
  }
  std::vector<std::string> argv;
  if (pg->as_postgres_user_) {
    // setpriv execs (no process in between) and sets the parent-death signal again after
    // the change of user, which clears it. SIGINT: PostgreSQL's fast shutdown.
    argv = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres",
            "--init-groups",    "--pdeathsig",      "INT"};
  }
  for (const std::string& arg :
       {pg->bin_dir_ + "/postgres", std::string("-D"), data, std::string("-c"),
        std::string("listen_addresses=127.0.0.1"), std::string("-c"), absl::StrCat("port=", port),
        std::string("-c"), "unix_socket_directories=" + dir, std::string("-c"),
        std::string("fsync=on"), std::string("-c"), std::string("max_connections=200")}) {
    argv.push_back(arg);
  }
  pg->server_.Start(argv, dir + "/server.out", dir + "/server.log");
  const std::string ready_command = absl::StrCat(ShellQuote(pg->bin_dir_ + "/pg_isready"),
                                                 " -q -h 127.0.0.1 -p ", port, "; echo $?");
  bool ready = false;
  for (int i = 0; i < 600 && !ready; ++i) {
    if (!pg->server_.Running()) break;
    ready = RunCommand(ready_command) == "0";
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ready) {
    return absl::InternalError(absl::StrCat("PostgreSQL did not start; see ", dir, "/server.log"));
  }
  if (!pg->Run("createdb", absl::StrCat("-h 127.0.0.1 -p ", port, " -U signal signal"))) {
    return absl::InternalError(absl::StrCat("createdb failed; see ", dir, "/commands.log"));
  }
  pg->url_ = absl::StrCat("postgresql://signal@127.0.0.1:", port, "/signal");
  pg->description_ = absl::StrCat(RunCommand(ShellQuote(pg->bin_dir_ + "/postgres") + " --version"),
                                  ", fsync on, synchronous_commit on (defaults), data in ", data);
  return pg;
}

bool PostgresCluster::Run(const std::string& tool, const std::string& args) const {
  std::string command = absl::StrCat(ShellQuote(bin_dir_ + "/" + tool), " ", args, " >>",
                                     ShellQuote(dir_ + "/commands.log"), " 2>&1; echo $?");
  if (as_postgres_user_) {
    command = absl::StrCat("runuser -u postgres -- sh -c ", ShellQuote(command));
  }
  return RunCommand(command) == "0";
}

double PostgresCluster::CpuSeconds() const {
  return server_.pid() > 0 ? TreeCpuSeconds(server_.pid()) : 0;
}

void PostgresCluster::Stop() {
  if (server_.pid() > 0) {
    kill(server_.pid(), SIGINT);  // fast shutdown: disconnects sessions
    server_.Stop(std::chrono::seconds(60));
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    dir_.clear();
  }
}

}  // namespace bench_harness
