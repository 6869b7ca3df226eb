// `rotor check-config [-c FILE] [--verbose]`: exit 0 when the configuration is valid, 1 with every
// error on stderr; --verbose prints the redacted summary of what was understood.
#include <iostream>
#include <memory>
#include <string>

#include "app/commands.h"
#include "config/config.h"

namespace rotor::app {

CommandRunner add_check_config_command(CLI::App& app) {
  struct Options {
    std::string file = kDefaultConfig;
    bool verbose = false;
  };
  auto options = std::make_shared<Options>();
  auto* command =
      app.add_subcommand("check-config", "Validate the configuration and exit 0 (valid) or 1");
  command->add_option("-c,--config", options->file, "Configuration file")->capture_default_str();
  command->add_flag("-v,--verbose", options->verbose,
                    "Print what was understood: clouds, policies, selectors, next due times");
  return [options] {
    return config::check_config_command(options->file, options->verbose, std::cout, std::cerr);
  };
}

}  // namespace rotor::app
