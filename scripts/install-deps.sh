#!/usr/bin/env bash
# Installs, with apt-get, every Debian package Rotor needs to build, test and demo.
# Idempotent: packages already present are not fetched again; apt-get update runs only when needed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates openssl curl
  libcurl4-openssl-dev libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  prometheus-cpp-dev libsystemd-dev libcli11-dev libssl-dev libcpp-httplib-dev
  libexpected-dev libhowardhinnant-date-dev tzdata
  libgtest-dev libgmock-dev libbenchmark-dev
  clang clang-format clang-tidy libclang-rt-14-dev
  nodejs python3
)
# Extra tools for CI-only checks (packaging, promtool); installed when asked.
if [[ "${1:-}" == "--ci" ]]; then
  packages+=(systemd prometheus lintian dpkg-dev fakeroot)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# npm ships inside nodesource's nodejs; Debian's nodejs needs the separate npm package.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them yourself) and try again" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
