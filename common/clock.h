#pragma once
// The time seam. Wall time drives schedules (max_age, cron, windows); monotonic time drives
// timeouts and back-off; sleep_for is the only way the engine waits, so a test clock can advance
// weeks in microseconds.

#include <chrono>

namespace rotor {

class Clock {
 public:
  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  virtual ~Clock() = default;

  [[nodiscard]] virtual std::chrono::system_clock::time_point now() const = 0;
  [[nodiscard]] virtual std::chrono::steady_clock::time_point monotonic() const = 0;
  virtual void sleep_for(std::chrono::nanoseconds duration) = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::system_clock::time_point now() const override;
  [[nodiscard]] std::chrono::steady_clock::time_point monotonic() const override;
  void sleep_for(std::chrono::nanoseconds duration) override;
};

}  // namespace rotor
