#pragma once
// A bounded parallel-for: body(0) … body(n-1) on up to `limit` threads, the calling one included.
// For work that waits on the network (a Vault or cloud round trip per item): with a limit of L,
// n items take about n/L round trips instead of n.
//
// Indices are handed out one at a time in increasing order, so a slow item does not hold up the
// rest. With a limit of 1 (or n <= 1) every body runs on the calling thread, in order: the
// sequential behaviour, exceptions included. Otherwise the first exception a body throws is
// rethrown on the calling thread once every body that started has returned; the indices not
// started by then are not run. Bodies must only touch state of their own index or thread-safe
// objects. If no thread can be started, the calling thread does all the work.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace rotor {

// A cap on the helper threads that several parallel_for calls start between them (for example
// the batches one Rotator runs side by side): a call asks for what it could use and gets what is
// left, asks again as it hands out indices, and gives it all back when it returns. With nothing
// left a call runs on its calling thread until helpers come free.
// Never blocks. Thread-safe.
class ThreadBudget {
 public:
  explicit ThreadBudget(std::size_t helpers) : free_(helpers) {}
  ThreadBudget(const ThreadBudget&) = delete;
  ThreadBudget& operator=(const ThreadBudget&) = delete;
  ~ThreadBudget() = default;

  [[nodiscard]] std::size_t take(std::size_t wanted) {
    const std::lock_guard lock(mutex_);
    const std::size_t granted = std::min(wanted, free_);
    free_ -= granted;
    return granted;
  }
  void give_back(std::size_t helpers) {
    const std::lock_guard lock(mutex_);
    free_ += helpers;
  }

 private:
  std::mutex mutex_;
  std::size_t free_;
};

// `budget` (optional) caps the helper threads beyond the calling one. A call that got fewer
// helpers than it could use asks the budget again each time it hands out an index: helpers that
// another call gives back join it then. (Taken once at the start, a call that found the budget
// empty ran alone to its end: in shared mode the second batch of a wave did its 500 probes one by
// one while the first batch's helpers sat idle, 40 s at 10,000 servers.)
template <typename Body>
void parallel_for(std::size_t n, std::size_t limit, ThreadBudget* budget, Body&& body) {
  const std::size_t wanted = std::min(std::max<std::size_t>(1, limit), n);
  if (wanted <= 1) {
    for (std::size_t i = 0; i < n; ++i) {
      body(i);
    }
    return;
  }
  struct Shared {
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mutex;  // guards first, pool, helpers, closed
    std::exception_ptr first;
    std::vector<std::jthread> pool;
    std::size_t helpers = 0;        // taken from the budget (or, without one, started)
    std::atomic<bool> full{false};  // helpers == wanted - 1, or closed: no more to ask for
    bool closed = false;
  } shared;
  const std::size_t most_helpers = wanted - 1;

  // Runs indices until none is left; before each, tries to bring the helpers up to what the
  // remaining indices could use.
  struct Worker {
    Shared& shared;
    Body& body;
    std::size_t n;
    std::size_t most_helpers;
    ThreadBudget* budget;

    void grow() const {
      if (shared.full.load()) {
        return;
      }
      const std::lock_guard lock(shared.mutex);
      if (shared.closed || shared.helpers >= most_helpers) {
        shared.full = true;
        return;
      }
      const std::size_t started = shared.next.load();
      const std::size_t left = started < n ? n - started : 0;
      const std::size_t useful = std::min(most_helpers - shared.helpers, left);
      if (useful == 0) {
        return;
      }
      const std::size_t granted = budget != nullptr ? budget->take(useful) : useful;
      std::size_t running = 0;
      for (; running < granted; ++running) {
        try {
          shared.pool.emplace_back([worker = *this] { worker.run(); });
        } catch (const std::system_error&) {
          shared.full = true;  // no more threads to be had: the ones running do the work
          break;
        }
      }
      if (budget != nullptr && running < granted) {
        budget->give_back(granted - running);
      }
      shared.helpers += running;
    }

    void run() const {
      for (std::size_t i = shared.next++; i < n && !shared.failed.load(); i = shared.next++) {
        grow();
        try {
          body(i);
        } catch (...) {
          const std::lock_guard lock(shared.mutex);
          if (!shared.first) {
            shared.first = std::current_exception();
          }
          shared.failed = true;
        }
      }
    }
  };
  Worker{shared, body, n, most_helpers, budget}.run();
  std::vector<std::jthread> pool;
  std::size_t helpers = 0;
  {
    const std::lock_guard lock(shared.mutex);
    shared.closed = true;  // no helper starts another from now on
    shared.full = true;
    pool = std::move(shared.pool);
    helpers = shared.helpers;
  }
  pool.clear();  // joins
  if (budget != nullptr) {
    budget->give_back(helpers);
  }
  if (shared.first) {
    std::rethrow_exception(shared.first);
  }
}

template <typename Body>
void parallel_for(std::size_t n, std::size_t limit, Body&& body) {
  parallel_for(n, limit, nullptr, std::forward<Body>(body));
}

}  // namespace rotor
