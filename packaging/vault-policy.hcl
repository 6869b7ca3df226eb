# Vault policy for the Rotor daemon: exactly what it needs, nothing more.
#
# Install (adjust "secret" to vault.kv.mount and "ecs" to the first segment of vault.kv.path in
# /etc/rotor/rotor.yaml; the default path is ecs/{cloud}/{project_id}/{server_id}):
#   vault policy write rotor /usr/share/doc/rotor/vault-policy.hcl
#   vault write auth/approle/role/rotor token_policies=rotor token_ttl=1h token_max_ttl=24h \
#     secret_id_ttl=0 secret_id_bound_cidrs=10.0.0.0/8
#
# Rotor never deletes or destroys a secret version (previous passwords must stay readable), never
# lists or reads anything outside its prefix, and never touches other mounts or auth methods.

# The records: one KV v2 secret per server. create = first write (cas=0), update = the CAS writes
# of pending/commit, read = every rotation starts by reading the record.
path "secret/data/ecs/*" {
  capabilities = ["create", "read", "update"]
}

# custom_metadata mirror (state, rotated_at, ...), max_versions, and the metadata scan that
# 'rotor status' and the daemon's reconcile pass do without reading any password.
path "secret/metadata/ecs/*" {
  capabilities = ["read", "update", "list"]
}
path "secret/metadata/ecs" {
  capabilities = ["list"]
}

# Policy holds: a run halted by its error budget holds the policy (no new rotations) until
# 'rotor resume --policy' or a configuration change; plain fields, no secret.
path "secret/data/rotor/holds/*" {
  capabilities = ["create", "read", "update"]
}

# Start-up check that the mount exists and is KV version 2.
path "sys/internal/ui/mounts/secret" {
  capabilities = ["read"]
}

# Readiness after repeated server errors (sealed, standby, DR secondary). sys/health is also
# served without a token; the rule keeps the intent explicit.
path "sys/health" {
  capabilities = ["read"]
}

# The token's own TTL (rotor_vault_token_ttl_seconds) and its renewal. The AppRole login itself
# (auth/approle/login) needs no policy.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
