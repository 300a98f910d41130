#include "rules/schedule.h"

#include <gtest/gtest.h>

namespace linli::rules {
namespace {

// 2026-12-02T00:30:00Z is Wednesday 08:30 in Beijing.
constexpr int64_t kWed0830Beijing = 1796171400000;

TEST(DurationTest, ParsesUnitsAndRefusesBareNumbers) {
  EXPECT_EQ(*ParseDuration("10s"), 10'000);
  EXPECT_EQ(*ParseDuration("5m"), 300'000);
  EXPECT_EQ(*ParseDuration("48h"), 48 * 3'600'000LL);
  EXPECT_EQ(*ParseDuration("1d"), 86'400'000);
  EXPECT_EQ(*ParseDuration("1h30m"), 5'400'000);
  EXPECT_EQ(*ParseDuration("250ms"), 250);
  for (const char* bad : {"", "10", "m", "10x", "-5s", "5 s", "400d"}) EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  EXPECT_EQ(FormatDuration(120'000), "2m");
}

TEST(LocalTimeTest, ConvertsWithAFixedOffset) {
  LocalTime t = ToLocal(kWed0830Beijing, 8 * 60);
  EXPECT_EQ(t.year, 2026);
  EXPECT_EQ(t.month, 12);
  EXPECT_EQ(t.day, 2);
  EXPECT_EQ(t.hour, 8);
  EXPECT_EQ(t.minute, 30);
  EXPECT_EQ(t.weekday, 3);
  LocalTime utc = ToLocal(kWed0830Beijing, 0);
  EXPECT_EQ(utc.hour, 0);
  EXPECT_EQ(ToLocal(0, 0).weekday, 4);  // 1970-01-01 was a Thursday
  EXPECT_EQ(*ParseUtcOffset("+08:00"), 480);
  EXPECT_EQ(*ParseUtcOffset("-05:30"), -330);
  EXPECT_FALSE(ParseUtcOffset("8").has_value());
}

TEST(CronTest, MatchesFieldsRangesListsAndSteps) {
  LocalTime t = ToLocal(kWed0830Beijing, 480);
  EXPECT_TRUE(CronSchedule::Parse("30 8 * * *")->Matches(t));
  EXPECT_TRUE(CronSchedule::Parse("*/15 8-9 * * 1-5")->Matches(t));
  EXPECT_FALSE(CronSchedule::Parse("30 8 * * 0,6")->Matches(t));
  EXPECT_TRUE(CronSchedule::Parse("30 8 2 12 *")->Matches(t));
  // Both day fields restricted: either matches (Vixie cron).
  EXPECT_TRUE(CronSchedule::Parse("30 8 1 * 3")->Matches(t));
  EXPECT_TRUE(CronSchedule::Parse("30 8 * * 7")->Matches(ToLocal(kWed0830Beijing + 4 * 86'400'000LL, 480)));
  for (const char* bad : {"* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "a * * * *", "*/0 * * * *", "5-1 * * * *"})
    EXPECT_FALSE(CronSchedule::Parse(bad).has_value()) << bad;
}

TEST(TimeOfDayTest, HandlesWindowsAcrossMidnight) {
  auto night = TimeOfDayWindow::Parse("22:00-06:00");
  ASSERT_TRUE(night.has_value());
  LocalTime t;
  t.hour = 23;
  EXPECT_TRUE(night->Contains(t));
  t.hour = 5;
  t.minute = 59;
  EXPECT_TRUE(night->Contains(t));
  t.hour = 6;
  t.minute = 0;
  EXPECT_FALSE(night->Contains(t));
  EXPECT_TRUE(TimeOfDayWindow::Parse("08:00-18:00")->Contains(ToLocal(kWed0830Beijing, 480)));
  for (const char* bad : {"8-18", "08:00", "25:00-01:00", "08:00-08:00"}) EXPECT_FALSE(TimeOfDayWindow::Parse(bad).has_value()) << bad;
}

}  // namespace
}  // namespace linli::rules
