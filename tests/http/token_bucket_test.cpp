// TokenBucket pacing on a manual clock.
#include "http/token_bucket.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
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

// ---- adaptive rate: every test runs on the manual clock, so no test waits for real time.

RateAdaptation adaptive(double ceiling = 0.0) {
  RateAdaptation adaptation;
  adaptation.enabled = true;
  adaptation.ceiling = ceiling;
  return adaptation;
}

// A plain bucket ignores throttles: its caller's back-off handles them.
TEST(AdaptiveRateTest, PlainBucketIgnoresThrottles) {
  ManualClock clock;
  TokenBucket bucket(10.0, 10.0, clock);
  EXPECT_FALSE(bucket.on_throttled(5s));
  EXPECT_EQ(bucket.rate(), 10.0);
  EXPECT_EQ(bucket.reserve(), 0ns);
  EXPECT_EQ(bucket.throttles(), 0U);
}

// A throttle cuts the rate by the decrease factor; the throttles of one burst (within the
// cooldown) cut it once; a later one cuts again; the floor holds.
TEST(AdaptiveRateTest, ThrottleCutsOncePerCooldownDownToTheFloor) {
  ManualClock clock;
  RateAdaptation adaptation = adaptive();
  adaptation.floor = 6.0;
  TokenBucket bucket(10.0, 10.0, clock, adaptation);
  EXPECT_TRUE(bucket.on_throttled(std::nullopt));
  EXPECT_DOUBLE_EQ(bucket.rate(), 8.0);
  clock.advance(100ms);
  EXPECT_FALSE(bucket.on_throttled(std::nullopt));  // the same burst
  EXPECT_DOUBLE_EQ(bucket.rate(), 8.0);
  clock.advance(1s);
  EXPECT_TRUE(bucket.on_throttled(std::nullopt));
  EXPECT_DOUBLE_EQ(bucket.rate(), 6.4);
  clock.advance(1s);
  EXPECT_TRUE(bucket.on_throttled(std::nullopt));
  EXPECT_DOUBLE_EQ(bucket.rate(), 6.0);  // 5.12 is below the floor
  EXPECT_EQ(bucket.throttles(), 4U);
  EXPECT_EQ(bucket.cuts(), 3U);
}

// Retry-After pauses every caller, and the saved-up burst is gone: the first reservation after a
// throttle waits out the pause, the next ones follow at the cut rate.
TEST(AdaptiveRateTest, RetryAfterPausesEveryCaller) {
  ManualClock clock;
  TokenBucket bucket(10.0, 10.0, clock, adaptive());
  EXPECT_EQ(bucket.reserve(), 0ns);  // the burst is there before
  ASSERT_TRUE(bucket.on_throttled(2s));
  EXPECT_FALSE(bucket.try_acquire());
  EXPECT_EQ(bucket.reserve(), 2s + 125ms);  // the pause, then one token at 8/s
  EXPECT_EQ(bucket.reserve(), 2s + 250ms);
  clock.advance(2s);
  EXPECT_FALSE(bucket.try_acquire());  // two reservations still queue ahead
}

// While callers wait on the bucket, the rate grows back towards the ceiling; never above it.
TEST(AdaptiveRateTest, SaturatedBucketGrowsBackToTheCeiling) {
  ManualClock clock;
  TokenBucket bucket(10.0, 1.0, clock, adaptive());  // ceiling = the configured rate
  ASSERT_TRUE(bucket.on_throttled(std::nullopt));
  EXPECT_DOUBLE_EQ(bucket.rate(), 8.0);
  for (int i = 0; i < 2000; ++i) {
    bucket.acquire();  // always waiting: saturated
  }
  EXPECT_DOUBLE_EQ(bucket.rate(), 10.0);
  EXPECT_GT(clock.slept(), 190s);  // about 2000 tokens at 8..10/s
}

// An idle bucket does not grow: only a rate that limited someone is probed.
TEST(AdaptiveRateTest, IdleBucketDoesNotGrow) {
  ManualClock clock;
  TokenBucket bucket(10.0, 10.0, clock, adaptive(1000.0));
  for (int i = 0; i < 100; ++i) {
    clock.advance(1s);
    EXPECT_EQ(bucket.reserve(), 0ns);  // one request per second: never waiting
  }
  EXPECT_DOUBLE_EQ(bucket.rate(), 10.0);
}

// Before the first throttle the rate grows fast (slow start), after it slowly.
TEST(AdaptiveRateTest, SlowStartThenGentleProbing) {
  ManualClock clock;
  TokenBucket bucket(10.0, 1.0, clock, adaptive(1000.0));
  for (int i = 0; i < 200; ++i) {
    bucket.acquire();
  }
  const double after_slow_start = bucket.rate();
  EXPECT_GT(after_slow_start, 20.0);  // at least doubled within the few seconds 200 tokens took
  ASSERT_TRUE(bucket.on_throttled(std::nullopt));
  const double cut = bucket.rate();
  const auto before = clock.slept();
  for (int i = 0; i < 200; ++i) {
    bucket.acquire();
  }
  const std::chrono::duration<double> spent = clock.slept() - before;
  EXPECT_NEAR(bucket.rate(), cut * std::exp(0.05 * spent.count()), cut * 0.01);
}

// The whole loop against a simulated cloud whose limit (50/s, burst 50) Rotor does not know:
// started at 10/s with a ceiling of 1000/s, it settles at 90 % of the limit or more.
TEST(AdaptiveRateTest, ConvergesToAnUnknownLimit) {
  ManualClock clock;
  TokenBucket client(10.0, 10.0, clock, adaptive(1000.0));
  TokenBucket cloud(50.0, 50.0, clock);
  int accepted = 0;
  int throttled = 0;
  const auto start = clock.monotonic();
  const auto warm = start + 30s;
  int accepted_after_warm_up = 0;
  while (clock.monotonic() - start < 330s) {
    client.acquire();
    if (cloud.try_acquire()) {
      ++accepted;
      if (clock.monotonic() >= warm) {
        ++accepted_after_warm_up;
      }
    } else {
      ++throttled;
      client.on_throttled(1s);  // the simulator's Retry-After
    }
  }
  EXPECT_GT(throttled, 0);
  const double rate = accepted_after_warm_up / 300.0;
  EXPECT_GE(rate, 0.9 * 50.0) << "accepted " << accepted << ", throttled " << throttled;
  EXPECT_LE(rate, 50.0 * 1.01);
}

// Adaptation parameters that make no sense are configuration faults.
TEST(AdaptiveRateTest, RejectsNonsense) {
  ManualClock clock;
  RateAdaptation floor_above = adaptive();
  floor_above.floor = 20.0;
  EXPECT_THROW(TokenBucket(10.0, 1.0, clock, floor_above), std::invalid_argument);
  EXPECT_THROW(TokenBucket(10.0, 1.0, clock, adaptive(5.0)), std::invalid_argument);
  RateAdaptation no_cut = adaptive();
  no_cut.decrease = 1.0;
  EXPECT_THROW(TokenBucket(10.0, 1.0, clock, no_cut), std::invalid_argument);
}

}  // namespace
}  // namespace rotor::http
