#include "tests/support/seeded_random.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace rotor::testing {

SeededRandom::SeededRandom(std::uint64_t seed) : seed_(seed) {
  if (const char* from_env = std::getenv("ROTOR_TEST_SEED"); from_env != nullptr) {
    seed_ = std::stoull(from_env);
  }
  state_ = seed_;
  std::fprintf(stderr, "SeededRandom seed=%llu (replay with ROTOR_TEST_SEED)\n",
               static_cast<unsigned long long>(seed_));
}

void SeededRandom::fill(std::span<std::uint8_t> out) {
  const std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < out.size(); i += 8) {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    z ^= z >> 31U;
    for (std::size_t j = 0; j < 8 && i + j < out.size(); ++j) {
      out[i + j] = static_cast<std::uint8_t>(z >> (8U * j));
    }
  }
}

}  // namespace rotor::testing
