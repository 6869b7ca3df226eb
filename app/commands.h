#pragma once
// Each command registers its options on a CLI11 subcommand and returns the function that runs it.

#include <CLI/CLI.hpp>
#include <functional>

namespace rotor::app {

using CommandRunner = std::function<int()>;

CommandRunner add_generate_command(CLI::App& app);

}  // namespace rotor::app
