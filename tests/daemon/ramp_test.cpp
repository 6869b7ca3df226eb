// The canary ramp, the error budget and the repeat filter, without any network: jobs are
// functions that return scripted reports.
#include "daemon/ramp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "daemon/logging.h"
#include "tests/support/log_capture.h"

namespace rotor::daemon {
namespace {

std::vector<engine::Target> targets(std::size_t n, const std::string& prefix) {
  std::vector<engine::Target> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i].server.id = prefix + std::to_string(i);
  }
  return out;
}

engine::Report report(const std::string& id, engine::Outcome outcome) {
  engine::Report r;
  r.server_id = id;
  r.outcome = outcome;
  return r;
}

struct Fleet {
  std::vector<RampRun> runs;
  std::vector<RampJob> jobs;
  std::vector<std::string> started;  // server ids in the order their jobs started
  std::mutex mutex;

  // One policy whose servers fail when `fails` says so.
  void add(const std::string& policy, config::ErrorBudget budget, std::size_t resumes,
           std::size_t fresh, std::size_t canary, std::size_t batch,
           const std::function<engine::Outcome(const std::string&)>& outcome) {
    const std::size_t run = runs.size();
    RampRun r;
    r.policy = policy;
    r.budget = budget;
    runs.push_back(r);
    for (auto& planned : plan_waves(targets(resumes, policy + "-r"), targets(fresh, policy + "-f"),
                                    batch, canary)) {
      RampJob job;
      job.run = run;
      job.wave = planned.wave;
      job.servers = planned.targets.size();
      job.work = [this, outcome, planned] {
        std::vector<engine::Report> out;
        for (const auto& t : planned.targets) {
          {
            std::lock_guard lock(mutex);
            started.push_back(t.server.id);
          }
          out.push_back(report(t.server.id, outcome(t.server.id)));
        }
        return out;
      };
      jobs.push_back(std::move(job));
    }
  }
};

// Waves: resumes first (wave 0), then the canary, then doubling waves, cut into batches.
TEST(RampTest, PlanWavesDoublesAfterTheCanary) {
  const auto planned = plan_waves(targets(2, "r"), targets(20, "f"), 4, 3);
  std::vector<std::pair<std::size_t, std::size_t>> shape;  // (wave, batch size)
  for (const auto& job : planned) {
    shape.emplace_back(job.wave, job.targets.size());
  }
  // 3, 6, 11 (of 12) new servers in waves 1..3; batches of at most 4.
  const std::vector<std::pair<std::size_t, std::size_t>> expected{{0, 2}, {1, 3}, {2, 4}, {2, 2},
                                                                  {3, 4}, {3, 4}, {3, 3}};
  EXPECT_EQ(shape, expected);
  EXPECT_EQ(planned.front().targets.front().server.id, "r0");
  EXPECT_EQ(planned[1].targets.front().server.id, "f0");
}

// A percentage is taken of the servers attempted so far and rounded up; a count is absolute.
TEST(RampTest, ErrorBudgetAllowed) {
  const config::ErrorBudget five_percent{true, 5};
  EXPECT_EQ(five_percent.allowed(0), 0U);
  EXPECT_EQ(five_percent.allowed(1), 1U);
  EXPECT_EQ(five_percent.allowed(20), 1U);
  EXPECT_EQ(five_percent.allowed(21), 2U);
  EXPECT_EQ(five_percent.allowed(1000), 50U);
  const config::ErrorBudget none{false, 0};
  EXPECT_EQ(none.allowed(1000), 0U);
  EXPECT_EQ((config::ErrorBudget{false, 3}).allowed(1), 3U);
  EXPECT_EQ(five_percent.to_string(), "5%");
  EXPECT_EQ((config::ErrorBudget{false, 3}).to_string(), "3");
}

// Every canary server fails (a broken image): the run halts after the budget is spent and no
// later server is touched.
TEST(RampTest, BrokenCanaryHaltsTheRun) {
  Fleet fleet;
  fleet.add("p", config::ErrorBudget{true, 5}, 0, 100, 3, 1,
            [](const std::string&) { return engine::Outcome::Failed; });
  const std::atomic<bool> stop{false};
  EXPECT_FALSE(run_ramped(fleet.runs, fleet.jobs, 1, stop, {}));
  const RampRun& run = fleet.runs[0];
  EXPECT_TRUE(run.halted);
  EXPECT_EQ(fleet.started.size(), 2U);  // 1 failure of 1 is within 5% rounded up; 2 of 2 is not
  EXPECT_EQ(run.failed, 2U);
  EXPECT_EQ(run.untouched, 98U);
  EXPECT_THAT(run.halt_reason, ::testing::HasSubstr("2 definite failures among 2 servers exceed "
                                                    "the error budget (5%)"));
}

