// SQLite-specific behaviour of SqliteStore that the backend-neutral conformance suite cannot
// express: options, pragmas, locking, files that are not ours, schema reconciliation details.
#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "store/migrations/sqlite_migrations.h"
#include "store/sqlite/registry_tables.h"
#include "store/store_test_util.h"

namespace linli::store::sqlite {
namespace {

using model::Kind;
using model::Record;
using testing::TempDir;

// A second, raw connection to the same file, standing in for another process.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  std::string One(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (s != nullptr && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  std::set<std::string> Column(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::set<std::string> out;
    while (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
      out.insert(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    }
    sqlite3_finalize(s);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

SqliteOptions Options(const TempDir& dir) {
  SqliteOptions o;
  o.path = dir.File("linli.db");
  o.read_connections = 2;
  return o;
}

Record Rec(Kind kind, const std::string& id, Json fields, const std::string& compound = "") {
  Record r;
  r.kind = kind;
  r.id = id;
  r.compound_id = compound;
  r.fields = std::move(fields);
  r.created_ms = 1;
  r.updated_ms = 1;
  return r;
}

TEST(SqliteStoreTest, RejectsBadOptions) {
  TempDir dir;
  SqliteOptions o = Options(dir);
  o.path = "";
  ASSERT_ERROR(OpenSqliteStore(o), ErrorCode::kInvalidArgument, "path");
  o.path = ":memory:";
  ASSERT_ERROR(OpenSqliteStore(o), ErrorCode::kInvalidArgument, "path");
  o = Options(dir);
  o.read_connections = 0;
  ASSERT_ERROR(OpenSqliteStore(o), ErrorCode::kInvalidArgument, "read_connections");
  o = Options(dir);
  o.path = dir.File("no/such/dir/linli.db");
  ASSERT_ERROR(OpenSqliteStore(o), ErrorCode::kFailedPrecondition, "-");
}

TEST(SqliteStoreTest, RefusesFileThatIsNotADatabase) {
  TempDir dir;
  {
    std::ofstream f(dir.File("linli.db"), std::ios::binary);
    f << std::string(8192, 'z');
  }
  auto opened = OpenSqliteStore(Options(dir));
  ASSERT_ERROR(opened, ErrorCode::kFailedPrecondition, "-");
  EXPECT_NE(opened.error().message().find("not"), std::string::npos) << opened.error().message();
}

TEST(SqliteStoreTest, RefusesForeignTableWithoutBaseColumns) {
  TempDir dir;
  {
    RawDb raw(dir.File("linli.db"));
    raw.Exec("CREATE TABLE devices (serial TEXT PRIMARY KEY, model TEXT)");
  }
  auto opened = OpenSqliteStore(Options(dir));
  ASSERT_ERROR(opened, ErrorCode::kFailedPrecondition, "-");
  EXPECT_NE(opened.error().message().find("devices"), std::string::npos) << opened.error().message();
  RawDb raw(dir.File("linli.db"));
  EXPECT_EQ(raw.One("SELECT count(*) FROM sqlite_master WHERE name = 'telemetry'"), "0")
      << "a failed open must leave the file unchanged";
}

TEST(SqliteStoreTest, SetsPragmasAndSchemaVersion) {
  TempDir dir;
  SqliteOptions o = Options(dir);
  o.synchronous_full = true;
  ASSERT_OK_AND_ASSIGN(auto store, OpenSqliteStore(o));
  RawDb raw(o.path);
  EXPECT_EQ(raw.One("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.One("SELECT value FROM meta WHERE key = 'schema_version'"),
            std::to_string(migrations::LatestSqliteSchemaVersion()));
  // Foreign keys are enforced by the schema the store created.
  EXPECT_NE(raw.One("SELECT sql FROM sqlite_master WHERE name = 'buildings'").find("REFERENCES \"compounds\"(id) ON DELETE RESTRICT"),
            std::string::npos);
  std::set<std::string> indexes = raw.Column("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'persons'");
  for (const char* ix : {"ux_persons__id_number_bidx", "ix_persons__phone_bidx", "ix_persons__compound_created",
                         "ix_persons__room_id", "ix_persons__name", "ix_persons__created_ms_id"}) {
    EXPECT_TRUE(indexes.contains(ix)) << ix;
  }
  EXPECT_FALSE(indexes.contains("ix_persons__phone")) << "ciphertext is never indexed";
}

TEST(SqliteStoreTest, WriteLockHeldElsewhereIsUnavailable) {
  TempDir dir;
  SqliteOptions o = Options(dir);
  o.busy_timeout_ms = 20;
  ASSERT_OK_AND_ASSIGN(auto store, OpenSqliteStore(o));
  RawDb other(o.path);
  other.Exec("BEGIN IMMEDIATE");
  IngestBatch b;
  model::Event e;
  e.id = "e1";
  e.device_id = "d1";
  e.type = "door.open";
  b.events.push_back(e);
  ASSERT_ERROR(store->WriteBatch(b), ErrorCode::kUnavailable, "-");
  ASSERT_ERROR(store->SetMeta("k", "v"), ErrorCode::kUnavailable, "-");
  // Readers are not blocked by a writer (WAL).
  ASSERT_OK(store->GetMeta("k"));
  ASSERT_OK(store->QueryEvents({}));
  other.Exec("COMMIT");
  ASSERT_OK_AND_ASSIGN(IngestResult r, store->WriteBatch(b));
  EXPECT_EQ(r.events_written, 1);
}

TEST(SqliteStoreTest, HandMadeTableMissingColumnsIsCompleted) {
  TempDir dir;
  {
    // A compounds table from before "address", "lat", ... existed, with a row in it.
    RawDb raw(dir.File("linli.db"));
    raw.Exec("CREATE TABLE compounds (id TEXT PRIMARY KEY NOT NULL, compound_id TEXT, created_ms INTEGER NOT NULL, "
             "updated_ms INTEGER NOT NULL, name TEXT)");
    raw.Exec("INSERT INTO compounds VALUES ('c1', 'c1', 5, 6, 'old')");
  }
  ASSERT_OK_AND_ASSIGN(auto store, OpenSqliteStore(Options(dir)));
  ASSERT_OK_AND_ASSIGN(Record c1, store->GetRecord(Kind::kCompound, "c1"));
  EXPECT_EQ(c1.fields, (Json{{"name", "old"}}));
  EXPECT_EQ(c1.created_ms, 5);
  c1.fields["address"] = "1 Road";
  c1.fields["lat"] = 30.5;
  c1.fields["community_id"] = nullptr;
  ASSERT_OK_AND_ASSIGN(Record updated, store->UpdateRecord(c1));
  EXPECT_EQ(updated.fields["address"], "1 Road");
  // The added reference column carries its foreign key.
  c1.fields["community_id"] = "nowhere";
  ASSERT_ERROR(store->UpdateRecord(c1), ErrorCode::kInvalidArgument, "community_id");
  RawDb raw(dir.File("linli.db"));
  EXPECT_NE(raw.One("SELECT sql FROM sqlite_master WHERE name = 'compounds'").find("\"community_id\" TEXT REFERENCES"),
            std::string::npos);
}

TEST(SqliteStoreTest, StaleStoreIndexesAreDroppedOthersKept) {
  TempDir dir;
  { ASSERT_OK(OpenSqliteStore(Options(dir))); }
  {
    RawDb raw(dir.File("linli.db"));
    raw.Exec("CREATE INDEX ix_persons__note ON persons (note)");  // as if "note" had been filterable
    raw.Exec("CREATE INDEX operator_made ON persons (nationality)");
    raw.Exec("DROP INDEX ix_persons__name");  // as if "name" had just become filterable
  }
  { ASSERT_OK(OpenSqliteStore(Options(dir))); }
  RawDb raw(dir.File("linli.db"));
  std::set<std::string> indexes = raw.Column("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'persons'");
  EXPECT_FALSE(indexes.contains("ix_persons__note"));
  EXPECT_TRUE(indexes.contains("operator_made"));
  EXPECT_TRUE(indexes.contains("ix_persons__name"));
}

TEST(SqliteStoreTest, NewUniqueFieldWithDuplicatesFailsOpenAndChangesNothing) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store, OpenSqliteStore(Options(dir)));
    ASSERT_OK(store->CreateRecord(Rec(Kind::kCompound, "c1", {{"name", "x"}})));
  }
  {
    RawDb raw(dir.File("linli.db"));
    raw.Exec("DROP INDEX ux_vehicles__plate");  // as if plate had not been unique before
    raw.Exec("INSERT INTO vehicles (id, compound_id, created_ms, updated_ms, plate) VALUES "
             "('v1', 'c1', 1, 1, '京A1'), ('v2', 'c1', 2, 2, '京A1')");
  }
  auto opened = OpenSqliteStore(Options(dir));
  ASSERT_ERROR(opened, ErrorCode::kFailedPrecondition, "-");
  EXPECT_NE(opened.error().message().find("plate"), std::string::npos) << opened.error().message();
  RawDb raw(dir.File("linli.db"));
  EXPECT_EQ(raw.One("SELECT count(*) FROM vehicles"), "2");
  {
    raw.Exec("DELETE FROM vehicles WHERE id = 'v2'");
  }
  ASSERT_OK(OpenSqliteStore(Options(dir)));
}

TEST(SqliteStoreTest, ManyQueryShapesCycleTheStatementCache) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, OpenSqliteStore(Options(dir)));
  ASSERT_OK(store->CreateRecord(Rec(Kind::kCompound, "c1", {{"name", "x"}})));
  ASSERT_OK(store->CreateRecord(Rec(Kind::kPerson, "p1",
                                    {{"compound_id", "c1"}, {"name", "n"}, {"gender", "male"}, {"relation", "owner"},
                                     {"tags", Json::array({"t"})}, {"phone_bidx", "b"}, {"phone", "v1:c"}})));
  // 2^8 subsets of filters: more distinct statements than the cache holds.
  std::vector<std::pair<std::string, std::string>> all = {
      {"compound_id", "c1"}, {"name", "n"}, {"gender", "male"}, {"relation", "owner"},
      {"tags", "t"},        {"phone_bidx", "b"}, {"id_number_bidx", "zz"}, {"room_id", "r"}};
  for (int mask = 0; mask < 256; ++mask) {
    ListQuery q{.kind = Kind::kPerson};
    bool excluded = false;
    for (int bit = 0; bit < 8; ++bit) {
      if (mask & (1 << bit)) {
        q.filters.push_back(all[bit]);
        if (bit >= 6) excluded = true;
      }
    }
    ASSERT_OK_AND_ASSIGN(ListResult r, store->ListRecords(q));
    ASSERT_EQ(r.total, excluded ? 0 : 1) << "mask " << mask;
  }
}

