#pragma once
// Configuration of the Vault client: where Vault is, how to reach it, and how hard to retry.
// Durations are std::chrono types; nothing in here is a secret (credentials live in auth.h).

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"

namespace rotor::vault {

struct RetryPolicy {
  // Total attempts per request, first one included (5xx, 429, 412, connection failures).
  int max_attempts = 4;
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{10'000};
  // While Vault answers "sealed" (503), wait with back-off for at most this long in total.
  std::chrono::milliseconds sealed_max_wait{120'000};
};

struct VaultConfig {
  // Base address, e.g. "https://vault.example:8200" (VAULT_ADDR); no trailing /v1.
  std::string address = "https://127.0.0.1:8200";
  // Enterprise namespace sent as X-Vault-Namespace when not empty.
  std::string vault_namespace;
  // CA bundle for the server certificate (VAULT_CACERT); used by the transport, recorded here so
  // that one struct describes the connection.
  std::string ca_file;
  // Per-request timeout handed to the transport.
  std::chrono::milliseconds request_timeout{30'000};
  // The KV v2 mount that holds the server secrets, without slashes (e.g. "secret").
  std::string kv_mount = "secret";
  // The AppRole auth mount (used only with AppRole credentials).
  std::string approle_mount = "approle";
  RetryPolicy retry;
  // Field names containing one of these substrings (case-insensitive) are read into Secret;
  // the others are plain strings. See docs/vault.md.
  std::vector<std::string> sensitive_field_markers = {"password", "secret", "token", "key"};
  // Plain http:// is refused unless the host is loopback (a simulator) or this is set.
  bool allow_plain_http = false;
};

// Reads an environment variable; injectable so that tests need not touch the real environment.
using EnvLookup = std::function<const char*(const char*)>;

// Applies VAULT_ADDR, VAULT_CACERT and VAULT_NAMESPACE when they are set and not empty.
// (VAULT_TOKEN is read by the caller and handed over with token_from_value().)
void apply_environment(VaultConfig& config, const EnvLookup& lookup = &std::getenv);

// Checks the config: an http(s) address without a path, a plain-http address only for loopback
// (or with allow_plain_http), a mount name without slashes, positive timeouts and attempts.
Result<void> validate(const VaultConfig& config);

}  // namespace rotor::vault
