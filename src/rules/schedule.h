// Time in the rule language: durations ("10s", "5m", "2h", "48h", "1d", "1h30m"), cron
// schedules ("0 8 * * 1-5") and time-of-day windows ("22:00-06:00"), all evaluated in the
// hosting centre's local time given as a fixed UTC offset (China has no daylight saving time).
// Thread-safety: immutable values.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace linli::rules {

// Milliseconds of "90s", "10m", "2h", "1d", "1h30m", "500ms"; InvalidArgument otherwise.
// A bare number is refused (units are required) so that "10" is never misread.
Result<int64_t> ParseDuration(std::string_view text);
std::string FormatDuration(int64_t ms);

// Broken-down local time.
struct LocalTime {
  int year = 1970, month = 1, day = 1;  // month 1..12, day 1..31
  int hour = 0, minute = 0, second = 0;
  int weekday = 4;                       // 0 = Sunday ... 6 = Saturday
  int minute_of_day() const { return hour * 60 + minute; }
};
LocalTime ToLocal(int64_t utc_ms, int utc_offset_minutes);
// "+08:00", "-05:30", "Z" → minutes.
Result<int> ParseUtcOffset(std::string_view text);

// A five-field cron expression: minute hour day-of-month month day-of-week, each "*", a
// number, a range "a-b", a list "a,b,c" or a step "*/n" / "a-b/n". Day-of-week 0 or 7 is Sunday.
// As in Vixie cron, when both day fields are restricted a day matches if either does.
class CronSchedule {
 public:
  static Result<CronSchedule> Parse(std::string_view text);
  bool Matches(const LocalTime& t) const;
  const std::string& text() const { return text_; }

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;
  std::bitset<13> months_;
  std::bitset<7> weekdays_;
  bool day_restricted_ = false, weekday_restricted_ = false;
  std::string text_;
};

// "HH:MM-HH:MM" in local time; the window may wrap midnight ("22:00-06:00"). The end is
// exclusive.
class TimeOfDayWindow {
 public:
  static Result<TimeOfDayWindow> Parse(std::string_view text);
  bool Contains(const LocalTime& t) const;
  const std::string& text() const { return text_; }

 private:
  int from_ = 0, to_ = 0;  // minutes of day
  std::string text_;
};

}  // namespace linli::rules
