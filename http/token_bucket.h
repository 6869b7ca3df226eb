#pragma once
// A token bucket: `rate` requests per second on average, up to `burst` at once. Waiting goes
// through the Clock seam, so a test with a ManualClock runs without real sleeps. Thread-safe:
// callers reserve a slot under the lock and sleep outside it, so waiters queue in arrival order.
//
// Optionally adaptive, for a cloud whose real limit is unknown or lower than configured: a
// throttling answer (429, Common.0024) cuts the rate multiplicatively (once per cooldown: the
// throttles of one burst are one signal), drops the saved-up burst, and pauses every caller until
// the answer's Retry-After has passed. While callers are waiting on the bucket (demand is above
// the rate) and nothing throttles, the rate grows back, fast until the first throttle (slow
// start) and then by a few percent per second, never above the ceiling. An idle bucket does not
// grow: only a rate that was actually used is probed.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

#include "common/clock.h"

namespace rotor::http {

struct RateAdaptation {
  bool enabled = false;
  double floor = 1.0;       // requests/s never cut below
  double ceiling = 0.0;     // requests/s never grown above; 0 = the initial rate
  double decrease = 0.8;    // factor applied on a throttle
  double increase = 0.05;   // growth per second while saturated, as a fraction of the rate
  double slow_start = 1.4;  // growth per second before the first throttle (x4/s; 0 = none)
  std::chrono::milliseconds cooldown{1000};  // at most one cut per cooldown
};

class TokenBucket {
 public:
  // `rate` > 0 tokens per second; `burst` >= 1 tokens; the bucket starts full.
  // Throws std::invalid_argument otherwise (a configuration fault), or when an enabled
  // adaptation has floor > rate, ceiling < rate (non-zero), decrease outside (0, 1) or a
  // negative increase.
  TokenBucket(double rate, double burst, Clock& clock, RateAdaptation adaptation = {});

  // Takes one token, sleeping through the clock until it is available.
  void acquire();
  // Takes one token if one is available now.
  [[nodiscard]] bool try_acquire();
  // Takes one token now (the balance may go negative) and returns how long the caller must wait
  // before using it. acquire() is reserve() followed by clock.sleep_for().
  [[nodiscard]] std::chrono::nanoseconds reserve();

  // The peer said "too many requests". Adaptive: cut the rate (see above), drop the burst and
  // pause until `retry_after` from now; true when the rate was cut. Not adaptive: nothing (the
  // caller's back-off handles it), false.
  bool on_throttled(std::optional<std::chrono::nanoseconds> retry_after);

  [[nodiscard]] double rate() const;
  [[nodiscard]] double burst() const noexcept { return burst_; }
  // Throttles reported, and how many of them cut the rate.
  [[nodiscard]] std::uint64_t throttles() const;
  [[nodiscard]] std::uint64_t cuts() const;

 private:
  void refill_locked(std::chrono::steady_clock::time_point now);
  void grow_locked(std::chrono::steady_clock::time_point now, bool saturated);

  double rate_;
  const double burst_;
  const RateAdaptation adaptation_;
  const double ceiling_;
  Clock& clock_;
  mutable std::mutex mutex_;
  double tokens_;
  // When tokens were last added; in the future while paused by a Retry-After.
  std::chrono::steady_clock::time_point last_;
  std::chrono::steady_clock::time_point last_growth_;
  std::optional<std::chrono::steady_clock::time_point> last_cut_;
  std::uint64_t throttles_ = 0;
  std::uint64_t cuts_ = 0;
};

}  // namespace rotor::http
