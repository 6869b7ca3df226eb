#pragma once
// A token bucket: `rate` requests per second on average, up to `burst` at once. Waiting goes
// through the Clock seam, so a test with a ManualClock runs without real sleeps. Thread-safe:
// callers reserve a slot under the lock and sleep outside it, so waiters queue in arrival order.

#include <chrono>
#include <mutex>

#include "common/clock.h"

namespace rotor::http {

class TokenBucket {
 public:
  // `rate` > 0 tokens per second; `burst` >= 1 tokens; the bucket starts full.
  // Throws std::invalid_argument otherwise (a configuration fault).
  TokenBucket(double rate, double burst, Clock& clock);

  // Takes one token, sleeping through the clock until it is available.
  void acquire();
  // Takes one token if one is available now.
  [[nodiscard]] bool try_acquire();
  // Takes one token now (the balance may go negative) and returns how long the caller must wait
  // before using it. acquire() is reserve() followed by clock.sleep_for().
  [[nodiscard]] std::chrono::nanoseconds reserve();

  [[nodiscard]] double rate() const noexcept { return rate_; }
  [[nodiscard]] double burst() const noexcept { return burst_; }

 private:
  void refill_locked();

  const double rate_;
  const double burst_;
  Clock& clock_;
  std::mutex mutex_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace rotor::http
