#!/usr/bin/env bash
# The README's first command: installs what is missing, builds Rotor, and shows it working.
# Today it demonstrates the password engine; it grows into a full rotation against the ECS and
# Vault simulators as the engine lands (see the issues).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DROTOR_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" --target rotor >/dev/null
rotor=build/demo/app/rotor

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "Rotor $($rotor --version | cut -d' ' -f2-): the password engine"
echo "Every password Rotor sets is drawn uniformly from the passwords the cloud's API accepts."
echo "The special characters allowed depend on the API that carries the password (ecs-api.md §7)."

say "Linux servers, OTC v2.1 single reset (24 characters):"
$rotor generate --os linux --api single --length 24 --count 3 -v

say "Windows servers, v1 batch reset (no 3 consecutive letters of 'Administrator'):"
$rotor generate --os windows --api batch --length 20 --count 3 -v

say "The safe profile passes every documented variant, without look-alike characters:"
$rotor generate --api safe --length 16 --exclude 0O1lI --count 3 -v

say "An impossible policy is refused with the reason:"
$rotor generate --length 30 || true

say "Done. The full rotation demo arrives with the rotation engine."
