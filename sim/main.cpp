// rotor-sim: runs one of the simulators standalone. `rotor-sim ecs --help`, `rotor-sim vault
// --help`.
#include <cstdio>
#include <cstring>

#ifdef ROTOR_SIM_HAS_ECS
#include "sim/ecs/cli.h"
#endif
#ifdef ROTOR_SIM_HAS_VAULT
#include "sim/vault/cli.h"
#endif

int main(int argc, char** argv) {
  const char* which = argc > 1 ? argv[1] : "";
  (void)which;  // unused when no simulator is built in
#ifdef ROTOR_SIM_HAS_ECS
  if (std::strcmp(which, "ecs") == 0) {
    return rotor::sim::ecs_main(argc - 1, argv + 1);
  }
#endif
#ifdef ROTOR_SIM_HAS_VAULT
  if (std::strcmp(which, "vault") == 0) {
    return rotor::sim::vault_main(argc - 1, argv + 1);
  }
#endif
  std::fprintf(stderr, "usage: rotor-sim ecs|vault [options]   (rotor-sim ecs --help)\n");
  return 2;
}
