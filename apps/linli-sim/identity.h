// Generators of realistic personal identifiers for simulated residents, vehicles and devices:
// names, PRC resident ID numbers (GB 11643-1999, with checksum and a plausible birth date),
// mobile numbers, licence plates, access-card numbers and UUIDs. Everything is derived from an
// Rng so that a seed reproduces the same people.
// Thread-safety: pure functions; the Rng passed in must not be shared between threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "rng.h"

namespace linli::sim {

// A proleptic Gregorian calendar date.
struct CivilDate {
  int year = 1970;
  int month = 1;  // 1-12
  int day = 1;    // 1-31
  bool operator==(const CivilDate&) const = default;
};

int DaysInMonth(int year, int month);
// The UTC date of a Unix time in milliseconds (Asia/Shanghai is within a day; good enough here).
CivilDate DateFromUnixMs(int64_t ms);
// "YYYY-MM-DD".
std::string FormatDate(const CivilDate& d);
// Completed years between `birth` and `today`.
int AgeOn(const CivilDate& birth, const CivilDate& today);
// A uniformly random birth date for someone aged min_age..max_age (inclusive) on `today`.
CivilDate RandomBirthDate(Rng& rng, int min_age, int max_age, const CivilDate& today);

// The GB 11643-1999 check character for the first 17 digits ('0'-'9' or 'X').
// Returns '\0' if `first17` is not 17 ASCII digits.
char IdNumberCheckChar(std::string_view first17);
// An 18-character ID number: 6-digit area code, birth date, 3-digit sequence (odd = male), check.
std::string MakeIdNumber(std::string_view area_code, const CivilDate& birth, int sequence);
// A random valid ID number for a person born on `birth`; `area_code` from AreaCodes().
std::string RandomIdNumber(Rng& rng, std::string_view area_code, const CivilDate& birth, bool male);

struct AreaCode {
  std::string_view code;      // "110105"
  std::string_view name;      // "北京市朝阳区"
  std::string_view province;  // plate prefix "京"
};
std::span<const AreaCode> AreaCodes();

// A Han name: surname (weighted towards common ones) plus one or two given-name characters.
std::string RandomName(Rng& rng, bool male);
// A mainland mobile number (1[3-9]xxxxxxxxx) from real carrier prefixes.
std::string RandomMobile(Rng& rng);
// A mainland plate: `province` + city letter + 5 characters (ordinary, at most two letters, no
// I/O) or, with probability `new_energy`, D/F + 5 digits (new-energy vehicles).
std::string RandomPlate(Rng& rng, std::string_view province, double new_energy = 0.2);
// A 10-digit access-card number.
std::string RandomCardNo(Rng& rng);
// A version-4 UUID drawn from `rng` (deterministic for a seed).
std::string RandomUuid(Rng& rng);

}  // namespace linli::sim