// Pending resumes always run, even when they spend the whole budget; skipped servers and
// unknown outcomes do not count as failures.
TEST(RampTest, ResumesAreNeverHeldBack) {
  Fleet fleet;
  fleet.add("p", config::ErrorBudget{false, 0}, 5, 10, 3, 1, [](const std::string& id) {
    if (id == "p-r0") {
      return engine::Outcome::Failed;
    }
    return id.find("-r") != std::string::npos ? engine::Outcome::StillPending
                                              : engine::Outcome::Rotated;
  });
  const std::atomic<bool> stop{false};
  run_ramped(fleet.runs, fleet.jobs, 1, stop, {});
  EXPECT_TRUE(fleet.runs[0].halted);
  EXPECT_EQ(fleet.started.size(), 5U);  // every resume, no new rotation
  EXPECT_EQ(fleet.runs[0].untouched, 10U);
}

// With a healthy fleet every wave runs, across several threads, and a wave starts only once the
// earlier ones finished: the canary's three servers are the first three to start.
TEST(RampTest, HealthyRunGoesThroughEveryWave) {
  Fleet fleet;
  fleet.add("p", config::ErrorBudget{true, 5}, 0, 50, 3, 1, [](const std::string& id) {
    return id == "p-f7" ? engine::Outcome::Failed : engine::Outcome::Rotated;
  });
  fleet.add("q", config::ErrorBudget{true, 5}, 0, 7, 1, 2,
            [](const std::string&) { return engine::Outcome::Skipped; });
  const std::atomic<bool> stop{false};
  std::size_t reported = 0;
  run_ramped(fleet.runs, fleet.jobs, 4, stop,
             [&](const RampJob&, const std::vector<engine::Report>& reports) {
               reported += reports.size();
             });
  EXPECT_FALSE(fleet.runs[0].halted);
  EXPECT_FALSE(fleet.runs[1].halted);
  EXPECT_EQ(reported, 57U);
  EXPECT_EQ(fleet.runs[0].failed, 1U);
  EXPECT_EQ(fleet.runs[1].attempted, 0U);
  std::vector<std::string> first_p;
  for (const auto& id : fleet.started) {
    if (id.rfind("p-", 0) == 0 && first_p.size() < 3) {
      first_p.push_back(id);
    }
  }
  EXPECT_THAT(first_p, ::testing::UnorderedElementsAre("p-f0", "p-f1", "p-f2"));
}

// A stop request starts nothing and says so.
TEST(RampTest, StopRequestStartsNothing) {
  Fleet fleet;
  fleet.add("p", config::ErrorBudget{}, 1, 5, 3, 1,
            [](const std::string&) { return engine::Outcome::Rotated; });
  const std::atomic<bool> stop{true};
  EXPECT_TRUE(run_ramped(fleet.runs, fleet.jobs, 2, stop, {}));
  EXPECT_TRUE(fleet.started.empty());
}

// The streaming form of plan_waves cuts the same waves and batches as targets arrive: a batch
// comes out once it is full or its wave is, the rest at finish().
TEST(RampTest, WavePlannerCutsAsTargetsArrive) {
  WavePlanner planner(4, 3);
  std::vector<std::pair<std::size_t, std::size_t>> shape;  // (wave, batch size), as they come out
  std::vector<std::size_t> after;  // how many fresh targets had arrived when each came out
  const auto keep = [&](std::vector<PlannedJob> jobs, std::size_t arrived) {
    for (const auto& job : jobs) {
      shape.emplace_back(job.wave, job.targets.size());
      after.push_back(arrived);
    }
  };
  auto fresh = targets(20, "f");
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    keep(planner.add_fresh(fresh[i]), i + 1);
    if (i == 4) {
      keep(planner.add_resume(targets(1, "r").front()), i + 1);  // a late resume: wave 0
    }
  }
  keep(planner.finish(), 20);
  // Waves of 3, 6, 11 (of 12), batches of at most 4; the resume's batch never filled.
  const std::vector<std::pair<std::size_t, std::size_t>> expected{{1, 3}, {2, 4}, {2, 2}, {3, 4},
                                                                  {3, 4}, {0, 1}, {3, 3}};
  EXPECT_EQ(shape, expected);
  EXPECT_EQ(after, (std::vector<std::size_t>{3, 7, 9, 13, 17, 20, 20}));
}

