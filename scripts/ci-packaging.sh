#!/usr/bin/env bash
# CI: the packaging checks (issue 6). Run as root on a Debian 12 machine; PID 1 need not be systemd.
#  1. static: promtool check/test rules, the Grafana dashboard (JSON, metric names from
#     docs/metrics.md), the man pages (man --warnings), the unit's exposure score (offline);
#  2. builds the .deb with CPack (Release, tests off) in build/package;
#  3. inspects it (contents, modes, conffiles, maintainer scripts, dependencies) and runs lintian:
#     no errors, and every warning that stays must be explained in docs/operations.md;
#  4. dpkg -i, checks the installed files, owners and modes, runs the installed rotor --version and
#     check-config on the shipped example, systemd-analyze verify and security on the installed unit;
#  5. reinstalls over itself (postinst's upgrade path) with a changed configuration;
#  6. dpkg -r, dpkg --purge and checks that nothing is left (the rotor user, if this script created
#     it, is deleted too).
# Environment: ROTOR_PACKAGE_BUILD_DIR (default build/package), ROTOR_MAX_EXPOSURE (default 1.5).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${ROTOR_PACKAGE_BUILD_DIR:-build/package}
max_exposure=${ROTOR_MAX_EXPOSURE:-1.5}
start=$(date +%s)
stage() { printf '\n=== packaging: %s (%ds) ===\n' "$1" "$(($(date +%s) - start))"; }
fail() { echo "ci-packaging: FAIL: $*" >&2; exit 1; }

if [[ $(id -u) -ne 0 ]]; then
  fail "run as root (dpkg -i, dpkg-statoverride, systemd-sysusers)"
fi

stage "tools"
bash scripts/install-deps.sh --ci
for tool in promtool lintian systemd-analyze dpkg-shlibdeps fakeroot cpack python3 man; do
  command -v "$tool" >/dev/null || fail "$tool not found after install-deps.sh --ci"
done
if dpkg-query -W -f='${Status}' rotor 2>/dev/null | grep -q "installed"; then
  fail "a rotor package is already installed; remove it first (dpkg --purge rotor)"
fi

