#!/usr/bin/env bash
# The benchmarks of issue 8 in one command: builds Rotor and the simulators in Release, installs
# the Node.js peer (official Huawei Cloud SDK + node-vault), then runs on loopback:
#   fleet throughput (unique mode, R known and R unknown to Rotor), shared mode, the SDK peer,
#   memory and idle wake-ups of `rotor run`, and the password generator.
# Prints Markdown for docs/benchmarks.md; raw figures in <build>/results.json.
#
#   bash bench/run.sh            # the full run: 10,000 and 100,000 servers at R = 500/s
#   bash bench/run.sh --quick    # a smoke check: 1,000 servers at R = 100/s (about 2 minutes)
#   bash bench/run.sh -- --rps 200 --fleets 10000 --only unique-known,unique-adaptive
#                                # anything after -- goes to bench/fleet.py (see --help there)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
fleet_args=()
while (($#)); do
  case $1 in
    --quick) quick=(--quick); shift ;;
    --) shift; fleet_args=("$@"); break ;;
    *) echo "usage: bash bench/run.sh [--quick] [-- fleet.py options]" >&2; exit 2 ;;
  esac
done

jobs=${ROTOR_BENCH_JOBS:-2}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# ROTOR_BENCH_BUILD_DIR reuses a configured build tree (it must have ROTOR_BUILD_BENCH=ON);
# the default is a Release tree of its own, build-bench (inside build/ it would share files with
# the development tree's bench/ folder and mix two builds in one binary).
build=${ROTOR_BENCH_BUILD_DIR:-build-bench}
if [[ -z ${ROTOR_BENCH_BUILD_DIR:-} ]]; then
  echo "configuring (Release) in $build …" >&2
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DROTOR_BUILD_TESTS=OFF -DROTOR_BUILD_BENCH=ON \
    "${launcher[@]}" >/dev/null
fi
echo "build type: $(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2)" >&2
cmake --build "$build" -j"$jobs" --target rotor rotor-sim password_bench >/dev/null

peer=$build/peer
mkdir -p "$peer"
cp bench/peer/package.json bench/peer/package-lock.json bench/peer/rotate.js "$peer/"
if [[ ! -d $peer/node_modules/node-vault ]]; then
  echo "installing the Node.js peer …" >&2
  (cd "$peer" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >&2)
fi

# Many sockets: the simulators keep one thread per keep-alive connection, the SDK peer many more.
ulimit -n 65536 2>/dev/null || true

echo "## Fleet (bench/fleet.py)"
python3 bench/fleet.py --rotor "$build/app/rotor" --sim "$build/sim/rotor-sim" \
  --peer-dir "$peer" --json "$build/results.json" "${quick[@]}" "${fleet_args[@]}"

echo "## Password generator (bench/password_bench, Windows v1 20 chars)"
rotor=$("$build/bench/password_bench" --benchmark_filter='generate/windows_v1_20' \
  --benchmark_min_time=2 --benchmark_format=json | python3 -c \
  'import json,sys; print(int(json.load(sys.stdin)["benchmarks"][0]["items_per_second"]))')
peer_rate=$(python3 bench/password_peer.py 2)
echo "| generator | passwords/s |"
echo "|---|---|"
echo "| rotor (C++, getrandom, rejection sampling) | $rotor |"
echo "| peer: Python secrets.choice + rejection loop | $peer_rate |"
python3 -c "print(f'| ratio rotor/peer | {$rotor/$peer_rate:.1f}x |')"
