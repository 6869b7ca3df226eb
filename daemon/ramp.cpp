#include "daemon/ramp.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <thread>
#include <utility>

namespace rotor::daemon {
namespace {

// The targets gathered so far, as a job of `filling`'s wave; `filling` starts over, same wave.
PlannedJob take(PlannedJob& filling) {
  PlannedJob job{filling.wave, std::move(filling.targets)};
  filling.targets.clear();
  return job;
}

}  // namespace

WavePlanner::WavePlanner(std::size_t batch, std::size_t canary)
    : batch_(std::max<std::size_t>(1, batch)), wave_size_(std::max<std::size_t>(1, canary)) {
  resumes_.wave = 0;
  fresh_.wave = 1;
}

std::vector<PlannedJob> WavePlanner::add_resume(engine::Target target) {
  std::vector<PlannedJob> out;
  resumes_.targets.push_back(std::move(target));
  if (resumes_.targets.size() == batch_) {
    out.push_back(take(resumes_));
  }
  return out;
}

std::vector<PlannedJob> WavePlanner::add_fresh(engine::Target target) {
  std::vector<PlannedJob> out;
  fresh_.targets.push_back(std::move(target));
  ++wave_filled_;
  const bool wave_full = wave_filled_ == wave_size_;
  if (fresh_.targets.size() == batch_ || wave_full) {
    out.push_back(take(fresh_));
  }
  if (wave_full) {
    ++fresh_.wave;
    wave_size_ *= 2;
    wave_filled_ = 0;
  }
  return out;
}

std::vector<PlannedJob> WavePlanner::finish() {
  std::vector<PlannedJob> out;
  if (!resumes_.targets.empty()) {
    out.push_back(take(resumes_));
  }
  if (!fresh_.targets.empty()) {
    out.push_back(take(fresh_));
  }
  return out;
}

std::vector<PlannedJob> plan_waves(std::vector<engine::Target> resumes,
                                   std::vector<engine::Target> fresh, std::size_t batch,
                                   std::size_t canary) {
  WavePlanner planner(batch, canary);
  std::vector<PlannedJob> out;
  const auto keep = [&out](std::vector<PlannedJob> jobs) {
    std::move(jobs.begin(), jobs.end(), std::back_inserter(out));
  };
  for (auto& target : resumes) {
    keep(planner.add_resume(std::move(target)));
  }
  keep(planner.finish());  // the resumes' last, partly filled batch before the new rotations
  for (auto& target : fresh) {
    keep(planner.add_fresh(std::move(target)));
  }
  keep(planner.finish());
  return out;
}

RampExecutor::RampExecutor(std::vector<RampRun>& runs, const std::atomic<bool>& stop, RampDone done)
    : runs_(runs), stop_(stop), done_(std::move(done)), state_(runs.size()) {}

void RampExecutor::add(RampJob job) {
  {
    const std::lock_guard lock(mutex_);
    RunState& run = state_.at(job.run);
    if (job.wave > 0 && !run.order.empty() && jobs_[run.order.back()].wave > job.wave) {
      throw std::logic_error(
          fmt::format("ramp: wave {} added after wave {}", job.wave, jobs_[run.order.back()].wave));
    }
    const std::size_t index = jobs_.size();
    if (job.wave == 0) {
      run.resumes.push_back(index);
      run.queued_resume_servers += job.servers;
    } else {
      run.order.push_back(index);
      ++run.unfinished[job.wave];
      run.queued_servers += job.servers;
    }
    jobs_.push_back(std::move(job));
  }
  changed_.notify_one();
}

void RampExecutor::wait_for_room(std::size_t servers) {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [&] {
    if (finished_ || interrupted_) {
      return true;
    }
    std::size_t queued = 0;
    for (std::size_t r = 0; r < state_.size(); ++r) {
      queued += state_[r].queued_resume_servers + (runs_[r].halted ? 0 : state_[r].queued_servers);
    }
    return queued < servers;
  });
}

