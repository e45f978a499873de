// The store's SQLite layer (host/store/sqlite_db): how SQLite's failures become
// Status codes. The engine and the APIs act on these codes (a full disk is
// ResourceExhausted and backs off, a duplicate name is AlreadyExists and answers 409),
// so each mapping is checked against a real database in the state that causes it.
#include "host/store/sqlite_db.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signal_host::sqlite {
namespace {

using ::testing::HasSubstr;

class SqliteDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/sqlite_db_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/test.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Connection> OpenOrDie(bool create = true) {
    absl::StatusOr<std::unique_ptr<Connection>> db = Connection::Open(path_, create);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *std::move(db) : nullptr;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SqliteDbTest, OpeningAMissingFileWithoutCreateFailsAndNamesIt) {
  absl::StatusOr<std::unique_ptr<Connection>> db = Connection::Open(path_, /*create=*/false);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(db.status().message(), HasSubstr("open " + path_));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(SqliteDbTest, SyntaxErrorsAreInternalAndQuoteTheStatement) {
  std::unique_ptr<Connection> db = OpenOrDie();
  ASSERT_NE(db, nullptr);
  absl::Status exec = db->Exec("CREATE TABLEE t(x)");
  EXPECT_EQ(exec.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(exec.message(), HasSubstr("CREATE TABLEE t(x)"));
  EXPECT_THAT(exec.message(), HasSubstr("syntax error"));

  absl::StatusOr<Statement> prepared = db->Prepare("SELECT x FROM nowhere");
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(prepared.status().message(), HasSubstr("prepare SELECT x FROM nowhere"));
  EXPECT_THAT(std::string(prepared.status().message()), HasSubstr("no such table"));
}

TEST_F(SqliteDbTest, QueriesWithoutARowAreErrorsNotZeroOrEmpty) {
  std::unique_ptr<Connection> db = OpenOrDie();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER, s TEXT)").ok());
  absl::StatusOr<int64_t> number = db->QueryInt("SELECT x FROM t");
  ASSERT_FALSE(number.ok());
  EXPECT_THAT(number.status().message(), HasSubstr("no row from SELECT x FROM t"));
  absl::StatusOr<std::string> text = db->QueryText("SELECT s FROM t");
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(text.status().message(), HasSubstr("no row from SELECT s FROM t"));

  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (42, 'forty-two')").ok());
  EXPECT_EQ(*db->QueryInt("SELECT x FROM t"), 42);
  EXPECT_EQ(*db->QueryText("SELECT s FROM t"), "forty-two");
  EXPECT_FALSE(db->QueryInt("SELECT missing FROM t").ok());
  EXPECT_FALSE(db->QueryText("SELECT missing FROM t").ok());
}

TEST_F(SqliteDbTest, ABadBindFailsTheStepAndWritesNothing) {
  std::unique_ptr<Connection> db = OpenOrDie();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x INTEGER, b BLOB)").ok());
  {
    absl::StatusOr<Statement> insert = db->Prepare("INSERT INTO t VALUES (?1, ?2)");
    ASSERT_TRUE(insert.ok());
    // Parameter 3 does not exist: the first bind error is kept, later good binds do not
    // hide it, and the statement never runs.
    insert->Bind(1, 7).BindText(3, "x").BindBlob(2, "blob").BindBlobNoCopy(4, "y");
    absl::Status run = insert->Run();
    EXPECT_EQ(run.code(), absl::StatusCode::kInternal);
    EXPECT_THAT(run.message(), HasSubstr("bind"));
    EXPECT_THAT(run.message(), HasSubstr("(25)"));  // SQLITE_RANGE

    // Reset clears the error: the same statement then runs.
    insert->Reset();
    insert->Bind(1, 8).BindBlobNoCopy(2, "");
    EXPECT_TRUE(insert->Run().ok());
  }
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t"), 1);
  // An empty blob is a blob, not NULL.
  EXPECT_EQ(*db->QueryText("SELECT typeof(b) FROM t"), "blob");
}

TEST_F(SqliteDbTest, UniqueViolationsAreAlreadyExistsAndOtherConstraintsFailedPrecondition) {
  std::unique_ptr<Connection> db = OpenOrDie();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(
      db->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE, v TEXT NOT NULL)").ok());
  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (1, 'a', 'x')").ok());

  absl::Status duplicate_key = db->Exec("INSERT INTO t VALUES (1, 'b', 'x')");
  EXPECT_EQ(duplicate_key.code(), absl::StatusCode::kAlreadyExists) << duplicate_key;
  absl::Status duplicate_name = db->Exec("INSERT INTO t VALUES (2, 'a', 'x')");
  EXPECT_EQ(duplicate_name.code(), absl::StatusCode::kAlreadyExists) << duplicate_name;
  EXPECT_THAT(duplicate_name.message(), HasSubstr("UNIQUE constraint failed: t.name"));
  absl::Status missing = db->Exec("INSERT INTO t VALUES (3, 'c', NULL)");
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("NOT NULL"));

