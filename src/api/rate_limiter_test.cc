#include "api/rate_limiter.h"

#include <gtest/gtest.h>

namespace linli::api {
namespace {

TEST(RateLimiterTest, BlocksAfterMaxFailuresWithinWindow) {
  SimulatedClock clock;
  LoginRateLimiter limiter(clock, 3, 60'000);
  for (int i = 0; i < 2; ++i) {
    limiter.RecordFailure("user:a");
    clock.AdvanceMs(1000);
  }
  EXPECT_EQ(limiter.BlockedForMs("user:a"), 0);
  limiter.RecordFailure("user:a");  // t = 2000
  // Blocked until the first failure (t = 0) leaves the window at t = 60000.
  EXPECT_EQ(limiter.BlockedForMs("user:a"), 58'000);
  EXPECT_EQ(limiter.BlockedForMs("user:b"), 0);
  clock.AdvanceMs(57'999);
  EXPECT_EQ(limiter.BlockedForMs("user:a"), 1);
  clock.AdvanceMs(1);
  EXPECT_EQ(limiter.BlockedForMs("user:a"), 0);
}

TEST(RateLimiterTest, OldFailuresAgeOut) {
  SimulatedClock clock;
  LoginRateLimiter limiter(clock, 2, 10'000);
  limiter.RecordFailure("k");
  clock.AdvanceMs(10'000);
  limiter.RecordFailure("k");
  EXPECT_EQ(limiter.BlockedForMs("k"), 0);
  limiter.RecordFailure("k");
  EXPECT_GT(limiter.BlockedForMs("k"), 0);
}

TEST(RateLimiterTest, BlockLastsUntilFewerThanMaxFailuresRemain) {
  SimulatedClock clock;
  LoginRateLimiter limiter(clock, 2, 10'000);
  limiter.RecordFailure("k");
  limiter.RecordFailure("k");
  EXPECT_EQ(limiter.BlockedForMs("k"), 10'000);
  clock.AdvanceMs(5'000);
  limiter.RecordFailure("k");  // t = 5000: still blocked until both t = 0 failures expire
  EXPECT_EQ(limiter.BlockedForMs("k"), 5'000);
  clock.AdvanceMs(5'000);
  EXPECT_EQ(limiter.BlockedForMs("k"), 0);
  limiter.RecordFailure("k");  // t = 10000: failures at 5000 and 10000
  EXPECT_EQ(limiter.BlockedForMs("k"), 5'000);
}

TEST(RateLimiterTest, ResetForgetsTheKey) {
  SimulatedClock clock;
  LoginRateLimiter limiter(clock, 1, 10'000);
  limiter.RecordFailure("k");
  EXPECT_GT(limiter.BlockedForMs("k"), 0);
  limiter.Reset("k");
  EXPECT_EQ(limiter.BlockedForMs("k"), 0);
}

TEST(RateLimiterTest, MemoryIsBounded) {
  SimulatedClock clock;
  LoginRateLimiter limiter(clock, 5, 10'000, /*max_keys=*/100);
  for (int i = 0; i < 1000; ++i) {
    limiter.RecordFailure("ip:" + std::to_string(i));
    clock.AdvanceMs(1);
  }
  EXPECT_LE(limiter.TrackedKeys(), 100u);
  // The newest keys are still tracked.
  for (int i = 0; i < 4; ++i) limiter.RecordFailure("ip:999");
  EXPECT_GT(limiter.BlockedForMs("ip:999"), 0);
}

}  // namespace
}  // namespace linli::api
