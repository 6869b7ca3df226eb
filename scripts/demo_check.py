#!/usr/bin/env python3
"""Read-back for the demo: Vault metadata of a few servers, and an end-to-end check of every
server against Vault using the ECS simulator's knowledge of each server's passwords.
Prints counts and states only: never a password."""
import json
import ssl
import sys
import urllib.request


def get(url, ca, headers=None):
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def vault_get(vault, token, ca, path):
    return get(f"{vault}/v1/{path}", ca, {"X-Vault-Token": token, "X-Vault-Request": "true"})


def metadata(vault, token_file, ca, prefix, summary_file):
    token = open(token_file).read().strip()
    picked = {}
    for line in open(summary_file):
        fields = line.split()
        if len(fields) >= 5 and fields[3] == "rotated" and fields[2] not in picked:
            picked[fields[2]] = (fields[0], fields[1])
    for policy, (server_id, name) in sorted(picked.items()):
        meta = vault_get(vault, token, ca, f"secret/metadata/{prefix}/{server_id}")["data"]
        custom = meta.get("custom_metadata") or {}
        print(f"{name:22} policy={custom.get('policy')} state={custom.get('state')} "
              f"rotated_at={custom.get('rotated_at')} versions={meta.get('current_version')}")


def verify(vault, token_file, ca, prefix, ecs):
    token = open(token_file).read().strip()
    servers = get(f"{ecs}/_sim/servers", ca)
    servers = servers.get("servers", servers) if isinstance(servers, dict) else servers
    managed = violations = 0
    by_policy = {}
    for server in servers:
        record = vault_get(vault, token, ca, f"secret/data/{prefix}/{server['id']}")
        ours = {h["password"] for h in server.get("history", [])}
        if record is None:
            if ours:
                violations += 1
                print(f"VIOLATION: {server['name']} accepts a password Rotor set, but has no record")
            continue
        data = record["data"]["data"]
        managed += 1
        stored = {v for k, v in data.items() if "password" in k and isinstance(v, str)}
        for accepted in (server["current_password"], server["after_restart_password"]):
            if accepted in ours and accepted not in stored:
                violations += 1
                print(f"VIOLATION: {server['name']} may accept a password that is not in Vault")
        policy = data.get("policy", "?")
        entry = by_policy.setdefault(policy, {"servers": 0, "passwords": set(), "states": {}})
        entry["servers"] += 1
        if "password" in data:
            entry["passwords"].add(data["password"])
        state = data.get("state", "?")
        if data.get("quarantined"):
            state = "quarantined"
        entry["states"][state] = entry["states"].get(state, 0) + 1
    print(f"{len(servers)} servers in the cloud, {managed} with a Vault record")
    for policy, entry in sorted(by_policy.items()):
        states = ", ".join(f"{n} {s}" for s, n in sorted(entry["states"].items()))
        print(f"  {policy:16} {entry['servers']:3} servers: {states}; "
              f"{len(entry['passwords'])} distinct passwords")
    if violations:
        print(f"{violations} servers could lock someone out")
        sys.exit(1)
    print("No lockout: every password any server accepts now or after its restart is in Vault.")


if __name__ == "__main__":
    {"metadata": metadata, "verify": verify}[sys.argv[1]](*sys.argv[2:])
