// The Store conformance suite: one set of behaviour tests that every backend must pass.
//
// The suite is value-parameterised over a StoreBackend factory. Each test gets a fresh,
// empty database from its backend. To run the suite against another backend (PostgreSQL),
// implement StoreBackend for it and add one INSTANTIATE_TEST_SUITE_P line at the bottom.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "store/store.h"
#include "store/store_test_util.h"

namespace linli::store {
namespace {

using model::Kind;
using model::Record;
using testing::TempDir;

// What the suite needs from a backend besides the Store itself.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Opens a store on this test's database (the same database on every call).
  virtual Result<std::unique_ptr<Store>> Open() = 0;
  // With no store open: removes `columns` (and any index on them) from registry table
  // `table`, as if the database had been created before those fields were in the spec.
  virtual void RemoveColumns(const std::string& table, const std::vector<std::string>& columns) = 0;
  // With no store open: records `version` as the database's schema version.
  virtual void SetSchemaVersion(int version) = 0;
};

struct BackendParam {
  std::string name;
  std::function<std::unique_ptr<StoreBackend>()> make;
};
void PrintTo(const BackendParam& p, std::ostream* os) { *os << p.name; }

// ---- SQLite ----

class SqliteBackend final : public StoreBackend {
 public:
  Result<std::unique_ptr<Store>> Open() override {
    SqliteOptions options;
    options.path = dir_.File("linli.db");
    options.read_connections = 3;
    return OpenSqliteStore(options);
  }

  void RemoveColumns(const std::string& table, const std::vector<std::string>& columns) override {
    sqlite3* db = Raw();
    for (const std::string& column : columns) {
      // Indexes on the column must go first; ALTER TABLE DROP COLUMN refuses otherwise.
      std::vector<std::string> indexes;
      sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(db,
                         "SELECT il.name FROM pragma_index_list(?1) AS il, pragma_index_info(il.name) AS ii "
                         "WHERE ii.name = ?2 AND il.origin = 'c'",
                         -1, &s, nullptr);
      sqlite3_bind_text(s, 1, table.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 2, column.c_str(), -1, SQLITE_TRANSIENT);
      while (sqlite3_step(s) == SQLITE_ROW) indexes.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
      sqlite3_finalize(s);
      for (const auto& ix : indexes) Exec(db, "DROP INDEX \"" + ix + "\"");
      Exec(db, "ALTER TABLE \"" + table + "\" DROP COLUMN \"" + column + "\"");
    }
    sqlite3_close(db);
  }

  void SetSchemaVersion(int version) override {
    sqlite3* db = Raw();
    Exec(db, "UPDATE meta SET value = '" + std::to_string(version) + "' WHERE key = 'schema_version'");
    sqlite3_close(db);
  }

 private:
  sqlite3* Raw() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(dir_.File("linli.db").c_str(), &db), SQLITE_OK);
    return db;
  }
  static void Exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  TempDir dir_;
};

// ---- fixture and helpers ----

Record Rec(Kind kind, const std::string& id, Json fields, const std::string& compound = "", int64_t created = 1000) {
  Record r;
  r.kind = kind;
  r.id = id;
  r.compound_id = compound;
  r.fields = std::move(fields);
  r.created_ms = created;
  r.updated_ms = created;
  return r;
}

class StoreConformanceTest : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto opened = backend_->Open();
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    store_ = std::move(*opened);
  }
  void Close() { store_.reset(); }
  Store& store() { return *store_; }

  // A compound "c" with building c-b, unit c-u, room c-r and device c-d.
  void SeedCompound(const std::string& c) {
    ASSERT_OK(store().CreateRecord(Rec(Kind::kCompound, c, {{"name", "小区 " + c}})));
    ASSERT_OK(store().CreateRecord(Rec(Kind::kBuilding, c + "-b", {{"compound_id", c}, {"name", "1号楼"}})));
    ASSERT_OK(store().CreateRecord(Rec(Kind::kUnit, c + "-u", {{"building_id", c + "-b"}, {"name", "1单元"}}, c)));
    ASSERT_OK(store().CreateRecord(
        Rec(Kind::kRoom, c + "-r", {{"unit_id", c + "-u"}, {"floor", 3}, {"number", "301"}}, c)));
    ASSERT_OK(store().CreateRecord(
        Rec(Kind::kDevice, c + "-d", {{"compound_id", c}, {"kind", "door_controller"}, {"name", "east gate"}})));
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

std::vector<std::string> Ids(const std::vector<Record>& recs) {
  std::vector<std::string> out;
  for (const auto& r : recs) out.push_back(r.id);
  return out;
}

std::vector<std::string> EventIds(const std::vector<model::Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.id);
  return out;
}

model::Event Ev(const std::string& id, const std::string& compound, const std::string& device, const std::string& type,
                int64_t ts) {
  model::Event e;
  e.id = id;
  e.compound_id = compound;
  e.device_id = device;
  e.type = type;
  e.ts_ms = ts;
  e.received_ms = ts + 5;
  e.data = {{"seq", ts}};
  return e;
}

model::TelemetryPoint Pt(const std::string& device, const std::string& metric, int64_t ts,
                         std::variant<double, bool, std::string> v) {
  model::TelemetryPoint p;
  p.device_id = device;
  p.metric = metric;
  p.ts_ms = ts;
  p.value = std::move(v);
  return p;
}

// ---- registry ----

TEST_P(StoreConformanceTest, CrudForEveryKind) {
  std::vector<Record> all = {
      Rec(Kind::kRegion, "hd", {{"name", "海淀区"}, {"level", "district"}, {"code", "HD"}}),
      Rec(Kind::kRegion, "hd-zgc", {{"name", "中关村街道"}, {"level", "street"}, {"parent_id", "hd"}}),
      Rec(Kind::kRegion, "hd-zgc-1", {{"name", "一社区"}, {"level", "community"}, {"parent_id", "hd-zgc"}}),
      Rec(Kind::kCompound, "c1",
          {{"name", "阳光小区"}, {"community_id", "hd-zgc-1"}, {"address", "中关村大街1号"}, {"lat", 39.98},
           {"lng", 116.31}, {"attributes", {{"builder", "x"}, {"year", 1998}}}}),
      Rec(Kind::kBuilding, "b1",
          {{"compound_id", "c1"}, {"name", "1号楼"}, {"floors", 18}, {"underground_floors", 2}, {"use", "residential"}}),
      Rec(Kind::kUnit, "u1", {{"building_id", "b1"}, {"name", "2单元"}}, "c1"),
      Rec(Kind::kRoom, "r1",
          {{"unit_id", "u1"}, {"floor", 3}, {"number", "301"}, {"area_m2", 89.5}, {"use", "residential"},
           {"occupancy", "owner_occupied"}},
          "c1"),
      Rec(Kind::kPerson, "p1",
          {{"compound_id", "c1"}, {"name", "张三"}, {"id_number", "v1:c2lkZQ"}, {"id_number_bidx", "bidx-p1"},
           {"phone", "v1:cGhvbmU"}, {"phone_bidx", "bidx-phone-p1"}, {"gender", "male"}, {"birth_date", "1980-01-01"},
           {"room_id", "r1"}, {"relation", "owner"}, {"tags", Json::array({"elderly", "party_member"})},
           {"nationality", "中国"}, {"note", "lives alone"}}),
      Rec(Kind::kVehicle, "v1",
          {{"compound_id", "c1"}, {"plate", "京A12345"}, {"owner_id", "p1"}, {"type", "car"}, {"color", "white"},
           {"brand", "BYD"}}),
      Rec(Kind::kOrganisation, "o1",
          {{"compound_id", "c1"}, {"name", "便利店"}, {"credit_code", "91110108MA01ABCD2X"}, {"address", "底商"},
           {"room_id", "r1"}, {"contact_name", "李四"}, {"contact_phone", "v1:b3Jn"}, {"contact_phone_bidx", "bidx-o1"},
           {"category", "shop"}, {"employees", 5}}),
      Rec(Kind::kDevice, "d1",
          {{"compound_id", "c1"}, {"kind", "door_controller"}, {"name", "东门"}, {"vendor", "hik"}, {"model", "DS-K1"},
           {"protocol", "mqtt"}, {"building_id", "b1"}, {"unit_id", "u1"}, {"room_id", "r1"}, {"area", "east"},
           {"heartbeat_timeout_s", 120}, {"attributes", {{"ip", "10.0.0.7"}}}}),
      Rec(Kind::kUser, "usr1",
          {{"username", "admin"}, {"display_name", "管理员"}, {"role", "admin"}, {"scopes", Json::array({"c1"})},
           {"person_id", "p1"}, {"disabled", false}, {"password", "$argon2id$v=19$m=1,t=1,p=1$x$y"},
           {"phone", "v1:dXNy"}, {"phone_bidx", "bidx-u1"}}),
  };
  for (const Record& r : all) {
    ASSERT_OK_AND_ASSIGN(Record created, store().CreateRecord(r));
    EXPECT_EQ(created.id, r.id);
    EXPECT_EQ(created.kind, r.kind);
    EXPECT_EQ(created.fields, r.fields) << model::KindName(r.kind) << ": " << created.fields.dump();
    EXPECT_EQ(created.created_ms, r.created_ms);
    ASSERT_OK_AND_ASSIGN(Record got, store().GetRecord(r.kind, r.id));
    EXPECT_EQ(got.fields, r.fields) << model::KindName(r.kind);
  }
  // Compound scope: derived from the compound_id field, a compound's own id, empty for
  // regions and users.
  EXPECT_EQ(store().GetRecord(Kind::kBuilding, "b1")->compound_id, "c1");
  EXPECT_EQ(store().GetRecord(Kind::kCompound, "c1")->compound_id, "c1");
  EXPECT_EQ(store().GetRecord(Kind::kUnit, "u1")->compound_id, "c1");
  EXPECT_EQ(store().GetRecord(Kind::kRegion, "hd")->compound_id, "");
  EXPECT_EQ(store().GetRecord(Kind::kUser, "usr1")->compound_id, "");

  // Update replaces the fields: changed, added and dropped; created_ms is kept.
  for (const Record& r : all) {
    Record u = r;
    u.updated_ms = 5000;
    u.created_ms = 1;  // ignored
    const model::KindSpec& spec = model::Spec(r.kind);
    Json label = spec.label_field == "plate" ? Json("京B54321") : Json("renamed-" + r.id);
    u.fields[spec.label_field] = label;
    ASSERT_OK_AND_ASSIGN(Record updated, store().UpdateRecord(u));
    EXPECT_EQ(updated.fields[spec.label_field], label);
    EXPECT_EQ(updated.created_ms, r.created_ms);
    EXPECT_EQ(updated.updated_ms, 5000);
  }
  Record d1 = *store().GetRecord(Kind::kDevice, "d1");
  d1.fields.erase("area");
  d1.fields["vendor"] = "dahua";
  ASSERT_OK(store().UpdateRecord(d1));
  ASSERT_OK_AND_ASSIGN(Record d1_after, store().GetRecord(Kind::kDevice, "d1"));
  EXPECT_FALSE(d1_after.fields.contains("area"));
  EXPECT_EQ(d1_after.fields["vendor"], "dahua");

  // Delete children before parents.
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    ASSERT_OK(store().DeleteRecord(it->kind, it->id)) ;
    ASSERT_ERROR(store().GetRecord(it->kind, it->id), ErrorCode::kNotFound, "-");
  }
}

