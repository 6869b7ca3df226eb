#pragma once
// One pass over the configured policies: list each policy's servers, select them, and rotate
// them through the engine — unique-mode servers in parallel up to the concurrency limit,
// shared-mode servers in batches of at most the cloud's max_batch. Used by `rotor rotate` and by
// the daemon's scheduler.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/runtime.h"
#include "engine/rotator.h"

namespace rotor::daemon {

struct RunOptions {
  std::optional<std::string> policy;    // only this policy
  std::vector<std::string> server_ids;  // only these servers
  bool dry_run = false;                 // validate with the batch dry run; write nothing
  // Called after each server, from worker threads (serialised by the runner).
  std::function<void(const engine::Report& report, std::size_t done, std::size_t total)> progress;
};

struct PolicyRun {
  std::string policy;
  std::string cloud;
  std::vector<engine::Report> reports;
  std::optional<Error> error;  // the policy could not run at all (listing failed, …)
};

std::vector<PolicyRun> run_policies(Runtime& runtime, const RunOptions& options);

// Dry run of one policy's targets: reads records, generates (and drops) passwords, asks the batch
// API's dry_run, writes nothing.
std::vector<engine::Report> dry_run(Runtime& runtime, ecs::EcsClient& cloud,
                                    const engine::RotationPolicy& policy,
                                    const std::vector<engine::Target>& targets);

}  // namespace rotor::daemon
