#pragma once
// One named logger per component ("ecs", "vault", "engine", …), all writing to the same sinks.
// main() chooses the sinks once (journald, or text/JSON on stderr); tests swap in an in-memory
// sink (tests/support/log_capture.h) to prove that no secret is ever logged.
// Messages are constant text followed by key=value fields: "reset accepted server=… attempt=2".

#include <spdlog/spdlog.h>
#include <memory>
#include <string_view>
#include <vector>

namespace rotor::log {

// The logger for a component; created on first use with the current sinks and level.
std::shared_ptr<spdlog::logger> get(std::string_view component);

// Replaces the sinks of every component logger, existing and future. Returns the old ones.
std::vector<spdlog::sink_ptr> set_sinks(std::vector<spdlog::sink_ptr> sinks);
void set_level(spdlog::level::level_enum level);

}  // namespace rotor::log