  // Through a prepared statement the same mapping holds (the extended code is kept).
  absl::StatusOr<Statement> insert = db->Prepare("INSERT INTO t VALUES (?1, ?2, ?3)");
  ASSERT_TRUE(insert.ok());
  insert->Bind(1, 4).BindText(2, "a").BindText(3, "x");
  EXPECT_EQ(insert->Run().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t"), 1);
}

TEST_F(SqliteDbTest, AFullDatabaseIsResourceExhausted) {
  std::unique_ptr<Connection> db = OpenOrDie();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t(b BLOB)").ok());
  // A page budget stands in for a full disk: SQLite reports both as SQLITE_FULL.
  const int64_t pages = *db->QueryInt("PRAGMA page_count");
  ASSERT_TRUE(db->Exec(("PRAGMA max_page_count = " + std::to_string(pages + 2)).c_str()).ok());
  absl::StatusOr<Statement> insert = db->Prepare("INSERT INTO t VALUES (?1)");
  ASSERT_TRUE(insert.ok());
  insert->BindBlob(1, std::string(64 * 1024, 'x'));
  absl::Status full = insert->Run();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_THAT(full.message(), HasSubstr("full"));
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t"), 0);
}

TEST_F(SqliteDbTest, ALockedDatabaseIsUnavailable) {
  std::unique_ptr<Connection> holder = OpenOrDie();
  ASSERT_NE(holder, nullptr);
  ASSERT_TRUE(holder->Exec("CREATE TABLE t(x)").ok());
  std::unique_ptr<Connection> other = OpenOrDie(/*create=*/false);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(holder->Exec("BEGIN EXCLUSIVE").ok());
  EXPECT_TRUE(holder->InTransaction());
  absl::Status busy = other->Exec("INSERT INTO t VALUES (1)");
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable) << busy;
  EXPECT_THAT(busy.message(), HasSubstr("locked"));
  ASSERT_TRUE(holder->Exec("COMMIT").ok());
  EXPECT_TRUE(other->Exec("INSERT INTO t VALUES (1)").ok());
}

TEST_F(SqliteDbTest, AFileThatIsNotADatabaseIsDataLoss) {
  {
    std::ofstream out(path_, std::ios::binary);
    out << std::string(8192, 'G');
  }
  std::unique_ptr<Connection> db = OpenOrDie(/*create=*/false);
  ASSERT_NE(db, nullptr);
  absl::StatusOr<int64_t> tables = db->QueryInt("SELECT count(*) FROM sqlite_master");
  ASSERT_FALSE(tables.ok());
  EXPECT_EQ(tables.status().code(), absl::StatusCode::kDataLoss) << tables.status();
  absl::Status exec = db->Exec("CREATE TABLE t(x)");
  EXPECT_EQ(exec.code(), absl::StatusCode::kDataLoss) << exec;
}

TEST_F(SqliteDbTest, ACodeNotFromTheHandleIsDescribedByItself) {
  // Without a handle (or when the handle's last error is another one), the message
  // comes from the code, not from an unrelated earlier error.
  absl::Status busy = ErrorStatus(nullptr, SQLITE_BUSY, "step");
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(busy.message(), HasSubstr("sqlite: step: database is locked (5)"));
  EXPECT_EQ(ErrorStatus(nullptr, SQLITE_LOCKED, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorStatus(nullptr, SQLITE_CORRUPT, "x").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ErrorStatus(nullptr, SQLITE_IOERR_WRITE, "x").code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace signal_host::sqlite
