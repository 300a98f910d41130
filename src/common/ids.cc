#include "common/ids.h"

#include <sodium.h>

#include <atomic>
#include <cstdint>

#include "common/clock.h"
#include "common/crypto.h"

namespace linli {

namespace {

std::string FormatUuid(const uint8_t (&b)[16]) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[b[i] >> 4]);
    s.push_back(kHex[b[i] & 0xf]);
  }
  return s;
}

}  // namespace

std::string NewUuid() {
  InitCrypto();
  // Never backwards within the process, even if the wall clock is stepped back.
  static std::atomic<int64_t> last_ms{0};
  int64_t ms = SystemClock().NowMs();
  int64_t prev = last_ms.load(std::memory_order_relaxed);
  while (ms > prev && !last_ms.compare_exchange_weak(prev, ms, std::memory_order_relaxed)) {
  }
  if (ms < prev) ms = prev;
  uint8_t b[16];
  randombytes_buf(b, sizeof b);
  const auto t = static_cast<uint64_t>(ms);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(t >> (40 - 8 * i));
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  return FormatUuid(b);
}

std::string NewRandomUuid() {
  InitCrypto();
  uint8_t b[16];
  randombytes_buf(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return FormatUuid(b);
}

bool IsValidEventType(std::string_view type) {
  if (type.size() < 3 || type.size() > 64) return false;
  bool dot = false;
  char prev = '.';
  for (char c : type) {
    if (c == '.') {
      if (prev == '.') return false;
      dot = true;
    } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
    prev = c;
  }
  return dot && prev != '.' && type[0] >= 'a' && type[0] <= 'z';
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string RandomHex(size_t bytes) {
  InitCrypto();
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), bytes);
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()), bytes);
  hex.resize(bytes * 2);
  return hex;
}

std::string RandomPassword(size_t len) {
  InitCrypto();
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  s.reserve(len);
  for (size_t i = 0; i < len; ++i) s.push_back(kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)]);
  return s;
}

}  // namespace linli
