#!/usr/bin/env bash
# The README's first command: a full rotation against the simulators, on loopback, with TLS from a
# CA generated for the run. Installs what is missing, builds Rotor, starts the ECS and Vault
# simulators, rotates a fleet of 200 servers in three policies (unique and shared, Linux and
# Windows, a few servers without the reset plug-in, some injected faults), then checks every
# server against Vault and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
# ROTOR_DEMO_BUILD_DIR: use binaries already built there (for development) instead of building.
build=${ROTOR_DEMO_BUILD_DIR:-}
if [[ -z $build ]]; then
  build=build/demo
  echo "Building Rotor (Release; the first time takes a few minutes)…"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DROTOR_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target rotor rotor-sim >/dev/null
fi
rotor=$root/$build/app/rotor
sim=$root/$build/sim/rotor-sim

work=$(mktemp -d /tmp/rotor-demo.XXXXXX)
chmod 700 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "A throwaway CA and a certificate for 127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=Rotor demo CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 1 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null
echo "CA: $work/ca.pem (Rotor verifies both simulators against it)"

# Credentials live in files readable by their owner only, as Rotor requires.
umask 077
openssl rand -hex 16 | sed 's/^/hvs.demo/' > "$work/vault-token"
echo "AKDEMO0000000000000" > "$work/ak"
openssl rand -base64 30 > "$work/sk"

# Started in this shell, not in a $(...) subshell, so that cleanup() knows their pids (it did not,
# and the simulators outlived the demo).
start_sim() {  # name, args…: starts a simulator in the background
  local name=$1; shift
  "$sim" "$@" > "$work/$name.out" 2> "$work/$name.log" &
  pids+=($!)
}
sim_url() {  # name: the URL from the simulator's first line of output, once it is listening
  local name=$1
  for _ in $(seq 100); do
    if [[ -s $work/$name.out ]]; then head -n1 "$work/$name.out" | grep -o 'https\?://[^ ]*'; return; fi
    sleep 0.1
  done
  echo "the $name simulator did not start; its log:" >&2; cat "$work/$name.log" >&2; exit 1
}

say "Starting the simulators"
start_sim vault vault --listen 127.0.0.1:0 --tls-cert "$work/server.pem" \
  --tls-key "$work/server.key" --root-token-file "$work/vault-token"
start_sim ecs ecs --listen 127.0.0.1:0 --tls-cert "$work/server.pem" --tls-key "$work/server.key" \
  --ak "$(cat "$work/ak")" --sk-file "$work/sk" --servers 200 --windows-share 0.35 \
  --no-plugin-share 0.03 --seed 7 --faults flaky
vault_url=$(sim_url vault)
ecs_url=$(sim_url ecs)
echo "Vault simulator: $vault_url"
echo "ECS simulator:   $ecs_url  (200 servers; 'flaky' faults: timeouts, resets, 5xx, throttling)"

project=0a1b2c3d4e5f40718293a4b5c6d7e8f9
metrics_port=$((20000 + RANDOM % 20000))
mkdir -p "$work/state"
cat > "$work/rotor.yaml" <<YAML
daemon:
  state_dir: $work/state
  concurrency: 16
  metrics_listen: 127.0.0.1:$metrics_port
vault:
  address: $vault_url
  ca_file: $work/ca.pem
  auth:
    method: token
    token_file: $work/vault-token
  kv:
    mount: secret
    path: "ecs/{cloud}/{project_id}/{server_id}"
clouds:
  demo:
    flavor: otc
    region: eu-de
    project_id: $project
    endpoints:
      ecs: $ecs_url
      iam: $ecs_url
    ca_file: $work/ca.pem
    auth:
      type: aksk
      access_key_file: $work/ak
      secret_key_file: $work/sk
    limits:
      requests_per_second: 100
      max_batch: 50
policies:
  - name: prod-linux
    cloud: demo
    select: { tags: { env: prod }, os: linux }
    mode: unique
    max_age: 30d
    password: { length: 24 }
  - name: prod-windows
    cloud: demo
    select: { tags: { env: prod }, os: windows }
    mode: unique
    max_age: 30d
    password: { length: 20, exclude_chars: "0O1lI" }
  - name: staging-shared
    cloud: demo
    select: { tags: { env: staging } }
    mode: shared
    max_age: 7d
    preflight_dry_run: true
    password: { length: 22 }
YAML
chmod 600 "$work/rotor.yaml"

say "rotor check-config"
"$rotor" check-config -c "$work/rotor.yaml" && echo "valid"

say "rotor rotate (dev servers are not selected by any policy)"
start=$(date +%s.%N)
set +e
"$rotor" rotate -c "$work/rotor.yaml" > "$work/summary.txt"
status=$?
set -e
elapsed=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
head -n 1 "$work/summary.txt"
# A few rows of each policy and every row that did not simply rotate.
grep -v '^SERVER' "$work/summary.txt" | grep -v '^$' | grep -v ' rotated (' | awk '
  $4 != "rotated" { print; next } { n[$3]++ } n[$3] <= 3 { print }'
echo "  … (the full table has $(($(grep -c . "$work/summary.txt") - 2)) rows)"
tail -n 1 "$work/summary.txt"
echo "rotor rotate exited $status after ${elapsed}s"

say "What Vault holds for three servers (metadata only: no password is read)"
python3 "$root/scripts/demo_check.py" metadata "$vault_url" "$work/vault-token" "$work/ca.pem" \
  "ecs/demo/$project" "$work/summary.txt"

say "Checking every server against Vault (the simulator knows each server's password)"
python3 -c "
import json, ssl, urllib.request
ctx = ssl.create_default_context(cafile='$work/ca.pem')
stats = json.load(urllib.request.urlopen('$ecs_url/_sim/stats', context=ctx))
faults = stats.get('faults', {})
print('faults the ECS simulator injected:', ', '.join(f'{n} {k}' for k, n in sorted(faults.items())) or 'none')
"
python3 "$root/scripts/demo_check.py" verify "$vault_url" "$work/vault-token" "$work/ca.pem" \
  "ecs/demo/$project" "$ecs_url"

say "rotor status (from Vault metadata: no secret is read)"
"$rotor" status -c "$work/rotor.yaml" --policy prod-windows | head -n 6

say "rotor run: the daemon, with its Prometheus metrics (stopped after one scrape)"
# --allow-root only because the demo runs as root; the packaged unit runs as the rotor user.
"$rotor" run -c "$work/rotor.yaml" --allow-root 2> "$work/daemon.log" &
daemon_pid=$!
pids+=("$daemon_pid")
scrape=""
for _ in $(seq 100); do
  if scrape=$(curl -sf "http://127.0.0.1:$metrics_port/metrics") && grep -q '^rotor_servers' <<<"$scrape"; then
    break
  fi
  sleep 0.2
done
grep -E '^rotor_(servers|rotations_total|password_age_oldest_seconds|vault_token_ttl_seconds|build_info)' \
  <<<"$scrape" | grep -v ' 0$' | head -n 16 || echo "(no metrics scraped; the daemon's log:)" && true
if command -v promtool >/dev/null; then
  promtool check metrics <<<"$scrape" && echo "promtool check metrics: clean"
fi
kill -TERM "$daemon_pid" && wait "$daemon_pid" && echo "daemon stopped cleanly on SIGTERM"

say "A dry run asks the batch API to validate, and changes nothing"
"$rotor" rotate -c "$work/rotor.yaml" --policy staging-shared --dry-run > "$work/summary2.txt" || true
tail -n 1 "$work/summary2.txt"

say "Done: simulators stopped, $work removed."
