#pragma once
// What `rotor status` shows, and what the daemon's metrics will be computed from: per server,
// the state, the password's age and the next due time, from Vault metadata only (no secret is
// read), plus the operator actions that act on one record (`resume`, `show`).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/runtime.h"

namespace rotor::daemon {

struct ServerStatus {
  std::string policy;
  std::string server_id;
  std::string server_name;
  std::string state;  // from custom_metadata; "unrotated" when there is no record
  std::optional<config::SysSeconds> rotated_at;
  std::optional<config::SysSeconds> pending_since;
  config::SysSeconds next_due{};
  std::string quarantined;
  // The metadata mirror was written from an older version of the record (a process stopped
  // between its two writes): state and age may be out of date until the daemon's next tick
  // re-mirrors it. The record itself (the passwords) is intact.
  bool stale = false;
  std::string error;  // the record could not be read
};

// Every selected server of every (or one) policy. Errors per policy end up in `error` rows.
std::vector<ServerStatus> collect_status(Runtime& runtime, const std::optional<std::string>& policy,
                                         config::SysSeconds now);

// Finds the record of a server by id across the configured policies: its Vault path and policy.
struct Located {
  std::string path;
  std::string policy;
  std::string cloud;
};
Result<Located> locate(Runtime& runtime, const std::string& server_id);

// `rotor resume`: lifts a quarantine (and the failure count) with check-and-set.
Result<void> resume(Runtime& runtime, const std::string& server_id);

// The held policies (all, or `policy`), for `rotor status`; a hold that cannot be read is
// reported as held with the error as its reason (never guess "not held").
struct HeldPolicy {
  std::string policy;
  std::string since;
  std::string reason;
};
std::vector<HeldPolicy> held_policies(Runtime& runtime, const std::optional<std::string>& policy);

// `rotor resume --policy`: lifts the hold of a halted policy (daemon/hold.h). True when it was
// held; NotFound when no policy has that name.
Result<bool> resume_policy(Runtime& runtime, const std::string& policy);

}  // namespace rotor::daemon
