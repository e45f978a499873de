// The libpq layer against a real server: parameters (text and binary), errors mapped
// to Status codes with the SQLSTATE, transactions, the pool's exclusive hand-out and
// timeout, and recovery after the server restarts (Unavailable while it is down, the
// pool and the change feed reconnect once it is back).
#include <chrono>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "host/store/postgres/pg_pool.h"
#include "tests/postgres/pg_test_support.h"

namespace signal_test {
namespace {

using ::signal_host::pg::Connection;
using ::signal_host::pg::Params;
using ::signal_host::pg::Pool;
using ::testing::HasSubstr;

const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

class PgConnectionTest : public PgStoreTest {};

TEST_F(PgConnectionTest, ErrorsCarryTheSqlStateAndMapToStatusCodes) {
  auto conn = Raw();
  ASSERT_TRUE(conn->Run("CREATE TABLE t (k text PRIMARY KEY, n integer)").ok());
  ASSERT_TRUE(conn->Run("INSERT INTO t VALUES ($1, $2)", Params().Text("a").Int(1)).ok());
  absl::Status duplicate = conn->Run("INSERT INTO t VALUES ($1, $2)", Params().Text("a").Int(2));
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(duplicate.message(), HasSubstr("23505"));
  EXPECT_THAT(duplicate.message(), HasSubstr("duplicate key"));

  absl::Status syntax = conn->Run("SELEC 1");
  EXPECT_EQ(syntax.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(syntax.message(), HasSubstr("42601"));

  EXPECT_EQ(conn->Run("INSERT INTO t VALUES ($1, 1)", Params().Text("bad\xff")).code(),
            absl::StatusCode::kInvalidArgument);  // not UTF-8 (22021)
  EXPECT_EQ(
      conn->Run("INSERT INTO t VALUES ($1, 1)", Params().Text(std::string("n\0ul", 4))).code(),
      absl::StatusCode::kInvalidArgument);  // refused before it is sent
  EXPECT_EQ(
      conn->Run("INSERT INTO t VALUES ('x', $1::integer)", Params().Text("99999999999")).code(),
      absl::StatusCode::kInvalidArgument);  // out of range (22003)
  // The connection survives all of that.
  absl::StatusOr<signal_host::pg::Result> count = conn->Exec("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(count->Int(0, 0), 1);
}

TEST_F(PgConnectionTest, EveryByteValueRoundTripsAsBytea) {
  auto conn = Raw();
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  absl::StatusOr<signal_host::pg::Result> echoed =
      conn->Exec("SELECT $1::bytea, length($1::bytea)", Params().Bytes(all));
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(echoed->Bytes(0, 0), all);
  EXPECT_EQ(echoed->Int(0, 1), 256);
}

TEST_F(PgConnectionTest, AFailedTransactionLeavesNothing) {
  auto conn = Raw();
  ASSERT_TRUE(conn->Run("CREATE TABLE t (k text PRIMARY KEY)").ok());
  absl::Status failed = conn->Transaction([&]() -> absl::Status {
    if (absl::Status s = conn->Run("INSERT INTO t VALUES ('a')"); !s.ok()) return s;
    return conn->Run("INSERT INTO t VALUES ('a')");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(conn->Exec("SELECT count(*) FROM t")->Int(0, 0), 0);
  ASSERT_TRUE(conn->Transaction([&] { return conn->Run("INSERT INTO t VALUES ('b')"); }).ok());
  EXPECT_EQ(conn->Exec("SELECT count(*) FROM t")->Int(0, 0), 1);
}

TEST_F(PgConnectionTest, ThePoolHandsEachConnectionToOneHolderAndTimesOut) {
  signal_host::pg::PoolOptions options;
  options.url = url_;
  options.size = 2;
  options.acquire_timeout = std::chrono::milliseconds(100);
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Open(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<Pool::Lease> a = (*pool)->Acquire();
  absl::StatusOr<Pool::Lease> b = (*pool)->Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->BackendPid(), (*b)->BackendPid());
  const auto before = std::chrono::steady_clock::now();
  absl::StatusOr<Pool::Lease> c = (*pool)->Acquire();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(c.status().message(), HasSubstr("busy"));
  EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(100));
  const int pid = (*a)->BackendPid();
  a = absl::UnavailableError("released");  // gives the connection back
  absl::StatusOr<Pool::Lease> d = (*pool)->Acquire();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->BackendPid(), pid);
}

TEST_F(PgConnectionTest, AnUnreachableServerIsUnavailable) {
  signal_host::pg::PoolOptions options;
  options.url = "postgresql://signal@127.0.0.1:1/nothing";
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Open(options);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(pool.status().message(), HasSubstr("cannot connect"));
  signal_host::PostgresOptions store_options = Options();
  store_options.url = options.url;
  EXPECT_EQ(signal_host::PostgresStore::Open(store_options, box_.get(), &queue_).status().code(),
            absl::StatusCode::kUnavailable);
}

// Last in this file: it restarts the executable's server.
TEST_F(PgConnectionTest, AfterAServerRestartCallsAreUnavailableThenRecover) {
  std::string id = Install("Hightouch");
  Notices notices;
  store_->SetListener(notices.Listener());
  ASSERT_TRUE(PostgresEnvironment::server()->Stop().ok());
  // While the server is down every call fails cleanly, and fast (the pool backs off).
  for (int i = 0; i < 3; ++i) {
    const auto before = std::chrono::steady_clock::now();
    absl::StatusOr<signal_host::IntegrationRecord> down = store_->GetIntegration("org_default", id);
    EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
  }
  ASSERT_TRUE(PostgresEnvironment::server()->Restart().ok());
  EXPECT_TRUE(WaitFor([&] { return store_->GetIntegration("org_default", id).ok(); },
                      std::chrono::seconds(10)));
  // The feed reconnected on its own and asked for a full re-sync.
  EXPECT_TRUE(notices.WaitFor("", std::chrono::seconds(10)));
  EXPECT_GE(store_->feed_reconnects(), 1);
  std::string after = Install("After");
  EXPECT_TRUE(notices.WaitFor(after));
  store_->SetListener(nullptr);  // `notices` goes before the store
}

}  // namespace
}  // namespace signal_test
