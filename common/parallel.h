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
// left, and gives it back when it returns. With nothing left a call runs on its calling thread.
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

  // Gives `helpers` back when it goes (budget may be null: nothing to give back).
  class Lease {
   public:
    Lease(ThreadBudget* budget, std::size_t helpers) : budget_(budget), helpers_(helpers) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease(Lease&&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (budget_ != nullptr && helpers_ > 0) {
        budget_->give_back(helpers_);
      }
    }

   private:
    ThreadBudget* budget_;
    std::size_t helpers_;
  };

 private:
  std::mutex mutex_;
  std::size_t free_;
};

// `budget` (optional) caps the helper threads beyond the calling one.
template <typename Body>
void parallel_for(std::size_t n, std::size_t limit, ThreadBudget* budget, Body&& body) {
  const std::size_t wanted = std::min(std::max<std::size_t>(1, limit), n);
  const std::size_t helpers =
      wanted <= 1 ? 0 : (budget != nullptr ? budget->take(wanted - 1) : wanted - 1);
  const ThreadBudget::Lease lease(budget, helpers);
  const std::size_t threads = helpers + 1;
  if (threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) {
      body(i);
    }
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::exception_ptr first;
  const auto worker = [&] {
    for (std::size_t i = next++; i < n && !failed.load(); i = next++) {
      try {
        body(i);
      } catch (...) {
        const std::lock_guard lock(mutex);
        if (!first) {
          first = std::current_exception();
        }
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    pool.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) {
      try {
        pool.emplace_back(worker);
      } catch (const std::system_error&) {
        break;  // no more threads to be had: the ones running (and this one) do the work
      }
    }
    worker();
  }  // joins the pool
  if (first) {
    std::rethrow_exception(first);
  }
}

template <typename Body>
void parallel_for(std::size_t n, std::size_t limit, Body&& body) {
  parallel_for(n, limit, nullptr, std::forward<Body>(body));
}

}  // namespace rotor
