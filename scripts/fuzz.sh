#!/usr/bin/env bash
# Builds every libFuzzer target with clang (ASan + UBSan) in build/fuzz and runs each for a
# bounded time: scripts/fuzz.sh SECONDS (default 30) [TARGET...]. Exit status 0 when no target
# crashed, leaked, hung (-timeout) or ran out of memory (-rss_limit_mb). Targets: config_fuzz
# (run through tests/config/fuzz/run.sh), ecs_response_fuzz, vault_response_fuzz, signer_fuzz.
# Seeds are read from tests/fuzz/corpus/<target>/; new inputs go to a scratch corpus, crashing
# inputs to build/fuzz-artifacts/. ROTOR_FUZZ_BUILD_DIR overrides the build directory.
set -euo pipefail
seconds="${1:-30}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ROTOR_FUZZ_BUILD_DIR:-$root/build/fuzz}"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(config_fuzz ecs_response_fuzz vault_response_fuzz signer_fuzz)
fi

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

# The same configuration as tests/config/fuzz/run.sh: libraries instrumented for coverage.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DROTOR_FUZZ=ON -DROTOR_BUILD_TESTS=OFF \
  -DROTOR_SANITIZE=address,undefined \
  "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$build" --target "${targets[@]}" -j"${ROTOR_FUZZ_JOBS:-2}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds}s"
  if [ "$target" = config_fuzz ]; then
    ROTOR_FUZZ_BUILD_DIR="$build" bash "$root/tests/config/fuzz/run.sh" "$seconds" ||
      failed+=("$target")
    continue
  fi
  mkdir -p "$scratch/$target/corpus" "$scratch/$target/artifacts"
  cp "$root/tests/fuzz/corpus/$target"/* "$scratch/$target/corpus/"
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/$target" \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$scratch/$target/artifacts/" -print_final_stats=1 \
    "$scratch/$target/corpus"; then
    failed+=("$target")
    mkdir -p "$root/build/fuzz-artifacts"
    cp "$scratch/$target/artifacts"/* "$root/build/fuzz-artifacts/" 2>/dev/null || true
    echo "fuzz: $target failed; the input is kept in $root/build/fuzz-artifacts" >&2
  fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a crash: ${targets[*]}"