TEST_P(StoreConformanceTest, RejectsMalformedRecords) {
  SeedCompound("c1");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kBuilding, "b2", {{"compound_id", "c1"}, {"name", "x"}, {"bogus", 1}})),
               ErrorCode::kInvalidArgument, "bogus");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kBuilding, "b2", {{"compound_id", "c1"}, {"floors", "many"}})),
               ErrorCode::kInvalidArgument, "floors");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kBuilding, "../etc", {{"compound_id", "c1"}})),
               ErrorCode::kInvalidArgument, "id");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kBuilding, "", {{"compound_id", "c1"}})), ErrorCode::kInvalidArgument,
               "id");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kCompound, "c2", {{"name", "x"}, {"attributes", Json::array()}})),
               ErrorCode::kInvalidArgument, "attributes");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kCompound, "c2", {{"name", "x"}, {"lat", "north"}})),
               ErrorCode::kInvalidArgument, "lat");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kCompound, "c2", {{"name", "x"}}, "c1")), ErrorCode::kInvalidArgument,
               "compound_id");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kBuilding, "b2", {{"compound_id", "c1"}, {"name", "x"}}, "c9")),
               ErrorCode::kInvalidArgument, "compound_id");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kPerson, "p1", {{"compound_id", "c1"}, {"phone", 13800000000}})),
               ErrorCode::kInvalidArgument, "phone");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kPerson, "p1", {{"compound_id", "c1"}, {"tags", Json::array({1, 2})}})),
               ErrorCode::kInvalidArgument, "tags");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kUser, "u1", {{"username", "x"}, {"disabled", "no"}})),
               ErrorCode::kInvalidArgument, "disabled");
  Record not_object = Rec(Kind::kCompound, "c3", Json::array());
  ASSERT_ERROR(store().CreateRecord(not_object), ErrorCode::kInvalidArgument, "fields");
  // Nothing was stored by the failures.
  ASSERT_OK_AND_ASSIGN(ListResult buildings, store().ListRecords({.kind = Kind::kBuilding}));
  EXPECT_EQ(buildings.total, 1);
}

TEST_P(StoreConformanceTest, UniqueFieldsConflict) {
  SeedCompound("c1");
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kCompound, "c1", {{"name", "again"}})), ErrorCode::kConflict, "id");

  ASSERT_OK(store().CreateRecord(Rec(Kind::kRegion, "r1", {{"name", "a"}, {"level", "district"}, {"code", "HD"}})));
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kRegion, "r2", {{"name", "b"}, {"level", "district"}, {"code", "HD"}})),
               ErrorCode::kConflict, "code");
  // Absent unique values do not collide.
  ASSERT_OK(store().CreateRecord(Rec(Kind::kRegion, "r3", {{"name", "c"}, {"level", "district"}})));
  ASSERT_OK(store().CreateRecord(Rec(Kind::kRegion, "r4", {{"name", "d"}, {"level", "district"}})));

  ASSERT_OK(store().CreateRecord(Rec(Kind::kVehicle, "v1", {{"compound_id", "c1"}, {"plate", "京A12345"}})));
  auto dup_plate = store().CreateRecord(Rec(Kind::kVehicle, "v2", {{"compound_id", "c1"}, {"plate", "京A12345"}}));
  ASSERT_ERROR(dup_plate, ErrorCode::kConflict, "plate");

  ASSERT_OK(store().CreateRecord(Rec(Kind::kUser, "u1", {{"username", "admin"}, {"role", "admin"}})));
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kUser, "u2", {{"username", "admin"}, {"role", "admin"}})),
               ErrorCode::kConflict, "username");

  // pii: uniqueness is on the blind index, and the error names the field, not the index.
  ASSERT_OK(store().CreateRecord(Rec(Kind::kPerson, "p1",
                                     {{"compound_id", "c1"}, {"name", "a"}, {"id_number", "v1:aaa"},
                                      {"id_number_bidx", "bidx-7f3a"}})));
  auto dup_id = store().CreateRecord(Rec(
      Kind::kPerson, "p2", {{"compound_id", "c1"}, {"name", "b"}, {"id_number", "v1:bbb"}, {"id_number_bidx", "bidx-7f3a"}}));
  ASSERT_ERROR(dup_id, ErrorCode::kConflict, "id_number");
  EXPECT_EQ(dup_id.error().message().find("7f3a"), std::string::npos) << "blind index leaked into the message";

  // Updating into a taken value conflicts too.
  ASSERT_OK(store().CreateRecord(Rec(Kind::kVehicle, "v3", {{"compound_id", "c1"}, {"plate", "京B00001"}})));
  Record v3 = *store().GetRecord(Kind::kVehicle, "v3");
  v3.fields["plate"] = "京A12345";
  ASSERT_ERROR(store().UpdateRecord(v3), ErrorCode::kConflict, "plate");
}

TEST_P(StoreConformanceTest, ReferencesMustExist) {
  SeedCompound("c1");
  auto bad = store().CreateRecord(Rec(Kind::kBuilding, "b9", {{"compound_id", "nope"}, {"name", "x"}}));
  ASSERT_ERROR(bad, ErrorCode::kInvalidArgument, "compound_id");
  EXPECT_EQ(bad.error().message(), "no such compound 'nope'");

  auto bad_room = store().CreateRecord(Rec(Kind::kPerson, "p1", {{"compound_id", "c1"}, {"name", "x"}, {"room_id", "r9"}}));
  ASSERT_ERROR(bad_room, ErrorCode::kInvalidArgument, "room_id");
  EXPECT_EQ(bad_room.error().message(), "no such room 'r9'");

  Record d = *store().GetRecord(Kind::kDevice, "c1-d");
  d.fields["unit_id"] = "u404";
  auto bad_update = store().UpdateRecord(d);
  ASSERT_ERROR(bad_update, ErrorCode::kInvalidArgument, "unit_id");
  EXPECT_EQ(bad_update.error().message(), "no such unit 'u404'");

  // Self-reference within a kind (region parent).
  ASSERT_ERROR(store().CreateRecord(Rec(Kind::kRegion, "s1", {{"name", "x"}, {"level", "street"}, {"parent_id", "d0"}})),
               ErrorCode::kInvalidArgument, "parent_id");
  ASSERT_ERROR(store().UpdateRecord(Rec(Kind::kDevice, "missing", {{"compound_id", "c1"}, {"kind", "camera"}})),
               ErrorCode::kNotFound, "-");
}

TEST_P(StoreConformanceTest, DeleteRefusedWhileReferenced) {
  SeedCompound("c1");
  auto refused = store().DeleteRecord(Kind::kCompound, "c1");
  ASSERT_ERROR(refused, ErrorCode::kConflict, "-");
  EXPECT_NE(refused.error().message().find("'c1-"), std::string::npos) << refused.error().message();
  ASSERT_OK(store().GetRecord(Kind::kCompound, "c1"));

  ASSERT_OK(store().CreateRecord(Rec(Kind::kPerson, "p1", {{"compound_id", "c1"}, {"name", "x"}})));
  ASSERT_OK(store().CreateRecord(Rec(Kind::kVehicle, "v1", {{"compound_id", "c1"}, {"plate", "京A1"}, {"owner_id", "p1"}})));
  auto person = store().DeleteRecord(Kind::kPerson, "p1");
  ASSERT_ERROR(person, ErrorCode::kConflict, "-");
  EXPECT_NE(person.error().message().find("vehicle 'v1'"), std::string::npos) << person.error().message();

  ASSERT_ERROR(store().DeleteRecord(Kind::kBuilding, "nope"), ErrorCode::kNotFound, "-");

  for (auto [kind, id] : std::vector<std::pair<Kind, std::string>>{{Kind::kVehicle, "v1"},
                                                                    {Kind::kPerson, "p1"},
                                                                    {Kind::kDevice, "c1-d"},
                                                                    {Kind::kRoom, "c1-r"},
                                                                    {Kind::kUnit, "c1-u"},
                                                                    {Kind::kBuilding, "c1-b"}}) {
    ASSERT_OK(store().DeleteRecord(kind, id));
  }
  ASSERT_OK(store().DeleteRecord(Kind::kCompound, "c1"));
}

