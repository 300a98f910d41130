#include "model/registry.h"

#include <gtest/gtest.h>

namespace linli::model {
namespace {

TEST(ValidatorsTest, IdNumbers) {
  EXPECT_TRUE(IsValidIdNumber("11010519491231002X"));
  EXPECT_TRUE(IsValidIdNumber("11010519491231002x"));
  EXPECT_TRUE(IsValidIdNumber("110101199003074514"));
  EXPECT_FALSE(IsValidIdNumber("110101199003074515"));  // checksum
  EXPECT_FALSE(IsValidIdNumber("11010119900307451"));   // length
  EXPECT_FALSE(IsValidIdNumber("110101199013074514"));  // month 13 (checksum aside)
  EXPECT_FALSE(IsValidIdNumber("A10101199003074514"));
}

TEST(ValidatorsTest, PhonesPlatesCreditCodes) {
  EXPECT_TRUE(IsValidPhone("13800138000"));
  EXPECT_TRUE(IsValidPhone("010-62345678"));
  EXPECT_TRUE(IsValidPhone("0755-1234567-8"));
  EXPECT_FALSE(IsValidPhone("12800138000"));
  EXPECT_FALSE(IsValidPhone("1380013800"));
  EXPECT_TRUE(IsValidPlate("京A12345"));
  EXPECT_TRUE(IsValidPlate("粤BD12345"));  // new energy, 8 characters
  EXPECT_TRUE(IsValidPlate("沪A1234学"));
  EXPECT_FALSE(IsValidPlate("京a12345"));
  EXPECT_FALSE(IsValidPlate("XA12345"));
  EXPECT_FALSE(IsValidPlate("京A1234"));
  EXPECT_FALSE(IsValidPlate("京AO2345"));
  EXPECT_TRUE(IsValidCreditCode("91350100M000100Y43"));
  EXPECT_FALSE(IsValidCreditCode("91350100M000100Y44"));
  EXPECT_FALSE(IsValidCreditCode("91350100M000100Y4"));
}

TEST(MaskTest, MasksPersonalData) {
  EXPECT_EQ(MaskIdNumber("110101199003074514"), "110101********4514");
  EXPECT_EQ(MaskPhone("13800138000"), "138****8000");
  EXPECT_EQ(MaskName("张三"), "张*");
  EXPECT_EQ(MaskName("欧阳娜娜"), "欧***");
  EXPECT_EQ(MaskName(""), "");
}

TEST(SpecTest, EveryKindHasACollectionAndParentsExist) {
  for (Kind k : AllKinds()) {
    const KindSpec& s = Spec(k);
    EXPECT_EQ(KindFromCollection(s.collection), k);
    if (!s.parent_field.empty()) {
      const FieldSpec* parent = s.Field(s.parent_field);
      ASSERT_NE(parent, nullptr) << s.name;
      EXPECT_EQ(parent->type, FieldType::kRef) << s.name;
    }
    for (const auto& f : s.fields) {
      if (f.type == FieldType::kRef) {
        EXPECT_TRUE(f.ref_kind.has_value()) << s.name << "." << f.name;
      }
    }
  }
  EXPECT_FALSE(KindFromCollection("nope"));
}

TEST(ValidateFieldsTest, CreateRequiresFieldsAndNamesTheCulprit) {
  auto ok = ValidateFields(Kind::kPerson, {{"compound_id", "c1"}, {"name", "  李四 "}, {"id_number", "110101199003074514"},
                                           {"phone", "13800138000"}, {"relation", "owner"}, {"tags", {"elderly_living_alone"}}},
                           false);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ((*ok)["name"], "李四");
  struct Case {
    Json body;
    const char* field;
  } cases[] = {
      {{{"name", "李四"}}, "compound_id"},
      {{{"compound_id", "c1"}, {"name", "李四"}, {"id_number", "110101199003074515"}}, "id_number"},
      {{{"compound_id", "c1"}, {"name", "李四"}, {"phone", "123"}}, "phone"},
      {{{"compound_id", "c1"}, {"name", "李四"}, {"relation", "boss"}}, "relation"},
      {{{"compound_id", "c1"}, {"name", 5}}, "name"},
      {{{"compound_id", "c1"}, {"name", "李四"}, {"salary", 1}}, "salary"},
      {{{"compound_id", "c1"}, {"name", std::string(300, 'x')}}, "name"},
      {{{"compound_id", "c1"}, {"name", "a\x01"}}, "name"},
      {{{"compound_id", "c1"}, {"name", "\xff\xfe"}}, "name"},
      {{{"compound_id", "bad id!"}, {"name", "李四"}}, "compound_id"},
      {{{"compound_id", "c1"}, {"name", "李四"}, {"tags", {1, 2}}}, "tags"},
      {{{"id", "-x"}, {"compound_id", "c1"}, {"name", "李四"}}, "id"},
  };
  for (const auto& c : cases) {
    auto r = ValidateFields(Kind::kPerson, c.body, false);
    ASSERT_FALSE(r) << c.body.dump();
    EXPECT_EQ(r.error().field(), c.field) << c.body.dump() << " → " << r.error().ToString();
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(ValidateFields(Kind::kPerson, Json::array(), false));
}

TEST(ValidateFieldsTest, PatchChecksOnlyGivenFieldsAndRefusesImmutable) {
  EXPECT_TRUE(ValidateFields(Kind::kRoom, {{"area_m2", 89.5}}, true));
  auto imm = ValidateFields(Kind::kRoom, {{"unit_id", "u2"}}, true);
  ASSERT_FALSE(imm);
  EXPECT_EQ(imm.error().field(), "unit_id");
  auto id = ValidateFields(Kind::kRoom, {{"id", "r2"}}, true);
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().field(), "id");
  auto cleared = ValidateFields(Kind::kRoom, {{"area_m2", nullptr}}, true);
  ASSERT_TRUE(cleared);
  EXPECT_TRUE((*cleared)["area_m2"].is_null());
  EXPECT_FALSE(ValidateFields(Kind::kRoom, {{"number", nullptr}}, true));  // required
}

TEST(ValidateFieldsTest, DevicesAndIntRanges) {
  EXPECT_TRUE(ValidateFields(Kind::kDevice, {{"compound_id", "c1"}, {"kind", "gas_sensor"}}, false));
  auto k = ValidateFields(Kind::kDevice, {{"compound_id", "c1"}, {"kind", "toaster"}}, false);
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().field(), "kind");
  auto hb = ValidateFields(Kind::kDevice, {{"compound_id", "c1"}, {"kind", "gas_sensor"}, {"heartbeat_timeout_s", 1}}, false);
  ASSERT_FALSE(hb);
  EXPECT_EQ(hb.error().field(), "heartbeat_timeout_s");
  EXPECT_EQ(DefaultHeartbeatTimeoutS("door_controller"), 120);
  EXPECT_EQ(DefaultHeartbeatTimeoutS("unknown-kind"), 600);
}

TEST(ValidateIdTest, Ids) {
  EXPECT_TRUE(ValidateId("c1"));
  EXPECT_TRUE(ValidateId("6f1c2a4e-0b7a-4c55-9c8e-2f1d3b4a5c6d"));
  EXPECT_FALSE(ValidateId(""));
  EXPECT_FALSE(ValidateId("a/b"));
  EXPECT_FALSE(ValidateId("a+b"));
  EXPECT_FALSE(ValidateId("_a"));
  EXPECT_FALSE(ValidateId(std::string(65, 'a')));
}

}  // namespace
}  // namespace linli::model
