#pragma once
// One pass over the configured policies (`rotor rotate`): list each policy's servers, select them,
// and rotate them through the engine — unique-mode servers in parallel up to the concurrency
// limit, shared-mode servers in batches of at most the cloud's max_batch — in waves (pending
// resumes, the canary, doubling waves) stopped by the policy's error budget (daemon/ramp.h). A
// halted run holds the policy in Vault (daemon/hold.h), as the daemon's ticks do; a held policy
// runs only its pending resumes, unless servers are named explicitly (`--server`). Rotations start
// while the listing's later pages are still coming: the first page's servers are rotating before
// the last page has arrived.

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
  // Called after each server, from worker threads (serialised by the runner). `total` is the
  // number of servers the policy's run covers, or 0 while the listing is still coming.
  std::function<void(const engine::Report& report, std::size_t done, std::size_t total)> progress;
};

struct PolicyRun {
  std::string policy;
  std::string cloud;
  std::vector<engine::Report> reports;
  // The policy could not run at all (its hold could not be read, …) or not to its end (the
  // listing failed part-way: the servers listed before the failure were rotated, in `reports`).
  std::optional<Error> error;
  // Why new rotations stopped early: the run exceeded its error budget, or the policy was held
  // by an earlier halt (pending resumes ran all the same). nullopt: the run went through.
  std::optional<std::string> halted;
  std::size_t untouched = 0;  // selected servers this run left alone because of the halt
};

std::vector<PolicyRun> run_policies(Runtime& runtime, const RunOptions& options);

// Dry run of one policy's targets: reads records, generates (and drops) passwords, asks the batch
// API's dry_run, writes nothing.
std::vector<engine::Report> dry_run(Runtime& runtime, ecs::EcsClient& cloud,
                                    const engine::RotationPolicy& policy,
                                    const std::vector<engine::Target>& targets);

}  // namespace rotor::daemon
