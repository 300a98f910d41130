#include "identity.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace linli::sim {
namespace {

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Days since 1970-01-01 → civil date (H. Hinnant's algorithm).
CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int>(y + (m <= 2)), static_cast<int>(m), static_cast<int>(d)};
}

int64_t DaysFromCivil(const CivilDate& c) {
  int64_t y = c.year - (c.month <= 2);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (c.month + (c.month > 2 ? -3 : 9)) + 2) / 5 + c.day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

constexpr std::array<AreaCode, 15> kAreaCodes = {{
    {"110101", "北京市东城区", "京"}, {"110105", "北京市朝阳区", "京"},
    {"110108", "北京市海淀区", "京"}, {"120101", "天津市和平区", "津"},
    {"310104", "上海市徐汇区", "沪"}, {"310115", "上海市浦东新区", "沪"},
    {"320102", "南京市玄武区", "苏"}, {"330106", "杭州市西湖区", "浙"},
    {"370102", "济南市历下区", "鲁"}, {"420106", "武汉市武昌区", "鄂"},
    {"440106", "广州市天河区", "粤"}, {"440305", "深圳市南山区", "粤"},
    {"510104", "成都市锦江区", "川"}, {"610113", "西安市雁塔区", "陕"},
    {"500103", "重庆市渝中区", "渝"},
}};

// Common surnames first, so that weighting by index gives a realistic mix.
constexpr std::array<std::string_view, 40> kSurnames = {
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱",
    "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯",
    "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于", "蒋", "欧阳"};
constexpr std::array<std::string_view, 30> kMaleGiven = {
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华",
    "飞", "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "建国", "志强", "文博", "子轩", "浩然", "国华"};
constexpr std::array<std::string_view, 30> kFemaleGiven = {
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀英", "玲", "桂英", "丹", "萍", "红", "琳",
    "雪", "慧", "颖", "倩", "婷", "欣怡", "梓涵", "雨桐", "淑珍", "秀兰", "玉兰", "佳怡", "思琪", "晓燕", "美玲"};
constexpr std::array<std::string_view, 20> kMobilePrefixes = {
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151",
    "152", "158", "159", "166", "177", "180", "186", "187", "188", "199"};
// Plate letters and characters: I and O are never used.
constexpr std::string_view kPlateLetters = "ABCDEFGHJKLMNPQRSTUVWXYZ";
constexpr std::string_view kDigits = "0123456789";

}  // namespace

int DaysInMonth(int year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  return month == 2 && IsLeap(year) ? 29 : kDays[month - 1];
}

CivilDate DateFromUnixMs(int64_t ms) {
  int64_t days = ms / 86'400'000;
  if (ms < 0 && ms % 86'400'000 != 0) --days;
  return CivilFromDays(days);
}

std::string FormatDate(const CivilDate& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

int AgeOn(const CivilDate& birth, const CivilDate& today) {
  int age = today.year - birth.year;
  if (today.month < birth.month || (today.month == birth.month && today.day < birth.day)) --age;
  return age;
}

CivilDate RandomBirthDate(Rng& rng, int min_age, int max_age, const CivilDate& today) {
  // Born after (today - (max_age+1) years) and on or before (today - min_age years).
  CivilDate latest{today.year - min_age, today.month, std::min(today.day, DaysInMonth(today.year - min_age, today.month))};
  CivilDate earliest{today.year - max_age - 1, today.month,
                     std::min(today.day, DaysInMonth(today.year - max_age - 1, today.month))};
  const int64_t lo = DaysFromCivil(earliest) + 1;
  const int64_t hi = DaysFromCivil(latest);
  return CivilFromDays(rng.Uniform(lo, std::max(lo, hi)));
}

char IdNumberCheckChar(std::string_view first17) {
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kCheck[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
  if (first17.size() != 17) return '\0';
  int sum = 0;
  for (int i = 0; i < 17; ++i) {
    if (first17[i] < '0' || first17[i] > '9') return '\0';
    sum += (first17[i] - '0') * kWeights[i];
  }
  return kCheck[sum % 11];
}

std::string MakeIdNumber(std::string_view area_code, const CivilDate& birth, int sequence) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6s%04d%02d%02d%03d", std::string(area_code).c_str(), birth.year,
                birth.month, birth.day, sequence % 1000);
  std::string s(buf);
  s.push_back(IdNumberCheckChar(s));
  return s;
}

std::string RandomIdNumber(Rng& rng, std::string_view area_code, const CivilDate& birth, bool male) {
  // The 17th digit is odd for men and even for women.
  int seq = static_cast<int>(rng.Uniform(0, 499)) * 2 + (male ? 1 : 0);
  return MakeIdNumber(area_code, birth, seq);
}

std::span<const AreaCode> AreaCodes() { return kAreaCodes; }

std::string RandomName(Rng& rng, bool male) {
  // Squaring the uniform variate favours the common surnames at the front of the list.
  const double u = rng.Real();
  std::string name(kSurnames[static_cast<size_t>(u * u * kSurnames.size())]);
  const auto& given = male ? kMaleGiven : kFemaleGiven;
  const std::string_view first = given[rng.Index(given.size())];
  name += first;
  if (first.size() == 3 && rng.Chance(0.3)) {  // one character so far: sometimes add a second
    const std::string_view second = given[rng.Index(given.size())];
    if (second.size() == 3) name += second;
  }
  return name;
}

std::string RandomMobile(Rng& rng) {
  std::string s(kMobilePrefixes[rng.Index(kMobilePrefixes.size())]);
  for (int i = 0; i < 8; ++i) s.push_back(kDigits[rng.Index(10)]);
  return s;
}

std::string RandomPlate(Rng& rng, std::string_view province, double new_energy) {
  std::string s(province);
  s.push_back(kPlateLetters[rng.Index(8)]);  // city letters A-H are the common ones
  if (rng.Chance(new_energy)) {
    s.push_back(rng.Chance(0.5) ? 'D' : 'F');
    for (int i = 0; i < 5; ++i) s.push_back(kDigits[rng.Index(10)]);
    return s;
  }
  int letters = 0;
  for (int i = 0; i < 5; ++i) {
    if (letters < 2 && rng.Chance(0.2)) {
      s.push_back(kPlateLetters[rng.Index(kPlateLetters.size())]);
      ++letters;
    } else {
      s.push_back(kDigits[rng.Index(10)]);
    }
  }
  return s;
}

std::string RandomCardNo(Rng& rng) {
  std::string s;
  s.push_back(kDigits[1 + rng.Index(9)]);
  for (int i = 0; i < 9; ++i) s.push_back(kDigits[rng.Index(10)]);
  return s;
}

std::string RandomUuid(Rng& rng) {
  uint8_t b[16];
  uint64_t a = rng.Next(), c = rng.Next();
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(a >> (8 * i));
    b[8 + i] = static_cast<uint8_t>(c >> (8 * i));
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[b[i] >> 4]);
    s.push_back(kHex[b[i] & 0xf]);
  }
  return s;
}

}  // namespace linli::sim
