#!/usr/bin/env bash
# Runs clang-tidy (the repo's .clang-tidy) over the given component folders (default: all of
# them). Needs a configured build directory with compile_commands.json (default build/test).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ROTOR_BUILD_DIR:-build/test}
if [[ ! -f $build/compile_commands.json ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
components=("$@")
if ((${#components[@]} == 0)); then
  components=(common password http ecs vault config daemon sim app)
fi
files=()
for c in "${components[@]}"; do
  [[ -d $c ]] || continue
  while IFS= read -r f; do files+=("$f"); done < <(git ls-files "$c/*.cpp")
done
echo "lint: clang-tidy over ${#files[@]} files in: ${components[*]}"
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option 2>/dev/null
