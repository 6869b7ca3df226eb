#pragma once
// The canary ramp and the per-run error budget (landscape.md: SSM MaxConcurrency/MaxErrors).
// A policy's run is cut into waves: wave 0 holds the pending resumes (never held back: I4; they
// start before anything else and hold nothing back), wave 1 the first `canary` new rotations, and
// every later wave twice the one before. A wave starts only when the policy's earlier waves have
// finished, so a broken image or a wrong credential shows in the canary before the fleet sees it.
// Once a run's definite failures exceed its error budget the run halts: no later job of that
// policy starts (jobs already running finish; resumes still run).
//
// Used by `rotor rotate` (daemon/runner.cpp: the jobs arrive while the cloud's listing is still
// coming) and by the daemon's ticks (daemon/scheduler.cpp: planned up front); the jobs of several
// policies share one pool of workers.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
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
  std::size_t tag = 0;  // the caller's own number for the job (the executor keeps a copy of it)
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

// plan_waves for targets that arrive one at a time: each call returns the jobs the target
// completed (a batch that filled up, or the last batch of a wave), finish() the rest. The jobs of
// waves >= 1 come out in wave order.
class WavePlanner {
 public:
  WavePlanner(std::size_t batch, std::size_t canary);
  [[nodiscard]] std::vector<PlannedJob> add_resume(engine::Target target);
  [[nodiscard]] std::vector<PlannedJob> add_fresh(engine::Target target);
  [[nodiscard]] std::vector<PlannedJob> finish();

 private:
  const std::size_t batch_;
  PlannedJob resumes_;
  PlannedJob fresh_;
  std::size_t wave_size_;        // servers in fresh_.wave
  std::size_t wave_filled_ = 0;  // of them planned so far, fresh_ included
};

// Called (serialised) after each job with its reports.
using RampDone = std::function<void(const RampJob& job, const std::vector<engine::Report>&)>;

// Runs jobs as they are added, on the thread that calls run() and up to `concurrency` - 1
// helpers, honouring the waves and the budgets of `runs`. The jobs of one run's waves >= 1 are
// added in wave order; a wave-0 job at any time. `stop` is checked whenever a job could start.
// add() and close() are thread-safe and may be called while run() runs on another thread.
class RampExecutor {
 public:
  RampExecutor(std::vector<RampRun>& runs, const std::atomic<bool>& stop, RampDone done);

  void add(RampJob job);  // throws std::logic_error for a wave added out of order
  // Waits while the servers of the jobs added and not started yet (those a halt holds back for
  // good not counted) are `servers` or more, and run() is still going: a producer that would
  // otherwise run far ahead of the workers (listing a whole fleet before its thousandth server
  // is rotated) keeps pace with them instead.
  void wait_for_room(std::size_t servers);
  void close();  // no more jobs: run() returns once the startable ones have run
  // Returns true when a stop request left jobs unstarted. Once.
  bool run(int concurrency);

 private:
  // Per run: its resumes, its other jobs in wave order and the next one to start, and the
  // unfinished jobs per wave (a job may start when no earlier wave of its run has unfinished
  // jobs). O(runs) per pick, so a pass over 100,000 servers stays cheap.
  struct RunState {
    std::deque<std::size_t> resumes;
    std::vector<std::size_t> order;
    std::size_t next = 0;
    std::map<std::size_t, std::size_t> unfinished;  // wave >= 1 → jobs not finished
    std::size_t queued_resume_servers = 0;          // in jobs added and not started
    std::size_t queued_servers = 0;                 // the same, waves >= 1
  };
  struct Pick {
    std::optional<std::size_t> job;
    std::size_t run = 0;
    bool resume = false;
    bool may_wait = false;  // no job: one is held back by an unfinished earlier wave
  };
  // Takes the next job that may start, if any.
  Pick pick_locked();
  void put_back_locked(const Pick& pick);
  void account_locked(const RampJob& job, const std::vector<engine::Report>& reports);
  void work();

  std::vector<RampRun>& runs_;
  const std::atomic<bool>& stop_;
  const RampDone done_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::condition_variable room_;  // a job started, a run halted, or run() returned
  std::deque<RampJob> jobs_;      // a deque: adding never moves a job that is running
  std::vector<RunState> state_;
  bool closed_ = false;
  bool interrupted_ = false;
  bool finished_ = false;  // run() returned
};

// Runs `jobs` (all known up front; moved from) on up to `concurrency` threads, the calling one
// included: a RampExecutor given every job and closed. Returns true when a stop request left jobs
// unstarted.
bool run_ramped(std::vector<RampRun>& runs, std::vector<RampJob>& jobs, int concurrency,
                const std::atomic<bool>& stop, const RampDone& done);

}  // namespace rotor::daemon