TEST(SqliteStoreTest, SingleReaderConnectionServesManyThreads) {
  TempDir dir;
  SqliteOptions o = Options(dir);
  o.read_connections = 1;
  ASSERT_OK_AND_ASSIGN(auto store, OpenSqliteStore(o));
  ASSERT_OK(store->CreateRecord(Rec(Kind::kCompound, "c1", {{"name", "x"}})));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (store->GetRecord(Kind::kCompound, "c1")) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST(SqliteStoreTest, BulkImportRefreshesPlannerStatistics) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, OpenSqliteStore(Options(dir)));
  for (const char* c : {"c0", "c1", "c2"}) ASSERT_OK(store->CreateRecord(Rec(Kind::kCompound, c, {{"name", c}})));
  // Readers are leased before the import so that they hold the old (empty) statistics.
  ASSERT_OK(store->ListRecords({.kind = Kind::kDevice, .filters = {{"vendor", "acme"}}}));
  std::vector<Record> devices;
  for (int i = 0; i < 3000; ++i) {
    devices.push_back(Rec(Kind::kDevice, "d" + std::to_string(i),
                          {{"compound_id", "c" + std::to_string(i % 3)}, {"kind", "camera"}, {"vendor", "acme"}}));
  }
  ASSERT_OK(store->CreateRecords(devices));
  RawDb raw(dir.File("linli.db"));
  // "<rows> <rows per compound> ...": full statistics, not a sample.
  EXPECT_TRUE(raw.One("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_devices__compound_created'").starts_with("3000 1000 "));
  ASSERT_OK_AND_ASSIGN(ListResult page, store->ListRecords({.kind = Kind::kDevice,
                                                            .filters = {{"vendor", "acme"}},
                                                            .compound_ids = std::vector<std::string>{"c1"},
                                                            .limit = 10}));
  EXPECT_EQ(page.total, 1000);
  ASSERT_EQ(page.items.size(), 10u);
  EXPECT_EQ(page.items[0].id, "d1");
}

