#pragma once
// The reconcile pass (rotation-protocol.md, "Finding work"): at start-up and periodically, the
// Vault records under each policy's folder are compared with the complete ECS listing.
//  - A record whose server is no longer in the cloud is marked (custom_metadata `gone_since`),
//    never deleted, logged once (the mark makes it once, across restarts too) and counted; the
//    mark is cleared when the server shows up again.
//  - A pending record of a server that still exists but that no policy selects any more (its tags
//    changed mid-rotation) is handed back to be resumed with its own pending password (I4).
// Only records written by Rotor (`managed_by: rotor`) are touched. A path template whose last
// segment is not exactly {server_id} or {server_name} cannot be listed per folder; such policies
// are named in `unsupported` (and logged once by the caller).

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/runtime.h"
#include "ecs/client.h"
#include "engine/rotator.h"

namespace rotor::daemon {

// One Vault folder holding one record per server of one cloud.
struct ReconcileScope {
  std::string folder;  // relative to the KV mount, without a trailing '/'
  std::string cloud;
  bool by_name = false;  // the keys are server names ({server_name}), not ids
};

// The distinct folders of the configured policies; policies whose template cannot be listed go
// to `unsupported`.
[[nodiscard]] std::vector<ReconcileScope> reconcile_scopes(const config::Config& config,
                                                           std::vector<std::string>* unsupported);

struct PendingOutside {
  std::string policy;  // the policy named in the record
  std::string cloud;
  engine::Target target;
};

struct ReconcileResult {
  std::map<std::string, std::size_t> gone;  // marked records, by the policy named in the record
  std::size_t newly_gone = 0;
  std::size_t back = 0;                 // marks cleared: the server is listed again
  std::vector<PendingOutside> pending;  // pending records outside every selection
  std::vector<std::string> errors;      // folders or records that could not be read
};

// `listings`: the complete listing of every cloud listed in this tick (others are skipped: never
// mark a server gone on a failed listing). `selected`: the Vault paths the tick already covers.
// `marked`: selected paths whose metadata still carries `gone_since` (to be cleared).
ReconcileResult reconcile(Runtime& runtime,
                          const std::map<std::string, std::vector<ecs::Server>>& listings,
                          const std::set<std::string>& selected,
                          const std::set<std::string>& marked, config::SysSeconds now);

}  // namespace rotor::daemon
