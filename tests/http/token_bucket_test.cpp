// TokenBucket pacing on a manual clock.
#include "http/token_bucket.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/manual_clock.h"

namespace rotor::http {
namespace {

using namespace std::chrono_literals;
using testing::ManualClock;

// The bucket starts full: `burst` requests pass at once, the next one does not.
TEST(TokenBucketTest, AllowsBurstThenRefuses) {
  ManualClock clock;
  TokenBucket bucket(2.0, 3.0, clock);
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance(500ms);  // one token at 2/s
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
}

// acquire() waits through the clock for the next token, at the configured rate.
TEST(TokenBucketTest, AcquireWaitsAtTheRate) {
  ManualClock clock;
  TokenBucket bucket(4.0, 1.0, clock);
  bucket.acquire();
  EXPECT_EQ(clock.slept(), 0ns);
  for (int i = 0; i < 8; ++i) {
    bucket.acquire();
  }
  EXPECT_EQ(clock.slept(), 2s);  // 8 more tokens at 4/s
}

// Refill never exceeds the burst.
TEST(TokenBucketTest, RefillIsCappedAtBurst) {
  ManualClock clock;
  TokenBucket bucket(10.0, 2.0, clock);
  clock.advance(1h);
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
}

// Reservations from many threads are all granted, and the total wait matches the rate.
TEST(TokenBucketTest, ReservationsFromManyThreadsAddUp) {
  ManualClock clock;
  TokenBucket bucket(10.0, 1.0, clock);
  std::vector<std::thread> threads;
  std::vector<std::chrono::nanoseconds> waits(40);
  for (std::size_t i = 0; i < waits.size(); ++i) {
    threads.emplace_back([&, i] { waits[i] = bucket.reserve(); });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const auto longest = *std::max_element(waits.begin(), waits.end());
  EXPECT_EQ(longest, 3900ms);  // the 40th token: 39 beyond the burst at 10/s
}

// Nonsense rates are configuration faults.
TEST(TokenBucketTest, RejectsInvalidRates) {
  ManualClock clock;
  EXPECT_THROW(TokenBucket(0.0, 1.0, clock), std::invalid_argument);
  EXPECT_THROW(TokenBucket(1.0, 0.5, clock), std::invalid_argument);
}

}  // namespace
}  // namespace rotor::http
