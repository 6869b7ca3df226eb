#pragma once
// `rotor run`: the daemon process. Loads the config, serves metrics, builds the runtime (Vault
// must answer), tells systemd READY=1, then ticks the scheduler until stopped: STATUS= after each
// tick, WATCHDOG=1 when asked, RELOADING=1 … READY=1 around a reload (a refused config keeps the
// running one), STOPPING=1 on stop, when no new rotation starts and in-flight ones finish.
//
// Signals never run code here: a SignalThread (sigwaitinfo, the signals blocked in every other
// thread) turns SIGHUP into request_reload() and SIGTERM/SIGINT into request_stop().

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/random.h"
#include "config/config.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"
#include "daemon/runtime.h"
#include "daemon/scheduler.h"
#include "daemon/watchdog.h"

namespace rotor::daemon {

struct ServiceOptions {
  std::filesystem::path config_file;
  config::EnvLookup env = config::process_env();  // NOTIFY_SOCKET, WATCHDOG_USEC, secrets
  std::chrono::seconds tick_interval{60};
  // Overrides daemon.metrics_listen ("127.0.0.1:0" in tests).
  std::optional<std::string> metrics_listen;
  // Install the journald / stderr sinks from the config (off in tests, which capture logs).
  bool configure_logging = true;
  // How long without progress (a loop turn, a finished rotation) before the watchdog pings stop
  // (daemon/watchdog.h); zero: ProgressWatchdog::kDefaultStallLimit or two tick intervals,
  // whichever is longer.
  std::chrono::nanoseconds stall_limit{0};
};

class Service {
 public:
  Service(ServiceOptions options, Clock& clock, Random& random);
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;
  ~Service();

  // Runs until request_stop(). 0 after a clean stop; 1 when start-up failed (config, metrics
  // listener, Vault).
  int run();

  // Thread-safe and async-signal-free; wake the loop at once.
  void request_reload();
  void request_stop();

  // The bound metrics port once run() has started serving (0 before).
  [[nodiscard]] int metrics_port() const noexcept { return metrics_port_.load(); }
  [[nodiscard]] Metrics& metrics() noexcept { return metrics_; }

 private:
  void reload();
  void publish(const TickSummary* summary);
  void wait_until(std::chrono::steady_clock::time_point deadline);

  ServiceOptions options_;
  Clock& clock_;
  Random& random_;
  Notifier notifier_;
  Metrics metrics_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ProgressWatchdog> progress_;
  std::atomic<int> metrics_port_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

// Turns SIGHUP into `on_reload` and SIGTERM/SIGINT into `on_stop`, on its own thread.
class SignalThread {
 public:
  // Blocks SIGHUP, SIGTERM and SIGINT in the calling thread; threads started later inherit it.
  // Call first thing in main(), before any thread exists.
  static void block_signals();

  SignalThread(std::function<void()> on_reload, std::function<void()> on_stop);
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;
  ~SignalThread();  // stops and joins

  [[nodiscard]] pthread_t native_handle() { return thread_.native_handle(); }

 private:
  // Sent by the destructor to this thread alone to end its wait; blocked only in this thread.
  static constexpr int kWakeSignal = SIGUSR2;

  std::atomic<bool> done_{false};
  std::function<void()> on_reload_;
  std::function<void()> on_stop_;
  std::thread thread_;
};

}  // namespace rotor::daemon