work=$(mktemp -d)
installed=0
user_existed=0
getent passwd rotor >/dev/null && user_existed=1
remove_user() {
  # Debian keeps system users on purge; CI removes the one it created to leave the machine clean.
  if ((user_existed == 0)) && getent passwd rotor >/dev/null; then
    userdel rotor
  fi
  if ((user_existed == 0)) && getent group rotor >/dev/null; then
    groupdel rotor
  fi
}
cleanup() {
  if ((installed)); then
    dpkg --purge rotor >/dev/null 2>&1 || true
    remove_user || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

stage "alert rules (promtool)"
promtool check rules packaging/prometheus/rotor-alerts.yml
(cd packaging/prometheus && promtool test rules rotor-alerts.test.yml)

stage "metric names (docs/metrics.md) in the rules and the dashboard"
python3 -m json.tool packaging/grafana/rotor-dashboard.json >/dev/null
python3 - <<'PY'
import json, re, sys
documented = set(re.findall(r"^\| `(rotor_[a-z0-9_]+)`", open("docs/metrics.md").read(), re.M))
histograms = {n for n in documented if n.endswith("_seconds") and "duration" in n}
def base(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in histograms:
            return name[: -len(suffix)]
    return name
dash = json.load(open("packaging/grafana/rotor-dashboard.json"))
exprs = []
def walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                exprs.append(value)
            else:
                walk(value)
    elif isinstance(node, list):
        for item in node:
            walk(item)
walk(dash)
sources = {"dashboard": "\n".join(exprs), "alert rules": open("packaging/prometheus/rotor-alerts.yml").read()}
bad = []
for what, text in sources.items():
    used = {base(n) for n in re.findall(r"\brotor_[a-z0-9_]+", text)}
    used.discard("rotor_")
    unknown = sorted(used - documented)
    if unknown:
        bad.append(f"{what}: not in docs/metrics.md: {', '.join(unknown)}")
    print(f"{what}: {len(used)} metric names, all documented" if not unknown else bad[-1])
if not exprs:
    bad.append("dashboard: no expressions")
sys.exit(1 if bad else 0)
PY

stage "man pages"
for page in packaging/man/rotor.8 packaging/man/rotor.yaml.5; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null || true)
  [[ -z "$warnings" ]] || fail "$page: $warnings"
done
echo "no groff warnings"

# Overall exposure of a unit file, offline (no running systemd needed).
check_exposure() {
  local unit=$1 out score
  out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || true
  score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
  [[ -n "$score" ]] || { echo "$out" >&2; fail "no exposure score for $unit"; }
  python3 -c "import sys; sys.exit(0 if float('$score') <= float('$max_exposure') else 1)" ||
    { grep '✗' <<<"$out" >&2 || true; fail "$unit: exposure $score > $max_exposure"; }
  echo "$unit: exposure $score (limit $max_exposure)"
}

stage "unit: systemd-analyze security (source)"
check_exposure packaging/rotor.service
# The secure heap needs mlock (and mmap/madvise/mprotect); nothing the unit denies may hold them.
denied=$(systemd-analyze syscall-filter --no-pager @privileged @resources)
for call in mlock munlock mmap mprotect madvise prctl; do
  if grep -qx "[[:space:]]*$call" <<<"$denied"; then
    fail "rotor.service denies $call (in @privileged or @resources)"
  fi
done
grep -qx 'SystemCallFilter=@memlock' packaging/rotor.service || fail "rotor.service: @memlock not allowed"
grep -qx 'LimitMEMLOCK=8M' packaging/rotor.service || fail "rotor.service: LimitMEMLOCK missing"
echo "mlock, mmap, mprotect, madvise, prctl allowed; LimitMEMLOCK=8M"

stage "build the .deb (Release, tests off) in $build_dir"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DROTOR_BUILD_TESTS=OFF -DROTOR_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" --target rotor rotor_packaging_files -j"$(nproc)"
rm -f "$build_dir"/rotor_*.deb
(cd "$build_dir" && cpack -G DEB --config CPackConfig.cmake >/dev/null)
deb=$(ls "$build_dir"/rotor_*.deb)
[[ $(wc -l <<<"$deb") -eq 1 ]] || fail "expected one .deb, got: $deb"
echo "built $deb ($(du -h "$deb" | cut -f1))"

stage "package contents"
dpkg-deb -I "$deb"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$work/contents"
cat "$work/contents"
expect_entry() { # mode owner path
  grep -qxF -e "$1 $2 $3" "$work/contents" || fail "package: expected '$1 $2 $3'"
}
expect_entry -rwxr-xr-x root/root ./usr/sbin/rotor
expect_entry -rw-r--r-- root/root ./lib/systemd/system/rotor.service
expect_entry -rw-r--r-- root/root ./usr/lib/sysusers.d/rotor.conf
expect_entry -rw-r--r-- root/root ./usr/lib/tmpfiles.d/rotor.conf
expect_entry -rw-r----- root/root ./etc/rotor/rotor.yaml
expect_entry -rw-r--r-- root/root ./usr/share/man/man8/rotor.8.gz
expect_entry -rw-r--r-- root/root ./usr/share/man/man5/rotor.yaml.5.gz
expect_entry -rw-r--r-- root/root ./usr/share/doc/rotor/copyright
expect_entry -rw-r--r-- root/root ./usr/share/doc/rotor/changelog.Debian.gz
expect_entry -rw-r--r-- root/root ./usr/share/doc/rotor/vault-policy.hcl
expect_entry -rw-r--r-- root/root ./usr/share/doc/rotor/operations.md
expect_entry -rw-r--r-- root/root ./usr/share/doc/rotor/prometheus/rotor-alerts.yml
expect_entry -rw-r--r-- root/root ./usr/share/doc/rotor/grafana/rotor-dashboard.json
if grep -E 'rotor-sim|/include/|\.a$|/tests?/' "$work/contents"; then
  fail "package: holds files that must not ship (simulator, headers, libraries, tests)"
fi
dpkg-deb -e "$deb" "$work/control"
[[ $(cat "$work/control/conffiles") == "/etc/rotor/rotor.yaml" ]] || fail "conffiles: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do
  [[ -x "$work/control/$script" ]] || fail "control: $script missing or not executable"
  sh -n "$work/control/$script"
done
grep -q '^Depends:.*libc6' "$work/control/control" || fail "control: no shlibdeps-derived Depends"
if grep -v '^[[:space:]]*#' "$work/control/postinst" | grep -Eq 'systemctl (enable|start)|deb-systemd-invoke start'; then
  fail "postinst must not enable or start the service"
fi

stage "lintian"
lintian_out="$work/lintian"
lintian --allow-root --info --display-info --tag-display-limit 0 "$deb" >"$lintian_out" 2>&1 || true
cat "$lintian_out"
if grep -q '^E: ' "$lintian_out"; then
  fail "lintian reported errors"
fi
missing_docs=()
while read -r tag; do
  grep -q -- "\`$tag\`" docs/operations.md || missing_docs+=("$tag")
done < <(sed -n 's/^W: rotor[^:]*: \([a-z0-9-]*\).*/\1/p' "$lintian_out" | sort -u)
((${#missing_docs[@]} == 0)) ||
  fail "lintian warnings not explained in docs/operations.md: ${missing_docs[*]}"
echo "lintian: $(grep -c '^E: ' "$lintian_out" || true) errors, $(grep -c '^W: ' "$lintian_out" || true) warnings (each explained in docs/operations.md)"

stage "dpkg -i"
dpkg -i "$deb"
installed=1

stage "installed files"
check_stat() { # path expected "%a %U %G"
  local got
  got=$(stat -c '%a %U %G' "$1" 2>/dev/null) || fail "missing after install: $1"
  [[ "$got" == "$2" ]] || fail "$1: got '$got', expected '$2'"
  echo "ok  $2  $1"
}
check_stat /usr/sbin/rotor "755 root root"
check_stat /lib/systemd/system/rotor.service "644 root root"
check_stat /usr/lib/sysusers.d/rotor.conf "644 root root"
check_stat /usr/lib/tmpfiles.d/rotor.conf "644 root root"
check_stat /etc/rotor "750 root rotor"
check_stat /etc/rotor/rotor.yaml "640 root rotor"
check_stat /etc/rotor/credentials "700 root root"
check_stat /var/lib/rotor "700 rotor rotor"
check_stat /usr/share/man/man8/rotor.8.gz "644 root root"
check_stat /usr/share/man/man5/rotor.yaml.5.gz "644 root root"
check_stat /usr/share/doc/rotor/vault-policy.hcl "644 root root"
[[ $(getent passwd rotor | cut -d: -f7) == /usr/sbin/nologin ]] || fail "rotor user: $(getent passwd rotor)"
dpkg-statoverride --list /etc/rotor/rotor.yaml | grep -Eqx 'root rotor 0?640 /etc/rotor/rotor.yaml' ||
  fail "no statoverride for /etc/rotor/rotor.yaml"
zcat /usr/share/man/man8/rotor.8.gz | grep -q '^\.TH ROTOR 8' || fail "rotor.8.gz is not the man page"
cmp -s packaging/rotor.yaml /etc/rotor/rotor.yaml || fail "/etc/rotor/rotor.yaml differs from packaging/rotor.yaml"

stage "installed rotor"
version=$(/usr/sbin/rotor --version)
echo "$version"
[[ "$version" == rotor\ * ]] || fail "rotor --version printed '$version'"
/usr/sbin/rotor --help >/dev/null
# The shipped example is valid with its four credentials present (as LoadCredential= provides them).
creds="$work/credentials"
install -d -m 0700 "$creds"
printf 'b1946ac9-2c38-4f4c-9a5c-1f7e6c1a2b3d\n' >"$creds/vault-role-id"
printf '9f86d081-884c-4d63-a19f-2c1e8e6f0a7b\n' >"$creds/vault-secret-id"
printf 'QZ7XK2M4W9R1T5Y8B3N6\n' >"$creds/otc-ak"
printf 'k3Jd9sLq2Wm8Xv4Zr7Tn1Yb6Hc5Gf0Pe3Ua9Qi2O\n' >"$creds/otc-sk"
chmod 0600 "$creds"/*
CREDENTIALS_DIRECTORY="$creds" /usr/sbin/rotor check-config -c /etc/rotor/rotor.yaml ||
  fail "rotor check-config rejects the installed example"

stage "systemd-analyze verify and security (installed unit)"
# verify needs no running systemd: it loads the unit file, checks the executables and settings.
verify_out=$(systemd-analyze verify --man=no /lib/systemd/system/rotor.service 2>&1) || {
  echo "$verify_out" >&2
  fail "systemd-analyze verify failed"
}
if [[ -n "$verify_out" ]]; then
  echo "$verify_out" >&2
  fail "systemd-analyze verify is not clean"
fi
echo "systemd-analyze verify: clean"
check_exposure /lib/systemd/system/rotor.service

stage "reinstall (the upgrade path) keeps a changed configuration, its owner and mode"
printf '# changed by ci-packaging.sh\n' >>/etc/rotor/rotor.yaml
dpkg -i "$deb" >/dev/null
tail -n 1 /etc/rotor/rotor.yaml | grep -qx '# changed by ci-packaging.sh' || fail "reinstall replaced a changed conffile"
check_stat /etc/rotor/rotor.yaml "640 root rotor"
check_stat /var/lib/rotor "700 rotor rotor"

stage "dpkg -r, dpkg --purge"
dpkg -r rotor
[[ ! -e /usr/sbin/rotor && ! -e /lib/systemd/system/rotor.service ]] || fail "dpkg -r left the binary or unit"
[[ -e /etc/rotor/rotor.yaml ]] || fail "dpkg -r removed the conffile (only purge should)"
dpkg --purge rotor
installed=0
for path in /etc/rotor /var/lib/rotor /usr/share/doc/rotor /usr/lib/sysusers.d/rotor.conf; do
  [[ ! -e "$path" ]] || fail "purge left $path"
done
if dpkg-statoverride --list | grep -q '/etc/rotor'; then
  fail "purge left a statoverride"
fi
remove_user

stage "done ($deb)"
