#!/usr/bin/env bash
# The chaos harness (docs/chaos.md): kills `rotor run` at every protocol step and at random
# moments while both simulators inject faults, and checks that no password is ever lost or leaked.
#
#   scripts/chaos.sh            the short run that ctest runs (about two minutes)
#   scripts/chaos.sh --long     the long run (about half an hour; figures in docs/chaos.md)
#   scripts/chaos.sh --long --seed 42 --keep    extra options go to rotor-chaos
#
# ROTOR_BUILD_DIR: an existing build with ROTOR_TEST_FAILPOINTS=ON (default build/chaos, built here).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=short
if [[ ${1:-} == --long ]]; then
  mode=long
  shift
fi
build=${ROTOR_BUILD_DIR:-build/chaos}
if [[ -z ${ROTOR_BUILD_DIR:-} ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROTOR_TEST_FAILPOINTS=ON >/dev/null
fi
cmake --build "$build" -j"${ROTOR_CHAOS_JOBS:-2}" --target rotor rotor-sim rotor-chaos >/dev/null

args=(--rotor "$build/app/rotor" --sim "$build/sim/rotor-sim")
if [[ $mode == long ]]; then
  args+=(--servers 1000 --seconds 300 --kills 200 --max-seconds 1000 --failpoint-rounds 4
         --finish-seconds 600)
else
  args+=(--servers 500 --seconds 25 --kills 12 --max-seconds 40 --failpoint-rounds 1
         --finish-seconds 75 --seed 20261203 --no-vault-restarts)
fi
exec "$build/tests/chaos/rotor-chaos" "${args[@]}" "$@"
