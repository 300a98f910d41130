// A small deterministic random number generator for the scene generator (SplitMix64).
// std:: distributions are implementation-defined; this one gives the same scene on every
// platform and library version. Thread-safety: plain value, one owner.
#pragma once

#include <cmath>
#include <cstdint>

namespace linli::edge::scene_gen {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  // A generator for a sub-stream (per object, per frame) that does not depend on how many
  // numbers other streams drew.
  static Rng For(uint64_t seed, uint64_t stream, uint64_t index = 0) {
    Rng r(Mix(seed ^ Mix(stream * 0x9e3779b97f4a7c15ULL + index)));
    return r;
  }
  static uint64_t Mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double U() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  double U(double lo, double hi) { return lo + (hi - lo) * U(); }
  // Uniform integer in [lo, hi] (inclusive).
  int I(int lo, int hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool P(double p) { return U() < p; }
  double Sign() { return P(0.5) ? 1.0 : -1.0; }
  // Normal(mean, sigma) by Box-Muller.
  double N(double mean = 0, double sigma = 1) {
    double u1 = U();
    double u2 = U();
    if (u1 < 1e-300) u1 = 1e-300;
    return mean + sigma * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace linli::edge::scene_gen
