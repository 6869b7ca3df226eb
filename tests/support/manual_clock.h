#pragma once
// A Clock that moves only when told to: sleep_for advances it at once, so a test can run weeks
// of schedules in microseconds. Thread-safe.

#include <atomic>
#include <mutex>

#include "common/clock.h"

namespace rotor::testing {

class ManualClock final : public Clock {
 public:
  // Starts at 2026-01-05 00:00:00 UTC (a Monday) unless told otherwise.
  explicit ManualClock(std::chrono::system_clock::time_point start =
                           std::chrono::system_clock::time_point(std::chrono::seconds(1767571200)));

  [[nodiscard]] std::chrono::system_clock::time_point now() const override;
  [[nodiscard]] std::chrono::steady_clock::time_point monotonic() const override;
  void sleep_for(std::chrono::nanoseconds duration) override;

  void advance(std::chrono::nanoseconds duration);
  // Total time slept through sleep_for, for asserting on back-off.
  [[nodiscard]] std::chrono::nanoseconds slept() const;

 private:
  mutable std::mutex mutex_;
  std::chrono::system_clock::time_point wall_;
  std::chrono::steady_clock::time_point steady_{};
  std::chrono::nanoseconds slept_{0};
};

}  // namespace rotor::testing
