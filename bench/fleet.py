#!/usr/bin/env python3
"""Fleet benchmarks of Rotor against the simulators on loopback (issue 8).

Run through bench/run.sh, which builds in Release first. Every scenario starts fresh simulators
(`rotor-sim ecs` with a rate limit and a realistic latency, `rotor-sim vault` with a fixed
latency), runs one client process to completion and measures it from outside: wall time, CPU
seconds of that process alone (wait4 rusage: user + system, all its threads), and what the ECS
simulator counted (requests by route and status, 429s). Prints Markdown rows for
docs/benchmarks.md and writes the raw figures as JSON.

Scenarios:
  unique-known     unique mode, `limits.requests_per_second: R` (R known to Rotor)
  unique-adaptive  unique mode, R unknown to Rotor (`adaptive: true`, starting at 10/s)
  shared           shared mode, batches of up to 1,000 servers
  peer             the same unique-mode rotation by the official Huawei Cloud SDK + node-vault
                   (Node.js), and Rotor again, both with no rate limit at the same concurrency
  memory           `rotor run` managing the fleet left by unique-known: peak and idle RSS,
                   wake-ups (context switches of all its threads) per idle minute
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

AK = "BENCHACCESSKEY000001"
SK = "bench-secret-key-0001-not-a-secret"
PROJECT = "5b7e2c1d9a8f4e3b8c6d1e0f2a3b4c5d"
VAULT_TOKEN = "hvs.bench-root-token-0123456789"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Sims:
    """Both simulators as processes; stopped with SIGTERM on exit."""

    def __init__(self, sim, work, servers, rps, ecs_latency, vault_latency, threads):
        self.procs = []
        self.work = work
        faults = {"latency_ms": {"min": ecs_latency[0], "max": ecs_latency[1]}}
        if rps:
            faults["rate_limit"] = {"rps": rps, "burst": rps}
        self.ecs = self._start(
            "ecs",
            [sim, "ecs", "--listen", "127.0.0.1:0", "--ak", AK, "--sk-file", f"{work}/sk",
             "--project-id", PROJECT, "--servers", str(servers), "--windows-share", "0.3",
             "--no-plugin-share", "0", "--seed", "7", "--flavor", "huawei",
             "--threads", str(threads), "--faults-json", json.dumps(faults)])
        self.vault = self._start(
            "vault",
            [sim, "vault", "--listen", "127.0.0.1:0", "--root-token-file", f"{work}/vault-token",
             "--latency-ms", str(vault_latency), "--threads", str(threads)])

    def _start(self, name, args):
        out = open(f"{self.work}/{name}.out", "w+")
        err = open(f"{self.work}/{name}.log", "w")
        proc = subprocess.Popen(args, stdout=out, stderr=err)
        self.procs.append(proc)
        for _ in range(600):
            out.seek(0)
            line = out.readline().strip()
            if line.startswith("http"):
                return line
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the {name} simulator did not start; see {self.work}/{name}.log")

    def ecs_get(self, path):
        with urllib.request.urlopen(self.ecs + path, timeout=120) as answer:
            return json.load(answer)

    def ecs_post(self, path, body):
        request = urllib.request.Request(self.ecs + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)

    def vault_read(self, path):
        request = urllib.request.Request(f"{self.vault}/v1/secret/data/{path}",
                                         headers={"X-Vault-Token": VAULT_TOKEN})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)["data"]["data"]

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rotor_config(work, sims, mode, rps, adaptive, concurrency, max_batch, metrics_port,
                 log_level="warn"):
    limits = f"requests_per_second: {int(rps)}, max_batch: {max_batch}"
    if adaptive:
        limits += ", adaptive: true"
    path = f"{work}/rotor-{mode}.yaml"
    with open(path, "w") as out:
        out.write(f"""daemon:
  state_dir: {work}/state
  concurrency: {concurrency}
  metrics_listen: 127.0.0.1:{metrics_port}
  log: {{ level: {log_level} }}
vault:
  address: {sims.vault}
  auth:
    method: token
    token_file: {work}/vault-token
  kv:
    mount: secret
    path: "ecs/{{cloud}}/{{project_id}}/{{server_id}}"