TEST_P(StoreConformanceTest, PiiIsFoundThroughBlindIndex) {
  InitCrypto();
  ASSERT_OK_AND_ASSIGN(FieldCipher cipher, FieldCipher::FromKey(std::string(64, 'k')));
  SeedCompound("c1");
  auto person = [&](const std::string& id, const std::string& id_number, const std::string& phone) {
    return Rec(Kind::kPerson, id,
               {{"compound_id", "c1"},
                {"name", id},
                {"id_number", cipher.Encrypt(id_number)},
                {"id_number_bidx", cipher.BlindIndex(id_number)},
                {"phone", cipher.Encrypt(phone)},
                {"phone_bidx", cipher.BlindIndex(phone)}});
  };
  ASSERT_OK(store().CreateRecord(person("p1", "11010519491231002X", "13800138000")));
  ASSERT_OK(store().CreateRecord(person("p2", "110105194912310037", "13800138000")));
  ASSERT_OK(store().CreateRecord(person("p3", "110105194912310045", "13900139000")));

  ASSERT_OK_AND_ASSIGN(Record found,
                       store().FindByUnique(Kind::kPerson, "id_number_bidx", cipher.BlindIndex("110105194912310037")));
  EXPECT_EQ(found.id, "p2");
  ASSERT_OK_AND_ASSIGN(std::string plain, cipher.Decrypt(found.fields["id_number"].get<std::string>()));
  EXPECT_EQ(plain, "110105194912310037");
  ASSERT_ERROR(store().FindByUnique(Kind::kPerson, "id_number_bidx", cipher.BlindIndex("110105194912310053")),
               ErrorCode::kNotFound, "-");
  ASSERT_ERROR(store().FindByUnique(Kind::kPerson, "id_number", "110105194912310037"), ErrorCode::kInvalidArgument,
               "id_number");
  ASSERT_ERROR(store().FindByUnique(Kind::kPerson, "name", "p1"), ErrorCode::kInvalidArgument, "name");
  ASSERT_OK_AND_ASSIGN(Record p1_found, store().FindByUnique(Kind::kPerson, "id_number_bidx",
                                                                        cipher.BlindIndex("11010519491231002X")));
  EXPECT_EQ(p1_found.id, "p1");

  ListQuery q{.kind = Kind::kPerson, .filters = {{"phone_bidx", cipher.BlindIndex("13800138000")}}};
  ASSERT_OK_AND_ASSIGN(ListResult same_phone, store().ListRecords(q));
  EXPECT_EQ(Ids(same_phone.items), (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(same_phone.total, 2);
  ASSERT_ERROR(store().ListRecords({.kind = Kind::kPerson, .filters = {{"phone", "13800138000"}}}),
               ErrorCode::kInvalidArgument, "phone");
}

TEST_P(StoreConformanceTest, ListFiltersSearchScopeAndPagination) {
  SeedCompound("c1");
  SeedCompound("c2");
  struct P {
    std::string id, compound, name;
    std::vector<std::string> tags;
    int64_t created;
  };
  std::vector<P> people = {
      {"p01", "c1", "Zhang Wei", {"elderly"}, 100},  {"p02", "c1", "ZHANGSAN", {}, 100},
      {"p03", "c1", "王五", {"elderly", "disabled"}, 90}, {"p04", "c1", "50% off", {}, 110},
      {"p05", "c1", "a_b", {}, 120},                 {"p06", "c1", "axb", {"party_member"}, 130},
      {"p07", "c2", "张伟", {"elderly"}, 95},         {"p08", "c2", "zhang li", {}, 140},
      {"p09", "c2", "赵六", {}, 150},                 {"p10", "c2", "孙七", {"elderly"}, 160},
      {"p11", "c1", "周八", {}, 170},                 {"p12", "c1", "吴九", {}, 180},
  };
  for (const auto& p : people) {
    Json f = {{"compound_id", p.compound}, {"name", p.name}, {"room_id", p.compound + "-r"}};
    if (!p.tags.empty()) f["tags"] = p.tags;
    ASSERT_OK(store().CreateRecord(Rec(Kind::kPerson, p.id, f, "", p.created)));
  }
  auto list = [&](ListQuery q) -> std::vector<std::string> {
    q.kind = Kind::kPerson;
    auto r = store().ListRecords(q);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? Ids(r->items) : std::vector<std::string>{};
  };

  // Order: created_ms, then id.
  std::vector<std::string> everyone = {"p03", "p07", "p01", "p02", "p04", "p05", "p06",
                                       "p08", "p09", "p10", "p11", "p12"};
  EXPECT_EQ(list({.limit = 1000}), everyone);
  EXPECT_EQ(list({.filters = {{"name", "王五"}}}), (std::vector<std::string>{"p03"}));
  EXPECT_EQ(list({.filters = {{"tags", "elderly"}}}), (std::vector<std::string>{"p03", "p07", "p01", "p10"}));
  EXPECT_EQ(list({.filters = {{"tags", "elderly"}, {"compound_id", "c2"}}}), (std::vector<std::string>{"p07", "p10"}));
  EXPECT_EQ(list({.filters = {{"room_id", "c2-r"}}}), (std::vector<std::string>{"p07", "p08", "p09", "p10"}));
  EXPECT_EQ(list({.filters = {{"tags", "eld"}}}), (std::vector<std::string>{})) << "list match is exact per item";

  // Scope.
  EXPECT_EQ(list({.compound_ids = std::vector<std::string>{"c2"}}), (std::vector<std::string>{"p07", "p08", "p09", "p10"}));
  EXPECT_EQ(list({.compound_ids = std::vector<std::string>{"c1", "c2"}, .limit = 1000}), everyone);
  ASSERT_OK_AND_ASSIGN(ListResult none,
                       store().ListRecords({.kind = Kind::kPerson, .compound_ids = std::vector<std::string>{}}));
  EXPECT_TRUE(none.items.empty());
  EXPECT_EQ(none.total, 0);

  // Search: case-insensitive substring of the label; wildcards are literal.
  EXPECT_EQ(list({.search = "zhang"}), (std::vector<std::string>{"p01", "p02", "p08"}));
  EXPECT_EQ(list({.search = "张"}), (std::vector<std::string>{"p07"}));
  EXPECT_EQ(list({.search = "%"}), (std::vector<std::string>{"p04"}));
  EXPECT_EQ(list({.search = "_"}), (std::vector<std::string>{"p05"}));
  EXPECT_EQ(list({.compound_ids = std::vector<std::string>{"c2"}, .search = "ZHANG"}), (std::vector<std::string>{"p08"}));

  // Pagination with a stable total.
  std::vector<std::string> paged;
  for (int offset = 0; offset < 15; offset += 5) {
    ASSERT_OK_AND_ASSIGN(ListResult page, store().ListRecords({.kind = Kind::kPerson, .limit = 5, .offset = offset}));
    EXPECT_EQ(page.total, 12);
    for (const auto& r : page.items) paged.push_back(r.id);
  }
  EXPECT_EQ(paged, everyone);
  ASSERT_OK_AND_ASSIGN(ListResult past_end, store().ListRecords({.kind = Kind::kPerson, .offset = 50}));
  EXPECT_TRUE(past_end.items.empty());
  EXPECT_EQ(past_end.total, 12);
  EXPECT_EQ(list({.limit = 0}).size(), 1u) << "limit is clamped to at least 1";
  EXPECT_EQ(list({.limit = 5000}).size(), 12u);
  EXPECT_EQ(list({.limit = 2, .offset = -3}), (std::vector<std::string>{"p03", "p07"}));
  ASSERT_OK_AND_ASSIGN(ListResult filtered_total,
                       store().ListRecords({.kind = Kind::kPerson, .filters = {{"tags", "elderly"}}, .limit = 1}));
  EXPECT_EQ(filtered_total.total, 4);
  EXPECT_EQ(filtered_total.items.size(), 1u);

  // Bad queries.
  ASSERT_ERROR(store().ListRecords({.kind = Kind::kPerson, .filters = {{"shoe_size", "42"}}}),
               ErrorCode::kInvalidArgument, "shoe_size");
  ASSERT_ERROR(store().ListRecords({.kind = Kind::kPerson, .filters = {{"note", "x"}}}), ErrorCode::kInvalidArgument,
               "note");
  ASSERT_ERROR(store().ListRecords({.kind = Kind::kPerson, .filters = {{"name'; DROP TABLE persons; --", "x"}}}),
               ErrorCode::kInvalidArgument, "-");
  EXPECT_EQ(list({.filters = {{"name", "x' OR '1'='1"}}}), (std::vector<std::string>{}));
}

TEST_P(StoreConformanceTest, CreateRecordsIsAllOrNothing) {
  SeedCompound("c1");
  std::vector<Record> bad = {
      Rec(Kind::kBuilding, "ba", {{"compound_id", "c1"}, {"name", "A"}}),
      Rec(Kind::kBuilding, "bb", {{"compound_id", "c1"}, {"name", "B"}}),
      Rec(Kind::kBuilding, "bc", {{"compound_id", "nope"}, {"name", "C"}}),
  };
  auto failed = store().CreateRecords(bad);
  ASSERT_ERROR(failed, ErrorCode::kInvalidArgument, "rows[2].compound_id");
  EXPECT_EQ(failed.error().message(), "no such compound 'nope'");
  ASSERT_ERROR(store().GetRecord(Kind::kBuilding, "ba"), ErrorCode::kNotFound, "-");

  std::vector<Record> dup = {
      Rec(Kind::kBuilding, "ba", {{"compound_id", "c1"}, {"name", "A"}}),
      Rec(Kind::kBuilding, "ba", {{"compound_id", "c1"}, {"name", "A again"}}),
  };
  ASSERT_ERROR(store().CreateRecords(dup), ErrorCode::kConflict, "rows[1].id");
  ASSERT_ERROR(store().CreateRecords({Rec(Kind::kBuilding, "ok", {{"compound_id", "c1"}}), Rec(Kind::kBuilding, "-x", {})}),
               ErrorCode::kInvalidArgument, "rows[1].id");
  ASSERT_ERROR(store().GetRecord(Kind::kBuilding, "ok"), ErrorCode::kNotFound, "-");

  // Rows may reference rows created earlier in the same batch.
  std::vector<Record> good = {
      Rec(Kind::kBuilding, "b2", {{"compound_id", "c1"}, {"name", "2号楼"}}),
      Rec(Kind::kUnit, "b2-u1", {{"building_id", "b2"}, {"name", "1单元"}}, "c1"),
      Rec(Kind::kRoom, "b2-u1-101", {{"unit_id", "b2-u1"}, {"floor", 1}, {"number", "101"}}, "c1"),
  };
  ASSERT_OK(store().CreateRecords(good));
  ASSERT_OK(store().GetRecord(Kind::kRoom, "b2-u1-101"));
  ASSERT_OK(store().CreateRecords({}));
}

TEST_P(StoreConformanceTest, LoadAllReturnsEveryRecord) {
  SeedCompound("c1");
  std::vector<Record> devices;
  for (int i = 0; i < 300; ++i) {
    devices.push_back(Rec(Kind::kDevice, "dev" + std::to_string(i),
                          {{"compound_id", "c1"}, {"kind", "gas_sensor"}, {"heartbeat_timeout_s", 300 + i}}));
  }
  ASSERT_OK(store().CreateRecords(devices));
  ASSERT_OK_AND_ASSIGN(std::vector<Record> all, store().LoadAll(Kind::kDevice));
  ASSERT_EQ(all.size(), 301u);
  std::map<std::string, Record> by_id;
  for (auto& r : all) by_id[r.id] = r;
  EXPECT_EQ(by_id["dev42"].fields["heartbeat_timeout_s"], 342);
  EXPECT_EQ(by_id["dev42"].compound_id, "c1");
  EXPECT_TRUE(by_id.contains("c1-d"));
  ASSERT_OK_AND_ASSIGN(std::vector<Record> regions, store().LoadAll(Kind::kRegion));
  EXPECT_TRUE(regions.empty());
}

// ---- ingest ----

TEST_P(StoreConformanceTest, TelemetryIsIdempotentAndRangeQueried) {
  IngestBatch b;
  for (int64_t ts = 1000; ts < 1010; ++ts) {
    b.telemetry.push_back(Pt("d1", "temp", ts, 20.0 + static_cast<double>(ts - 1000) / 10));
    b.telemetry.push_back(Pt("d1", "door_open", ts, ts % 2 == 0));
  }
  b.telemetry.push_back(Pt("d1", "firmware", 1005, std::string("v2.1.0")));
  b.telemetry.push_back(Pt("d2", "temp", 1003, 99.0));
  ASSERT_OK_AND_ASSIGN(IngestResult first, store().WriteBatch(b));
  EXPECT_EQ(first.telemetry_written, 22);
  ASSERT_OK(store().WriteBatch(b));  // redelivery

  ASSERT_OK_AND_ASSIGN(auto temp, store().QueryTelemetry({.device_id = "d1", .metric = "temp", .from_ms = 1002,
                                                          .to_ms = 1005}));
  ASSERT_EQ(temp.size(), 3u);
  EXPECT_EQ(temp[0].ts_ms, 1002);
  EXPECT_EQ(temp[2].ts_ms, 1004);
  EXPECT_DOUBLE_EQ(std::get<double>(temp[1].value), 20.3);
  EXPECT_EQ(temp[0].device_id, "d1");

  ASSERT_OK_AND_ASSIGN(auto all, store().QueryTelemetry({.device_id = "d1"}));
  EXPECT_EQ(all.size(), 21u) << "redelivery must not duplicate points";
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(), [](auto& a, auto& c) { return a.ts_ms < c.ts_ms; }));
  int strings = 0;
  int bools = 0;
  for (const auto& p : all) {
    if (p.metric == "firmware") {
      ++strings;
      EXPECT_EQ(std::get<std::string>(p.value), "v2.1.0");
    }
    if (p.metric == "door_open") {
      ++bools;
      EXPECT_EQ(std::get<bool>(p.value), p.ts_ms % 2 == 0);
    }
  }
  EXPECT_EQ(strings, 1);
  EXPECT_EQ(bools, 10);

  // A redelivered point with a corrected value replaces the old one.
  IngestBatch fix;
  fix.telemetry.push_back(Pt("d1", "temp", 1002, 25.5));
  ASSERT_OK(store().WriteBatch(fix));
  ASSERT_OK_AND_ASSIGN(auto fixed, store().QueryTelemetry({.device_id = "d1", .metric = "temp", .from_ms = 1002,
                                                           .to_ms = 1003}));
  ASSERT_EQ(fixed.size(), 1u);
  EXPECT_DOUBLE_EQ(std::get<double>(fixed[0].value), 25.5);

  ASSERT_OK_AND_ASSIGN(auto limited, store().QueryTelemetry({.device_id = "d1", .metric = "temp", .limit = 4}));
  EXPECT_EQ(limited.size(), 4u);
  EXPECT_EQ(limited[0].ts_ms, 1000);
  ASSERT_OK_AND_ASSIGN(auto other, store().QueryTelemetry({.device_id = "d2"}));
  EXPECT_EQ(other.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto nobody, store().QueryTelemetry({.device_id = "d3"}));
  EXPECT_TRUE(nobody.empty());
  ASSERT_ERROR(store().QueryTelemetry({}), ErrorCode::kInvalidArgument, "device_id");
}

