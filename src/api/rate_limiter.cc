#include "api/rate_limiter.h"

#include <algorithm>

namespace linli::api {

LoginRateLimiter::LoginRateLimiter(const Clock& clock, int max_failures, int64_t window_ms,
                                   size_t max_keys)
    : clock_(clock),
      max_failures_(std::max(1, max_failures)),
      window_ms_(std::max<int64_t>(1, window_ms)),
      max_keys_(std::max<size_t>(1, max_keys)) {}

void LoginRateLimiter::PruneLocked(std::deque<int64_t>& failures, int64_t now) const {
  while (!failures.empty() && failures.front() + window_ms_ <= now) failures.pop_front();
}

int64_t LoginRateLimiter::BlockedForMs(const std::string& key) {
  const int64_t now = clock_.NowMs();
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return 0;
  PruneLocked(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return 0;
  }
  const auto& f = it->second;
  if (static_cast<int>(f.size()) < max_failures_) return 0;
  // Blocked until enough failures have aged out that fewer than max_failures remain.
  int64_t release = f[f.size() - max_failures_] + window_ms_;
  return std::max<int64_t>(1, release - now);
}

void LoginRateLimiter::RecordFailure(const std::string& key) {
  const int64_t now = clock_.NowMs();
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) {
    if (failures_.size() >= max_keys_) EvictLocked(now);
    it = failures_.emplace(key, std::deque<int64_t>()).first;
  }
  auto& f = it->second;
  PruneLocked(f, now);
  f.push_back(now);
  // Only the newest max_failures timestamps matter for the decision.
  while (static_cast<int>(f.size()) > max_failures_) f.pop_front();
}

void LoginRateLimiter::Reset(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

size_t LoginRateLimiter::TrackedKeys() const {
  std::lock_guard lock(mu_);
  return failures_.size();
}

void LoginRateLimiter::EvictLocked(int64_t now) {
  for (auto it = failures_.begin(); it != failures_.end();) {
    PruneLocked(it->second, now);
    it = it->second.empty() ? failures_.erase(it) : std::next(it);
  }
  if (failures_.size() < max_keys_) return;
  auto oldest = std::min_element(
      failures_.begin(), failures_.end(),
      [](const auto& a, const auto& b) { return a.second.back() < b.second.back(); });
  if (oldest != failures_.end()) failures_.erase(oldest);
}

}  // namespace linli::api
