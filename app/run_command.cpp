// `rotor run -c FILE [--allow-root]`: the daemon. Hardens the process (not dumpable, umask 077,
// no root unless told), blocks the signals that the signal thread handles, and runs the service
// until SIGTERM/SIGINT.
#include <malloc.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "app/commands.h"
#include "common/clock.h"
#include "common/random.h"
#include "daemon/service.h"

namespace rotor::app {
namespace {

struct RunOptions {
  std::string file = kDefaultConfig;
  bool allow_root = false;
};

int run(const RunOptions& options) {
  if (::geteuid() == 0 && !options.allow_root) {
    std::cerr << "rotor run: refusing to run as root; use a dedicated user (the packaged unit "
                 "does), or pass --allow-root\n";
    return 1;
  }
  // No core dumps and no ptrace by other users: memory holds passwords while they rotate.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::umask(077);
  daemon::SignalThread::block_signals();  // before any thread exists
#if defined(M_ARENA_MAX)
  // glibc gives each thread that allocates an arena of its own (up to 8 per core), and memory
  // freed into an arena stays there: with 64 workers that is tens of MB held for nothing between
  // ticks. The workers wait on the network, not on malloc, so two arenas cost no throughput.
  ::mallopt(M_ARENA_MAX, 2);
#endif
#if defined(M_MMAP_THRESHOLD)
  // Blocks of 128 KiB and more (the listing's and the view's arrays) come from mmap and go back
  // to the kernel when freed. glibc would otherwise raise this threshold to the largest block
  // freed so far (the listing: tens of MB), and the next ones would stay in the heap when idle.
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif

  SystemClock clock;
  SystemRandom random;
  daemon::ServiceOptions service_options;
  service_options.config_file = options.file;
  daemon::Service service(std::move(service_options), clock, random);
  daemon::SignalThread signals([&service] { service.request_reload(); },
                               [&service] { service.request_stop(); });
  return service.run();
}

}  // namespace

CommandRunner add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  auto* command = app.add_subcommand("run", "Run the rotation daemon (systemd Type=notify)");
  command->add_option("-c,--config", options->file, "Configuration file")->capture_default_str();
  command->add_flag("--allow-root", options->allow_root, "Allow running as root");
  return [options] { return run(*options); };
}

}  // namespace rotor::app