TEST_P(StoreConformanceTest, BadBatchIsRejectedWhole) {
  IngestBatch b;
  b.telemetry.push_back(Pt("d1", "temp", 1, 1.0));
  b.telemetry.push_back(Pt("", "temp", 1, 1.0));
  ASSERT_ERROR(store().WriteBatch(b), ErrorCode::kInvalidArgument, "telemetry[1].device_id");
  b.telemetry[1] = Pt("d1", "temp", 2, std::numeric_limits<double>::quiet_NaN());
  ASSERT_ERROR(store().WriteBatch(b), ErrorCode::kInvalidArgument, "telemetry[1].value");
  b.telemetry[1] = Pt("d1", "", 2, 1.0);
  ASSERT_ERROR(store().WriteBatch(b), ErrorCode::kInvalidArgument, "telemetry[1].metric");
  ASSERT_OK_AND_ASSIGN(auto none, store().QueryTelemetry({.device_id = "d1"}));
  EXPECT_TRUE(none.empty());

  IngestBatch e;
  e.events.push_back(Ev("e1", "c1", "d1", "door.open", 1));
  e.events.push_back(Ev("", "c1", "d1", "door.open", 1));
  ASSERT_ERROR(store().WriteBatch(e), ErrorCode::kInvalidArgument, "events[1].id");
  e.events[1] = Ev("e2", "c1", "d1", "", 1);
  ASSERT_ERROR(store().WriteBatch(e), ErrorCode::kInvalidArgument, "events[1].type");
  ASSERT_OK_AND_ASSIGN(auto events, store().QueryEvents({}));
  EXPECT_TRUE(events.empty());
  ASSERT_OK_AND_ASSIGN(IngestResult empty, store().WriteBatch({}));
  EXPECT_EQ(empty.telemetry_written + empty.events_written, 0);
}

TEST_P(StoreConformanceTest, EventsAreIdempotent) {
  IngestBatch b;
  b.events = {Ev("e1", "c1", "d1", "door.open", 100), Ev("e2", "c1", "d1", "door.open", 101),
              Ev("e1", "c1", "d1", "door.open", 100)};
  ASSERT_OK_AND_ASSIGN(IngestResult r1, store().WriteBatch(b));
  EXPECT_EQ(r1.events_written, 2);
  EXPECT_EQ(r1.events_duplicate, 1);
  EXPECT_EQ(r1.new_event_ids, (std::vector<std::string>{"e1", "e2"}));

  IngestBatch again;
  again.events = {Ev("e3", "c1", "d1", "door.open", 102), Ev("e2", "c1", "d1", "door.open", 101)};
  again.events[1].data = {{"changed", true}};
  ASSERT_OK_AND_ASSIGN(IngestResult r2, store().WriteBatch(again));
  EXPECT_EQ(r2.events_written, 1);
  EXPECT_EQ(r2.events_duplicate, 1);
  EXPECT_EQ(r2.new_event_ids, (std::vector<std::string>{"e3"}));

  ASSERT_OK_AND_ASSIGN(auto events, store().QueryEvents({}));
  EXPECT_EQ(EventIds(events), (std::vector<std::string>{"e3", "e2", "e1"}));
  EXPECT_EQ(events[1].data, (Json{{"seq", 101}})) << "the first delivery wins";
  EXPECT_EQ(events[1].received_ms, 106);
  EXPECT_EQ(events[1].compound_id, "c1");
}

