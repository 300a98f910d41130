#include "rules/schedule.h"

#include <charconv>
#include <vector>

namespace linli::rules {
namespace {

bool ParseInt(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Days since 1970-01-01 → civil date (Howard Hinnant's algorithm).
void CivilFromDays(int64_t z, int* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = static_cast<int>(yoe + era * 400 + (*m <= 2 ? 1 : 0));
}

template <size_t N>
Result<bool> ParseField(std::string_view field, int lo, int hi, std::bitset<N>* bits, const char* name) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("schedule", std::string(name) + " field '" + std::string(field) + "': " + why);
  };
  bool restricted = field != "*";
  size_t start = 0;
  while (start <= field.size()) {
    size_t comma = field.find(',', start);
    std::string_view item = field.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) return bad("empty item");
    int step = 1;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      if (!ParseInt(item.substr(slash + 1), &step) || step < 1) return bad("bad step");
      item = item.substr(0, slash);
    }
    int a = lo, b = hi;
    if (item != "*") {
      size_t dash = item.find('-');
      if (dash == std::string_view::npos) {
        if (!ParseInt(item, &a)) return bad("not a number");
        b = step > 1 ? hi : a;
      } else if (!ParseInt(item.substr(0, dash), &a) || !ParseInt(item.substr(dash + 1), &b)) {
        return bad("bad range");
      }
    }
    if (a < lo || b > hi || a > b) return bad("out of range " + std::to_string(lo) + "-" + std::to_string(hi));
    for (int v = a; v <= b; v += step) bits->set(static_cast<size_t>(v));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return restricted;
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return InvalidArgument("duration", "'" + std::string(text.substr(0, 40)) +
                                           "' is not a duration like 30s, 10m, 2h, 1d or 1h30m");
  };
  if (text.empty() || text.size() > 40) return bad();
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start) return bad();
    int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, n);
    if (ec != std::errc() || n > 10'000'000) return bad();
    int64_t unit = 0;
    if (text.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else if (i < text.size()) {
      switch (text[i]) {
        case 's': unit = 1000; break;
        case 'm': unit = 60'000; break;
        case 'h': unit = 3'600'000; break;
        case 'd': unit = 86'400'000; break;
        case 'w': unit = 7 * 86'400'000LL; break;
        default: return bad();
      }
      ++i;
    } else {
      return bad();
    }
    total += n * unit;
  }
  if (total > 366LL * 86'400'000) return InvalidArgument("duration", "longer than a year");
  return total;
}

std::string FormatDuration(int64_t ms) {
  if (ms % 86'400'000 == 0 && ms > 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms % 3'600'000 == 0 && ms > 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms > 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

LocalTime ToLocal(int64_t utc_ms, int utc_offset_minutes) {
  int64_t local_s = (utc_ms >= 0 ? utc_ms / 1000 : (utc_ms - 999) / 1000) + int64_t{utc_offset_minutes} * 60;
  int64_t days = local_s >= 0 ? local_s / 86400 : (local_s - 86399) / 86400;
  int64_t secs = local_s - days * 86400;
  LocalTime t;
  CivilFromDays(days, &t.year, &t.month, &t.day);
  t.hour = static_cast<int>(secs / 3600);
  t.minute = static_cast<int>(secs / 60 % 60);
  t.second = static_cast<int>(secs % 60);
  t.weekday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  return t;
}

Result<int> ParseUtcOffset(std::string_view text) {
  if (text == "Z" || text == "UTC") return 0;
  auto bad = InvalidArgument("timezone", "'" + std::string(text.substr(0, 20)) + "' is not an offset like +08:00");
  if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || text[3] != ':') return bad;
  int h = 0, m = 0;
  if (!ParseInt(text.substr(1, 2), &h) || !ParseInt(text.substr(4, 2), &m) || h > 14 || m > 59) return bad;
  int v = h * 60 + m;
  return text[0] == '-' ? -v : v;
}

Result<CronSchedule> CronSchedule::Parse(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  if (fields.size() != 5)
    return InvalidArgument("schedule", "'" + std::string(text.substr(0, 60)) +
                                           "' must have 5 fields: minute hour day month weekday");
  CronSchedule c;
  c.text_ = std::string(text);
  LINLI_RETURN_IF_ERROR(ParseField(fields[0], 0, 59, &c.minutes_, "minute"));
  LINLI_RETURN_IF_ERROR(ParseField(fields[1], 0, 23, &c.hours_, "hour"));
  LINLI_ASSIGN_OR_RETURN(c.day_restricted_, ParseField(fields[2], 1, 31, &c.days_, "day-of-month"));
  LINLI_RETURN_IF_ERROR(ParseField(fields[3], 1, 12, &c.months_, "month"));
  std::bitset<8> wd;
  LINLI_ASSIGN_OR_RETURN(c.weekday_restricted_, ParseField(fields[4], 0, 7, &wd, "day-of-week"));
  for (size_t d = 0; d < 7; ++d) c.weekdays_[d] = wd[d];
  if (wd[7]) c.weekdays_[0] = true;
  return c;
}

bool CronSchedule::Matches(const LocalTime& t) const {
  if (!minutes_[static_cast<size_t>(t.minute)] || !hours_[static_cast<size_t>(t.hour)] ||
      !months_[static_cast<size_t>(t.month)])
    return false;
  const bool dom = days_[static_cast<size_t>(t.day)];
  const bool dow = weekdays_[static_cast<size_t>(t.weekday)];
  if (day_restricted_ && weekday_restricted_) return dom || dow;
  return dom && dow;
}

Result<TimeOfDayWindow> TimeOfDayWindow::Parse(std::string_view text) {
  auto bad = InvalidArgument("time_of_day", "'" + std::string(text.substr(0, 40)) + "' is not a window like 22:00-06:00");
  auto hm = [](std::string_view s, int* out) {
    if (s.size() != 5 || s[2] != ':') return false;
    int h = 0, m = 0;
    if (!ParseInt(s.substr(0, 2), &h) || !ParseInt(s.substr(3, 2), &m) || h > 24 || m > 59 || (h == 24 && m != 0))
      return false;
    *out = h * 60 + m;
    return true;
  };
  size_t dash = text.find('-');
  if (dash == std::string_view::npos) return bad;
  TimeOfDayWindow w;
  w.text_ = std::string(text);
  if (!hm(text.substr(0, dash), &w.from_) || !hm(text.substr(dash + 1), &w.to_) || w.from_ == w.to_) return bad;
  return w;
}

bool TimeOfDayWindow::Contains(const LocalTime& t) const {
  int m = t.minute_of_day();
  if (from_ < to_) return m >= from_ && m < to_;
  return m >= from_ || m < to_;
}

}  // namespace linli::rules
