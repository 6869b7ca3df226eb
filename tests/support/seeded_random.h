#pragma once
// A deterministic Random for tests (splitmix64). It prints its seed on construction so that a
// failing run can be replayed with ROTOR_TEST_SEED=<seed>.

#include <cstdint>

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
  std::uint64_t state_;
};

}  // namespace rotor::testing
