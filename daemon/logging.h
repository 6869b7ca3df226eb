#pragma once
// The daemon's log sinks: journald with native fields (POLICY=, SERVER_ID=, ROTATION_ID=,
// ROTOR_COMPONENT=) when JOURNAL_STREAM is set (started by systemd), otherwise text or JSON lines
// on stderr as daemon.log_format says. Fields come from the messages' `key=value` convention.

#include <spdlog/common.h>

#include <map>
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

}  // namespace rotor::daemon
