#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian packages; npm packages for the
# interop tests are installed by those tests), builds Rotor, and runs the whole test suite.
# The long soak and the benchmarks are not part of it (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROTOR_WERROR=ON >/dev/null
cmake --build build/test -j"$jobs"
ctest --test-dir build/test --output-on-failure -j"$jobs" --timeout 900 "$@"