TEST_P(StoreConformanceTest, EventQueryFilters) {
  IngestBatch b;
  b.events = {
      Ev("e1", "c1", "d1", "door.open", 1000),    Ev("e2", "c1", "d1", "door.forced", 2000),
      Ev("e3", "c1", "d2", "doorbell.ring", 3000), Ev("e4", "c2", "d3", "door.open", 4000),
      Ev("e5", "c2", "d4", "gas.leak", 5000),      Ev("e6", "c1", "d2", "door", 6000),
  };
  ASSERT_OK(store().WriteBatch(b));
  auto ids = [&](EventQuery q) {
    auto r = store().QueryEvents(q);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? EventIds(*r) : std::vector<std::string>{};
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"e6", "e5", "e4", "e3", "e2", "e1"}));
  EXPECT_EQ(ids({.type = "door.*"}), (V{"e4", "e2", "e1"}));
  EXPECT_EQ(ids({.type = "door*"}), (V{"e6", "e4", "e3", "e2", "e1"}));
  EXPECT_EQ(ids({.type = "door.open"}), (V{"e4", "e1"}));
  EXPECT_EQ(ids({.type = "door"}), (V{"e6"}));
  EXPECT_EQ(ids({.type = "*"}).size(), 6u);
  EXPECT_EQ(ids({.compound_id = "c2"}), (V{"e5", "e4"}));
  EXPECT_EQ(ids({.device_id = "d2"}), (V{"e6", "e3"}));
  EXPECT_EQ(ids({.compound_ids = V{"c1"}, .type = "door.*"}), (V{"e2", "e1"}));
  EXPECT_EQ(ids({.compound_ids = V{}}), V{});
  EXPECT_EQ(ids({.compound_ids = V{"c2"}, .compound_id = "c1"}), V{}) << "a filter cannot widen the scope";
  EXPECT_EQ(ids({.from_ms = 2000, .to_ms = 5000}), (V{"e4", "e3", "e2"}));
  EXPECT_EQ(ids({.limit = 2}), (V{"e6", "e5"}));
  EXPECT_EQ(ids({.limit = 2, .offset = 2}), (V{"e4", "e3"}));
  EXPECT_EQ(ids({.limit = 0}).size(), 1u);
  EXPECT_EQ(ids({.type = "x' OR 1=1 --"}), V{});
}

TEST_P(StoreConformanceTest, StatusHistoryAndDeviceStates) {
  auto change = [](const std::string& d, model::Presence p, int64_t ts, const std::string& reason) {
    model::StatusChange c;
    c.device_id = d;
    c.compound_id = "c1";
    c.status = p;
    c.ts_ms = ts;
    c.reason = reason;
    return c;
  };
  IngestBatch b;
  b.status_changes = {change("d1", model::Presence::kOnline, 1000, "status_topic"),
                      change("d1", model::Presence::kOffline, 2000, "will"),
                      change("d2", model::Presence::kOnline, 1500, "telemetry")};
  b.last_seen = {{"d1", 2500}, {"d3", 900}};
  ASSERT_OK(store().WriteBatch(b));
  // A late, older status and an older last-seen do not move the state backwards.
  IngestBatch late;
  late.status_changes = {change("d1", model::Presence::kOnline, 1800, "heartbeat_timeout")};
  late.last_seen = {{"d1", 2400}, {"d2", 1600}};
  ASSERT_OK(store().WriteBatch(late));

  ASSERT_OK_AND_ASSIGN(auto states, store().LoadDeviceStates());
  std::map<std::string, Store::DeviceState> by_id;
  for (const auto& s : states) by_id[s.device_id] = s;
  ASSERT_EQ(by_id.size(), 3u);
  EXPECT_EQ(by_id["d1"].status, model::Presence::kOffline);
  EXPECT_EQ(by_id["d1"].status_ms, 2000);
  EXPECT_EQ(by_id["d1"].last_seen_ms, 2500);
  EXPECT_EQ(by_id["d2"].status, model::Presence::kOnline);
  EXPECT_EQ(by_id["d2"].last_seen_ms, 1600);
  EXPECT_EQ(by_id["d3"].status, model::Presence::kUnknown);
  EXPECT_EQ(by_id["d3"].last_seen_ms, 900);

  ASSERT_OK_AND_ASSIGN(auto history, store().QueryStatusHistory("d1", 0, INT64_MAX, 10));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].ts_ms, 2000);
  EXPECT_EQ(history[0].status, model::Presence::kOffline);
  EXPECT_EQ(history[0].reason, "will");
  EXPECT_EQ(history[0].compound_id, "c1");
  EXPECT_EQ(history[1].ts_ms, 1800);
  EXPECT_EQ(history[2].ts_ms, 1000);
  ASSERT_OK_AND_ASSIGN(auto window, store().QueryStatusHistory("d1", 1000, 2000, 10));
  EXPECT_EQ(window.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto one, store().QueryStatusHistory("d1", 0, INT64_MAX, 1));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].ts_ms, 2000);
  ASSERT_ERROR(store().QueryStatusHistory("", 0, 1, 1), ErrorCode::kInvalidArgument, "device_id");
}

TEST_P(StoreConformanceTest, PruneTelemetryRemovesOnlyOldRows) {
  IngestBatch b;
  for (const char* d : {"d1", "d2", "d3"}) {
    for (const char* m : {"temp", "hum"}) {
      for (int64_t ts = 0; ts < 1000; ++ts) b.telemetry.push_back(Pt(d, m, ts, 1.0));
    }
  }
  // One long series, longer than a prune chunk.
  for (int64_t ts = 0; ts < 12000; ++ts) b.telemetry.push_back(Pt("d0", "power", ts, 2.0));
  ASSERT_OK(store().WriteBatch(b));
  ASSERT_OK_AND_ASSIGN(int64_t removed, store().PruneTelemetry(750));
  EXPECT_EQ(removed, 6 * 750 + 750);
  ASSERT_OK_AND_ASSIGN(auto d2, store().QueryTelemetry({.device_id = "d2", .metric = "hum"}));
  ASSERT_EQ(d2.size(), 250u);
  EXPECT_EQ(d2.front().ts_ms, 750);
  ASSERT_OK_AND_ASSIGN(int64_t long_removed, store().PruneTelemetry(11000));
  EXPECT_EQ(long_removed, 6 * 250 + (11000 - 750));
  ASSERT_OK_AND_ASSIGN(auto d0, store().QueryTelemetry({.device_id = "d0", .limit = 100000}));
  ASSERT_EQ(d0.size(), 1000u);
  EXPECT_EQ(d0.front().ts_ms, 11000);
  ASSERT_OK_AND_ASSIGN(int64_t nothing, store().PruneTelemetry(11000));
  EXPECT_EQ(nothing, 0);
}

// ---- faults, dead letters, audit, tokens, meta ----

TEST_P(StoreConformanceTest, FaultsOneOpenPerDeviceAndKind) {
  model::DeviceFault f;
  f.device_id = "d1";
  f.compound_id = "c1";
  f.kind = "offline";
  f.opened_ms = 1000;
  f.detail = "no heartbeat for 120 s";
  ASSERT_OK_AND_ASSIGN(model::DeviceFault first, store().OpenFault(f));
  EXPECT_GT(first.id, 0);
  EXPECT_FALSE(first.closed_ms.has_value());
  f.opened_ms = 2000;
  ASSERT_OK_AND_ASSIGN(model::DeviceFault again, store().OpenFault(f));
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.opened_ms, 1000) << "the already open fault is returned";

  model::DeviceFault video = f;
  video.kind = "video_loss";
  ASSERT_OK_AND_ASSIGN(model::DeviceFault v, store().OpenFault(video));
  EXPECT_NE(v.id, first.id);
  model::DeviceFault other = f;
  other.device_id = "d2";
  other.compound_id = "c2";
  ASSERT_OK(store().OpenFault(other));

  ASSERT_OK_AND_ASSIGN(bool closed, store().CloseFault("d1", "offline", 3000));
  EXPECT_TRUE(closed);
  ASSERT_OK_AND_ASSIGN(bool closed_again, store().CloseFault("d1", "offline", 3100));
  EXPECT_FALSE(closed_again);
  f.opened_ms = 4000;
  ASSERT_OK_AND_ASSIGN(model::DeviceFault reopened, store().OpenFault(f));
  EXPECT_NE(reopened.id, first.id);

  ASSERT_OK_AND_ASSIGN(auto all, store().ListFaults({}));
  EXPECT_EQ(all.size(), 4u);
  EXPECT_EQ(all.front().id, reopened.id) << "newest first";
  ASSERT_OK_AND_ASSIGN(auto open_d1, store().ListFaults({.device_id = "d1", .open_only = true}));
  EXPECT_EQ(open_d1.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto hist_d1, store().ListFaults({.device_id = "d1"}));
  ASSERT_EQ(hist_d1.size(), 3u);
  bool found_closed = false;
  for (const auto& x : hist_d1) {
    if (x.id == first.id) {
      found_closed = true;
      EXPECT_EQ(x.closed_ms, std::optional<int64_t>(3000));
      EXPECT_EQ(x.detail, "no heartbeat for 120 s");
    }
  }
  EXPECT_TRUE(found_closed);
  ASSERT_OK_AND_ASSIGN(auto c2, store().ListFaults({.compound_ids = std::vector<std::string>{"c2"}}));
  EXPECT_EQ(c2.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto none, store().ListFaults({.compound_ids = std::vector<std::string>{}}));
  EXPECT_TRUE(none.empty());
  ASSERT_OK_AND_ASSIGN(auto paged, store().ListFaults({.limit = 1, .offset = 1}));
  ASSERT_EQ(paged.size(), 1u);
  EXPECT_EQ(paged[0].id, all[1].id);
  ASSERT_ERROR(store().OpenFault({}), ErrorCode::kInvalidArgument, "device_id");
}

