#include "daemon/runner.h"

#include <algorithm>
#include <atomic>
#include <deque>
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

// The non-dry-run part of one policy's run, fed by the listing as it arrives: each listed
// server's record metadata is read (several at once), which makes it a resume or a new rotation,
// and the waves are cut and started from there, while the listing's later pages are still
// coming. Before anything starts: the policy's hold. After the last server: the hold on a halt.
class PolicyPass {
 public:
  using ReportDone = std::function<void(const engine::Report&)>;

  PolicyPass(Runtime& runtime, const config::Policy& policy, engine::Rotator& rotator,
             const engine::RotationPolicy& rotation, const config::Cloud& cloud,
             bool explicit_servers, ReportDone report_done, PolicyRun& run)
      : runtime_(runtime),
        policy_(policy),
        rotator_(rotator),
        rotation_(rotation),
        explicit_servers_(explicit_servers),
        report_done_(std::move(report_done)),
        run_(run),
        fingerprint_(policy_fingerprint(runtime.config(), policy)),
        prefetch_(runtime.vault(),
                  static_cast<std::size_t>(std::max(1, runtime.config().daemon.concurrency))),
        planner_(servers_per_job(rotation, cloud), static_cast<std::size_t>(policy.canary)),
        queue_servers_(std::max<std::size_t>(
            kMinQueuedServers,
            kQueuedJobsPerWorker *
                static_cast<std::size_t>(std::max(1, runtime.config().daemon.concurrency)) *
                servers_per_job(rotation, cloud))),
        ramp_runs_(1),
        executor_(ramp_runs_, never_, [this](const RampJob&, const auto& reports) {
          for (const auto& report : reports) {
            report_done_(report);
            run_.reports.push_back(report);
          }
        }) {
    ramp_runs_[0].policy = policy.name;
    ramp_runs_[0].budget = policy.error_budget;
  }

  ~PolicyPass() { executor_.close(); }  // then workers_ joins (a pass left without finish())
  PolicyPass(const PolicyPass&) = delete;
  PolicyPass& operator=(const PolicyPass&) = delete;
  PolicyPass(PolicyPass&&) = delete;
  PolicyPass& operator=(PolicyPass&&) = delete;

  // Reads the policy's hold (lifting it when the configuration changed since) and starts the
  // workers. False: the policy cannot run, run.error says why.
  bool begin() {
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(runtime_.clock().now());
    if (auto stored = read_hold(runtime_.vault(), policy_.name); !stored) {
      run_.error = stored.error();
      return false;  // cannot tell whether the policy is held: do nothing rather than guess
    } else if (*stored && (*stored)->fingerprint != fingerprint_) {
      if (auto lifted = lift_hold(runtime_.vault(), policy_.name, "configuration change",
                                  engine::format_time(now));
          !lifted) {
        run_.error = lifted.error();
        return false;
      }
      log::get("daemon")->warn(
          "policy hold lifted: the policy's configuration changed policy={} was=\"{}\"",
          policy_.name, (*stored)->reason);
    } else if (*stored && !explicit_servers_) {
      // Pending rotations are resumed all the same, never held back (I4).
      held_ = *stored;
    }
    workers_ = std::jthread([this] { executor_.run(runtime_.config().daemon.concurrency); });
    return true;
  }

  // A listed server the policy selected. Waits while the workers have plenty queued: the
  // listing and the metadata reads keep a few seconds ahead of the rotations instead of taking
  // the CPU, the connections and the memory for the whole fleet up front.
  void add(engine::Target target) {
    prefetch_.add(target.vault_path);
    awaiting_metadata_.push_back(std::move(target));
    plan(prefetch_.take_ready());
    executor_.wait_for_room(queue_servers_);
  }

  // The listing is over (or failed part-way): plans the servers still waiting for their
  // metadata, waits for every job, and holds the policy in Vault when the run halted.
  void finish() {
    plan(prefetch_.finish());
    start(planner_.finish());
    executor_.close();
    workers_.join();
    if (held_) {
      run_.halted =
          fmt::format("policy {} is held since {}: {}; fix the cause, then run `{}{}`",
                      policy_.name, held_->since, held_->reason, kResumeHint, policy_.name);
    }
    const RampRun& ramp = ramp_runs_[0];
    if (!ramp.halted) {
      return;
    }
    run_.halted = fmt::format(
        "the run halted: {}; {} servers were left untouched; fix the cause, then run `{}{}`",
        ramp.halt_reason, ramp.untouched, kResumeHint, policy_.name);
    run_.untouched += ramp.untouched;
    log::get("daemon")->error("policy run halted: {}; {} servers left untouched policy={}",
                              ramp.halt_reason, ramp.untouched, policy_.name);
    Hold hold;
    hold.reason = ramp.halt_reason;
    hold.since = engine::format_time(
        std::chrono::time_point_cast<std::chrono::seconds>(runtime_.clock().now()));
    hold.fingerprint = fingerprint_;
    if (auto written = write_hold(runtime_.vault(), policy_.name, hold); !written) {
      log::get("daemon")->error("cannot store the policy hold in Vault policy={} error=\"{}\"",
                                policy_.name, written.error().to_string());
    }
  }

