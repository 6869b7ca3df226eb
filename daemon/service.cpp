#include "daemon/service.h"

#include <pthread.h>
#include <signal.h>

#include <system_error>

#include "common/log.h"
#include "daemon/logging.h"

namespace rotor::daemon {
namespace {

config::SysSeconds to_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

Service::Service(ServiceOptions options, Clock& clock, Random& random)
    : options_(std::move(options)),
      clock_(clock),
      random_(random),
      notifier_(Notifier::from_env(options_.env)) {}

Service::~Service() = default;

void Service::request_reload() {
  {
    std::lock_guard lock(mutex_);
    reload_ = true;
  }
  wake_.notify_all();
}

void Service::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
}

int Service::run() {
  auto logger = log::get("daemon");
  config::LoadOptions load_options;
  load_options.env = options_.env;
  auto loaded = config::load_config(options_.config_file, load_options);
  if (!loaded) {
    logger->error("cannot load the configuration file={} errors=\"{}\"",
                  options_.config_file.string(), config::to_error(loaded.error()).to_string());
    return 1;
  }
  config_ = std::make_shared<const config::Config>(std::move(*loaded));
  if (options_.configure_logging) {
    configure_logging(config_->daemon, options_.env);
  }

  const std::string listen = options_.metrics_listen.value_or(config_->daemon.metrics_listen);
  auto server = MetricsServer::start(listen, metrics_);
  if (!server) {
    logger->error("cannot start the metrics endpoint error=\"{}\"", server.error().to_string());
    return 1;
  }
  metrics_server_ = std::move(*server);
  metrics_port_ = metrics_server_->port();

  std::error_code ec;
  std::filesystem::create_directories(config_->daemon.state_dir, ec);
  if (ec) {
    logger->warn("cannot create the state directory dir={} error=\"{}\"",
                 config_->daemon.state_dir.string(), ec.message());
  }

  const TransportDecorator meter = [this](HttpTransport& inner, std::string_view service) {
    return std::make_unique<MeteringTransport>(inner, metrics_, std::string(service));
  };
  auto runtime = Runtime::create(config_, clock_, random_, options_.env, meter);
  if (!runtime) {
    logger->error("cannot start error=\"{}\"", runtime.error().to_string());
    return 1;
  }
  runtime_ = std::move(*runtime);

  const auto stall_limit =
      options_.stall_limit.count() > 0
          ? options_.stall_limit
          : std::max<std::chrono::nanoseconds>(ProgressWatchdog::kDefaultStallLimit,
                                               2 * options_.tick_interval);
  progress_ = std::make_unique<ProgressWatchdog>(std::chrono::steady_clock::now(), stall_limit);

  SchedulerOptions scheduler_options;
  scheduler_options.tick_interval = options_.tick_interval;
  scheduler_options.state_file = config_->daemon.state_dir / "schedule.json";
  scheduler_options.on_report = [this](const std::string& policy, const engine::Report& report,
                                       std::chrono::duration<double> seconds) {
    progress_->progress(std::chrono::steady_clock::now());
    metrics_.rotation(policy, report, seconds);
  };
  scheduler_options.on_halt = [this](const std::string& policy) { metrics_.policy_halted(policy); };
  scheduler_options.on_suppressed = [this](std::size_t count) { metrics_.log_suppressed(count); };
  scheduler_ = std::make_unique<Scheduler>(*runtime_, std::move(scheduler_options));

  // WATCHDOG=1 from its own thread at half of WATCHDOG_USEC, so a long rotation (back-off) does
  // not trip it, but only while the service makes progress (daemon/watchdog.h).
  std::jthread watchdog;
  if (auto interval = notifier_.watchdog_interval()) {
    watchdog = std::jthread([this, logger, interval = *interval](const std::stop_token& token) {
      std::mutex m;
      std::condition_variable_any cv;
      while (!token.stop_requested()) {
        if (progress_->should_ping(std::chrono::steady_clock::now())) {
          notifier_.watchdog();
        } else if (progress_->stalled_now()) {
          logger->error(
              "no progress for {} minutes (no tick turn, no rotation finished); watchdog pings "
              "stopped so that systemd restarts the daemon; rotations resume from Vault",
              std::chrono::duration_cast<std::chrono::minutes>(progress_->stall_limit()).count());
        }
        std::unique_lock lock(m);
        cv.wait_for(lock, token, interval, [] { return false; });
      }
    });
  }

  logger->info("started policies={} metrics={} state_dir={}", config_->policies.size(), listen,
               config_->daemon.state_dir.string());
  notifier_.ready();
  notifier_.status("started; first pass (reconcile) running");

  while (!stop_) {
    progress_->progress(std::chrono::steady_clock::now());
    if (reload_.exchange(false)) {
      reload();
      continue;
    }
    const TickSummary summary = scheduler_->tick(stop_);
    progress_->progress(std::chrono::steady_clock::now());  // the wait below is healthy too
    publish(&summary);
    const auto wait = std::min<std::chrono::nanoseconds>(
        summary.next_wake - to_seconds(clock_.now()), options_.tick_interval);
    wait_until(std::chrono::steady_clock::now() +
               std::max<std::chrono::nanoseconds>(wait, std::chrono::seconds(1)));
  }

  notifier_.stopping();
  notifier_.status("stopping");
  logger->info("stopping; no new rotations, in-flight ones finished");
  watchdog = {};
  scheduler_.reset();
  runtime_.reset();
  metrics_server_.reset();
  logger->info("stopped");
  return 0;
}

void Service::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, deadline, [this] { return stop_.load() || reload_.load(); });
}

