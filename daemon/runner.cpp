#include "daemon/runner.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "daemon/selection.h"

namespace rotor::daemon {
namespace {

std::vector<engine::Report> rotate_unique(engine::Rotator& rotator,
                                          const engine::RotationPolicy& policy,
                                          const std::vector<engine::Target>& targets,
                                          int concurrency,
                                          const std::function<void(const engine::Report&)>& done) {
  std::vector<engine::Report> reports(targets.size());
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (std::size_t i = next++; i < targets.size(); i = next++) {
      reports[i] = rotator.rotate(policy, targets[i]);
      done(reports[i]);
    }
  };
  const auto threads = static_cast<std::size_t>(std::max(1, concurrency));
  std::vector<std::jthread> pool;
  for (std::size_t t = 1; t < std::min(threads, targets.size()); ++t) {
    pool.emplace_back(worker);
  }
  worker();
  pool.clear();  // joins
  return reports;
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
    auto listing = cloud->list_servers();
    if (!listing) {
      run.error = listing.error();
      runs.push_back(std::move(run));
      continue;
    }
    std::vector<engine::Target> targets;
    std::vector<engine::Report> locked;
    for (auto& server : select(policy, *listing)) {
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
      targets.push_back(std::move(target));
    }
    const engine::RotationPolicy rotation = rotation_policy(policy);

    std::mutex progress_mutex;
    std::size_t done = 0;
    const auto report_done = [&](const engine::Report& report) {
      std::lock_guard lock(progress_mutex);
      ++done;
      if (options.progress) {
        options.progress(report, done, targets.size());
      }
    };

    if (options.dry_run || policy.dry_run) {
      run.reports = dry_run(runtime, *cloud, rotation, targets);
      for (const auto& report : run.reports) {
        report_done(report);
      }
    } else if (rotation.mode == engine::Mode::Unique) {
      run.reports = rotate_unique(*rotator, rotation, targets, cfg.daemon.concurrency, report_done);
    } else {
      const std::size_t batch =
          std::max<std::size_t>(1, static_cast<std::size_t>(cloud_cfg->limits.max_batch));
      for (std::size_t start = 0; start < targets.size(); start += batch) {
        const auto end = std::min(targets.size(), start + batch);
        auto reports = rotator->rotate_shared(
            rotation, std::span<const engine::Target>(targets.data() + start, end - start));
        for (auto& report : reports) {
          report_done(report);
          run.reports.push_back(std::move(report));
        }
      }
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