void RampExecutor::close() {
  {
    const std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

RampExecutor::Pick RampExecutor::pick_locked() {
  Pick pick;
  for (std::size_t r = 0; r < state_.size(); ++r) {  // resumes first, whatever the waves do
    if (!state_[r].resumes.empty()) {
      pick.job = state_[r].resumes.front();
      pick.run = r;
      pick.resume = true;
      state_[r].resumes.pop_front();
      state_[r].queued_resume_servers -= jobs_[*pick.job].servers;
      return pick;
    }
  }
  for (std::size_t r = 0; r < state_.size(); ++r) {
    RunState& run = state_[r];
    if (run.next >= run.order.size() || runs_[r].halted) {
      continue;  // nothing added yet, or halted: every later job is held back for good
    }
    const RampJob& job = jobs_[run.order[run.next]];
    if (!run.unfinished.empty() && job.wave > run.unfinished.begin()->first) {
      pick.may_wait = true;  // an earlier wave is still running
      continue;
    }
    pick.job = run.order[run.next++];
    pick.run = r;
    run.queued_servers -= job.servers;
    return pick;
  }
  return pick;
}

void RampExecutor::put_back_locked(const Pick& pick) {
  RunState& run = state_[pick.run];
  if (pick.resume) {
    run.resumes.push_front(*pick.job);
    run.queued_resume_servers += jobs_[*pick.job].servers;
  } else {
    --run.next;
    run.queued_servers += jobs_[*pick.job].servers;
  }
}

void RampExecutor::account_locked(const RampJob& job, const std::vector<engine::Report>& reports) {
  RampRun& run = runs_[job.run];
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
  if (job.wave == 0) {
    return;
  }
  auto& unfinished = state_[job.run].unfinished;
  if (auto wave = unfinished.find(job.wave); wave != unfinished.end() && --wave->second == 0) {
    unfinished.erase(wave);
  }
}

void RampExecutor::work() {
  std::unique_lock lock(mutex_);
  while (!interrupted_) {
    const Pick pick = pick_locked();
    if (pick.job && stop_.load()) {
      put_back_locked(pick);  // a stop leaves the job unstarted, and says so
      interrupted_ = true;
      changed_.notify_all();
      room_.notify_all();
      return;
    }
    if (!pick.job) {
      if (closed_ && !pick.may_wait) {
        return;
      }
      changed_.wait(lock);
      continue;
    }
    RampJob& job = jobs_[*pick.job];
    room_.notify_all();
    lock.unlock();
    std::vector<engine::Report> reports = job.work();
    lock.lock();
    account_locked(job, reports);
    if (done_) {
      done_(job, reports);
    }
    changed_.notify_all();
    if (runs_[job.run].halted) {
      room_.notify_all();  // what the halt holds back no longer counts
    }
  }
}

bool RampExecutor::run(int concurrency) {
  {
    std::vector<std::jthread> pool;
    for (int t = 1; t < std::max(1, concurrency); ++t) {
      pool.emplace_back([this] { work(); });
    }
    work();
  }  // joins the pool
  const std::lock_guard lock(mutex_);
  finished_ = true;
  room_.notify_all();
  for (std::size_t r = 0; r < state_.size(); ++r) {
    if (!runs_[r].halted) {
      continue;
    }
    for (std::size_t k = state_[r].next; k < state_[r].order.size(); ++k) {
      runs_[r].untouched += jobs_[state_[r].order[k]].servers;
    }
  }
  return interrupted_;
}

bool run_ramped(std::vector<RampRun>& runs, std::vector<RampJob>& jobs, int concurrency,
                const std::atomic<bool>& stop, const RampDone& done) {
  RampExecutor executor(runs, stop, done);
  for (auto& job : jobs) {
    executor.add(std::move(job));
  }
  executor.close();
  const auto threads = std::min(static_cast<std::size_t>(std::max(1, concurrency)),
                                std::max<std::size_t>(1, jobs.size()));
  return executor.run(static_cast<int>(threads));
}

}  // namespace rotor::daemon
