#pragma once
// Which servers a policy manages: the ECS listing filtered by the policy's selector (tags, OS,
// name regex, ids, exclusions), and where each server's record lives in Vault.

#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "ecs/client.h"
#include "engine/rotator.h"

namespace rotor::daemon {

// True when `server` matches every condition of `selector`.
[[nodiscard]] bool matches(const config::Selector& selector, const ecs::Server& server);

// The servers of `listing` that `policy` selects, in listing order.
[[nodiscard]] std::vector<ecs::Server> select(const config::Policy& policy,
                                              const std::vector<ecs::Server>& listing);

// The same selection as indexes into `listing` (a listing's page): no copy of the servers (the
// scheduler's, which looks at every server of a large fleet on every tick).
[[nodiscard]] std::vector<std::size_t> select_indexes(const config::Policy& policy,
                                                      std::span<const ecs::Server> listing);

// The Vault path (relative to the KV mount) from the configured template: {cloud}, {project_id},
// {server_id}, {server_name}, {policy}.
[[nodiscard]] std::string vault_path(const std::string& path_template, const config::Cloud& cloud,
                                     const config::Policy& policy, const ecs::Server& server);

}  // namespace rotor::daemon