void Service::publish(const TickSummary* summary) {
  const auto now = to_seconds(clock_.now());
  // The table itself, not a copy of every server (~24 MB at 100,000) after each tick.
  const auto policies = scheduler_->policies();
  scheduler_->visit_servers(
      [&](const ServerTable& servers) { metrics_.schedule(servers, policies, now); });
  metrics_.vault_token_ttl(runtime_->vault().token_info().ttl_seconds);
  std::string line = scheduler_->status_line();
  if (summary != nullptr && summary->due > 0) {
    line += "; last pass rotated " + std::to_string(summary->rotated) + ", failed " +
            std::to_string(summary->failed) + ", still pending " +
            std::to_string(summary->still_pending);
  }
  notifier_.status(line);
}

void Service::reload() {
  auto logger = log::get("daemon");
  notifier_.reloading();
  const auto at = to_seconds(clock_.now());
  config::LoadOptions load_options;
  load_options.env = options_.env;
  auto outcome = config::reload(options_.config_file, config_, load_options);
  bool applied = false;
  if (!outcome.replaced) {
    logger->error("reload refused; keeping the running configuration file={} reasons=\"{}\"",
                  options_.config_file.string(), config::to_error(outcome.reasons).to_string());
  } else if (!outcome.changed) {
    logger->info("reload: configuration unchanged file={}", options_.config_file.string());
    applied = true;
  } else {
    const TransportDecorator meter = [this](HttpTransport& inner, std::string_view service) {
      return std::make_unique<MeteringTransport>(inner, metrics_, std::string(service));
    };
    auto runtime = Runtime::create(outcome.config, clock_, random_, options_.env, meter);
    if (!runtime) {
      logger->error("reload refused; keeping the running configuration error=\"{}\"",
                    runtime.error().to_string());
    } else {
      if (outcome.config->daemon.metrics_listen != config_->daemon.metrics_listen ||
          outcome.config->daemon.state_dir != config_->daemon.state_dir) {
        logger->warn("reload: metrics_listen and state_dir take effect at the next restart");
      }
      scheduler_->set_runtime(**runtime);
      runtime_ = std::move(*runtime);
      config_ = outcome.config;
      log::set_level(to_spdlog(config_->daemon.log_level));
      logger->info("reload applied policies={}", config_->policies.size());
      applied = true;
    }
  }
  metrics_.reload(applied, at);
  notifier_.ready();
  publish(nullptr);
}

// ---------------------------------------------------------------------------------------------

void SignalThread::block_signals() {
  const sigset_t set = handled_signals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SignalThread::SignalThread(std::function<void()> on_reload, std::function<void()> on_stop)
    : on_reload_(std::move(on_reload)), on_stop_(std::move(on_stop)) {
  // The thread is born with the signals blocked (sigwaitinfo needs them blocked), and with
  // kWakeSignal blocked too: the destructor sends that one to this thread alone, so the wait can
  // block without a timeout (an idle daemon does not wake up five times a second for nothing).
  // The caller's mask is restored afterwards.
  sigset_t waited = handled_signals();
  sigaddset(&waited, kWakeSignal);
  sigset_t previous;
  ::pthread_sigmask(SIG_BLOCK, &waited, &previous);
  thread_ = std::thread([this, waited] {
    while (!done_) {
      const int signal = ::sigwaitinfo(&waited, nullptr);
      if (signal == SIGHUP) {
        log::get("daemon")->info("signal received signal=SIGHUP");
        on_reload_();
      } else if (signal == SIGTERM || signal == SIGINT) {
        log::get("daemon")->info("signal received signal={}",
                                 signal == SIGTERM ? "SIGTERM" : "SIGINT");
        on_stop_();
      }
    }
  });
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

SignalThread::~SignalThread() {
  done_ = true;
  // Pending until the thread waits again if it is busy in a callback, so it cannot be missed.
  ::pthread_kill(thread_.native_handle(), kWakeSignal);
  thread_.join();
}

}  // namespace rotor::daemon
