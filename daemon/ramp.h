#pragma once
// The canary ramp and the per-run error budget (landscape.md: SSM MaxConcurrency/MaxErrors).
// A policy's run is cut into waves: wave 0 holds the pending resumes (never held back: I4), wave 1
// the first `canary` new rotations, and every later wave twice the one before. A wave starts only
// when the policy's earlier waves have finished, so a broken image or a wrong credential shows in
// the canary before the fleet sees it. Once a run's definite failures exceed its error budget the
// run halts: no later job of that policy starts (jobs already running finish; resumes still run).
//
// Used by `rotor rotate` (daemon/runner.cpp) and by the daemon's ticks (daemon/scheduler.cpp);
// the jobs of several policies share one pool of workers.

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "engine/rotator.h"

namespace rotor::daemon {

// One policy's run inside a pass; the executor fills in the counters.
struct RampRun {
  std::string policy;
  config::ErrorBudget budget;
  std::size_t attempted = 0;  // servers with a result other than skipped
  std::size_t failed = 0;     // definite failures (engine::Outcome::Failed)
  std::size_t untouched = 0;  // servers of jobs that never started because the run halted
  bool halted = false;
  std::string halt_reason;  // one human line; never a secret
};

struct RampJob {
  std::size_t run = 0;   // index into the runs
  std::size_t wave = 0;  // 0: resumes; 1: the canary; then doubling
  std::size_t servers = 0;
  std::function<std::vector<engine::Report>()> work;
};

// Jobs for one policy: the resumes (wave 0, in batches of `batch`), then the new rotations in
// waves of `canary`, 2×`canary`, 4×`canary`, … servers, each wave cut into batches of `batch`.
struct PlannedJob {
  std::size_t wave = 0;
  std::vector<engine::Target> targets;
};
[[nodiscard]] std::vector<PlannedJob> plan_waves(std::vector<engine::Target> resumes,
                                                 std::vector<engine::Target> fresh,
                                                 std::size_t batch, std::size_t canary);

// Called (serialised) after each job with its reports.
using RampDone = std::function<void(const RampJob& job, const std::vector<engine::Report>&)>;

// Runs `jobs` on up to `concurrency` threads (the calling one included), honouring the waves and
// the budgets of `runs`. `stop` is checked before each job starts. Returns true when a stop
// request left jobs unstarted.
bool run_ramped(std::vector<RampRun>& runs, std::vector<RampJob>& jobs, int concurrency,
                const std::atomic<bool>& stop, const RampDone& done);

}  // namespace rotor::daemon