 private:
  // The next servers' metadata, in the order they were added.
  void plan(std::vector<Result<vault::KvMetadata>> metadata) {
    for (auto& read : metadata) {
      engine::Target target = std::move(awaiting_metadata_.front());
      awaiting_metadata_.pop_front();
      const bool pending = read && read->custom_metadata.count("state") != 0 &&
                           read->custom_metadata.at("state") == "pending";
      if (pending) {
        start(planner_.add_resume(std::move(target)));
      } else if (held_) {
        ++run_.untouched;
      } else {
        start(planner_.add_fresh(std::move(target)));
      }
    }
  }

  void start(std::vector<PlannedJob> planned) {
    for (auto& job : planned) {
      RampJob ramp;
      ramp.wave = job.wave;
      ramp.servers = job.targets.size();
      ramp.work = [this, targets = std::move(job.targets)] {
        if (rotation_.mode == engine::Mode::Unique) {
          return std::vector<engine::Report>{rotator_.rotate(rotation_, targets.front())};
        }
        return rotator_.rotate_shared(rotation_, targets);
      };
      executor_.add(std::move(ramp));
    }
  }

  Runtime& runtime_;
  const config::Policy& policy_;
  engine::Rotator& rotator_;
  const engine::RotationPolicy& rotation_;
  const bool explicit_servers_;
  const ReportDone report_done_;
  PolicyRun& run_;
  const std::string fingerprint_;
  std::optional<Hold> held_;
  MetadataPrefetch prefetch_;
  std::deque<engine::Target> awaiting_metadata_;  // added, in order; their metadata is coming
  WavePlanner planner_;
  // Servers queued for the workers beyond which the listing waits (at 250 rotations/s, 1,024 are
  // four seconds of work; a page and its metadata take tens of milliseconds).
  static constexpr std::size_t kMinQueuedServers = 1000;
  static constexpr std::size_t kQueuedJobsPerWorker = 16;
  const std::size_t queue_servers_;
  const std::atomic<bool> never_{false};
  std::vector<RampRun> ramp_runs_;
  RampExecutor executor_;
  std::jthread workers_;  // runs the executor; last, so that it goes first
};

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
    const engine::RotationPolicy rotation = rotation_policy(policy);

    std::mutex progress_mutex;
    std::size_t done = 0;
    std::size_t total = 0;  // 0 while the listing is still coming
    const auto report_done = [&](const engine::Report& report) {
      std::lock_guard lock(progress_mutex);
      ++done;
      if (options.progress) {
        options.progress(report, done, total);
      }
    };

    std::vector<engine::Target> dry_targets;
    std::vector<engine::Report> locked;
    std::size_t listed = 0;
    std::optional<PolicyPass> pass;
    if (!dry) {
      pass.emplace(runtime, policy, *rotator, rotation, *cloud_cfg, !options.server_ids.empty(),
                   report_done, run);
      if (!pass->begin()) {
        runs.push_back(std::move(run));
        continue;
      }
    }
    auto listing = cloud->for_each_server_page({}, [&](ecs::ServerPage& page) -> Result<void> {
      for (const std::size_t index : select_indexes(policy, page.servers)) {
        ecs::Server& server = page.servers[index];
        if (!options.server_ids.empty() &&
            std::find(options.server_ids.begin(), options.server_ids.end(), server.id) ==
                options.server_ids.end()) {
          continue;
        }
        ++listed;
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
        if (pass) {
          pass->add(std::move(target));
        } else {
          dry_targets.push_back(std::move(target));
        }
      }
      return {};
    });
    {
      std::lock_guard lock(progress_mutex);
      total = listed;
    }
    if (!listing) {
      // What was listed before the failure runs all the same: the failure says nothing against
      // those servers, and a run that stopped half-way would have to be redone in full.
      run.error = listing.error();
    }
    if (pass) {
      pass->finish();
      pass.reset();
    } else if (listing) {
      run.reports = dry_run(runtime, *cloud, rotation, dry_targets);
      for (const auto& report : run.reports) {
        report_done(report);
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
