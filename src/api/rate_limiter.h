// LoginRateLimiter: counts failed logins per key (a username, a remote address) in a sliding
// window and blocks a key once it reached `max_failures` failures within `window_ms`.
//
// Memory is bounded: at most `max_keys` keys are tracked; when full, keys whose failures all
// left the window are dropped first, then the key with the oldest latest failure.
// Thread-safety: all methods are safe from any thread (one mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace linli::api {

class LoginRateLimiter {
 public:
  LoginRateLimiter(const Clock& clock, int max_failures, int64_t window_ms,
                   size_t max_keys = 100'000);

  // 0 if `key` may try now, otherwise the milliseconds until its oldest counted failure leaves
  // the window (the Retry-After).
  int64_t BlockedForMs(const std::string& key);
  // Records one failure of `key`.
  void RecordFailure(const std::string& key);
  // Forgets `key` (a successful login clears the username's failures).
  void Reset(const std::string& key);
  size_t TrackedKeys() const;

 private:
  void PruneLocked(std::deque<int64_t>& failures, int64_t now) const;
  void EvictLocked(int64_t now);

  const Clock& clock_;
  const int max_failures_;
  const int64_t window_ms_;
  const size_t max_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::deque<int64_t>> failures_;  // timestamps, oldest first
};

}  // namespace linli::api
