#pragma once
// `rotor-sim ecs …`: runs the ECS simulator standalone until SIGTERM or SIGINT. The first line on
// stdout is the bound base URL ("http://127.0.0.1:41234"), so scripts can listen on port 0.

namespace rotor::sim {

int ecs_main(int argc, char** argv);

}  // namespace rotor::sim