clouds:
  bench:
    flavor: huawei
    region: eu-de
    project_id: {PROJECT}
    endpoints:
      ecs: {sims.ecs}
      iam: {sims.ecs}
    auth:
      type: aksk
      access_key_file: {work}/ak
      secret_key_file: {work}/sk
    limits: {{ {limits} }}
policies:
  - name: fleet
    cloud: bench
    select: {{ all: true }}
    mode: {mode}
    max_age: 30d
""")
    os.chmod(path, 0o600)
    return path


def run_measured(args, cwd=None, env=None, stdout=None):
    """Runs one process to completion: (exit status, wall seconds, CPU seconds of that process)."""
    started = time.monotonic()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=stdout or subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    # wait4 gives the rusage of this child alone (every thread, user + system), not the sims'.
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, err


def ecs_counts(sims):
    stats = sims.ecs_get("/_sim/stats")
    accepted = 0
    for route, codes in stats.get("routes", {}).items():
        for code, n in codes.items():
            if code.startswith("2"):
                accepted += n
    return {
        "requests": stats.get("requests", 0),
        "accepted": accepted,
        "rate_limited": stats.get("faults", {}).get("rate_limited", 0),
        "routes": stats.get("routes", {}),
    }


class Sampler:
    """Where the wall time goes: the ECS simulator's accepted resets, once a second, as
    (seconds since start, resets so far, 429s so far); summarised as the time to the first reset,
    the steady rate (the middle 80 % of resets) and the tail after the last one."""

    def __init__(self, sims, period=0.5):
        self.sims, self.period, self.samples = sims, period, []
        self.started = time.monotonic()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.wait(self.period):
            try:
                counts = ecs_counts(self.sims)
            except OSError:
                continue
            resets = sum(n for route, codes in counts["routes"].items() if "reset-password" in route
                         for code, n in codes.items() if code.startswith("2"))
            self.samples.append((time.monotonic() - self.started, resets, counts["rate_limited"]))

    def stop(self):
        ended = time.monotonic() - self.started
        self.done.set()
        self.thread.join()
        total = self.samples[-1][1] if self.samples else 0
        if total == 0:
            return {"samples": self.samples}
        at = lambda share: next(t for t, n, _ in self.samples if n >= share * total)
        first, last = at(1e-9), at(1.0)
        lo, hi = at(0.1), at(0.9)
        return {"first_reset_s": first, "last_reset_s": last, "end_s": ended,
                "steady_resets_per_s": 0.8 * total / (hi - lo) if hi > lo else None,
                "samples": self.samples}


def check_fleet(sims, servers, sample=40):
    """Every server was reset once; a sample's current password is the one Vault holds."""
    fleet = sims.ecs_get("/_sim/servers")["servers"]
    reset = sum(1 for s in fleet if s["history"])
    matched = 0
    for s in fleet[:: max(1, len(fleet) // sample)]:
        try:
            data = sims.vault_read(f"ecs/bench/{PROJECT}/{s['id']}")
        except urllib.error.HTTPError:
            continue  # no secret: counted as a mismatch
        expected = s["after_restart_password"] or s["current_password"]
        if data.get("password") == expected:
            matched += 1
    checked = len(fleet[:: max(1, len(fleet) // sample)])
    return {"servers": len(fleet), "reset": reset, "sample": checked, "sample_ok": matched,
            "ok": reset == servers and matched == checked}


def scenario_rotate(opts, work, name, servers, mode, adaptive, max_batch, keep=False):
    log(f"== {name}: {servers} servers, mode {mode}, R={opts.rps}/s "
        f"{'unknown to Rotor (adaptive)' if adaptive else 'configured in Rotor'}")
    sims = Sims(opts.sim, work, servers, opts.rps, opts.ecs_latency, opts.vault_latency,
                opts.sim_threads)
    try:
        config = rotor_config(work, sims, mode, 10 if adaptive else opts.rps, adaptive,
                              opts.concurrency, max_batch, opts.metrics_port)
        sampler = Sampler(sims)
        status, wall, cpu, err = run_measured([opts.rotor, "rotate", "-c", config])
        timeline = sampler.stop()
        if status != 0:
            log(f"rotor rotate exited {status}: {err[-3000:]}")
        counts = ecs_counts(sims)
        check = check_fleet(sims, servers)
        bound = counts["accepted"] / opts.rps
        result = {
            "scenario": name, "servers": servers, "mode": mode, "adaptive": adaptive,
            "rps": opts.rps, "concurrency": opts.concurrency, "exit": status, "wall_s": wall,
            "cpu_s": cpu, "ecs_requests_needed": counts["accepted"],
            "ecs_requests_sent": counts["requests"], "http_429": counts["rate_limited"],
            "bound_s": bound, "wall_over_bound": wall / bound if bound else None,
            "achieved_rps": counts["accepted"] / wall, "share_of_r": counts["accepted"] / wall / opts.rps,
            "check": check, "routes": counts["routes"], "timeline": timeline,
        }
        log(json.dumps({k: v for k, v in result.items() if k != "routes"}, indent=None))
        if keep:
            return result, sims
        return result, None
    finally:
        if not keep:
            sims.stop()


def scenario_peer(opts, work, servers):
    log(f"== peer: {servers} servers, no rate limit, concurrency {opts.concurrency}")
    results = {}
    for side in ("rotor", "sdk"):
        sims = Sims(opts.sim, work, servers, 0, opts.ecs_latency, opts.vault_latency,
                    opts.sim_threads)
        try:
            if side == "rotor":
                config = rotor_config(work, sims, "unique", 1000, False, opts.concurrency, 100,
                                      opts.metrics_port)
                status, wall, cpu, err = run_measured([opts.rotor, "rotate", "-c", config])
            else:
                env = dict(os.environ, ECS_URL=sims.ecs, VAULT_URL=sims.vault, AK=AK,
                           SK_FILE=f"{work}/sk", PROJECT=PROJECT,
                           VAULT_TOKEN_FILE=f"{work}/vault-token",
                           CONCURRENCY=str(opts.concurrency))
                status, wall, cpu, err = run_measured(
                    ["node", os.path.join(opts.peer_dir, "rotate.js")], cwd=opts.peer_dir,
                    env=env)
            counts = ecs_counts(sims)
            check = check_fleet(sims, servers)
            results[side] = {"exit": status, "wall_s": wall, "cpu_s": cpu,
                             "cpu_ms_per_rotation": 1000 * cpu / servers,
                             "ecs_requests": counts["requests"], "check": check}
            if status != 0:
                log(err[-2000:])
            log(side, json.dumps(results[side]))
        finally:
            sims.stop()
    return results


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def context_switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            st = proc_status(f"{pid}/task/{tid}")
        except FileNotFoundError:
            continue
        total += int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"])
    return total


def kib(text):
    return int(text.split()[0])


def scenario_memory(opts, work, sims, servers, idle_seconds):
    """`rotor run` over the fleet that the previous scenario rotated (nothing is due)."""
    log(f"== memory: rotor run managing {servers} servers, idle window {idle_seconds}s")
    sims.ecs_post("/_sim/faults", {"rate_limit": {"rps": 0, "burst": 0}})
    config = rotor_config(work, sims, "unique", opts.rps, False, opts.concurrency, 100,
                          opts.metrics_port, log_level="info")
    errlog = open(f"{work}/daemon.log", "w+")
    started = time.monotonic()
    root = ["--allow-root"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([opts.rotor, "run", "-c", config, *root], stdout=subprocess.DEVNULL,
                            stderr=errlog)
    try:
        first_tick = None
        deadline = time.monotonic() + 1800
        cache = f"{work}/state/schedule.json"  # written after every tick
        if os.path.exists(cache):
            os.unlink(cache)
        while time.monotonic() < deadline and proc.poll() is None:
            if os.path.exists(cache):
                first_tick = time.monotonic() - started
                break
            time.sleep(0.2)
        if first_tick is None:
            errlog.seek(0)
            raise RuntimeError("rotor run did not finish a tick (exit status "
                               f"{proc.poll()}); its log ends with:\n{errlog.read()[-3000:]}")
        time.sleep(2)
        after_tick = proc_status(proc.pid)
        switches_before = context_switches(proc.pid)
        time.sleep(idle_seconds)
        idle = proc_status(proc.pid)
        switches = context_switches(proc.pid) - switches_before
        return {
            "servers": servers, "first_tick_s": first_tick,
            "vm_hwm_mib": kib(idle["VmHWM"]) / 1024, "vm_rss_idle_mib": kib(idle["VmRSS"]) / 1024,
            "vm_rss_after_tick_mib": kib(after_tick["VmRSS"]) / 1024,
            # VmRSS = anonymous (the heap, stacks: the daemon's own) + file-backed (code and
            # read-only data of the binary and its shared libraries, shared with other processes).
            "rss_anon_idle_mib": kib(idle["RssAnon"]) / 1024,
            "rss_file_idle_mib": kib(idle["RssFile"]) / 1024,
            "threads": int(idle["Threads"]), "idle_seconds": idle_seconds,
            "wakeups_per_minute": switches * 60.0 / idle_seconds,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def scenario_memory_empty(opts, work, idle_seconds):
    """`rotor run` with a policy that selects nothing: the daemon's floor."""
    log(f"== memory: rotor run with no servers, idle window {idle_seconds}s")
    sims = Sims(opts.sim, work, 0, 0, (0, 0), 0, 16)
    try:
        result = scenario_memory(opts, work, sims, 0, idle_seconds)
    finally:
        sims.stop()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rotor", required=True)
    parser.add_argument("--sim", required=True)
    parser.add_argument("--peer-dir", required=True, type=os.path.abspath)
    parser.add_argument("--quick", action="store_true", help="small fleets: a smoke check")
    parser.add_argument("--rps", type=float, default=None, help="the ECS limit R (requests/s)")
    parser.add_argument("--fleets", default=None, help="comma-separated fleet sizes")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ecs-latency", default="25,35", help="ECS latency min,max in ms")
    parser.add_argument("--vault-latency", type=int, default=3, help="Vault latency in ms")
    parser.add_argument("--peer-servers", type=int, default=None)
    parser.add_argument("--shared-servers", type=int, default=None)
    parser.add_argument("--idle-seconds", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--json", default=None, help="write the raw results here")
    opts = parser.parse_args()
    opts.ecs_latency = tuple(int(x) for x in opts.ecs_latency.split(","))
    opts.rps = opts.rps or (100.0 if opts.quick else 500.0)
    fleets = [int(x) for x in (opts.fleets or ("1000" if opts.quick else "10000,100000")).split(",")]
    opts.peer_servers = opts.peer_servers or (500 if opts.quick else 5000)
    opts.shared_servers = opts.shared_servers or (2000 if opts.quick else 10000)
    idle_seconds = opts.idle_seconds or (10 if opts.quick else 60)
    opts.sim_threads = max(32, opts.concurrency + 32)
    opts.metrics_port = 20000 + os.getpid() % 20000
    only = set(filter(None, opts.only.split(",")))
    wanted = lambda name: not only or name in only

    work = tempfile.mkdtemp(prefix="rotor-bench-")
    os.umask(0o077)
    os.makedirs(f"{work}/state")
    for name, text in (("ak", AK), ("sk", SK), ("vault-token", VAULT_TOKEN)):
        with open(f"{work}/{name}", "w") as f:
            f.write(text + "\n")
        os.chmod(f"{work}/{name}", 0o600)

    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "rps": opts.rps, "concurrency": opts.concurrency,
               "ecs_latency_ms": opts.ecs_latency, "vault_latency_ms": opts.vault_latency,
               "fleet": [], "shared": None, "peer": None, "memory": []}
    try:
        for servers in fleets:
            if wanted("unique-known"):
                keep = wanted("memory") and servers == max(fleets)
                result, sims = scenario_rotate(opts, work, "unique-known", servers, "unique",
                                               False, 100, keep=keep)
                results["fleet"].append(result)
                if sims is not None:
                    try:
                        results["memory"].append(
                            scenario_memory(opts, work, sims, servers, idle_seconds))
                    finally:
                        sims.stop()
                shutil.rmtree(f"{work}/state", ignore_errors=True)
                os.makedirs(f"{work}/state")
            if wanted("unique-adaptive"):
                result, _ = scenario_rotate(opts, work, "unique-adaptive", servers, "unique",
                                            True, 100)
                results["fleet"].append(result)
        if wanted("shared"):
            result, _ = scenario_rotate(opts, work, "shared", opts.shared_servers, "shared",
                                        False, 1000)
            results["shared"] = result
        if wanted("peer"):
            results["peer"] = scenario_peer(opts, work, opts.peer_servers)
        if wanted("memory"):
            shutil.rmtree(f"{work}/state", ignore_errors=True)
            os.makedirs(f"{work}/state")
            results["memory"].append(scenario_memory_empty(opts, work, idle_seconds))
    finally:
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump(results, f, indent=2)
        shutil.rmtree(work, ignore_errors=True)
    print(markdown(results))


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, {model}, {mem_gib:.0f} GiB; load average {load[0]:.1f}"


def markdown(r):
    out = [f"Machine: {r['machine']}; {r['date']}.",
           f"ECS simulator: R = {r['rps']:g} requests/s (burst R, 429 `Common.1503` with "
           f"`Retry-After: 1` above it), latency {r['ecs_latency_ms'][0]}–{r['ecs_latency_ms'][1]} ms; "
           f"Vault simulator: {r['vault_latency_ms']} ms per request; Rotor concurrency "
           f"{r['concurrency']}.", ""]
    if r["fleet"] or r["shared"]:
        out += ["| scenario | servers | ECS requests needed | bound N_req/R | wall | wall / bound "
                "| achieved / R | 429s | rotor CPU | all rotated |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for f in r["fleet"] + ([r["shared"]] if r["shared"] else []):
            out.append(
                f"| {f['scenario']} | {f['servers']:,} | {f['ecs_requests_needed']:,} | "
                f"{f['bound_s']:.1f} s | {f['wall_s']:.1f} s | {f['wall_over_bound'] or 0:.3f} | "
                f"{100 * f['share_of_r']:.1f} % | {f['http_429']:,} | {f['cpu_s']:.1f} s | "
                f"{'yes' if f['check']['ok'] else 'NO'} ({f['check']['reset']:,} reset, "
                f"{f['check']['sample_ok']}/{f['check']['sample']} checked in Vault) |")
        out.append("")
    if r["peer"]:
        p = r["peer"]
        rotor, sdk = p.get("rotor"), p.get("sdk")
        out += ["| unique-mode rotation, no rate limit | wall | CPU of the client process | "
                "CPU per rotation | all rotated |", "|---|---|---|---|---|"]
        for name, side in (("rotor", rotor), ("official SDK + node-vault (Node.js)", sdk)):
            if side:
                out.append(f"| {name} | {side['wall_s']:.1f} s | {side['cpu_s']:.2f} s | "
                           f"{side['cpu_ms_per_rotation']:.3f} ms | "
                           f"{'yes' if side['check']['ok'] else 'NO'} |")
        if rotor and sdk and rotor["cpu_s"] > 0:
            out.append(f"| ratio SDK / rotor | {sdk['wall_s'] / rotor['wall_s']:.2f}× | "
                       f"{sdk['cpu_s'] / rotor['cpu_s']:.1f}× | "
                       f"{sdk['cpu_ms_per_rotation'] / rotor['cpu_ms_per_rotation']:.1f}× | |")
        out.append("")
    if r["memory"]:
        out += ["| rotor run | first tick | VmHWM (peak) | VmRSS idle | of which anonymous | "
                "of which file-backed | threads | wake-ups per idle minute |",
                "|---|---|---|---|---|---|---|---|"]
        for m in r["memory"]:
            out.append(f"| {m['servers']:,} servers | {m['first_tick_s']:.1f} s | "
                       f"{m['vm_hwm_mib']:.1f} MiB | {m['vm_rss_idle_mib']:.1f} MiB | "
                       f"{m['rss_anon_idle_mib']:.1f} MiB | {m['rss_file_idle_mib']:.1f} MiB | "
                       f"{m['threads']} | {m['wakeups_per_minute']:.0f} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
