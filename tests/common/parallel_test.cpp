// The bounded parallel-for: every index once, at most `limit` at a time, the sequential path for
// a limit of 1, and a body's exception on the calling thread.
#include "common/parallel.h"

#include <gtest/gtest.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace rotor {
namespace {

// Every index runs exactly once.
TEST(ParallelForTest, RunsEveryIndexOnce) {
  std::vector<int> runs(100, 0);
  parallel_for(runs.size(), 8, [&](std::size_t i) { ++runs[i]; });
  for (std::size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i], 1) << "index " << i;
  }
}

// A limit of 1 runs in order on the calling thread.
TEST(ParallelForTest, LimitOneIsSequential) {
  std::vector<std::size_t> order;
  const auto caller = std::this_thread::get_id();
  parallel_for(5, 1, [&](std::size_t i) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    order.push_back(i);
  });
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
}

// With a limit of 4, four bodies are under way at once, never more. Each of the first four waits
// until four have entered (a safety deadline turns a regression into a failure, not a hang).
TEST(ParallelForTest, UpToLimitAtOnce) {
  constexpr std::size_t kLimit = 4;
  std::mutex mutex;
  std::condition_variable entered;
  std::size_t active = 0;
  std::size_t most = 0;
  std::size_t arrived = 0;
  parallel_for(12, kLimit, [&](std::size_t) {
    std::unique_lock lock(mutex);
    most = std::max(most, ++active);
    if (++arrived <= kLimit) {
      entered.notify_all();
      entered.wait_for(lock, std::chrono::seconds(10), [&] { return arrived >= kLimit; });
    }
    --active;
  });
  EXPECT_EQ(most, kLimit);
}

// A body's exception reaches the caller; with a limit of 1 the later indices do not run.
TEST(ParallelForTest, RethrowsTheFirstException) {
  std::vector<std::size_t> ran;
  EXPECT_THROW(parallel_for(6, 1,
                            [&](std::size_t i) {
                              ran.push_back(i);
                              if (i == 2) {
                                throw std::runtime_error("crash");
                              }
                            }),
               std::runtime_error);
  EXPECT_EQ(ran, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_THROW(parallel_for(50, 4,
                            [](std::size_t i) {
                              if (i == 7) {
                                throw std::runtime_error("crash");
                              }
                            }),
               std::runtime_error);
}

// A budget caps the helpers: with none left the calling thread does everything; what a call took
// is given back when it returns.
TEST(ParallelForTest, BudgetCapsTheHelpers) {
  ThreadBudget budget(0);
  const auto caller = std::this_thread::get_id();
  std::atomic<std::size_t> others{0};
  parallel_for(20, 8, &budget, [&](std::size_t) {
    if (std::this_thread::get_id() != caller) {
      ++others;  // only read if a helper ran, which is the failure
    }
  });
  EXPECT_EQ(others, 0U);

  ThreadBudget three(3);
  std::mutex mutex;
  std::set<std::thread::id> threads;
  parallel_for(40, 16, &three, [&](std::size_t) {
    const std::lock_guard lock(mutex);
    threads.insert(std::this_thread::get_id());
  });
  EXPECT_LE(threads.size(), 4U);
  EXPECT_EQ(three.take(100), 3U) << "every helper was given back";
}

// A call that found the budget empty takes the helpers another call gives back, from its next
// index on (it does not run alone to its end). B's first index waits until A (which holds the
// whole budget) has returned; every later index of B waits for a second one to run beside it,
// which only a helper taken after the start can be.
TEST(ParallelForTest, ACallTakesTheHelpersGivenBackWhileItRuns) {
  ThreadBudget budget(2);
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t a_running = 0;
  bool release_a = false;
  bool a_returned = false;
  std::thread a([&] {
    parallel_for(3, 3, &budget, [&](std::size_t) {
      std::unique_lock lock(mutex);
      ++a_running;
      changed.notify_all();
      changed.wait(lock, [&] { return release_a; });
    });
    const std::lock_guard lock(mutex);
    a_returned = true;
    changed.notify_all();
  });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return a_running == 3; });  // A holds both helpers
  }
  std::size_t b_running = 0;
  std::size_t b_most = 0;
  bool b_alone_too_long = false;
  parallel_for(12, 3, &budget, [&](std::size_t i) {
    std::unique_lock lock(mutex);
    if (i == 0) {
      release_a = true;
      changed.notify_all();
      changed.wait(lock, [&] { return a_returned; });
      return;
    }
    ++b_running;
    b_most = std::max(b_most, b_running);
    changed.notify_all();
    if (!changed.wait_for(lock, std::chrono::seconds(10), [&] { return b_most >= 2; })) {
      b_alone_too_long = true;
    }
    --b_running;
  });
  a.join();
  EXPECT_FALSE(b_alone_too_long) << "the helpers A gave back never joined B";
  EXPECT_GE(b_most, 2U);
  EXPECT_EQ(budget.take(100), 2U) << "every helper was given back";
}

}  // namespace
}  // namespace rotor
