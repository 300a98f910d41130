#include "api/access.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace linli::api {
namespace {

constexpr Role A = Role::kAdmin;
constexpr Role O = Role::kOperator;
constexpr Role T = Role::kTechnician;
constexpr Role G = Role::kGridWorker;
constexpr Role P = Role::kPolice;
constexpr Role R = Role::kResident;
constexpr Role I = Role::kIntegrator;

using Roles = std::set<Role>;
const Roles kNobody = {};
const Roles kEveryone = {A, O, T, G, P, R, I};

// The expected matrix, written out independently of access.cc.
struct Row {
  Resource resource;
  Roles read, create, update, del;
};

const std::vector<Row>& Matrix() {
  static const std::vector<Row> rows = {
      {Resource::kRegion, {A, O, T, G, P, I}, {A}, {A}, {A}},
      {Resource::kCompound, kEveryone, {A, O, G}, {A, O, G}, {A, O, G}},
      {Resource::kBuilding, {A, O, T, G, P, I}, {A, O, G}, {A, O, G}, {A, O, G}},
      {Resource::kUnit, {A, O, T, G, P, I}, {A, O, G}, {A, O, G}, {A, O, G}},
      {Resource::kRoom, kEveryone, {A, O, G}, {A, O, G}, {A, O, G}},
      {Resource::kPerson, {A, O, G, P, R}, {A, O, G}, {A, O, G}, {A, O, G}},
      {Resource::kVehicle, {A, O, G, P, R}, {A, O, G}, {A, O, G}, {A, O, G}},
      {Resource::kOrganisation, {A, O, G, P}, {A, O, G}, {A, O, G}, {A, O, G}},
      {Resource::kDevice, {A, O, T, P, I}, {A, O, I}, {A, O, I}, {A, O, I}},
      {Resource::kUser, {A}, {A}, {A}, {A}},
      {Resource::kDeviceData, {A, O, T, G, P, I}, kNobody, kNobody, kNobody},
      {Resource::kFeed, {A, O, T, G, P, I}, kNobody, kNobody, kNobody},
      {Resource::kDeadLetters, {A}, kNobody, kNobody, kNobody},
      {Resource::kAudit, {A}, kNobody, kNobody, kNobody},
      {Resource::kMetrics, {A}, kNobody, kNobody, kNobody},
      {Resource::kApiKeys, kNobody, {A}, kNobody, kNobody},
      {Resource::kDeviceCredentials, kNobody, kNobody, {A, O, I}, kNobody},
      {Resource::kContact, {A, O, P}, {A, O}, {A, O}, {A, O}},
      {Resource::kWebhook, {A}, {A}, {A}, {A}},
      {Resource::kMedia, {A, O, T, G, P, I}, {A, O, T, I}, kNobody, kNobody},
      {Resource::kAlarm, {A, O, T, G, P, I}, {A, O}, {A, O}, kNobody},
      {Resource::kWorkOrder, {A, O, T, G, R}, {A, O, G, R}, {A, O, T, G}, kNobody},
      {Resource::kRule, {A, O}, {A}, {A}, {A}},
      {Resource::kCommand, {A, O, T, I}, {A, O}, kNobody, kNobody},
      {Resource::kIncidentStats, {A, O, G, P}, kNobody, kNobody, kNobody},
  };
  return rows;
}

TEST(AccessTest, MatrixCoversEveryResource) {
  std::set<Resource> listed;
  for (const auto& row : Matrix()) listed.insert(row.resource);
  for (Resource r : kAllResources) EXPECT_TRUE(listed.count(r)) << ResourceName(r);
  EXPECT_EQ(listed.size(), std::size(kAllResources));
}

TEST(AccessTest, EveryRoleResourceAction) {
  int checked = 0;
  for (const auto& row : Matrix()) {
    const std::map<Action, const Roles*> by_action = {{Action::kRead, &row.read},
                                                      {Action::kCreate, &row.create},
                                                      {Action::kUpdate, &row.update},
                                                      {Action::kDelete, &row.del}};
    for (Role role : kAllRoles) {
      for (Action action : kAllActions) {
        bool expected = by_action.at(action)->count(role) > 0;
        EXPECT_EQ(Allowed(role, row.resource, action), expected)
            << RoleName(role) << " " << ActionName(action) << " " << ResourceName(row.resource);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(std::size(kAllResources) * std::size(kAllRoles) *
                                      std::size(kAllActions)));
}

TEST(AccessTest, EveryKindMapsToItsResource) {
  for (model::Kind k : model::AllKinds()) {
    EXPECT_EQ(ResourceName(ResourceOf(k)), model::KindName(k));
  }
}

TEST(AccessTest, PiiVisibilityPerRole) {
  const Roles id_full = {A, P, G};
  const Roles phone_full = {A, P, G, O};
  for (Role role : kAllRoles) {
    EXPECT_EQ(PiiVisibility(role, "id_number") == PiiView::kFull, id_full.count(role) > 0)
        << RoleName(role);
    EXPECT_EQ(PiiVisibility(role, "phone") == PiiView::kFull, phone_full.count(role) > 0)
        << RoleName(role);
    EXPECT_EQ(PiiVisibility(role, "contact_phone") == PiiView::kFull, phone_full.count(role) > 0)
        << RoleName(role);
    // Unknown personal fields follow the strictest rule.
    EXPECT_EQ(PiiVisibility(role, "face_template") == PiiView::kFull, id_full.count(role) > 0)
        << RoleName(role);
    EXPECT_EQ(PiiVisibility(role, "id_number", /*own_household=*/true), PiiView::kFull);
  }
}

TEST(AccessTest, Masking) {
  EXPECT_EQ(MaskPii("id_number", "11010119900307123X"), "110101********123X");
  EXPECT_EQ(MaskPii("phone", "13800138000"), "138****8000");
  EXPECT_EQ(MaskPii("contact_phone", "13800138000"), "138****8000");
  EXPECT_EQ(MaskPii("other", "张三"), "**");
  EXPECT_EQ(MaskPii("phone", ""), "");
}

TEST(AccessTest, ResidentHouseholdRule) {
  Principal me;
  me.role = Role::kResident;
  me.person_id = "p1";
  me.household_room_id = "r1";
  me.compounds = {"A"};
  const std::set<std::string> household = {"p1", "p2"};
  using model::Kind;
  EXPECT_TRUE(ResidentMaySee(me, Kind::kCompound, "A", "A", Json::object(), household));
  EXPECT_FALSE(ResidentMaySee(me, Kind::kCompound, "B", "B", Json::object(), household));
  EXPECT_TRUE(ResidentMaySee(me, Kind::kRoom, "r1", "A", Json::object(), household));
  EXPECT_FALSE(ResidentMaySee(me, Kind::kRoom, "r2", "A", Json::object(), household));
  EXPECT_TRUE(ResidentMaySee(me, Kind::kPerson, "p2", "A", Json{{"room_id", "r1"}}, household));
  EXPECT_FALSE(ResidentMaySee(me, Kind::kPerson, "p3", "A", Json{{"room_id", "r2"}}, household));
  EXPECT_TRUE(ResidentMaySee(me, Kind::kPerson, "p1", "A", Json::object(), household));
  EXPECT_TRUE(ResidentMaySee(me, Kind::kVehicle, "v1", "A", Json{{"owner_id", "p2"}}, household));
  EXPECT_FALSE(ResidentMaySee(me, Kind::kVehicle, "v2", "A", Json{{"owner_id", "p3"}}, household));
  EXPECT_FALSE(ResidentMaySee(me, Kind::kVehicle, "v3", "A", Json::object(), household));
  EXPECT_FALSE(ResidentMaySee(me, Kind::kBuilding, "b1", "A", Json::object(), household));
  EXPECT_FALSE(ResidentMaySee(me, Kind::kDevice, "d1", "A", Json::object(), household));
  Principal homeless = me;
  homeless.household_room_id.clear();
  EXPECT_FALSE(ResidentMaySee(homeless, Kind::kPerson, "p2", "A", Json{{"room_id", ""}}, {"p1"}));
}

TEST(AccessTest, RoleNamesRoundTrip) {
  for (Role r : kAllRoles) EXPECT_EQ(ParseRole(RoleName(r)), r);
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
}

TEST(AccessTest, PrincipalScope) {
  Principal p;
  p.compounds = {"A"};
  EXPECT_TRUE(p.InScope("A"));
  EXPECT_FALSE(p.InScope("B"));
  EXPECT_FALSE(p.InScope(""));
  ASSERT_TRUE(p.ScopeFilter().has_value());
  EXPECT_EQ(*p.ScopeFilter(), std::vector<std::string>{"A"});
  p.all_compounds = true;
  EXPECT_TRUE(p.InScope("B"));
  EXPECT_FALSE(p.ScopeFilter().has_value());
}

}  // namespace
}  // namespace linli::api
