// A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries
// (/usr/lib/postgresql/<newest>/bin), initdb into a temp dir, started on a free
// loopback port with its unix socket in that dir, stopped and removed at the end.
// As root (initdb refuses root) the server runs as the `postgres` system user the
// package creates (runuser), the temp dir chowned to it; otherwise as the caller.
//
// A missing PostgreSQL is an error, never a skip. One server per test executable
// (PostgresEnvironment), a fresh database per test (CreateDatabase).
//
// Not thread-safe: drive one server from one thread (the URLs it hands out may be
// used from any).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace signal_test {

struct PostgresServerOptions {
  // fsync off makes a test cluster faster; benchmarks turn it on for honest figures.
  bool fsync = false;
};

class PostgresServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(
      const PostgresServerOptions& options = {});
  ~PostgresServer();  // stops the server and removes its directory
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // postgresql://signal@127.0.0.1:<port>/<database>
  std::string url(std::string_view database = "postgres") const;
  // Creates a database with a fresh name; returns its URL.
  absl::StatusOr<std::string> CreateDatabase();

  // Stops (fast shutdown: sessions are disconnected) and starts again on the same
  // port and directory, for connection-loss tests.
  absl::Status Stop();
  absl::Status Restart();

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  double startup_seconds() const { return startup_seconds_; }

 private:
  PostgresServer() = default;
  // Runs a PostgreSQL binary (as the server's user), output appended to commands.log.
  absl::Status RunTool(const std::string& tool, const std::vector<std::string>& args);
  absl::Status StartServer();

  std::string bin_dir_;
  std::string dir_;
  int port_ = 0;
  bool as_postgres_user_ = false;
  bool running_ = false;
  bool fsync_ = false;
  int databases_ = 0;
  double startup_seconds_ = 0;
};

// Starts one server for the whole test executable; every test reaches it through
// server(). Register it in the test file:
//   const auto* const kPg = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);
class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
  // The running server; a test fails (not skips) when it could not start.
  static PostgresServer* server();

 private:
  static std::unique_ptr<PostgresServer>& instance();
};

}  // namespace signal_test
