#include "api/registry_service.h"

#include <gtest/gtest.h>

#include "api/api_test_util.h"
#include "common/crypto.h"
#include "common/ids.h"

namespace linli::api {
namespace {

using model::Kind;
using testing::IdNumber;
using testing::MakePrincipal;

class RegistryServiceTest : public testing::RegistryFixture {
 protected:
  Principal Resolved(const Json& user_fields) {
    model::Record user;
    user.kind = Kind::kUser;
    user.id = "u1";
    user.fields = user_fields;
    Principal p;
    auto r = registry_->scopes().Resolve(user, &p);
    EXPECT_TRUE(r.has_value());
    return p;
  }
};

TEST_F(RegistryServiceTest, DerivesCompoundThroughTheHierarchy) {
  API_ASSERT_OK_AND_ASSIGN(Json room, registry_->Get(admin_, Kind::kRoom, "A-r1"));
  EXPECT_EQ(room["compound_id"], "A");
  EXPECT_EQ(room["unit_id"], "A-u1");
  EXPECT_EQ(room["created_ms"], clock_.NowMs());
  API_ASSERT_OK_AND_ASSIGN(Json unit, registry_->Get(admin_, Kind::kUnit, "B-u1"));
  EXPECT_EQ(unit["compound_id"], "B");
  API_ASSERT_OK_AND_ASSIGN(Json compound, registry_->Get(admin_, Kind::kCompound, "A"));
  EXPECT_EQ(compound["compound_id"], "A");
  API_ASSERT_OK_AND_ASSIGN(Json region, registry_->Get(admin_, Kind::kRegion, "c1"));
  EXPECT_FALSE(region.contains("compound_id"));
}

TEST_F(RegistryServiceTest, GeneratesUuidWhenNoIdGiven) {
  API_ASSERT_OK_AND_ASSIGN(
      Json b, registry_->Create(admin_, Kind::kBuilding, {{"compound_id", "A"}, {"name", "2"}}));
  EXPECT_TRUE(IsUuid(b["id"].get<std::string>())) << b.dump();
}

TEST_F(RegistryServiceTest, ValidationErrorsNameTheField) {
  API_ASSERT_ERROR(
      registry_->Create(
          admin_, Kind::kPerson,
          {{"compound_id", "A"}, {"name", "张三"}, {"id_number", "110101199003071234"}}),
      ErrorCode::kInvalidArgument, "id_number");
  API_ASSERT_ERROR(
      registry_->Create(admin_, Kind::kPerson, {{"compound_id", "A"}, {"name", "x"}, {"bogus", 1}}),
      ErrorCode::kInvalidArgument, "bogus");
  API_ASSERT_ERROR(registry_->Create(admin_, Kind::kUnit, {{"building_id", "nope"}, {"name", "1"}}),
                   ErrorCode::kInvalidArgument, "building_id");
  API_ASSERT_ERROR(registry_->Create(admin_, Kind::kBuilding,
                                     {{"id", "../x"}, {"compound_id", "A"}, {"name", "1"}}),
                   ErrorCode::kInvalidArgument, "id");
}

TEST_F(RegistryServiceTest, ReferencesMustBelongToTheSameCompound) {
  API_ASSERT_ERROR(registry_->Create(admin_, Kind::kPerson,
                                     {{"compound_id", "A"}, {"name", "x"}, {"room_id", "B-r1"}}),
                   ErrorCode::kInvalidArgument, "room_id");
  API_ASSERT_ERROR(
      registry_->Create(admin_, Kind::kDevice,
                        {{"compound_id", "A"}, {"kind", "camera"}, {"building_id", "B-b1"}}),
      ErrorCode::kInvalidArgument, "building_id");
  // Nesting of a device's location.
  MustCreate(Kind::kBuilding, {{"id", "A-b2"}, {"compound_id", "A"}, {"name", "2"}});
  API_ASSERT_ERROR(
      registry_->Create(
          admin_, Kind::kDevice,
          {{"compound_id", "A"}, {"kind", "camera"}, {"building_id", "A-b2"}, {"room_id", "A-r1"}}),
      ErrorCode::kInvalidArgument, "room_id");
  API_ASSERT_OK(registry_->Create(
      admin_, Kind::kDevice,
      {{"compound_id", "A"}, {"kind", "camera"}, {"building_id", "A-b1"}, {"room_id", "A-r1"}}));
}

TEST_F(RegistryServiceTest, RegionLevelsNest) {
  API_ASSERT_ERROR(registry_->Create(admin_, Kind::kRegion,
                                     {{"name", "x"}, {"level", "community"}, {"parent_id", "d1"}}),
                   ErrorCode::kInvalidArgument, "parent_id");
}

TEST_F(RegistryServiceTest, RolesAreEnforced) {
  Principal tech = MakePrincipal(Role::kTechnician, {"A"});
  API_ASSERT_ERROR(registry_->Create(tech, Kind::kPerson, {{"compound_id", "A"}, {"name", "x"}}),
                   ErrorCode::kPermissionDenied, "-");
  API_ASSERT_ERROR(registry_->Get(tech, Kind::kPerson, "whatever"), ErrorCode::kPermissionDenied,
                   "-");
  Principal police = MakePrincipal(Role::kPolice, {"A"});
  API_ASSERT_ERROR(registry_->Update(police, Kind::kBuilding, "A-b1", {{"name", "x"}}),
                   ErrorCode::kPermissionDenied, "-");
  Principal op = MakePrincipal(Role::kOperator, {"A"});
  API_ASSERT_ERROR(registry_->Create(op, Kind::kRegion, {{"name", "x"}, {"level", "district"}}),
                   ErrorCode::kPermissionDenied, "-");
  API_ASSERT_ERROR(registry_->List(op, Kind::kUser, {}), ErrorCode::kPermissionDenied, "-");
}

TEST_F(RegistryServiceTest, OutOfScopeRecordsAreNotFound) {
  Principal op = MakePrincipal(Role::kOperator, {"A"});
  API_ASSERT_ERROR(registry_->Get(op, Kind::kBuilding, "B-b1"), ErrorCode::kNotFound, "-");
  API_ASSERT_ERROR(registry_->Update(op, Kind::kBuilding, "B-b1", {{"name", "x"}}),
                   ErrorCode::kNotFound, "-");
  API_ASSERT_ERROR(registry_->Delete(op, Kind::kRoom, "B-r1"), ErrorCode::kNotFound, "-");
  API_ASSERT_ERROR(registry_->Get(op, Kind::kCompound, "B"), ErrorCode::kNotFound, "-");
  // Creating into another compound looks exactly like referencing a missing one.
  auto missing = registry_->Create(op, Kind::kBuilding, {{"compound_id", "nope"}, {"name", "1"}});
  auto foreign = registry_->Create(op, Kind::kBuilding, {{"compound_id", "B"}, {"name", "1"}});
  ASSERT_FALSE(missing.has_value());
  ASSERT_FALSE(foreign.has_value());
  EXPECT_EQ(foreign.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(foreign.error().field(), "compound_id");
  API_ASSERT_ERROR(
      registry_->Create(op, Kind::kRoom, {{"unit_id", "B-u1"}, {"floor", 1}, {"number", "9"}}),
      ErrorCode::kInvalidArgument, "unit_id");
  API_ASSERT_OK_AND_ASSIGN(Json list, registry_->List(op, Kind::kBuilding, {}));
  EXPECT_EQ(list["total"], 1);
  EXPECT_EQ(list["items"][0]["id"], "A-b1");
  // A non-admin with no scope sees nothing.
  Principal nobody = MakePrincipal(Role::kOperator, {});
  API_ASSERT_OK_AND_ASSIGN(Json none, registry_->List(nobody, Kind::kCompound, {}));
  EXPECT_EQ(none["total"], 0);
}

TEST_F(RegistryServiceTest, PersonalDataIsEncryptedBlindIndexedAndMasked) {
  const std::string id_number = IdNumber();
  MustCreate(Kind::kPerson, {{"id", "p1"},
                             {"compound_id", "A"},
                             {"name", "张三"},
                             {"id_number", id_number},
                             {"phone", "13800138000"},
                             {"room_id", "A-r1"}});
  API_ASSERT_OK_AND_ASSIGN(model::Record raw, store_->GetRecord(Kind::kPerson, "p1"));
  ASSERT_TRUE(raw.fields["id_number"].is_string());
  EXPECT_TRUE(raw.fields["id_number"].get<std::string>().starts_with("v1:"));
  EXPECT_EQ(raw.fields["id_number_bidx"], cipher_->BlindIndex(id_number));
  EXPECT_EQ(raw.fields["phone"].get<std::string>().find("13800138000"), std::string::npos);

  struct Case {
    Role role;
    std::string id_number;
    std::string phone;
  };
  const std::string masked_id = model::MaskIdNumber(id_number);
  for (const Case& c :
       {Case{Role::kAdmin, id_number, "13800138000"}, Case{Role::kPolice, id_number, "13800138000"},
        Case{Role::kGridWorker, id_number, "13800138000"},
        Case{Role::kOperator, masked_id, "13800138000"}}) {
    Principal p = MakePrincipal(c.role, {"A"});
    API_ASSERT_OK_AND_ASSIGN(Json person, registry_->Get(p, Kind::kPerson, "p1"));
    EXPECT_EQ(person["id_number"], c.id_number) << RoleName(c.role);
    EXPECT_EQ(person["phone"], c.phone) << RoleName(c.role);
    EXPECT_FALSE(person.contains("id_number_bidx"));
  }
  // Filters on pii fields go through the blind index (also for a lower-case check letter).
  Principal police = MakePrincipal(Role::kPolice, {"A"});
  ListParams lp;
  lp.filters = {{"phone", "13800138000"}};
  API_ASSERT_OK_AND_ASSIGN(Json found, registry_->List(police, Kind::kPerson, lp));
  EXPECT_EQ(found["total"], 1);
  lp.filters = {{"phone", "13900000000"}};
  API_ASSERT_OK_AND_ASSIGN(Json none, registry_->List(police, Kind::kPerson, lp));
  EXPECT_EQ(none["total"], 0);
  lp.filters = {{"id_number", id_number}};
  API_ASSERT_OK_AND_ASSIGN(Json by_id, registry_->List(police, Kind::kPerson, lp));
  EXPECT_EQ(by_id["total"], 1);
  lp.filters = {{"note", "x"}};
  API_ASSERT_ERROR(registry_->List(police, Kind::kPerson, lp), ErrorCode::kInvalidArgument, "note");
  // Unique pii fields conflict through the blind index.
  API_ASSERT_ERROR(
      registry_->Create(admin_, Kind::kPerson,
                        {{"compound_id", "A"}, {"name", "李四"}, {"id_number", id_number}}),
      ErrorCode::kConflict, "-");
  // The audit trail names the fields, never the values.
  store::AuditQuery aq;
  aq.action = "create";
  API_ASSERT_OK_AND_ASSIGN(auto entries, store_->ListAudit(aq));
  bool seen = false;
  for (const auto& e : entries) {
    EXPECT_EQ(e.detail.dump().find(id_number), std::string::npos);
    EXPECT_EQ(e.detail.dump().find("13800138000"), std::string::npos);
    if (e.object_id == "p1") {
      seen = true;
      EXPECT_EQ(e.object_kind, "person");
      EXPECT_EQ(e.compound_id, "A");
      EXPECT_NE(e.detail.dump().find("id_number"), std::string::npos);
    }
  }
  EXPECT_TRUE(seen);
}

TEST_F(RegistryServiceTest, PatchChangesOnlyGivenFields) {
  MustCreate(Kind::kPerson, {{"id", "p1"},
                             {"compound_id", "A"},
                             {"name", "张三"},
                             {"phone", "13800138000"},
                             {"note", "n"}});
  clock_.AdvanceMs(1000);
  API_ASSERT_OK_AND_ASSIGN(Json p,
                           registry_->Update(admin_, Kind::kPerson, "p1",
                                             {{"phone", "13900139000"}, {"note", nullptr}}));
  EXPECT_EQ(p["phone"], "13900139000");
  EXPECT_EQ(p["name"], "张三");
  EXPECT_FALSE(p.contains("note"));
  EXPECT_EQ(p["updated_ms"], clock_.NowMs());
  EXPECT_LT(p["created_ms"].get<int64_t>(), p["updated_ms"].get<int64_t>());
  ListParams lp;
  lp.filters = {{"phone", "13900139000"}};
  API_ASSERT_OK_AND_ASSIGN(Json found, registry_->List(admin_, Kind::kPerson, lp));
  EXPECT_EQ(found["total"], 1);
  API_ASSERT_ERROR(registry_->Update(admin_, Kind::kBuilding, "A-b1", {{"compound_id", "B"}}),
                   ErrorCode::kInvalidArgument, "compound_id");
  API_ASSERT_ERROR(registry_->Update(admin_, Kind::kPerson, "p1", {{"room_id", "B-r1"}}),
                   ErrorCode::kInvalidArgument, "room_id");
}

TEST_F(RegistryServiceTest, ResidentSeesOnlyTheirHousehold) {
  MustCreate(Kind::kPerson, {{"id", "p1"},
                             {"compound_id", "A"},
                             {"name", "Me"},
                             {"room_id", "A-r1"},
                             {"id_number", IdNumber("19900101", 1)}});
  MustCreate(Kind::kPerson, {{"id", "p2"},
                             {"compound_id", "A"},
                             {"name", "Spouse"},
                             {"room_id", "A-r1"},
                             {"id_number", IdNumber("19910101", 2)}});
  MustCreate(Kind::kPerson,
             {{"id", "p3"}, {"compound_id", "A"}, {"name", "Neighbour"}, {"room_id", "A-r2"}});
  MustCreate(Kind::kVehicle,
             {{"id", "v1"}, {"compound_id", "A"}, {"plate", "京A12345"}, {"owner_id", "p2"}});
  MustCreate(Kind::kVehicle,
             {{"id", "v2"}, {"compound_id", "A"}, {"plate", "京A54321"}, {"owner_id", "p3"}});
  MustCreate(Kind::kPerson,
             {{"id", "pb"}, {"compound_id", "B"}, {"name", "Far"}, {"room_id", "B-r1"}});

  Principal me = Resolved({{"username", "me"}, {"role", "resident"}, {"person_id", "p1"}});
  EXPECT_EQ(me.household_room_id, "A-r1");
  EXPECT_EQ(me.compounds, std::set<std::string>{"A"});

  API_ASSERT_OK_AND_ASSIGN(Json spouse, registry_->Get(me, Kind::kPerson, "p2"));
  EXPECT_EQ(spouse["id_number"], IdNumber("19910101", 2));  // own household: unmasked
  API_ASSERT_ERROR(registry_->Get(me, Kind::kPerson, "p3"), ErrorCode::kNotFound, "-");
  API_ASSERT_ERROR(registry_->Get(me, Kind::kPerson, "pb"), ErrorCode::kNotFound, "-");
  API_ASSERT_OK(registry_->Get(me, Kind::kVehicle, "v1"));
  API_ASSERT_ERROR(registry_->Get(me, Kind::kVehicle, "v2"), ErrorCode::kNotFound, "-");
  API_ASSERT_OK(registry_->Get(me, Kind::kRoom, "A-r1"));
  API_ASSERT_ERROR(registry_->Get(me, Kind::kRoom, "A-r2"), ErrorCode::kNotFound, "-");
  API_ASSERT_OK(registry_->Get(me, Kind::kCompound, "A"));
  API_ASSERT_ERROR(registry_->Get(me, Kind::kCompound, "B"), ErrorCode::kNotFound, "-");
  API_ASSERT_ERROR(registry_->Get(me, Kind::kBuilding, "A-b1"), ErrorCode::kPermissionDenied, "-");
  API_ASSERT_ERROR(registry_->List(me, Kind::kOrganisation, {}), ErrorCode::kPermissionDenied, "-");
  API_ASSERT_ERROR(registry_->Update(me, Kind::kPerson, "p1", {{"name", "x"}}),
                   ErrorCode::kPermissionDenied, "-");

  API_ASSERT_OK_AND_ASSIGN(Json persons, registry_->List(me, Kind::kPerson, {}));
  EXPECT_EQ(persons["total"], 2);
  std::set<std::string> ids;
  for (const auto& p : persons["items"]) ids.insert(p["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"p1", "p2"}));
  ListParams lp;
  lp.search = "spo";
  API_ASSERT_OK_AND_ASSIGN(Json searched, registry_->List(me, Kind::kPerson, lp));
  EXPECT_EQ(searched["total"], 1);
  API_ASSERT_OK_AND_ASSIGN(Json vehicles, registry_->List(me, Kind::kVehicle, {}));
  ASSERT_EQ(vehicles["total"], 1);
  EXPECT_EQ(vehicles["items"][0]["id"], "v1");
  API_ASSERT_OK_AND_ASSIGN(Json rooms, registry_->List(me, Kind::kRoom, {}));
  ASSERT_EQ(rooms["total"], 1);
  API_ASSERT_OK_AND_ASSIGN(Json compounds, registry_->List(me, Kind::kCompound, {}));
  ASSERT_EQ(compounds["total"], 1);
  EXPECT_EQ(compounds["items"][0]["id"], "A");

  Principal homeless = Resolved({{"username", "x"}, {"role", "resident"}});
  API_ASSERT_OK_AND_ASSIGN(Json nothing, registry_->List(homeless, Kind::kPerson, {}));
  EXPECT_EQ(nothing["total"], 0);
}

TEST_F(RegistryServiceTest, ScopesExpandThroughTheRegionTree) {
  EXPECT_EQ(Resolved({{"username", "x"}, {"role", "operator"}, {"scopes", {"s1"}}}).compounds,
            (std::set<std::string>{"A", "B"}));
  EXPECT_EQ(Resolved({{"username", "x"}, {"role", "operator"}, {"scopes", {"c1"}}}).compounds,
            (std::set<std::string>{"A"}));
  EXPECT_EQ(
      Resolved({{"username", "x"}, {"role", "police"}, {"scopes", {"B", "unknown"}}}).compounds,
      (std::set<std::string>{"B"}));
  Principal admin = Resolved({{"username", "x"}, {"role", "admin"}});
  EXPECT_TRUE(admin.all_compounds);
  Principal op = Resolved({{"username", "x"}, {"role", "operator"}});
  EXPECT_FALSE(op.all_compounds);
  EXPECT_TRUE(op.compounds.empty());
  Principal scoped_admin = Resolved({{"username", "x"}, {"role", "admin"}, {"scopes", {"A"}}});
  EXPECT_FALSE(scoped_admin.all_compounds);

  // A compound created under a scoped region joins the scope at once.
  Principal grid = Resolved({{"username", "g"}, {"role", "grid_worker"}, {"scopes", {"c1"}}});
  API_ASSERT_OK(registry_->Create(grid, Kind::kCompound,
                                  {{"id", "A2"}, {"name", "A2"}, {"community_id", "c1"}}));
  API_ASSERT_ERROR(
      registry_->Create(grid, Kind::kCompound, {{"name", "B2"}, {"community_id", "c2"}}),
      ErrorCode::kPermissionDenied, "community_id");
  API_ASSERT_ERROR(
      registry_->Create(MakePrincipal(Role::kOperator, {"A"}), Kind::kCompound, {{"name", "X"}}),
      ErrorCode::kPermissionDenied, "community_id");
  EXPECT_EQ(Resolved({{"username", "g"}, {"role", "grid_worker"}, {"scopes", {"c1"}}}).compounds,
            (std::set<std::string>{"A", "A2"}));
}

TEST_F(RegistryServiceTest, DevicesGetBrokerAccountsAndHooks) {
  presence_.status["d1"] = {model::Presence::kOnline, 5, 6};
  API_ASSERT_OK_AND_ASSIGN(
      Json d, registry_->Create(admin_, Kind::kDevice,
                                {{"id", "d1"}, {"compound_id", "A"}, {"kind", "camera"}}));
  ASSERT_TRUE(d.contains("mqtt")) << d.dump();
  EXPECT_EQ(d["mqtt"]["username"], "d1");
  EXPECT_EQ(d["mqtt"]["client_id"], "d1");
  EXPECT_EQ(d["mqtt"]["topic_prefix"], "linli/v1/A/d1/");
  const std::string password = d["mqtt"]["password"];
  EXPECT_EQ(password.size(), 24u);
  EXPECT_EQ(creds_.accounts["d1"].password, password);
  EXPECT_EQ(creds_.accounts["d1"].compound_id, "A");
  EXPECT_EQ(d["presence"]["status"], "online");
  EXPECT_EQ(d["presence"]["last_seen_ms"], 6);
  EXPECT_EQ(hooks_.upserted, std::vector<std::string>{"d1"});

  API_ASSERT_OK_AND_ASSIGN(Json got, registry_->Get(admin_, Kind::kDevice, "d1"));
  EXPECT_FALSE(got.contains("mqtt"));  // shown once only

  API_ASSERT_OK_AND_ASSIGN(Json rotated, registry_->RotateDeviceCredentials(admin_, "d1"));
  EXPECT_NE(rotated["mqtt"]["password"], password);
  EXPECT_EQ(creds_.accounts["d1"].password, rotated["mqtt"]["password"]);
  API_ASSERT_ERROR(
      registry_->RotateDeviceCredentials(MakePrincipal(Role::kTechnician, {"A"}), "d1"),
      ErrorCode::kPermissionDenied, "-");
  API_ASSERT_ERROR(registry_->RotateDeviceCredentials(MakePrincipal(Role::kOperator, {"B"}), "d1"),
                   ErrorCode::kNotFound, "-");

  API_ASSERT_OK(registry_->Update(admin_, Kind::kDevice, "d1", {{"name", "gate cam"}}));
  EXPECT_EQ(hooks_.upserted.size(), 2u);

  creds_.fail = true;
  API_ASSERT_ERROR(registry_->Create(admin_, Kind::kDevice,
                                     {{"id", "d2"}, {"compound_id", "A"}, {"kind", "camera"}}),
                   ErrorCode::kUnavailable, "-");
  API_ASSERT_ERROR(store_->GetRecord(Kind::kDevice, "d2"), ErrorCode::kNotFound, "-");
  API_ASSERT_ERROR(registry_->Delete(admin_, Kind::kDevice, "d1"), ErrorCode::kUnavailable, "-");
  API_ASSERT_OK(store_->GetRecord(Kind::kDevice, "d1"));
  creds_.fail = false;

  API_ASSERT_OK(registry_->Delete(admin_, Kind::kDevice, "d1"));
  EXPECT_EQ(creds_.accounts.count("d1"), 0u);
  EXPECT_EQ(hooks_.deleted, std::vector<std::string>{"d1"});
}

TEST_F(RegistryServiceTest, UsersPasswordsAndAdminsAreProtected) {
  API_ASSERT_OK_AND_ASSIGN(Json u, registry_->Create(admin_, Kind::kUser,
                                                     {{"id", "root"},
                                                      {"username", "root"},
                                                      {"role", "admin"},
                                                      {"password", "correct horse"}}));
  EXPECT_FALSE(u.contains("password"));
  API_ASSERT_OK_AND_ASSIGN(model::Record raw, store_->GetRecord(Kind::kUser, "root"));
  const std::string hash = raw.fields["password"];
  EXPECT_TRUE(hash.starts_with("$argon2id$")) << hash;
  EXPECT_TRUE(VerifyPassword(hash, "correct horse"));
  API_ASSERT_ERROR(
      registry_->Create(admin_, Kind::kUser,
                        {{"username", "short"}, {"role", "admin"}, {"password", "short"}}),
      ErrorCode::kInvalidArgument, "password");
  API_ASSERT_ERROR(
      registry_->Create(admin_, Kind::kUser,
                        {{"username", "x"}, {"role", "operator"}, {"scopes", {"nowhere"}}}),
      ErrorCode::kInvalidArgument, "scopes");
  API_ASSERT_ERROR(
      registry_->Create(admin_, Kind::kUser, {{"username", "root"}, {"role", "operator"}}),
      ErrorCode::kConflict, "-");

  Principal root = MakePrincipal(Role::kAdmin, {}, true);
  root.user_id = "root";
  API_ASSERT_ERROR(registry_->Delete(root, Kind::kUser, "root"), ErrorCode::kFailedPrecondition,
                   "-");
  API_ASSERT_ERROR(registry_->Update(root, Kind::kUser, "root", {{"disabled", true}}),
                   ErrorCode::kFailedPrecondition, "disabled");
  // The only admin cannot be demoted by anyone.
  API_ASSERT_ERROR(registry_->Update(admin_, Kind::kUser, "root", {{"role", "operator"}}),
                   ErrorCode::kFailedPrecondition, "-");

  API_ASSERT_OK(registry_->Create(admin_, Kind::kUser,
                                  {{"id", "root2"}, {"username", "root2"}, {"role", "admin"}}));
  store::TokenRecord t{"hash1", "root", "session", clock_.NowMs(), clock_.NowMs() + 1000, ""};
  API_ASSERT_OK(store_->PutToken(t));
  API_ASSERT_OK(registry_->Update(admin_, Kind::kUser, "root", {{"display_name", "Root"}}));
  API_ASSERT_OK(store_->GetToken("hash1"));  // unrelated change keeps the session
  API_ASSERT_OK(registry_->Update(admin_, Kind::kUser, "root", {{"password", "new password!"}}));
  API_ASSERT_ERROR(store_->GetToken("hash1"), ErrorCode::kNotFound, "-");
  API_ASSERT_OK_AND_ASSIGN(model::Record after, store_->GetRecord(Kind::kUser, "root"));
  EXPECT_TRUE(VerifyPassword(after.fields["password"].get<std::string>(), "new password!"));

  API_ASSERT_OK(store_->PutToken(t));
  API_ASSERT_OK(
      registry_->Update(admin_, Kind::kUser, "root", {{"role", "operator"}}));  // root2 remains
  API_ASSERT_OK(registry_->Update(admin_, Kind::kUser, "root", {{"disabled", true}}));
  API_ASSERT_ERROR(store_->GetToken("hash1"), ErrorCode::kNotFound, "-");
  API_ASSERT_ERROR(registry_->Delete(admin_, Kind::kUser, "root2"), ErrorCode::kFailedPrecondition,
                   "-");
  API_ASSERT_OK(registry_->Delete(admin_, Kind::kUser, "root"));
}

TEST_F(RegistryServiceTest, DeleteRefusesReferencedRecords) {
  API_ASSERT_ERROR(registry_->Delete(admin_, Kind::kCompound, "A"), ErrorCode::kConflict, "-");
  API_ASSERT_OK(registry_->Delete(admin_, Kind::kRoom, "A-r2"));
  API_ASSERT_ERROR(registry_->Get(admin_, Kind::kRoom, "A-r2"), ErrorCode::kNotFound, "-");
}

TEST_F(RegistryServiceTest, BatchCreateIsAllOrNothingAndNamesTheRow) {
  std::vector<Json> rows = {
      {{"id", "d9"}, {"name", "D9"}, {"level", "district"}},
      {{"id", "s9"}, {"name", "S9"}, {"level", "street"}, {"parent_id", "d9"}}};
  API_ASSERT_OK_AND_ASSIGN(Json out, registry_->CreateBatch(admin_, Kind::kRegion, rows));
  EXPECT_EQ(out["created"], 2);
  API_ASSERT_OK(registry_->Get(admin_, Kind::kRegion, "s9"));

  std::vector<Json> bad = {{{"id", "pp1"}, {"compound_id", "A"}, {"name", "ok"}},
                           {{"id", "pp2"}, {"compound_id", "A"}, {"name", "bad"}, {"phone", "12"}}};
  API_ASSERT_ERROR(registry_->CreateBatch(admin_, Kind::kPerson, bad), ErrorCode::kInvalidArgument,
                   "rows[1].phone");
  API_ASSERT_ERROR(store_->GetRecord(Kind::kPerson, "pp1"), ErrorCode::kNotFound, "-");

  std::vector<Json> devices = {{{"id", "dv1"}, {"compound_id", "A"}, {"kind", "camera"}},
                               {{"id", "dv2"}, {"compound_id", "B"}, {"kind", "gas_sensor"}}};
  API_ASSERT_OK_AND_ASSIGN(Json devs, registry_->CreateBatch(admin_, Kind::kDevice, devices));
  ASSERT_EQ(devs["items"].size(), 2u);
  EXPECT_EQ(devs["items"][1]["mqtt"]["topic_prefix"], "linli/v1/B/dv2/");
  EXPECT_EQ(creds_.accounts.size(), 2u);
}

}  // namespace
}  // namespace linli::api