TEST_P(StoreConformanceTest, DeadLettersKeepTruncatedPayload) {
  model::DeadLetter big;
  big.received_ms = 1000;
  big.source = "mqtt";
  big.topic = "linli/v1/c1/d1/up/event";
  big.reason = "bad_json";
  big.detail = "unexpected end of input";
  big.payload = std::string(100 * 1024, 'x');
  big.payload[10] = '\0';
  model::DeadLetter small = big;
  small.received_ms = 2000;
  small.payload = std::string("\x01\x02\xff", 3);
  small.reason = "unknown_device";
  model::DeadLetter truncated_upstream = big;
  truncated_upstream.received_ms = 500;
  truncated_upstream.payload = "abc";
  truncated_upstream.payload_size = 1'000'000;
  IngestBatch b;
  b.dead_letters = {big, small, truncated_upstream};
  ASSERT_OK(store().WriteBatch(b));

  ASSERT_OK_AND_ASSIGN(int64_t count, store().CountDeadLetters());
  EXPECT_EQ(count, 3);
  ASSERT_OK_AND_ASSIGN(auto listed, store().ListDeadLetters(0, 10, 0));
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].received_ms, 2000);
  EXPECT_EQ(listed[0].payload, small.payload);
  EXPECT_EQ(listed[0].payload_size, 3);
  EXPECT_EQ(listed[1].payload.size(), 64u * 1024);
  EXPECT_EQ(listed[1].payload_size, 100 * 1024);
  EXPECT_EQ(listed[1].payload[10], '\0');
  EXPECT_EQ(listed[1].topic, big.topic);
  EXPECT_EQ(listed[1].detail, big.detail);
  EXPECT_EQ(listed[1].source, "mqtt");
  EXPECT_GT(listed[1].id, 0);
  EXPECT_EQ(listed[2].payload_size, 1'000'000);
  ASSERT_OK_AND_ASSIGN(auto recent, store().ListDeadLetters(1000, 10, 0));
  EXPECT_EQ(recent.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto page, store().ListDeadLetters(0, 1, 1));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].received_ms, 1000);

  // Over-long topic/detail are cut on a UTF-8 boundary.
  model::DeadLetter wide = small;
  wide.topic = std::string(2000, 'a') + "中";
  wide.detail = std::string(4095, 'b') + "中文";
  IngestBatch w;
  w.dead_letters = {wide};
  ASSERT_OK(store().WriteBatch(w));
  ASSERT_OK_AND_ASSIGN(auto latest, store().ListDeadLetters(0, 1, 0));
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_LE(latest[0].topic.size(), 1024u);
  EXPECT_EQ(latest[0].detail, std::string(4095, 'b'));
}

TEST_P(StoreConformanceTest, AuditQuery) {
  auto entry = [](int64_t ts, const std::string& actor, const std::string& action, const std::string& compound) {
    model::AuditEntry e;
    e.ts_ms = ts;
    e.actor = actor;
    e.action = action;
    e.object_kind = "device";
    e.object_id = "d1";
    e.compound_id = compound;
    e.remote = "10.0.0.1";
    e.detail = {{"ts", ts}};
    return e;
  };
  ASSERT_OK(store().AppendAudit(entry(100, "admin", "login", "")));
  ASSERT_OK(store().AppendAudit(entry(200, "admin", "create", "c1")));
  ASSERT_OK(store().AppendAudit(entry(300, "guard", "update", "c1")));
  ASSERT_OK(store().AppendAudit(entry(400, "guard", "delete", "c2")));
  ASSERT_OK(store().AppendAudit(entry(500, "system", "export", "c2")));
  auto ts = [&](AuditQuery q) {
    std::vector<int64_t> out;
    auto r = store().ListAudit(q);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    if (r) {
      for (const auto& e : *r) out.push_back(e.ts_ms);
    }
    return out;
  };
  using V = std::vector<int64_t>;
  EXPECT_EQ(ts({}), (V{500, 400, 300, 200, 100}));
  EXPECT_EQ(ts({.compound_ids = std::vector<std::string>{"c1"}}), (V{300, 200}));
  EXPECT_EQ(ts({.compound_ids = std::vector<std::string>{}}), V{});
  EXPECT_EQ(ts({.actor = "guard"}), (V{400, 300}));
  EXPECT_EQ(ts({.action = "login"}), (V{100}));
  EXPECT_EQ(ts({.from_ms = 200, .to_ms = 400}), (V{300, 200}));
  EXPECT_EQ(ts({.limit = 2, .offset = 1}), (V{400, 300}));
  ASSERT_OK_AND_ASSIGN(auto one, store().ListAudit({.action = "update"}));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].detail, (Json{{"ts", 300}}));
  EXPECT_EQ(one[0].remote, "10.0.0.1");
  EXPECT_EQ(one[0].object_kind, "device");
  EXPECT_EQ(one[0].object_id, "d1");
  EXPECT_GT(one[0].id, 0);
  ASSERT_ERROR(store().AppendAudit({}), ErrorCode::kInvalidArgument, "actor");
}

TEST_P(StoreConformanceTest, TokensExpire) {
  TokenRecord session{.token_hash = "h1", .user_id = "u1", .kind = "session", .created_ms = 1000,
                      .expires_ms = 5000, .label = "web"};
  TokenRecord api_key{.token_hash = "h2", .user_id = "u1", .kind = "api_key", .created_ms = 1000, .expires_ms = 0,
                      .label = "integration"};
  TokenRecord short_session{.token_hash = "h3", .user_id = "u2", .kind = "session", .created_ms = 1000,
                            .expires_ms = 3000, .label = ""};
  ASSERT_OK(store().PutToken(session));
  ASSERT_OK(store().PutToken(api_key));
  ASSERT_OK(store().PutToken(short_session));
  ASSERT_OK_AND_ASSIGN(TokenRecord got, store().GetToken("h1"));
  EXPECT_EQ(got.user_id, "u1");
  EXPECT_EQ(got.kind, "session");
  EXPECT_EQ(got.expires_ms, 5000);
  EXPECT_EQ(got.label, "web");

  ASSERT_OK_AND_ASSIGN(int64_t expired, store().DeleteExpiredTokens(4000));
  EXPECT_EQ(expired, 1);
  ASSERT_ERROR(store().GetToken("h3"), ErrorCode::kNotFound, "-");
  ASSERT_OK(store().GetToken("h2"));
  ASSERT_OK_AND_ASSIGN(int64_t later, store().DeleteExpiredTokens(1'000'000'000));
  EXPECT_EQ(later, 1) << "api keys (expires 0) never expire";
  ASSERT_OK(store().GetToken("h2"));

  session.label = "renewed";
  session.expires_ms = 9000;
  ASSERT_OK(store().PutToken(session));
  ASSERT_OK_AND_ASSIGN(TokenRecord renewed, store().GetToken("h1"));
  EXPECT_EQ(renewed.label, "renewed");
  ASSERT_OK_AND_ASSIGN(int64_t of_user, store().DeleteTokensOfUser("u1"));
  EXPECT_EQ(of_user, 2);
  ASSERT_ERROR(store().GetToken("h2"), ErrorCode::kNotFound, "-");
  ASSERT_OK(store().PutToken(short_session));
  ASSERT_OK(store().DeleteToken("h3"));
  ASSERT_ERROR(store().DeleteToken("h3"), ErrorCode::kNotFound, "-");
  ASSERT_ERROR(store().PutToken({}), ErrorCode::kInvalidArgument, "token_hash");
}

TEST_P(StoreConformanceTest, MetaKeyValue) {
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> missing, store().GetMeta("instance_id"));
  EXPECT_FALSE(missing.has_value());
  ASSERT_OK(store().SetMeta("instance_id", "abc"));
  ASSERT_OK(store().SetMeta("instance_id", "def"));
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> got, store().GetMeta("instance_id"));
  EXPECT_EQ(got, std::optional<std::string>("def"));
  ASSERT_OK(store().SetMeta("empty", ""));
  EXPECT_EQ(*store().GetMeta("empty"), std::optional<std::string>(""));
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> version, store().GetMeta("schema_version"));
  ASSERT_TRUE(version.has_value());
  EXPECT_GE(std::stoi(*version), 1);
  ASSERT_ERROR(store().SetMeta("schema_version", "0"), ErrorCode::kInvalidArgument, "key");
  ASSERT_ERROR(store().SetMeta("", "x"), ErrorCode::kInvalidArgument, "key");
}

// ---- durability and schema evolution ----

TEST_P(StoreConformanceTest, ReopenPersists) {
  SeedCompound("c1");
  IngestBatch b;
  b.telemetry.push_back(Pt("c1-d", "temp", 1000, 21.5));
  b.events.push_back(Ev("e1", "c1", "c1-d", "door.open", 1000));
  b.last_seen = {{"c1-d", 1000}};
  ASSERT_OK(store().WriteBatch(b));
  ASSERT_OK(store().SetMeta("instance_id", "xyz"));
  ASSERT_OK(store().PutToken({.token_hash = "h", .user_id = "u", .kind = "session", .created_ms = 1, .expires_ms = 2}));
  Reopen();
  ASSERT_OK_AND_ASSIGN(Record d, store().GetRecord(Kind::kDevice, "c1-d"));
  EXPECT_EQ(d.fields["name"], "east gate");
  ASSERT_OK_AND_ASSIGN(auto t, store().QueryTelemetry({.device_id = "c1-d"}));
  EXPECT_EQ(t.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto e, store().QueryEvents({}));
  EXPECT_EQ(e.size(), 1u);
  EXPECT_EQ(*store().GetMeta("instance_id"), std::optional<std::string>("xyz"));
  ASSERT_OK(store().GetToken("h"));
  ASSERT_OK_AND_ASSIGN(auto states, store().LoadDeviceStates());
  EXPECT_EQ(states.size(), 1u);
  // Redelivery after a restart is still idempotent.
  ASSERT_OK_AND_ASSIGN(IngestResult again, store().WriteBatch(b));
  EXPECT_EQ(again.events_duplicate, 1);
}

