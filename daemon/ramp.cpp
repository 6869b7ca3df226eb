#include "daemon/ramp.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace rotor::daemon {
namespace {

void add_batches(std::vector<PlannedJob>& out, std::vector<engine::Target>& targets,
                 std::size_t begin, std::size_t end, std::size_t batch, std::size_t wave) {
  for (std::size_t start = begin; start < end; start += batch) {
    PlannedJob job;
    job.wave = wave;
    const auto stop = std::min(end, start + batch);
    job.targets.assign(
        std::make_move_iterator(targets.begin() + static_cast<std::ptrdiff_t>(start)),
        std::make_move_iterator(targets.begin() + static_cast<std::ptrdiff_t>(stop)));
    out.push_back(std::move(job));
  }
}

}  // namespace

std::vector<PlannedJob> plan_waves(std::vector<engine::Target> resumes,
                                   std::vector<engine::Target> fresh, std::size_t batch,
                                   std::size_t canary) {
  batch = std::max<std::size_t>(1, batch);
  canary = std::max<std::size_t>(1, canary);
  std::vector<PlannedJob> out;
  add_batches(out, resumes, 0, resumes.size(), batch, 0);
  std::size_t wave = 1;
  std::size_t size = canary;
  for (std::size_t start = 0; start < fresh.size(); ++wave) {
    const std::size_t end = std::min(fresh.size(), start + size);
    add_batches(out, fresh, start, end, batch, wave);
    start = end;
    size *= 2;
  }
  return out;
}

bool run_ramped(std::vector<RampRun>& runs, std::vector<RampJob>& jobs, int concurrency,
                const std::atomic<bool>& stop, const RampDone& done) {
  // Per run: its jobs in wave order, the next one to start, and the unfinished jobs per wave
  // (a job may start when no earlier wave of its run has unfinished jobs). O(runs) per pick, so
  // a pass over 100,000 servers stays cheap.
  struct RunState {
    std::vector<std::size_t> order;
    std::size_t next = 0;
    std::map<std::size_t, std::size_t> unfinished;  // wave → jobs not finished
  };
  std::vector<RunState> state(runs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    state.at(jobs[i].run).order.push_back(i);
    ++state[jobs[i].run].unfinished[jobs[i].wave];
  }
  for (auto& run : state) {
    std::stable_sort(run.order.begin(), run.order.end(),
                     [&](std::size_t a, std::size_t b) { return jobs[a].wave < jobs[b].wave; });
  }
  std::mutex mutex;
  std::condition_variable changed;
  bool interrupted = false;

  const auto blocked_for_good = [&](const RampJob& job) {
    return job.wave > 0 && runs[job.run].halted;
  };
  const auto account = [&](const RampJob& job, const std::vector<engine::Report>& reports) {
    RampRun& run = runs[job.run];
    for (const auto& report : reports) {
      if (report.outcome == engine::Outcome::Skipped) {
        continue;
      }
      ++run.attempted;
      if (report.outcome == engine::Outcome::Failed) {
        ++run.failed;
      }
    }
    if (!run.halted && run.failed > run.budget.allowed(run.attempted)) {
      run.halted = true;
      run.halt_reason =
          fmt::format("{} definite failures among {} servers exceed the error budget ({})",
                      run.failed, run.attempted, run.budget.to_string());
    }
    auto& unfinished = state[job.run].unfinished;
    if (auto wave = unfinished.find(job.wave); wave != unfinished.end() && --wave->second == 0) {
      unfinished.erase(wave);
    }
  };

  const auto worker = [&] {
    std::unique_lock lock(mutex);
    while (true) {
      std::size_t pick = jobs.size();
      bool may_wait = false;
      for (auto& run : state) {
        if (run.next >= run.order.size()) {
          continue;
        }
        const RampJob& job = jobs[run.order[run.next]];
        if (blocked_for_good(job)) {
          continue;  // every later job of this run is in a later wave too
        }
        if (!run.unfinished.empty() && job.wave > run.unfinished.begin()->first) {
          may_wait = true;  // an earlier wave is still running
          continue;
        }
        pick = run.order[run.next];
        break;
      }
      if (pick < jobs.size() && stop.load()) {
        interrupted = true;
        return;
      }
      if (pick == jobs.size()) {
        if (!may_wait) {
          return;
        }
        changed.wait(lock);
        continue;
      }
      ++state[jobs[pick].run].next;
      lock.unlock();
      std::vector<engine::Report> reports = jobs[pick].work();
      lock.lock();
      account(jobs[pick], reports);
      if (done) {
        done(jobs[pick], reports);
      }
      changed.notify_all();
    }
  };

  const auto threads = std::min(static_cast<std::size_t>(std::max(1, concurrency)),
                                std::max<std::size_t>(1, jobs.size()));
  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < threads; ++t) {
      pool.emplace_back(worker);
    }
    worker();
  }
  for (auto& run : state) {
    for (std::size_t k = run.next; k < run.order.size(); ++k) {
      const RampJob& job = jobs[run.order[k]];
      if (blocked_for_good(job)) {
        runs[job.run].untouched += job.servers;
      }
    }
  }
  return interrupted;
}

}  // namespace rotor::daemon
