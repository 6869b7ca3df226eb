#pragma once
// The systemd notify protocol (sd_notify(3)) without the process environment: the socket comes
// from an injected NOTIFY_SOCKET value, so tests can hand a unix datagram socket of their own.
// A Notifier without a socket does nothing (not started by systemd).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "config/secret_ref.h"

namespace rotor::daemon {

class Notifier {
 public:
  // `socket_path`: NOTIFY_SOCKET ("/run/...", or "@name" for the abstract namespace); empty: off.
  explicit Notifier(std::string socket_path = {});
  // From an environment: NOTIFY_SOCKET and WATCHDOG_USEC (honoured when WATCHDOG_PID is unset or
  // names this process).
  static Notifier from_env(const config::EnvLookup& env);

  [[nodiscard]] bool enabled() const noexcept { return !socket_path_.empty(); }
  // The interval at which to send WATCHDOG=1 (half of WATCHDOG_USEC); nullopt when not asked.
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval() const noexcept {
    return watchdog_interval_;
  }

  // Sends one datagram of newline-separated assignments. False when it could not be sent (the
  // daemon logs and goes on: notification is never a reason to stop).
  bool notify(std::string_view state) const;
  bool ready() const { return notify("READY=1"); }
  bool status(std::string_view line) const;
  bool reloading() const;  // RELOADING=1 with MONOTONIC_USEC=
  bool stopping() const { return notify("STOPPING=1"); }
  bool watchdog() const { return notify("WATCHDOG=1"); }

 private:
  std::string socket_path_;
  std::optional<std::chrono::microseconds> watchdog_interval_;
};

}  // namespace rotor::daemon
