#include "identity.h"

#include <gtest/gtest.h>

#include <set>

#include "common/ids.h"
#include "model/registry.h"

namespace linli::sim {
namespace {

TEST(RngTest, SameSeedSameSequenceDifferentSeedDifferent) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs = differs || x != c.Next();
  }
  EXPECT_TRUE(differs);
}

TEST(RngTest, UniformStaysInRangeAndHitsBothEnds) {
  Rng r(7);
  bool lo = false, hi = false;
  for (int i = 0; i < 10000; ++i) {
    int64_t v = r.Uniform(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    lo = lo || v == -3;
    hi = hi || v == 3;
  }
  EXPECT_TRUE(lo && hi);
  EXPECT_EQ(r.Uniform(5, 5), 5);
}

TEST(RngTest, ForkAndSeedForAreStableAndIndependent) {
  Rng base(99);
  EXPECT_EQ(base.Fork(1).Next(), Rng(99).Fork(1).Next());
  EXPECT_NE(base.Fork(1).Next(), base.Fork(2).Next());
  EXPECT_EQ(SeedFor(1, "sim-c1"), SeedFor(1, "sim-c1"));
  EXPECT_NE(SeedFor(1, "sim-c1"), SeedFor(1, "sim-c2"));
  EXPECT_NE(SeedFor(1, "sim-c1"), SeedFor(2, "sim-c1"));
}

TEST(IdNumberTest, KnownCheckCharacters) {
  // Published examples of GB 11643-1999 numbers.
  EXPECT_EQ(IdNumberCheckChar("11010519491231002"), 'X');
  EXPECT_EQ(IdNumberCheckChar("44052418800101001"), '4');
  EXPECT_EQ(IdNumberCheckChar("1101051949123100"), '\0');   // 16 digits
  EXPECT_EQ(IdNumberCheckChar("1101051949123100A"), '\0');  // not a digit
  EXPECT_TRUE(model::IsValidIdNumber("11010519491231002X"));
  EXPECT_EQ(MakeIdNumber("110105", {1949, 12, 31}, 2), "11010519491231002X");
}

TEST(IdNumberTest, GeneratedNumbersPassTheModelValidatorAndEncodeBirthAndGender) {
  Rng rng(2024);
  const CivilDate today{2025, 6, 1};
  for (int i = 0; i < 2000; ++i) {
    const bool male = rng.Chance(0.5);
    const CivilDate birth = RandomBirthDate(rng, 0, 100, today);
    const auto& area = AreaCodes()[rng.Index(AreaCodes().size())];
    const std::string id = RandomIdNumber(rng, area.code, birth, male);
    ASSERT_TRUE(model::IsValidIdNumber(id)) << id;
    EXPECT_EQ(id.substr(0, 6), area.code);
    EXPECT_EQ(id.substr(6, 8), FormatDate(birth).erase(4, 1).erase(6, 1));
    EXPECT_EQ((id[16] - '0') % 2 == 1, male) << id;
    // A corrupted check character must be rejected by the validator.
    std::string wrong = id;
    wrong[17] = wrong[17] == '0' ? '1' : '0';
    EXPECT_FALSE(model::IsValidIdNumber(wrong));
  }
}

TEST(BirthDateTest, AgesAreWithinTheRequestedRangeAndDatesExist) {
  Rng rng(5);
  const CivilDate today{2024, 2, 29};
  for (int i = 0; i < 5000; ++i) {
    const CivilDate b = RandomBirthDate(rng, 70, 94, today);
    const int age = AgeOn(b, today);
    ASSERT_GE(age, 70) << FormatDate(b);
    ASSERT_LE(age, 94) << FormatDate(b);
    ASSERT_GE(b.day, 1);
    ASSERT_LE(b.day, DaysInMonth(b.year, b.month)) << FormatDate(b);
  }
}

TEST(CalendarTest, DateFromUnixMs) {
  EXPECT_EQ(DateFromUnixMs(0), (CivilDate{1970, 1, 1}));
  EXPECT_EQ(DateFromUnixMs(951782400000), (CivilDate{2000, 2, 29}));
  EXPECT_EQ(DateFromUnixMs(-1), (CivilDate{1969, 12, 31}));
  EXPECT_EQ(DaysInMonth(1900, 2), 28);
  EXPECT_EQ(DaysInMonth(2000, 2), 29);
}

TEST(PlateTest, GeneratedPlatesAreValidAndVaried) {
  Rng rng(11);
  std::set<std::string> seen;
  int new_energy = 0;
  for (const auto& area : AreaCodes()) {
    for (int i = 0; i < 300; ++i) {
      const std::string plate = RandomPlate(rng, area.province);
      ASSERT_TRUE(model::IsValidPlate(plate)) << plate;
      EXPECT_EQ(plate.find('I'), std::string::npos);
      EXPECT_EQ(plate.find('O'), std::string::npos);
      if (plate.size() == area.province.size() + 7) ++new_energy;
      seen.insert(plate);
    }
  }
  EXPECT_GT(seen.size(), 4400u);  // 4500 drawn; collisions are rare
  EXPECT_GT(new_energy, 500);
  EXPECT_LT(new_energy, 1300);
}

TEST(PhoneAndNameTest, MobilesAreValidNamesAreHan) {
  Rng rng(3);
  for (int i = 0; i < 1000; ++i) {
    const std::string phone = RandomMobile(rng);
    ASSERT_TRUE(model::IsValidPhone(phone)) << phone;
    const std::string name = RandomName(rng, i % 2 == 0);
    ASSERT_GE(name.size(), 6u);  // at least two 3-byte characters
    ASSERT_LE(name.size(), 12u);
    ASSERT_EQ(name.size() % 3, 0u) << name;
  }
}

TEST(UuidTest, SeededUuidsAreValidV4AndReproducible) {
  Rng a(1), b(1);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string u = RandomUuid(a);
    ASSERT_TRUE(IsUuid(u)) << u;
    EXPECT_EQ(u[14], '4');
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos);
    EXPECT_EQ(u, RandomUuid(b));
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(CardTest, TenDigits) {
  Rng rng(8);
  for (int i = 0; i < 100; ++i) {
    const std::string c = RandomCardNo(rng);
    ASSERT_EQ(c.size(), 10u);
    ASSERT_NE(c[0], '0');
    for (char ch : c) ASSERT_TRUE(ch >= '0' && ch <= '9');
  }
}

}  // namespace
}  // namespace linli::sim
