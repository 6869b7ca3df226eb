#include "tests/support/manual_clock.h"

namespace rotor::testing {

ManualClock::ManualClock(std::chrono::system_clock::time_point start) : wall_(start) {}

std::chrono::system_clock::time_point ManualClock::now() const {
  std::lock_guard lock(mutex_);
  return wall_;
}

std::chrono::steady_clock::time_point ManualClock::monotonic() const {
  std::lock_guard lock(mutex_);
  return steady_;
}

void ManualClock::sleep_for(std::chrono::nanoseconds duration) {
  std::lock_guard lock(mutex_);
  slept_ += duration;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(duration);
  steady_ += duration;
}

void ManualClock::advance(std::chrono::nanoseconds duration) {
  std::lock_guard lock(mutex_);
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(duration);
  steady_ += duration;
}

std::chrono::nanoseconds ManualClock::slept() const {
  std::lock_guard lock(mutex_);
  return slept_;
}

}  // namespace rotor::testing
