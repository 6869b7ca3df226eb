#pragma once
// A policy held after a halted run: the daemon starts no new rotation for it (pending resumes
// still run: I4) until the policy's configuration changes or an operator runs
// `rotor resume --policy NAME`. The hold lives in Vault, where the daemon and the one-shot
// commands meet, as a KV v2 secret of plain fields at `rotor/holds/{policy}` (relative to
// vault.kv.mount); lifting it writes a new version (held: false), nothing is ever deleted.

#include <optional>
#include <string>

#include "common/error.h"
#include "config/config.h"
#include "vault/client.h"

namespace rotor::daemon {

struct Hold {
  std::string reason;       // why the run halted; never a secret
  std::string since;        // RFC 3339 UTC
  std::string fingerprint;  // of the policy (and its cloud) when it halted
};

[[nodiscard]] std::string hold_path(const std::string& policy);
// A digest of the policy's canonical configuration and its cloud's (no secret: references only).
[[nodiscard]] std::string policy_fingerprint(const config::Config& config,
                                             const config::Policy& policy);

// nullopt: not held (never held, or lifted).
Result<std::optional<Hold>> read_hold(vault::VaultClient& vault, const std::string& policy);
Result<void> write_hold(vault::VaultClient& vault, const std::string& policy, const Hold& hold);
// `lifted_by` says who lifted it ("rotor resume", "configuration change").
Result<void> lift_hold(vault::VaultClient& vault, const std::string& policy,
                       const std::string& lifted_by, const std::string& at);

}  // namespace rotor::daemon
