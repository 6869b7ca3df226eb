// The operator's commands on records: `rotor status` (metadata only, no secret read),
// `rotor resume` (lift a quarantine) and `rotor show` (print a server's passwords, for an
// emergency; the act is logged, the passwords are not).
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/commands.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/random.h"
#include "config/config.h"
#include "daemon/runtime.h"
#include "daemon/status.h"
#include "engine/record.h"

namespace rotor::app {
namespace {

struct Common {
  std::string file = kDefaultConfig;
};

// Loads the config and builds the runtime, or prints why not (exit code 1).
std::unique_ptr<daemon::Runtime> open_runtime(const std::string& file, const char* command,
                                              Clock& clock, Random& random) {
  log::set_level(spdlog::level::warn);
  auto loaded = config::load_config(file);
  if (!loaded) {
    std::cerr << config::to_string(loaded.error());
    return nullptr;
  }
  auto runtime = daemon::Runtime::create(std::make_shared<const config::Config>(std::move(*loaded)),
                                         clock, random, config::process_env());
  if (!runtime) {
    std::cerr << "rotor " << command << ": " << runtime.error().to_string() << '\n';
    return nullptr;
  }
  return std::move(*runtime);
}

std::string age(std::optional<config::SysSeconds> since, config::SysSeconds now) {
  if (!since) {
    return "-";
  }
  const auto seconds = (now - *since).count();
  if (seconds >= 86400) {
    return fmt::format("{}d", seconds / 86400);
  }
  if (seconds >= 3600) {
    return fmt::format("{}h", seconds / 3600);
  }
  return fmt::format("{}m", seconds / 60);
}

std::string when(config::SysSeconds time, config::SysSeconds now) {
  if (time <= now) {
    return "now";
  }
  return engine::format_time(time);
}

}  // namespace

CommandRunner add_status_command(CLI::App& app) {
  struct Options : Common {
    std::string policy;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand(
      "status", "State, password age and next due time per server (reads no secret)");
  command->add_option("-c,--config", options->file, "Configuration file")->capture_default_str();
  command->add_option("--policy", options->policy, "Only this policy");
  command->add_flag("--json", options->json, "One JSON document instead of a table");
  return [options] {
    SystemClock clock;
    SystemRandom random;
    auto runtime = open_runtime(options->file, "status", clock, random);
    if (!runtime) {
      return 1;
    }
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(clock.now());
    std::optional<std::string> policy;
    if (!options->policy.empty()) {
      policy = options->policy;
    }
    const auto rows = daemon::collect_status(*runtime, policy, now);
    const auto holds = daemon::held_policies(*runtime, policy);
    bool errors = false;
    const auto optional_time = [](const std::optional<config::SysSeconds>& time) {
      return time ? engine::format_time(*time) : std::string();
    };
    if (options->json) {
      nlohmann::json servers = nlohmann::json::array();
      for (const auto& row : rows) {
        servers.push_back({{"policy", row.policy},
                           {"server_id", row.server_id},
                           {"server_name", row.server_name},
                           {"state", row.state},
                           {"rotated_at", optional_time(row.rotated_at)},
                           {"pending_since", optional_time(row.pending_since)},
                           {"next_due", engine::format_time(row.next_due)},
                           {"quarantined", row.quarantined},
                           {"stale", row.stale},
                           {"error", row.error}});
        errors = errors || !row.error.empty();
      }
      nlohmann::json held = nlohmann::json::array();
      for (const auto& hold : holds) {
        held.push_back({{"policy", hold.policy}, {"since", hold.since}, {"reason", hold.reason}});
      }
      std::cout << nlohmann::json{{"servers", servers}, {"held_policies", held}}.dump(2) << '\n';
      return errors ? 1 : 0;
    }
    std::printf("%-38s %-20s %-16s %-17s %-5s %-21s %s\n", "SERVER", "NAME", "POLICY", "STATE",
                "AGE", "NEXT DUE", "NOTE");
    for (const auto& row : rows) {
      errors = errors || !row.error.empty();
      std::string note = !row.error.empty()        ? row.error
                         : row.quarantined.empty() ? ""
                                                   : "quarantined: " + row.quarantined;
      if (row.stale) {
        note += std::string(note.empty() ? "" : "; ") +
                "metadata behind the record (state may be out of date until the daemon's next "
                "tick)";
      }
      std::printf("%-38s %-20s %-16s %-17s %-5s %-21s %s\n", row.server_id.c_str(),
                  row.server_name.c_str(), row.policy.c_str(), row.state.c_str(),
                  age(row.rotated_at, now).c_str(), when(row.next_due, now).c_str(), note.c_str());
    }
    for (const auto& held : holds) {
      std::printf(
          "\npolicy %s is held%s%s: %s; no new rotation until `rotor resume --policy %s` "
          "or a change of its configuration\n",
          held.policy.c_str(), held.since.empty() ? "" : " since ", held.since.c_str(),
          held.reason.c_str(), held.policy.c_str());
    }
    return errors ? 1 : 0;
  };
}

CommandRunner add_resume_command(CLI::App& app) {
  struct Options : Common {
    std::vector<std::string> servers;
    std::vector<std::string> policies;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand(
      "resume", "Lift a server's quarantine, or a halted policy's hold, once its cause is fixed");
  command->add_option("-c,--config", options->file, "Configuration file")->capture_default_str();
  command->add_option("--server", options->servers, "Server ID (repeatable)");
  command->add_option("--policy", options->policies,
                      "Policy whose halted run holds new rotations (repeatable)");
  return [options] {
    if (options->servers.empty() && options->policies.empty()) {
      std::cerr << "rotor resume: name at least one --server ID or --policy NAME\n";
      return 1;
    }
    SystemClock clock;
    SystemRandom random;
    auto runtime = open_runtime(options->file, "resume", clock, random);
    if (!runtime) {
      return 1;
    }
    int status = 0;
    for (const auto& id : options->servers) {
      if (auto resumed = daemon::resume(*runtime, id); !resumed) {
        std::cerr << "rotor resume: " << resumed.error().to_string() << '\n';
        status = 1;
      } else {
        std::cout << id << ": resumed; the next run rotates it\n";
      }
    }
    for (const auto& policy : options->policies) {
      auto lifted = daemon::resume_policy(*runtime, policy);
      if (!lifted) {
        std::cerr << "rotor resume: " << lifted.error().to_string() << '\n';
        status = 1;
      } else if (*lifted) {
        std::cout << "policy " << policy
                  << ": hold lifted; the next run starts again with its canary wave\n";
      } else {
        std::cout << "policy " << policy << ": not held; nothing to do\n";
      }
    }
    return status;
  };
}

CommandRunner add_show_command(CLI::App& app) {
  struct Options : Common {
    std::string server;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand(
      "show",
      "Print a server's current and previous passwords (for an emergency; the act is logged)");
  command->add_option("-c,--config", options->file, "Configuration file")->capture_default_str();
  command->add_option("--server", options->server, "Server ID")->required();
  return [options] {
    SystemClock clock;
    SystemRandom random;
    auto runtime = open_runtime(options->file, "show", clock, random);
    if (!runtime) {
      return 1;
    }
    auto located = daemon::locate(*runtime, options->server);
    if (!located) {
      std::cerr << "rotor show: " << located.error().to_string() << '\n';
      return 1;
    }
    auto loaded = runtime->store().load(located->path);
    if (!loaded || loaded->version == 0) {
      std::cerr << "rotor show: no record for " << options->server << " in Vault\n";
      return 1;
    }
    const auto& record = loaded->record;
    // Logged (for journald/audit) without the passwords themselves.
    log::get("operator")
        ->warn("passwords shown to an operator server={} policy={} uid={}", options->server,
               located->policy, getuid());
    const auto line = [](const char* label, const Secret& secret) {
      if (secret.empty()) {
        return;
      }
      std::fputs(label, stdout);
      std::fflush(stdout);
      const std::string_view text = secret.reveal();
      // write(2): no stdio buffer keeps a copy after the Secret is wiped.
      if (::write(STDOUT_FILENO, text.data(), text.size()) < 0 ||
          ::write(STDOUT_FILENO, "\n", 1) < 0) {
        std::perror("rotor show");
      }
    };
    std::printf("server:   %s (%s)\nusername: %s\nstate:    %s\n", options->server.c_str(),
                record.server_name.c_str(), record.username.c_str(),
                std::string(engine::to_string(record.state)).c_str());
    std::fflush(stdout);
    line("password: ", record.password);
    line("previous: ", record.previous_password);
    for (const auto& older : record.earlier) {
      line("older:    ", older);
    }
    line("pending:  ", record.pending_password);
    if (record.state == engine::State::AwaitingRestart) {
      std::printf(
          "note: the server accepts 'previous' (or an older one) until it restarts, then "
          "'password'\n");
    }
    return 0;
  };
}

}  // namespace rotor::app
