#pragma once
// The daemon's log sinks: journald with native fields (POLICY=, SERVER_ID=, ROTATION_ID=,
// ROTOR_COMPONENT=) when JOURNAL_STREAM is set (started by systemd), otherwise text or JSON lines
// on stderr as daemon.log_format says. Fields come from the messages' `key=value` convention.

#include <spdlog/common.h>

#include <chrono>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace rotor::daemon {

[[nodiscard]] spdlog::level::level_enum to_spdlog(config::LogLevel level) noexcept;

// The `key=value` fields of a message (values may be "quoted"), in order of appearance.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> message_fields(
    std::string_view message);

// A sink writing one JSON object per line: ts, level, component, msg, and the message's fields.
[[nodiscard]] spdlog::sink_ptr json_lines_sink(std::ostream& out);
// A sink writing to the journal with native fields.
[[nodiscard]] spdlog::sink_ptr journald_sink();

// Chooses the sinks for `settings` and `env` and installs them on every component logger.
// Returns "journald", "text" or "json".
std::string configure_logging(const config::DaemonSettings& settings, const config::EnvLookup& env);

// Rate limiting of repeated identical messages (STYLE.md: pdns ratelimitedlog): the first message
// of a kind is logged; repeats inside `window` are only counted; once the window is over, one
// line says how many were suppressed. The key is the message without what differs per server
// (e.g. "cannot read metadata policy=p error=…"). Thread-safe.
class RepeatFilter {
 public:
  explicit RepeatFilter(std::chrono::seconds window = std::chrono::minutes(10)) : window_(window) {}

  // True: log it now. False: a repeat inside the window, counted.
  bool admit(const std::string& key, config::SysSeconds now);

  struct Suppressed {
    std::string key;
    std::size_t count = 0;
  };
  // Kinds whose window is over (or all, with `all`): how many repeats each suppressed, for the
  // summary line; they are forgotten (the next one is logged again).
  std::vector<Suppressed> drain(config::SysSeconds now, bool all = false);
  // Logs the summary lines of drain() on `component`'s logger; returns the number suppressed.
  std::size_t flush(std::string_view component, config::SysSeconds now, bool all = false);

 private:
  struct Entry {
    config::SysSeconds first{};
    std::size_t suppressed = 0;
  };
  std::chrono::seconds window_;
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::vector<Suppressed> carried_;  // counts of windows that ended before a drain()
};

}  // namespace rotor::daemon
