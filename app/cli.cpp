#include "app/cli.h"

#include <fmt/format.h>
#include <rotor/version.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <map>

#include "app/commands.h"

namespace rotor::app {

int run(int argc, char** argv) {
  CLI::App app{
      "Rotor rotates the root/Administrator passwords of cloud servers (Open Telekom Cloud, Huawei "
      "Cloud ECS) and keeps every password in HashiCorp Vault.",
      "rotor"};
  app.set_version_flag("--version", fmt::format("rotor {} ({})", kVersion, kGitRevision));
  app.require_subcommand(1);

  std::map<const CLI::App*, CommandRunner> runners;
  auto add = [&](CommandRunner (*adder)(CLI::App&)) {
    // Each adder creates its subcommand as the app's newest one.
    CommandRunner runner = adder(app);
    runners.emplace(app.get_subcommands({}).back(), std::move(runner));
  };
  add(&add_generate_command);
  add(&add_check_config_command);
  add(&add_rotate_command);
  add(&add_status_command);
  add(&add_resume_command);
  add(&add_show_command);
  add(&add_run_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version exit 0; any other parse failure is a usage error: exit 2.
    const int printed = app.exit(error);
    return printed == 0 ? 0 : 2;
  }
  for (const auto& [command, runner] : runners) {
    if (command->parsed()) {
      try {
        return runner();
      } catch (const std::exception& error) {
        std::fprintf(stderr, "rotor %s: %s\n", command->get_name().c_str(), error.what());
        return 1;
      }
    }
  }
  return 2;
}

}  // namespace rotor::app
