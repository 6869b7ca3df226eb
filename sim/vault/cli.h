#pragma once
// `rotor-sim vault …`: the Vault simulator standalone. Prints the bound address on the first line
// of stdout, serves until SIGTERM or SIGINT, then exits 0.

namespace rotor::sim {

int vault_main(int argc, char** argv);

}  // namespace rotor::sim
