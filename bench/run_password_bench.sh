#!/usr/bin/env bash
# Generator throughput, Rotor against a Python `secrets` peer, in one run. Prints a Markdown row
# set for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DROTOR_BUILD_TESTS=OFF -DROTOR_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" --target password_bench >/dev/null
rotor=$(build-bench/bench/password_bench --benchmark_filter='generate/windows_v1_20' \
  --benchmark_min_time=2 --benchmark_format=json | python3 -c \
  'import json,sys; print(int(json.load(sys.stdin)["benchmarks"][0]["items_per_second"]))')
peer=$(python3 bench/password_peer.py 2)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo "| generator (Windows, v1 API, 20 chars) | passwords/s |"
echo "|---|---|"
echo "| rotor (C++, getrandom, rejection sampling) | $rotor |"
echo "| peer: Python secrets.choice + rejection loop | $peer |"
python3 -c "print(f'| ratio rotor/peer | {$rotor/$peer:.1f}x |')"
