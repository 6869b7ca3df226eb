#pragma once
// A deterministic Random for tests (splitmix64). It prints its seed on construction so that a
// failing run can be replayed with ROTOR_TEST_SEED=<seed>. Thread-safe, like SystemRandom: the
// engine draws from its worker threads.

#include <cstdint>
#include <mutex>

#include "common/random.h"

namespace rotor::testing {

class SeededRandom final : public Random {
 public:
  // Uses ROTOR_TEST_SEED when set, else `seed`.
  explicit SeededRandom(std::uint64_t seed = 20261123);
  void fill(std::span<std::uint8_t> out) override;
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

 private:
  std::uint64_t seed_;
  std::mutex mutex_;
  std::uint64_t state_;
};

}  // namespace rotor::testing
