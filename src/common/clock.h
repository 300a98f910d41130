// Clock: the only source of time in Linli.
//
// Wall time (milliseconds since the Unix epoch) is for what users see and what is stored;
// monotonic time is for intervals and timeouts. Production code receives a Clock& and never
// calls std::chrono::*::now() itself, so that tests can drive a SimulatedClock instead of
// sleeping. Thread-safety: every implementation is safe to call from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace linli {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since 1970-01-01T00:00:00Z.
  virtual int64_t NowMs() const = 0;
  // Monotonic time, for measuring intervals only.
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
};

// The real clock. Returns a process-wide instance that lives forever.
Clock& SystemClock();

// A clock that moves only when told to. Starts at `start_ms` wall time.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }
  void AdvanceMs(int64_t ms) { now_ms_ += ms; }
  void SetMs(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace linli
