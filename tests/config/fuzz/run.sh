#!/usr/bin/env bash
# Builds the configuration loader's libFuzzer target with clang (ASan + UBSan) and runs it for a
# bounded time: tests/config/fuzz/run.sh SECONDS (default 60). Exit status 0 when no crash was
# found. New inputs go to a scratch corpus; the seed corpus in the repo is only read.
# ROTOR_FUZZ_BUILD_DIR overrides the build directory (default build/fuzz).
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
build="${ROTOR_FUZZ_BUILD_DIR:-$root/build/fuzz}"
here="$root/tests/config/fuzz"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DROTOR_FUZZ=ON -DROTOR_BUILD_TESTS=OFF \
  -DROTOR_SANITIZE=address,undefined \
  "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$build" --target config_fuzz -j"$(nproc)"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/corpus" "$scratch/artifacts"
# Seeds: the fuzz corpus, the good configs, the malformed corpus and the packaged example.
cp "$here"/corpus/* "$scratch/corpus/" 2>/dev/null || true
for f in "$root"/tests/config/corpus/good/*.yaml "$root"/tests/config/corpus/bad/*.yaml \
         "$root"/packaging/rotor.yaml; do
  cp "$f" "$scratch/corpus/$(basename "$(dirname "$f")")-$(basename "$f")"
done

ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/tests/config/fuzz/config_fuzz" \
  -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -dict="$here/yaml.dict" -artifact_prefix="$scratch/artifacts/" -print_final_stats=1 \
  "$scratch/corpus" || {
    status=$?
    echo "fuzz: crash found; the input is kept in $root/build/fuzz-artifacts" >&2
    mkdir -p "$root/build/fuzz-artifacts"
    cp "$scratch"/artifacts/* "$root/build/fuzz-artifacts/" 2>/dev/null || true
    exit "$status"
  }
