#include "daemon/runner.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.h"
#include "daemon/hold.h"
#include "daemon/metadata_reader.h"
#include "daemon/ramp.h"
#include "daemon/selection.h"
#include "engine/record.h"

namespace rotor::daemon {
namespace {

const char* const kResumeHint = "rotor resume --policy ";

// The non-dry-run part of one policy's run: hold check, waves, budget, hold on a halt.
void run_policy(Runtime& runtime, const config::Policy& policy, engine::Rotator& rotator,
                const engine::RotationPolicy& rotation, const config::Cloud& cloud,
                std::vector<engine::Target> targets,
                const std::vector<Result<vault::KvMetadata>>& metadata, bool explicit_servers,
                const std::function<void(const engine::Report&)>& report_done, PolicyRun& run) {
  auto logger = log::get("daemon");
  const config::Config& cfg = runtime.config();
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(runtime.clock().now());
  const std::string fingerprint = policy_fingerprint(cfg, policy);
  std::optional<Hold> held;
  if (auto stored = read_hold(runtime.vault(), policy.name); !stored) {
    run.error = stored.error();
    return;  // cannot tell whether the policy is held: do nothing rather than guess
  } else if (*stored && (*stored)->fingerprint != fingerprint) {
    if (auto lifted = lift_hold(runtime.vault(), policy.name, "configuration change",
                                engine::format_time(now));
        !lifted) {
      run.error = lifted.error();
      return;
    }
    logger->warn("policy hold lifted: the policy's configuration changed policy={} was=\"{}\"",
                 policy.name, (*stored)->reason);
  } else {
    held = *stored;
  }

  // Pending rotations are resumed first and are never held back (I4).
  std::vector<engine::Target> resumes;
  std::vector<engine::Target> fresh;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& read = metadata[i];
    const bool pending = read && read->custom_metadata.count("state") != 0 &&
                         read->custom_metadata.at("state") == "pending";
    (pending ? resumes : fresh).push_back(std::move(targets[i]));
  }
  if (held && !explicit_servers) {
    run.halted = fmt::format("policy {} is held since {}: {}; fix the cause, then run `{}{}`",
                             policy.name, held->since, held->reason, kResumeHint, policy.name);
    run.untouched = fresh.size();
    fresh.clear();
  }
  const std::size_t batch =
      rotation.mode == engine::Mode::Unique
          ? 1
          : std::max<std::size_t>(1, static_cast<std::size_t>(cloud.limits.max_batch));
  std::vector<PlannedJob> planned = plan_waves(std::move(resumes), std::move(fresh), batch,
                                               static_cast<std::size_t>(policy.canary));
  std::vector<RampRun> runs(1);
  runs[0].policy = policy.name;
  runs[0].budget = policy.error_budget;
  std::vector<RampJob> jobs;
  for (auto& job : planned) {
    RampJob ramp;
    ramp.wave = job.wave;
    ramp.servers = job.targets.size();
    ramp.work = [&rotator, &rotation, &job] {
      if (rotation.mode == engine::Mode::Unique) {
        return std::vector<engine::Report>{rotator.rotate(rotation, job.targets.front())};
      }
      return rotator.rotate_shared(rotation, job.targets);
    };
    jobs.push_back(std::move(ramp));
  }
  const std::atomic<bool> never{false};
  run_ramped(runs, jobs, cfg.daemon.concurrency, never,
             [&](const RampJob&, const std::vector<engine::Report>& reports) {
               for (const auto& report : reports) {
                 report_done(report);
                 run.reports.push_back(report);
               }
             });
  if (runs[0].halted) {
    run.halted = fmt::format(
        "the run halted: {}; {} servers were left untouched; fix the cause, "
        "then run `{}{}`",
        runs[0].halt_reason, runs[0].untouched, kResumeHint, policy.name);
    run.untouched += runs[0].untouched;
    logger->error("policy run halted: {}; {} servers left untouched policy={}", runs[0].halt_reason,
                  runs[0].untouched, policy.name);
    Hold hold;
    hold.reason = runs[0].halt_reason;
    hold.since = engine::format_time(now);
    hold.fingerprint = fingerprint;
    if (auto written = write_hold(runtime.vault(), policy.name, hold); !written) {
      logger->error("cannot store the policy hold in Vault policy={} error=\"{}\"", policy.name,
                    written.error().to_string());
    }
  }
}

}  // namespace

