// Rng: the simulator's deterministic random source.
//
// xoshiro256** seeded through splitmix64, with our own range reduction, so that a seed gives
// the same world and the same traffic on every platform and standard library (std::*_distribution
// is implementation-defined). Not for secrets: credentials come from common/ids.h.
// Thread-safety: none; give each thread its own Rng (Fork()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace linli::sim {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t Next();
  // Uniform integer in [lo, hi] (inclusive); lo <= hi.
  int64_t Uniform(int64_t lo, int64_t hi);
  // Uniform real in [0, 1).
  double Real();
  // Uniform real in [lo, hi).
  double Real(double lo, double hi) { return lo + (hi - lo) * Real(); }
  // True with probability p (p <= 0 never, p >= 1 always).
  bool Chance(double p);
  // Standard normal variate (Box-Muller).
  double Normal(double mean, double stddev);
  // Exponentially distributed with the given mean.
  double Exponential(double mean);
  // An index in [0, n); n > 0.
  size_t Index(size_t n) { return static_cast<size_t>(Uniform(0, static_cast<int64_t>(n) - 1)); }
  template <typename T>
  const T& Pick(std::span<const T> items) {
    return items[Index(items.size())];
  }
  // An independent generator derived from this one's seed and `stream` (stable across runs).
  Rng Fork(uint64_t stream) const;

 private:
  uint64_t seed_;
  uint64_t s_[4];
};

// Mixes a seed with a name, e.g. SeedFor(seed, "sim-c1-p7"), for per-entity streams that do not
// depend on generation order.
uint64_t SeedFor(uint64_t seed, std::string_view name);

}  // namespace linli::sim
