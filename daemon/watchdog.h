#pragma once
// What the systemd watchdog vouches for. WATCHDOG=1 is sent from its own thread (a long
// rotation with back-off must not trip it), so on its own it proves only that the process is
// scheduled. ProgressWatchdog makes it prove more: the service loop and every finished rotation
// report progress, and once nothing has progressed for `stall_limit` the pings stop, systemd's
// WatchdogSec runs out and it restarts the daemon (Restart=on-failure). A restart loses nothing:
// every rotation resumes from its Vault record (rotation-protocol.md).
//
// The limit must exceed the longest stretch a healthy daemon goes without progress: one tick's
// listing and metadata reads over the whole fleet, or one request's retries and back-off, or a
// verification hook's timeout. Thread-safe.

#include <atomic>
#include <chrono>

namespace rotor::daemon {

class ProgressWatchdog {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::minutes kDefaultStallLimit{30};

  explicit ProgressWatchdog(Clock::time_point now,
                            std::chrono::nanoseconds stall_limit = kDefaultStallLimit);

  void progress(Clock::time_point now) noexcept;
  // True while the last progress is within the limit. The first false is reported once by
  // stalled_now() (so that the caller logs it once); pings resume when progress resumes.
  [[nodiscard]] bool should_ping(Clock::time_point now) noexcept;
  // True exactly once per stall: the first should_ping() that returned false.
  [[nodiscard]] bool stalled_now() noexcept { return newly_stalled_.exchange(false); }
  [[nodiscard]] std::chrono::nanoseconds stall_limit() const noexcept { return stall_limit_; }

 private:
  const std::chrono::nanoseconds stall_limit_;
  std::atomic<Clock::rep> last_progress_;
  std::atomic<bool> stalled_{false};
  std::atomic<bool> newly_stalled_{false};
};

}  // namespace rotor::daemon