TEST_P(StoreConformanceTest, MissingColumnsOfNewFieldsAreAdded) {
  SeedCompound("c1");
  ASSERT_OK(store().CreateRecord(
      Rec(Kind::kPerson, "p1", {{"compound_id", "c1"}, {"name", "x"}, {"phone", "v1:x"}, {"phone_bidx", "bx"}})));
  Close();
  // As if "address" and "phone" had been added to the specs after this database was made.
  backend_->RemoveColumns("compounds", {"address"});
  backend_->RemoveColumns("persons", {"phone", "phone_bidx"});
  Reopen();
  ASSERT_OK_AND_ASSIGN(Record p1, store().GetRecord(Kind::kPerson, "p1"));
  EXPECT_FALSE(p1.fields.contains("phone"));
  EXPECT_EQ(p1.fields["name"], "x");
  p1.fields["phone"] = "v1:y";
  p1.fields["phone_bidx"] = "by";
  ASSERT_OK(store().UpdateRecord(p1));
  ASSERT_OK_AND_ASSIGN(ListResult by_phone,
                       store().ListRecords({.kind = Kind::kPerson, .filters = {{"phone_bidx", "by"}}}));
  EXPECT_EQ(Ids(by_phone.items), (std::vector<std::string>{"p1"}));
  ASSERT_OK_AND_ASSIGN(Record c2, store().CreateRecord(Rec(Kind::kCompound, "c2", {{"name", "n"}, {"address", "a"}})));
  EXPECT_EQ(c2.fields["address"], "a");
  // Reopening again is a no-op.
  Reopen();
  ASSERT_OK_AND_ASSIGN(Record c2_again, store().GetRecord(Kind::kCompound, "c2"));
  EXPECT_EQ(c2_again.fields["address"], "a");
}

TEST_P(StoreConformanceTest, NewerSchemaIsRefused) {
  Close();
  backend_->SetSchemaVersion(1'000'000);
  auto opened = backend_->Open();
  ASSERT_ERROR(opened, ErrorCode::kFailedPrecondition, "-");
  EXPECT_NE(opened.error().message().find("1000000"), std::string::npos) << opened.error().message();
}

// ---- concurrency ----

TEST_P(StoreConformanceTest, ConcurrentReadersAndWriter) {
  SeedCompound("c1");
  constexpr int kBatches = 40;
  constexpr int kEventsPerBatch = 25;
  std::atomic<bool> writer_done{false};
  std::atomic<int> failures{0};
  std::atomic<int64_t> reads{0};

  std::thread writer([&] {
    for (int i = 0; i < kBatches; ++i) {
      IngestBatch b;
      for (int k = 0; k < kEventsPerBatch; ++k) {
        int n = i * kEventsPerBatch + k;
        b.events.push_back(Ev("e" + std::to_string(n), "c1", "c1-d", "door.open", n));
        b.telemetry.push_back(Pt("c1-d", "temp", n, static_cast<double>(n)));
      }
      if (!store().WriteBatch(b)) ++failures;
      Record dev = Rec(Kind::kDevice, "dev" + std::to_string(i), {{"compound_id", "c1"}, {"kind", "camera"}});
      if (!store().CreateRecord(dev)) ++failures;
    }
    writer_done = true;
  });
  auto reader = [&](int which) {
    int64_t last_seen_events = 0;
    // Keep reading while the writer runs, and at least a few times.
    for (int i = 0; !writer_done || i < 5; ++i) {
      switch ((i + which) % 3) {
        case 0: {
          auto ev = store().QueryEvents({.limit = 10000});
          if (!ev) {
            ++failures;
            break;
          }
          // Committed batches only: counts come in whole batches and never go back.
          int64_t n = static_cast<int64_t>(ev->size());
          if (n % kEventsPerBatch != 0 || n < last_seen_events) ++failures;
          last_seen_events = n;
          break;
        }
        case 1: {
          auto list = store().ListRecords({.kind = Kind::kDevice, .limit = 1000});
          if (!list || static_cast<int64_t>(list->items.size()) != list->total) ++failures;
          break;
        }
        default:
          if (!store().GetRecord(Kind::kCompound, "c1")) ++failures;
          break;
      }
      ++reads;
    }
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) readers.emplace_back(reader, r);
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(reads.load(), 20);
  ASSERT_OK_AND_ASSIGN(auto events, store().QueryEvents({.limit = 10000}));
  EXPECT_EQ(events.size(), static_cast<size_t>(kBatches * kEventsPerBatch));
  ASSERT_OK_AND_ASSIGN(ListResult devices, store().ListRecords({.kind = Kind::kDevice, .limit = 1000}));
  EXPECT_EQ(devices.total, kBatches + 1);
}


// ---- replay positions, media, incidents ----

TEST_P(StoreConformanceTest, EventAndStatusPositionsAreIncreasingAndReplayable) {
  IngestBatch b;
  b.events = {Ev("e1", "c1", "c1-d", "door.passage", 100), Ev("e2", "c1", "c1-d", "door.passage", 90)};
  b.status_changes = {{"c1-d", "c1", model::Presence::kOnline, 100, "telemetry"}};
  ASSERT_OK_AND_ASSIGN(IngestResult r, store().WriteBatch(b));
  ASSERT_EQ(r.new_event_seqs.size(), 2u);
  EXPECT_LT(r.new_event_seqs[0], r.new_event_seqs[1]);
  ASSERT_EQ(r.status_change_ids.size(), 1u);
  IngestBatch again;
  again.events = {Ev("e2", "c1", "c1-d", "door.passage", 90), Ev("e3", "c1", "c1-d", "door.forced", 120)};
  ASSERT_OK_AND_ASSIGN(IngestResult r2, store().WriteBatch(again));
  ASSERT_EQ(r2.new_event_ids, (std::vector<std::string>{"e3"}));
  EXPECT_GT(r2.new_event_seqs[0], r.new_event_seqs[1]);
  ASSERT_OK_AND_ASSIGN(auto after, store().EventsAfter(r.new_event_seqs[0], 10));
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].event.id, "e2");
  EXPECT_EQ(after[1].event.id, "e3");
  EXPECT_EQ(after[1].event.type, "door.forced");
  ASSERT_OK_AND_ASSIGN(auto st, store().StatusChangesAfter(0, 10));
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].first, r.status_change_ids[0]);
  EXPECT_EQ(st[0].second.status, model::Presence::kOnline);
}

TEST_P(StoreConformanceTest, MediaMetadataIsIdempotentById) {
  model::MediaObject m{"snap-1", "c1", "c1-d", "ev-1", "image/jpeg", 1234, std::string(64, 'a'), 100, "edge"};
  ASSERT_OK(store().PutMedia(m));
  ASSERT_OK_AND_ASSIGN(auto same, store().PutMedia(m));
  EXPECT_EQ(same.size, 1234);
  model::MediaObject other = m;
  other.sha256 = std::string(64, 'b');
  ASSERT_ERROR(store().PutMedia(other), ErrorCode::kConflict, "id");
  ASSERT_ERROR(store().GetMedia("nope"), ErrorCode::kNotFound, "-");
  ASSERT_OK_AND_ASSIGN(auto list, store().ListMedia({.event_id = "ev-1"}));
  ASSERT_EQ(list.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto scoped, store().ListMedia({.compound_ids = std::vector<std::string>{"c2"}, .event_id = "ev-1"}));
  EXPECT_TRUE(scoped.empty());
  ASSERT_ERROR(store().PutMedia({"bad id", "c1", "", "", "image/jpeg", 1, std::string(64, 'a'), 1, ""}),
               ErrorCode::kInvalidArgument, "id");
}

model::Alarm TestAlarm(const std::string& id, const std::string& compound, const std::string& merge, int64_t raised) {
  model::Alarm a;
  a.id = id;
  a.compound_id = compound;
  a.type = "gas_leak";
  a.level = model::AlarmLevel::kCritical;
  a.title = "leak";
  a.merge_key = merge;
  a.raised_ms = a.last_ms = a.updated_ms = raised;
  a.rule_id = "gas";
  a.data = Json{{"clear_key", "k"}};
  return a;
}

TEST_P(StoreConformanceTest, AlarmsRoundTripMergeAndEscalate) {
  model::Alarm a = TestAlarm("a1", "c1", "gas:d1", 1000);
  a.escalation_step = 0;
  a.next_escalation_ms = 3000;
  a.ack_due_ms = 2000;
  a.attachments = {"snap-1"};
  IncidentWrite w;
  w.alarms = {a};
  w.log = {{0, "alarm", "a1", "c1", 1000, "rule:gas", "raise", "", "raised", "leak", Json::object()}};
  w.rule_state = {{"gas", "c1/d1", Json{{"c", 5}}, 1000}};
  w.meta = {{"rules.event_seq", "7"}};
  ASSERT_OK(store().ApplyIncidentWrite(w));
  ASSERT_OK_AND_ASSIGN(model::Alarm got, store().GetAlarm("a1"));
  EXPECT_EQ(model::ToJson(got), model::ToJson(a));
  ASSERT_OK_AND_ASSIGN(auto open, store().FindOpenAlarm("gas:d1"));
  ASSERT_TRUE(open.has_value());
  // A second open alarm with the same merge key is refused; a closed one does not count.
  IncidentWrite dup;
  dup.alarms = {TestAlarm("a2", "c1", "gas:d1", 1500)};
  ASSERT_ERROR(store().ApplyIncidentWrite(dup), ErrorCode::kConflict, "alarms[0].merge_key");
  ASSERT_ERROR(store().GetAlarm("a2"), ErrorCode::kNotFound, "-");  // nothing of the failed write
  ASSERT_OK_AND_ASSIGN(auto meta, store().GetMeta("rules.event_seq"));
  EXPECT_EQ(meta.value_or(""), "7");
  ASSERT_OK_AND_ASSIGN(auto due, store().DueEscalations(2999, 10));
  EXPECT_TRUE(due.empty());
  ASSERT_OK_AND_ASSIGN(due, store().DueEscalations(3000, 10));
  ASSERT_EQ(due.size(), 1u);
  got.state = model::AlarmState::kClosed;
  got.closed_ms = 4000;
  got.acknowledged_ms = 2500;
  w = {};
  w.alarms = {got};
  ASSERT_OK(store().ApplyIncidentWrite(w));
  ASSERT_OK_AND_ASSIGN(due, store().DueEscalations(10'000, 10));
  EXPECT_TRUE(due.empty());  // closed alarms do not escalate
  ASSERT_OK_AND_ASSIGN(open, store().FindOpenAlarm("gas:d1"));
  EXPECT_FALSE(open.has_value());
  dup.alarms = {TestAlarm("a2", "c1", "gas:d1", 5000), TestAlarm("b1", "c2", "gas:x", 6000)};
  ASSERT_OK(store().ApplyIncidentWrite(dup));
  // Listing: scope, state, type prefix, time range, newest first, totals.
  ASSERT_OK_AND_ASSIGN(auto all, store().ListAlarms({.limit = 10}));
  EXPECT_EQ(all.total, 3);
  ASSERT_EQ(all.items.size(), 3u);
  EXPECT_EQ(all.items[0].id, "b1");
  ASSERT_OK_AND_ASSIGN(auto c1, store().ListAlarms({.compound_ids = std::vector<std::string>{"c1"}, .open_only = true}));
  ASSERT_EQ(c1.items.size(), 1u);
  EXPECT_EQ(c1.items[0].id, "a2");
  ASSERT_OK_AND_ASSIGN(auto closed, store().ListAlarms({.states = {model::AlarmState::kClosed}, .type = "gas*"}));
  ASSERT_EQ(closed.items.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto none, store().ListAlarms({.compound_ids = std::vector<std::string>{}}));
  EXPECT_EQ(none.total, 0);
  ASSERT_OK_AND_ASSIGN(auto stats, store().AlarmStatistics({.compound_id = "c1", .now_ms = 10'000}));
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].raised, 2);
  EXPECT_EQ(stats[0].closed, 1);
  EXPECT_DOUBLE_EQ(stats[0].mean_ack_s, 1.5);
  EXPECT_DOUBLE_EQ(stats[0].mean_close_s, 3.0);
  EXPECT_EQ(stats[0].ack_overdue, 1);  // acknowledged at 2.5 s, due at 2 s
  ASSERT_OK_AND_ASSIGN(auto log, store().ListIncidentLog("alarm", "a1", 10));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].action, "raise");
  ASSERT_OK_AND_ASSIGN(auto state, store().LoadRuleState());
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0].state["c"], 5);
  w = {};
  w.rule_state = {{"gas", "c1/d1", Json(), 2000}};  // empty: deleted
  ASSERT_OK(store().ApplyIncidentWrite(w));
  ASSERT_OK_AND_ASSIGN(state, store().LoadRuleState());
  EXPECT_TRUE(state.empty());
}

