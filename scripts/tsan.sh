#!/usr/bin/env bash
# Builds the concurrency-relevant tests under ThreadSanitizer in build/tsan and runs them:
# scripts/tsan.sh [TEST...]. Default: parallel_for, the engine, daemon (with the ramp's executor
# and the metadata prefetch), HTTP (retry/token bucket, the curl
# transport with its pool and multi handle, hostile peers) and both simulators' tests, plus the
# clients against the simulators. Exit status 0 when every test passed and TSan reported nothing
# (halt_on_error makes a report fail its test). CXX=clang++ builds with clang instead of gcc.
# ROTOR_TSAN_BUILD_DIR overrides the build directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ROTOR_TSAN_BUILD_DIR:-$root/build/tsan}"
tests=("$@")
if [ "${#tests[@]}" -eq 0 ]; then
  tests=(common_test engine_test daemon_test daemon_ramp_test daemon_metadata_reader_test
         http_test curl_transport_test hostile_test sim_ecs_test sim_vault_test ecs_sim_test
         vault_integration_test)
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROTOR_SANITIZE=thread \
  ${CXX:+-DCMAKE_CXX_COMPILER="$CXX"} >/dev/null
# Only the tests that exist in this tree (integration tests depend on the simulators).
known="$(cmake --build "$build" --target help)"
available=()
for t in "${tests[@]}"; do
  if grep -qx "\.\.\. $t" <<<"$known"; then
    available+=("$t")
  else
    echo "tsan: no target $t, skipped" >&2
  fi
done
cmake --build "$build" --target "${available[@]}" -j"${ROTOR_TSAN_JOBS:-2}"

# TSan needs a low-entropy address space; kernels with 32 mmap random bits break its shadow
# mapping, so run without ASLR when setarch can do that.
norandom=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
  norandom=(setarch "$(uname -m)" -R)
fi
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/scripts/tsan.supp ${TSAN_OPTIONS:-}"
failed=()
for t in "${available[@]}"; do
  binary="$(find "$build/tests" -type f -name "$t" -perm -u+x | head -n 1)"
  echo "tsan: $t"
  if ! (cd "$(dirname "$binary")" && "${norandom[@]}" "$binary" --gtest_brief=1); then
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "tsan: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "tsan: passed: ${available[*]}"
