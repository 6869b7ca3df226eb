#pragma once
// The `rotor` command line: builds the CLI11 app, runs the chosen command, maps failures to exit
// codes (0 ok, 1 the command failed, 2 bad usage).

namespace rotor::app {

int run(int argc, char** argv);

}  // namespace rotor::app