std::vector<engine::Report> dry_run(Runtime& runtime, ecs::EcsClient& cloud,
                                    const engine::RotationPolicy& policy,
                                    const std::vector<engine::Target>& targets) {
  std::vector<engine::Report> reports(targets.size());
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    reports[i].server_id = targets[i].server.id;
    reports[i].server_name = targets[i].server.name;
    auto loaded = runtime.store().load(targets[i].vault_path);
    if (!loaded) {
      reports[i].outcome = engine::Outcome::Failed;
      reports[i].detail = "cannot read the Vault record: " + loaded.error().to_string();
      continue;
    }
    reports[i].state = loaded->record.state;
    if (!loaded->record.quarantined.empty()) {
      reports[i].outcome = engine::Outcome::Skipped;
      reports[i].detail = "quarantined: " + loaded->record.quarantined;
      continue;
    }
    // Step 2 proves the policy can produce a password for this server; it is wiped at once.
    auto password = runtime.generator().generate(policy.password);
    if (!password) {
      reports[i].outcome = engine::Outcome::Failed;
      reports[i].detail = password.error().to_string();
      continue;
    }
    ids.push_back(targets[i].server.id);
  }
  const auto answer = cloud.batch_reset_password(ids, nullptr, true);
  for (auto& report : reports) {
    if (!report.detail.empty()) {
      continue;
    }
    for (const auto& server : answer.servers) {
      if (server.server_id != report.server_id) {
        continue;
      }
      if (server.status.accepted()) {
        report.outcome = engine::Outcome::Skipped;
        report.detail = "dry run: the cloud would accept the reset";
      } else {
        report.outcome = engine::Outcome::Failed;
        report.detail =
            "dry run refused: " + (server.status.error ? server.status.error->to_string() : "");
      }
    }
  }
  return reports;
}

std::vector<PolicyRun> run_policies(Runtime& runtime, const RunOptions& options) {
  const config::Config& cfg = runtime.config();
  std::vector<PolicyRun> runs;
  for (const auto& policy : cfg.policies) {
    if (options.policy && *options.policy != policy.name) {
      continue;
    }
    PolicyRun run;
    run.policy = policy.name;
    run.cloud = policy.cloud;
    ecs::EcsClient* cloud = runtime.cloud(policy.cloud);
    engine::Rotator* rotator = runtime.rotator(policy.cloud);
    const config::Cloud* cloud_cfg = cfg.cloud(policy.cloud);
    if (cloud == nullptr || rotator == nullptr || cloud_cfg == nullptr) {
      run.error = Error(ErrorCode::InvalidConfig,
                        "policy " + policy.name + ": unknown cloud " + policy.cloud);
      runs.push_back(std::move(run));
      continue;
    }
    const bool dry = options.dry_run || policy.dry_run;
    std::vector<engine::Target> targets;
    std::vector<engine::Report> locked;
    // The records' metadata (which rotations are pending) is read while the later pages of the
    // listing are still coming: one after the other, the two were seconds per 10,000 servers
    // before the first rotation started. A failed listing drops what was read.
    std::optional<MetadataPrefetch> prefetch;
    if (!dry) {
      prefetch.emplace(runtime.vault(),
                       static_cast<std::size_t>(std::max(1, cfg.daemon.concurrency)));
    }
    auto listing = cloud->for_each_server_page({}, [&](ecs::ServerPage& page) -> Result<void> {
      for (const std::size_t index : select_indexes(policy, page.servers)) {
        ecs::Server& server = page.servers[index];
        if (!options.server_ids.empty() &&
            std::find(options.server_ids.begin(), options.server_ids.end(), server.id) ==
                options.server_ids.end()) {
          continue;
        }
        if (server.locked) {
          // The cloud refuses resets on a locked server; say so instead of counting a failure.
          engine::Report report;
          report.server_id = server.id;
          report.server_name = server.name;
          report.outcome = engine::Outcome::Skipped;
          report.detail = "the server is locked in the cloud; unlock it to rotate";
          locked.push_back(std::move(report));
          continue;
        }
        engine::Target target;
        target.vault_path = vault_path(cfg.vault.kv.path, *cloud_cfg, policy, server);
        target.server = std::move(server);
        if (prefetch) {
          prefetch->add(target.vault_path);
        }
        targets.push_back(std::move(target));
      }
      return {};
    });
    if (!listing) {
      run.error = listing.error();
      runs.push_back(std::move(run));
      continue;
    }
    const engine::RotationPolicy rotation = rotation_policy(policy);

    std::mutex progress_mutex;
    std::size_t done = 0;
    const std::size_t total = targets.size() + locked.size();
    const auto report_done = [&](const engine::Report& report) {
      std::lock_guard lock(progress_mutex);
      ++done;
      if (options.progress) {
        options.progress(report, done, total);
      }
    };

    if (dry) {
      run.reports = dry_run(runtime, *cloud, rotation, targets);
      for (const auto& report : run.reports) {
        report_done(report);
      }
    } else {
      const auto metadata = prefetch->finish();
      prefetch.reset();
      run_policy(runtime, policy, *rotator, rotation, *cloud_cfg, std::move(targets), metadata,
                 !options.server_ids.empty(), report_done, run);
    }
    for (auto& report : locked) {
      report_done(report);
      run.reports.push_back(std::move(report));
    }
    log::get("daemon")->info("policy run finished policy={} servers={}", policy.name,
                             run.reports.size());
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace rotor::daemon
