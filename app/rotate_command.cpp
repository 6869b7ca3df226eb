// `rotor rotate -c FILE [--policy P] [--server ID…] [--dry-run]`: one pass of the rotation engine
// now, with a progress line on a terminal and a summary table at the end. Safe beside a running
// daemon: every Vault write is check-and-set. Exit 0 when every server ended rotated or skipped.
#include <fmt/format.h>
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "app/commands.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/random.h"
#include "config/config.h"
#include "daemon/runner.h"
#include "daemon/runtime.h"

namespace rotor::app {
namespace {

struct RotateOptions {
  std::string file = kDefaultConfig;
  std::string policy;
  std::vector<std::string> servers;
  bool dry_run = false;
  bool verbose = false;
};

std::string shorten(std::string text, std::size_t width) {
  if (text.size() > width) {
    text.resize(width - 1);
    text += "…";
  }
  return text;
}

int rotate(const RotateOptions& options) {
  log::set_level(options.verbose ? spdlog::level::info : spdlog::level::warn);
  auto loaded = config::load_config(options.file);
  if (!loaded) {
    std::cerr << config::to_string(loaded.error());
    return 1;
  }
  auto cfg = std::make_shared<const config::Config>(std::move(*loaded));
  if (!options.policy.empty() &&
      std::none_of(cfg->policies.begin(), cfg->policies.end(),
                   [&](const auto& p) { return p.name == options.policy; })) {
    std::cerr << fmt::format("rotor rotate: no policy named '{}' in {}\n", options.policy,
                             options.file);
    return 1;
  }
  SystemClock clock;
  SystemRandom random;
  auto runtime = daemon::Runtime::create(cfg, clock, random, config::process_env());
  if (!runtime) {
    std::cerr << "rotor rotate: " << runtime.error().to_string() << '\n';
    return 1;
  }

  const bool tty = isatty(STDERR_FILENO) != 0;
  daemon::RunOptions run_options;
  if (!options.policy.empty()) {
    run_options.policy = options.policy;
  }
  run_options.server_ids = options.servers;
  run_options.dry_run = options.dry_run;
  run_options.progress = [tty](const engine::Report& report, std::size_t done, std::size_t total) {
    if (tty) {
      // The total is known once the listing is over; until then the line counts up.
      const std::string of = total == 0 ? "…" : std::to_string(total);
      std::fprintf(stderr, "\r\033[K[%zu/%s] %s %s", done, of.c_str(),
                   std::string(engine::to_string(report.outcome)).c_str(),
                   report.server_name.c_str());
      if (done == total) {
        std::fputc('\n', stderr);
      }
    }
  };
  const auto runs = daemon::run_policies(**runtime, run_options);
  if (tty && std::any_of(runs.begin(), runs.end(), [](const auto& run) { return run.halted; })) {
    std::fputc('\n', stderr);  // a halted run never reaches done == total
  }

  std::map<engine::Outcome, std::size_t> totals;
  std::size_t retried = 0;
  bool failed = false;
  std::printf("%-38s %-18s %-14s %-8s %-17s %-4s %s\n", "SERVER", "NAME", "POLICY", "RESULT",
              "STATE", "TRY", "DETAIL");
  for (const auto& run : runs) {
    if (run.error) {
      failed = true;
      std::printf("%-38s %-18s %-14s %-8s %-17s %-4s %s\n", "-", "-", run.policy.c_str(), "error",
                  "-", "-", run.error->to_string().c_str());
    }
    for (const auto& report : run.reports) {
      ++totals[report.outcome];
      retried += report.attempts > 1 ? 1 : 0;
      failed = failed || report.outcome == engine::Outcome::Failed ||
               report.outcome == engine::Outcome::StillPending;
      std::printf("%-38s %-18s %-14s %-8s %-17s %-4d %s\n", report.server_id.c_str(),
                  shorten(report.server_name, 18).c_str(), shorten(run.policy, 14).c_str(),
                  std::string(engine::to_string(report.outcome)).c_str(),
                  std::string(engine::to_string(report.state)).c_str(), report.attempts,
                  report.detail.c_str());
    }
  }
  for (const auto& run : runs) {
    if (run.halted) {
      failed = true;
      std::printf("\npolicy %s halted: %s\n", run.policy.c_str(), run.halted->c_str());
    }
  }
  if (options.dry_run) {
    std::printf("\ndry run, nothing was changed: %zu would be rotated, %zu refused\n",
                totals[engine::Outcome::Skipped], totals[engine::Outcome::Failed]);
  } else {
    std::printf(
        "\n%zu rotated (%zu needed more than one reset call), %zu pending (resumed next run), "
        "%zu failed, %zu skipped\n",
        totals[engine::Outcome::Rotated], retried, totals[engine::Outcome::StillPending],
        totals[engine::Outcome::Failed], totals[engine::Outcome::Skipped]);
  }
  return failed ? 1 : 0;
}

}  // namespace

CommandRunner add_rotate_command(CLI::App& app) {
  auto options = std::make_shared<RotateOptions>();
  auto* command = app.add_subcommand(
      "rotate", "Rotate now, once, and print a summary (safe beside the daemon)");
  command->add_option("-c,--config", options->file, "Configuration file")->capture_default_str();
  command->add_option("--policy", options->policy, "Only this policy");
  command->add_option("--server", options->servers, "Only these server IDs (repeatable)");
  command->add_flag("--dry-run", options->dry_run,
                    "Validate with the batch API's dry run; write nothing, change nothing");
  command->add_flag("-v,--verbose", options->verbose, "Log each step (never a password)");
  return [options] { return rotate(*options); };
}

}  // namespace rotor::app