TEST_P(StoreConformanceTest, WorkOrdersCommandsAndNotifications) {
  model::WorkOrder o;
  o.id = "w1";
  o.compound_id = "c1";
  o.kind = "maintenance";
  o.clear_key = "offline:c1-d";
  o.assignee_role = "technician";
  o.created_ms = o.updated_ms = 100;
  model::Command c;
  c.id = "cmd1";
  c.compound_id = "c1";
  c.device_id = "c1-d";
  c.name = "unlock";
  c.cause = Json{{"kind", "event"}, {"id", "ev-9"}};
  c.state = model::CommandState::kSent;
  c.created_ms = 100;
  c.deadline_ms = 500;
  model::Notification n;
  n.compound_id = "c1";
  n.target = "wh1";
  n.url = "http://127.0.0.1:1/x";
  n.topic = "alarm.raised";
  n.created_ms = 100;
  n.next_attempt_ms = 100;
  IncidentWrite w;
  w.work_orders = {o};
  w.commands = {c};
  w.notifications = {n};
  ASSERT_OK_AND_ASSIGN(IncidentWriteResult r, store().ApplyIncidentWrite(w));
  ASSERT_EQ(r.notification_ids.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto byclear, store().OpenWorkOrdersByClearKey("offline:c1-d"));
  ASSERT_EQ(byclear.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto mine, store().ListWorkOrders({.open_only = true, .assignee_role = "technician"}));
  EXPECT_EQ(mine.total, 1);
  ASSERT_OK_AND_ASSIGN(auto cmds, store().ListCommands({.cause_id = "ev-9"}));
  ASSERT_EQ(cmds.items.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto due, store().CommandsDue(499, 10));
  EXPECT_TRUE(due.empty());
  ASSERT_OK_AND_ASSIGN(due, store().CommandsDue(500, 10));
  ASSERT_EQ(due.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto pending, store().DueNotifications(100, 10));
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, r.notification_ids[0]);
  // Updates: the order closes, the command is acknowledged, the notification delivered.
  o.state = model::WorkOrderState::kClosed;
  c.state = model::CommandState::kAcked;
  c.deadline_ms = 0;
  pending[0].state = model::NotificationState::kDelivered;
  pending[0].attempts = 1;
  w = {};
  w.work_orders = {o};
  w.commands = {c};
  w.notifications = {pending[0]};
  ASSERT_OK(store().ApplyIncidentWrite(w));
  ASSERT_OK_AND_ASSIGN(byclear, store().OpenWorkOrdersByClearKey("offline:c1-d"));
  EXPECT_TRUE(byclear.empty());
  ASSERT_OK_AND_ASSIGN(due, store().CommandsDue(10'000, 10));
  EXPECT_TRUE(due.empty());
  ASSERT_OK_AND_ASSIGN(pending, store().DueNotifications(10'000, 10));
  EXPECT_TRUE(pending.empty());
  ASSERT_OK_AND_ASSIGN(auto sent, store().ListNotifications(0, 10, 0));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].state, model::NotificationState::kDelivered);
  // A bad element fails the whole write.
  model::Command bad = c;
  bad.id = "";
  w = {};
  w.commands = {bad};
  ASSERT_ERROR(store().ApplyIncidentWrite(w), ErrorCode::kInvalidArgument, "commands[0].id");
}

TEST_P(StoreConformanceTest, BatchAndItsFollowUpCommitTogether) {
  model::Command c;
  c.id = "cmd-f1";
  c.compound_id = "c1";
  c.device_id = "c1-d";
  c.name = "unlock";
  c.state = model::CommandState::kSent;
  c.created_ms = 100;
  c.deadline_ms = 500;
  IncidentWrite effects;
  effects.meta = {{"rules.event_seq", "x"}};
  int calls = 0;
  int64_t seen_seq = 0;
  auto follow = [&](const IngestResult& written) -> const IncidentWrite* {
    ++calls;
    if (!written.new_event_seqs.empty()) seen_seq = written.new_event_seqs[0];
    effects.commands = {c};
    effects.meta = {{"rules.event_seq", std::to_string(seen_seq)}};
    return &effects;
  };
  IngestBatch b;
  b.events = {Ev("ef1", "c1", "c1-d", "gas.leak", 100)};
  Result<void> follow_error = Fail(ErrorCode::kInternal, "not set");
  ASSERT_OK_AND_ASSIGN(IngestResult r, store().WriteBatch(b, follow, &follow_error));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(follow_error.has_value());
  ASSERT_EQ(r.new_event_seqs.size(), 1u);
  EXPECT_EQ(seen_seq, r.new_event_seqs[0]);  // the follow-up sees what the batch wrote
  ASSERT_OK_AND_ASSIGN(auto got, store().GetCommand("cmd-f1"));
  EXPECT_EQ(got.state, model::CommandState::kSent);
  ASSERT_OK_AND_ASSIGN(auto meta, store().GetMeta("rules.event_seq"));
  EXPECT_EQ(meta, std::optional<std::string>(std::to_string(r.new_event_seqs[0])));

  // A refused follow-up (here a command without id) does not block the batch: it is written
  // alone, the follow-up's error is reported, nothing of the follow-up is stored.
  calls = 0;
  auto bad = [&](const IngestResult&) -> const IncidentWrite* {
    ++calls;
    effects = {};
    model::Command nameless = c;
    nameless.id = "";
    model::Command good = c;
    good.id = "cmd-f2";
    effects.commands = {good, nameless};
    effects.meta = {{"rules.event_seq", "refused"}};
    return &effects;
  };
  IngestBatch b2;
  b2.events = {Ev("ef2", "c1", "c1-d", "gas.leak", 110)};
  ASSERT_OK_AND_ASSIGN(IngestResult r2, store().WriteBatch(b2, bad, &follow_error));
  EXPECT_EQ(calls, 1);
  ASSERT_FALSE(follow_error.has_value());
  EXPECT_EQ(follow_error.error().field(), "commands[1].id");
  EXPECT_EQ(r2.new_event_ids, (std::vector<std::string>{"ef2"}));
  ASSERT_OK_AND_ASSIGN(auto after, store().EventsAfter(r.new_event_seqs[0], 10));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].event.id, "ef2");
  EXPECT_EQ(store().GetCommand("cmd-f2").error().code(), ErrorCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(meta, store().GetMeta("rules.event_seq"));
  EXPECT_EQ(meta, std::optional<std::string>(std::to_string(r.new_event_seqs[0])));

  // An empty batch still runs its follow-up (acknowledgements alone) in a transaction.
  calls = 0;
  auto ack = [&](const IngestResult&) -> const IncidentWrite* {
    ++calls;
    effects = {};
    model::Command acked = c;
    acked.state = model::CommandState::kAcked;
    acked.deadline_ms = 0;
    effects.commands = {acked};
    return &effects;
  };
  ASSERT_OK(store().WriteBatch(IngestBatch{}, ack, &follow_error));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(follow_error.has_value());
  ASSERT_OK_AND_ASSIGN(got, store().GetCommand("cmd-f1"));
  EXPECT_EQ(got.state, model::CommandState::kAcked);
  // A follow-up with nothing to write is fine.
  ASSERT_OK(store().WriteBatch(IngestBatch{}, [](const IngestResult&) { return static_cast<const IncidentWrite*>(nullptr); },
                               &follow_error));
  EXPECT_TRUE(follow_error.has_value());
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
                         ::testing::Values(BackendParam{"sqlite", [] { return std::make_unique<SqliteBackend>(); }}),
                         [](const ::testing::TestParamInfo<BackendParam>& info) { return info.param.name; });

}  // namespace
}  // namespace linli::store