// Jobs added while the executor runs (the listing is still coming) start as they arrive; the
// waves still hold: no job of wave 2 starts before the canary's have finished; a resume added
// late runs although the run halted meanwhile; close() ends the run once the rest is done.
TEST(RampTest, ExecutorRunsJobsAddedWhileItRuns) {
  std::vector<RampRun> runs(1);
  runs[0].policy = "p";
  runs[0].budget = config::ErrorBudget{false, 1};
  std::mutex mutex;
  std::vector<std::string> finished;
  const auto job = [&](std::size_t wave, const std::string& id, engine::Outcome outcome) {
    RampJob ramp;
    ramp.wave = wave;
    ramp.servers = 1;
    ramp.work = [&, wave, id, outcome] {
      {
        std::lock_guard lock(mutex);
        if (wave == 2) {
          // Both canary jobs finished before any wave-2 job started.
          EXPECT_EQ(std::count_if(finished.begin(), finished.end(),
                                  [](const std::string& f) { return f.rfind("c", 0) == 0; }),
                    2);
        }
      }
      std::vector<engine::Report> reports{report(id, outcome)};
      std::lock_guard lock(mutex);
      finished.push_back(id);
      return reports;
    };
    return ramp;
  };
  const std::atomic<bool> stop{false};
  RampExecutor executor(runs, stop, {});
  std::jthread workers([&] { executor.run(3); });
  executor.add(job(1, "c0", engine::Outcome::Rotated));
  executor.add(job(1, "c1", engine::Outcome::Rotated));
  executor.add(job(2, "w0", engine::Outcome::Failed));
  executor.add(job(2, "w1", engine::Outcome::Failed));  // the second failure halts the run
  const auto wait_for = [&](std::size_t count) {
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard lock(mutex);
        if (finished.size() >= count) {
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  wait_for(4);
  EXPECT_THROW(executor.add(job(1, "late", engine::Outcome::Rotated)), std::logic_error);
  executor.add(job(3, "never", engine::Outcome::Rotated));
  executor.add(job(0, "resume", engine::Outcome::Rotated));
  executor.close();
  workers.join();
  EXPECT_TRUE(runs[0].halted);
  EXPECT_EQ(runs[0].untouched, 1U);  // "never"
  EXPECT_THAT(finished, ::testing::UnorderedElementsAre("c0", "c1", "w0", "w1", "resume"));
}

// wait_for_room holds a producer back while the jobs queued and not started have `servers`
// servers or more, and lets it go once a job starts; after run() has returned it never waits.
TEST(RampTest, ProducerWaitsForRoomUntilAJobStarts) {
  std::vector<RampRun> runs(1);
  runs[0].budget = config::ErrorBudget{false, 100};
  std::mutex mutex;
  std::condition_variable released_changed;
  bool released = false;
  const auto job = [&](const std::string& id) {
    RampJob ramp;
    ramp.wave = 1;
    ramp.servers = 1;
    ramp.work = [&, id] {
      std::unique_lock lock(mutex);
      released_changed.wait(lock, [&] { return released; });
      return std::vector<engine::Report>{report(id, engine::Outcome::Rotated)};
    };
    return ramp;
  };
  const std::atomic<bool> stop{false};
  RampExecutor executor(runs, stop, {});
  std::jthread workers([&] { executor.run(1); });
  executor.add(job("a"));  // taken by the only worker, which then waits for the release
  executor.add(job("b"));
  executor.add(job("c"));
  auto waiting = std::async(std::launch::async, [&] { executor.wait_for_room(2); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  {
    std::lock_guard lock(mutex);
    released = true;
  }
  released_changed.notify_all();
  waiting.get();  // "b" started: one queued, less than two
  executor.close();
  workers.join();
  executor.wait_for_room(0);  // run() has returned: does not wait
  EXPECT_EQ(runs[0].attempted, 3U);
}

// The first message of a kind is logged; repeats inside the window are counted and summarised
// once the window is over; a new window logs again.
TEST(RepeatFilterTest, CountsRepeatsAndSaysHowMany) {
  rotor::testing::LogCapture logs;
  RepeatFilter filter(std::chrono::seconds(600));
  const config::SysSeconds t0{std::chrono::seconds(1'767'571'200)};
  EXPECT_TRUE(filter.admit("cannot read metadata error=sealed", t0));
  for (int i = 0; i < 9; ++i) {
    EXPECT_FALSE(filter.admit("cannot read metadata error=sealed", t0 + std::chrono::seconds(i)));
  }
  EXPECT_TRUE(filter.admit("another error", t0));
  EXPECT_EQ(filter.flush("scheduler", t0 + std::chrono::seconds(60)), 0U);  // window not over
  EXPECT_EQ(filter.flush("scheduler", t0 + std::chrono::seconds(600)), 9U);
  EXPECT_TRUE(logs.contains("repeated message suppressed count=9 window=600s"));
  EXPECT_TRUE(logs.contains("cannot read metadata error=sealed"));
  EXPECT_TRUE(filter.admit("cannot read metadata error=sealed", t0 + std::chrono::seconds(601)));
  // A window that ends without a flush still reports its count at the next flush.
  EXPECT_FALSE(filter.admit("cannot read metadata error=sealed", t0 + std::chrono::seconds(602)));
  EXPECT_TRUE(filter.admit("cannot read metadata error=sealed", t0 + std::chrono::seconds(1300)));
  EXPECT_EQ(filter.flush("scheduler", t0 + std::chrono::seconds(1300), true), 1U);
}

}  // namespace
}  // namespace rotor::daemon
