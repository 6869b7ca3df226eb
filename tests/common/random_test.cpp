#include "common/random.h"

#include <gtest/gtest.h>
#include <array>

#include "tests/support/seeded_random.h"

namespace rotor {
namespace {

// uniform() stays inside [0, bound) and, for a small bound, hits every value.
TEST(RandomTest, UniformStaysInRangeAndCoversIt) {
  SystemRandom random;
  std::array<int, 7> seen{};
  for (int i = 0; i < 7000; ++i) {
    const auto value = random.uniform(7);
    ASSERT_LT(value, 7U);
    ++seen[value];
  }
  for (int count : seen) {
    EXPECT_GT(count, 700);  // expected 1000; 700 is > 9 standard deviations away
  }
}

// A bound that is not a power of two must not favour small values (the modulo bias): with bound
// 3·2^30 plain modulo would make [0, 2^30) twice as likely as the rest.
TEST(RandomTest, NoModuloBias) {
  testing::SeededRandom random(7);
  const std::uint32_t bound = 3U << 30U;
  int low = 0;
  const int draws = 30000;
  for (int i = 0; i < draws; ++i) {
    if (random.uniform(bound) < (1U << 30U)) {
      ++low;
    }
  }
  // Unbiased: one third (10000, sd ≈ 82). Plain modulo would give one half.
  EXPECT_NEAR(low, draws / 3, 500);
}

// unit() is in [0, 1).
TEST(RandomTest, UnitInterval) {
  SystemRandom random;
  for (int i = 0; i < 1000; ++i) {
    const double value = random.unit();
    ASSERT_GE(value, 0.0);
    ASSERT_LT(value, 1.0);
  }
}

// Two system generators do not produce the same stream.
TEST(RandomTest, SystemRandomIsNotRepeatable) {
  SystemRandom a;
  SystemRandom b;
  EXPECT_NE(a.next_u64(), b.next_u64());
}

// The seeded generator replays the same stream for the same seed.
TEST(RandomTest, SeededRandomReplays) {
  testing::SeededRandom a(42);
  testing::SeededRandom b(42);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(a.next_u64(), b.next_u64());
  }
}

}  // namespace
}  // namespace rotor
