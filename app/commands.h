#pragma once
// Each command registers its options on a CLI11 subcommand and returns the function that runs it.

#include <CLI/CLI.hpp>
#include <functional>

namespace rotor::app {

using CommandRunner = std::function<int()>;

inline constexpr const char* kDefaultConfig = "/etc/rotor/rotor.yaml";

CommandRunner add_generate_command(CLI::App& app);
CommandRunner add_check_config_command(CLI::App& app);
CommandRunner add_rotate_command(CLI::App& app);
CommandRunner add_status_command(CLI::App& app);
CommandRunner add_resume_command(CLI::App& app);
CommandRunner add_show_command(CLI::App& app);
CommandRunner add_run_command(CLI::App& app);

}  // namespace rotor::app