TEST(SqliteStoreTest, UnknownKindIsAnErrorNotACrash) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, OpenSqliteStore(Options(dir)));
  Kind bogus = static_cast<Kind>(99);
  ASSERT_ERROR(store->GetRecord(bogus, "x"), ErrorCode::kInvalidArgument, "kind");
  ASSERT_ERROR(store->ListRecords({.kind = bogus}), ErrorCode::kInvalidArgument, "kind");
  ASSERT_ERROR(store->CreateRecord(Rec(bogus, "x", Json::object())), ErrorCode::kInvalidArgument, "kind");
  ASSERT_ERROR(store->CreateRecords({Rec(bogus, "x", Json::object())}), ErrorCode::kInvalidArgument, "rows[0].kind");
  ASSERT_ERROR(store->LoadAll(bogus), ErrorCode::kInvalidArgument, "kind");
  ASSERT_ERROR(store->DeleteRecord(bogus, "x"), ErrorCode::kInvalidArgument, "kind");
  ASSERT_ERROR(store->FindByUnique(bogus, "x", "y"), ErrorCode::kInvalidArgument, "kind");
}

TEST(SqliteStoreTest, RegistryTablesCoverEverySpecField) {
  ASSERT_OK_AND_ASSIGN(auto tables, RegistryTables());
  ASSERT_EQ(tables.size(), model::AllKinds().size());
  for (const RegistryTable& t : tables) {
    for (const model::FieldSpec& f : t.spec->fields) {
      if (f.name == "compound_id") {
        EXPECT_EQ(t.compound_field, &f);
        continue;
      }
      ASSERT_NE(t.Column(f.name), nullptr) << t.table << "." << f.name;
      if (f.pii) {
        ASSERT_NE(t.Column(f.name + "_bidx"), nullptr) << t.table << "." << f.name;
      }
    }
  }
}

}  // namespace
}  // namespace linli::store::sqlite
