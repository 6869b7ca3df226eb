#include "daemon/watchdog.h"

namespace rotor::daemon {

ProgressWatchdog::ProgressWatchdog(Clock::time_point now, std::chrono::nanoseconds stall_limit)
    : stall_limit_(stall_limit), last_progress_(now.time_since_epoch().count()) {}

void ProgressWatchdog::progress(Clock::time_point now) noexcept {
  // Monotonic: a late report from a slow worker never moves the mark backwards.
  const Clock::rep ticks = now.time_since_epoch().count();
  Clock::rep seen = last_progress_.load(std::memory_order_relaxed);
  while (seen < ticks && !last_progress_.compare_exchange_weak(seen, ticks)) {
  }
  stalled_.store(false);
}

bool ProgressWatchdog::should_ping(Clock::time_point now) noexcept {
  const Clock::time_point last{Clock::duration(last_progress_.load())};
  if (now - last <= stall_limit_) {
    return true;
  }
  if (!stalled_.exchange(true)) {
    newly_stalled_.store(true);
  }
  return false;
}

}  // namespace rotor::daemon
