#include "daemon/scheduler.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "daemon/metadata_reader.h"
#include "daemon/packed_text.h"
#include "daemon/ramp.h"
#include "daemon/reconcile.h"
#include "daemon/record_metadata.h"
#include "daemon/selection.h"
#include "engine/record.h"

namespace rotor::daemon {

struct Scheduler::Job {
  std::string policy;
  const config::Policy* config = nullptr;
  engine::Rotator* rotator = nullptr;
  engine::RotationPolicy rotation;
  std::vector<engine::Target> targets;  // one in unique mode, a batch in shared mode
  bool reboot_allowed = true;
  bool resume_only = false;  // a pending record outside every selection (reconcile)
  std::size_t wave = 0;
};

namespace {

using config::SysSeconds;

SysSeconds to_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

// `text` with every occurrence of `id` replaced, so that one error about many servers is one
// kind of message for the repeat filter.
std::string without_id(std::string text, const std::string& id) {
  if (id.empty()) {
    return text;
  }
  for (auto at = text.find(id); at != std::string::npos; at = text.find(id, at + 4)) {
    text.replace(at, id.size(), "{id}");
  }
  return text;
}

std::int64_t unix_seconds(SysSeconds t) {
  return t.time_since_epoch().count();
}

}  // namespace

Scheduler::Scheduler(Runtime& runtime, SchedulerOptions options)
    : runtime_(&runtime), options_(std::move(options)), repeats_(options_.log_repeat_window) {
  load_cache();
}

std::string Scheduler::check_hold(const config::Policy& policy, SysSeconds now) {
  auto logger = log::get("scheduler");
  Runtime& rt = *runtime_;
  const std::string fingerprint = policy_fingerprint(rt.config(), policy);
  std::optional<Hold> held;
  if (auto local = unpersisted_holds_.find(policy.name); local != unpersisted_holds_.end()) {
    held = local->second;
    if (write_hold(rt.vault(), policy.name, local->second)) {
      unpersisted_holds_.erase(local);  // from now on Vault says (and `rotor resume` can lift it)
    }
  } else if (auto stored = read_hold(rt.vault(), policy.name); stored) {
    held = *stored;
  } else if (repeats_.admit("cannot read the policy hold policy=" + policy.name, now)) {
    logger->warn("cannot read the policy hold policy={} error=\"{}\"", policy.name,
                 stored.error().to_string());
  }
  if (!held) {
    return {};
  }
  if (held->fingerprint != fingerprint) {
    if (auto lifted =
            lift_hold(rt.vault(), policy.name, "configuration change", engine::format_time(now));
        lifted) {
      unpersisted_holds_.erase(policy.name);
      logger->warn("policy hold lifted: the policy's configuration changed policy={} was=\"{}\"",
                   policy.name, held->reason);
      return {};
    }
  }
  return held->reason.empty() ? std::string("held") : held->reason;
}

void Scheduler::hold(const config::Policy& policy, const std::string& reason, SysSeconds now) {
  Runtime& rt = *runtime_;
  Hold held;
  held.reason = reason;
  held.since = engine::format_time(now);
  held.fingerprint = policy_fingerprint(rt.config(), policy);
  if (auto written = write_hold(rt.vault(), policy.name, held); !written) {
    log::get("scheduler")
        ->error(
            "cannot store the policy hold in Vault; held by this process only policy={} "
            "error=\"{}\"",
            policy.name, written.error().to_string());
    unpersisted_holds_[policy.name] = std::move(held);
  }
}

TickSummary Scheduler::tick(const std::atomic<bool>& stop) {
  auto logger = log::get("scheduler");
  Runtime& rt = *runtime_;
  const config::Config& cfg = rt.config();
  const SysSeconds now = to_seconds(rt.clock().now());
  TickSummary summary;
  summary.at = now;
  SysSeconds next_wake = now + options_.tick_interval;
  // The tick builds the whole table again and never reads the previous one, and the service
  // reads it only between ticks, on this thread: freed now, the tick does not hold two tables
  // (10 MB each at 100,000 servers: a first and a second tick peaked at 53.6 MB VmHWM with the
  // old one kept, 47.8 MB without; docs/benchmarks.md). The state cache on disk keeps the last
  // table across a crash.
  {
    std::lock_guard lock(mutex_);
    view_ = ServerTable{};
  }

  if (auto maintained = rt.store().maintain();
      !maintained &&
      repeats_.admit(
          "vault token maintenance failed error=\"" + maintained.error().to_string() + "\"", now)) {
    logger->warn("vault token maintenance failed error=\"{}\"", maintained.error().to_string());
  }

  // The reconcile pass needs the listed ids and every selected path; the other ticks keep
  // neither.
  const bool reconciling = !next_reconcile_ || now >= *next_reconcile_;
  ServerTable view;
  std::map<std::string, PolicyView> policy_view;
  std::vector<Job> jobs;
  std::vector<RampRun> runs;
  std::vector<std::size_t> job_run;               // the run of each job
  std::map<std::string, ListedServers> listings;  // by cloud, for the reconcile pass
  StringSet selected_paths;
  StringSet marked_paths;              // selected, but still marked gone_since
  std::set<std::string> named_clouds;  // clouds with a record template by name
  std::vector<ReconcileScope> scopes;
  std::vector<std::string> unsupported;  // policies whose records cannot be listed per folder
  std::vector<std::optional<std::size_t>> scope_of_policy;  // by config policy index
  if (reconciling) {
    scopes = reconcile_scopes(cfg, &unsupported);
    scope_of_policy = policy_scopes(cfg, scopes);
    for (const auto& scope : scopes) {
      if (scope.by_name) {
        named_clouds.insert(scope.cloud);
      }
    }
  }
  const auto add_jobs = [&](const config::Policy& policy, engine::Rotator* rotator,
                            const engine::RotationPolicy& rotation, std::size_t batch,
                            bool reboot_allowed, std::vector<engine::Target> resumes,
                            std::vector<engine::Target> fresh) {
    std::size_t run = runs.size();
    for (std::size_t r = 0; r < runs.size(); ++r) {
      if (runs[r].policy == policy.name) {
        run = r;
      }
    }
    if (run == runs.size()) {
      RampRun ramp;
      ramp.policy = policy.name;
      ramp.budget = policy.error_budget;
      runs.push_back(std::move(ramp));
    }
    for (auto& planned : plan_waves(std::move(resumes), std::move(fresh), batch,
                                    static_cast<std::size_t>(policy.canary))) {
      Job job;
      job.policy = policy.name;
      job.config = &policy;
      job.rotator = rotator;
      job.rotation = rotation;
      job.reboot_allowed = reboot_allowed;
      job.wave = planned.wave;
      job.targets = std::move(planned.targets);
      jobs.push_back(std::move(job));
      job_run.push_back(run);
    }
  };

  for (std::size_t policy_number = 0; policy_number < cfg.policies.size(); ++policy_number) {
    const config::Policy& policy = cfg.policies[policy_number];
    PolicyView pv;
    pv.name = policy.name;
    {
      std::lock_guard lock(mutex_);
      if (auto old = policy_view_.find(policy.name); old != policy_view_.end()) {
        pv.last_success = old->second.last_success;
      }
    }
    if (auto gone = gone_.find(policy.name); gone != gone_.end()) {
      pv.gone = gone->second;
    }
    ecs::EcsClient* cloud = rt.cloud(policy.cloud);
    engine::Rotator* rotator = rt.rotator(policy.cloud);
    const config::Cloud* cloud_cfg = cfg.cloud(policy.cloud);
    if (cloud == nullptr || rotator == nullptr || cloud_cfg == nullptr) {
      pv.error = "unknown cloud " + policy.cloud;
      policy_view[policy.name] = std::move(pv);
      continue;
    }
    // The listing is consumed page by page (selected, metadata read, view entries and targets
    // built), so no more than a page and a chunk of its selected servers are held at a time.
    // What a listing that fails half way added is taken back: that policy's tick is abandoned
    // as if its first page had failed (no jobs, no view entries, never a server judged gone).
    const std::size_t view_mark = view.size();
    const std::size_t selected_mark = selected_paths.size();
    const std::size_t marked_mark = marked_paths.size();
    SysSeconds policy_wake = next_wake;
    std::optional<ListedServers> listed;  // the cloud's ids for the reconcile pass, if not yet
    if (reconciling && listings.count(policy.cloud) == 0) {
      listed.emplace(named_clouds.count(policy.cloud) != 0);
    }
    // The records this policy's selection covers, for the reconcile pass: a mark on the server
    // in its cloud's kept listing, or (a scope of another cloud; a server missing from the kept
    // listing, which an earlier policy's listing of this cloud made) its path.
    std::optional<std::size_t> scope;
    if (reconciling && scope_of_policy[policy_number] &&
        scopes[*scope_of_policy[policy_number]].cloud == policy.cloud) {
      scope = scope_of_policy[policy_number];
    }
    std::vector<std::uint32_t> kept_marks;  // into the kept listing, once this one succeeds
    bool first_page = true;
    bool in_window = false;
    engine::RotationPolicy rotation;
    std::vector<engine::Target> resumes;
    std::vector<engine::Target> due;
    // Metadata is read a chunk at a time, the reads of a chunk overlapping (metadata_reader.h);
    // the selected servers of several pages make a chunk, so that a small page size does not
    // mean few reads in flight.
    constexpr std::size_t kMetadataChunk = 512;
    std::vector<ecs::Server> chunk;
    std::vector<std::uint32_t> chunk_listed;  // the chunk's indexes in `listed`, if built here
    std::vector<std::string> chunk_paths;
    const auto select = [&](std::size_t index, const std::string& path) {
      if (!reconciling) {
        return;
      }
      if (scope && listed) {
        listed->mark_selected(*scope, chunk_listed[index]);
        return;
      }
      if (scope) {
        if (auto kept = listings.at(policy.cloud).index_of_id(chunk[index].id)) {
          kept_marks.push_back(*kept);
          return;
        }
      }
      selected_paths.add(path);
    };
    const auto process_chunk = [&] {
      chunk_paths.clear();
      for (const auto& server : chunk) {
        chunk_paths.push_back(vault_path(cfg.vault.kv.path, *cloud_cfg, policy, server));
      }
      auto chunk_metadata = read_metadata_concurrently(
          rt.vault(), chunk_paths, static_cast<std::size_t>(std::max(1, cfg.daemon.concurrency)));
      for (std::size_t index = 0; index < chunk.size(); ++index) {
        auto& server = chunk[index];
        ServerView sv;
        sv.policy = policy.name;
        sv.server_id = server.id;
        sv.server_name = server.name;
        sv.state = "unrotated";
        const std::string& path = chunk_paths[index];
        select(index, path);
        auto& metadata = chunk_metadata[index];
        if (metadata && engine::RecordStore::mirror_is_stale(*metadata)) {
          // The mirror lags the data (a failed mirror write, or a crash between the two): the
          // data is the truth, and a pending rotation must not hide behind an old mirror.
          auto fresh = rt.store().remirror(path);
          if (!fresh) {
            logger->warn("cannot refresh the metadata mirror policy={} server_id={} error=\"{}\"",
                         policy.name, server.id, fresh.error().to_string());
            continue;  // unknown state: never act on a guess
          }
          metadata->custom_metadata = std::move(*fresh);
        }
        if (metadata) {
          const RecordMetadata parsed = parse_record_metadata(metadata->custom_metadata);
          sv.state = parsed.state;
          sv.quarantined = parsed.quarantined;
          sv.rotated_at = parsed.rotated_at;
          sv.unverified = parsed.unverified;
          if (parsed.gone && reconciling) {
            marked_paths.add(path);
          }
        } else if (metadata.error().code() != ErrorCode::NotFound) {
          const std::string error = metadata.error().to_string();
          if (repeats_.admit("cannot read metadata policy=" + policy.name + " error=\"" +
                                 without_id(error, server.id) + "\"",
                             now)) {
            logger->warn("cannot read metadata policy={} server_id={} error=\"{}\"", policy.name,
                         server.id, error);
          }
          continue;  // unknown state: never act on a guess
        }
        const bool pending = sv.state == "pending";
        // A restarted server whose verification failed (or never ran) only needs the hook again:
        // due at once like a resume, but with the skip back-off after each failed attempt.
        const bool resume = pending || sv.unverified;
        sv.next_due = resume ? now : config::due_at(policy, sv.rotated_at, server.id, now);
        bool run = false;
        if (auto backoff = skipped_.find(server.id); backoff != skipped_.end()) {
          const bool changed = backoff->second.verification
                                   ? !sv.unverified
                                   : backoff->second.state != sv.state ||
                                         backoff->second.rotated_at != sv.rotated_at;
          if (changed) {
            skipped_.erase(backoff);  // the record changed: try again
          } else if (!pending && now < backoff->second.until) {
            sv.next_due = std::max(sv.next_due, backoff->second.until);
          }
        }
        // Quarantined and locked servers are parked until an operator acts; a held policy (a
        // halted run) starts no new rotation until it changes or is resumed.
        const bool parked = !sv.quarantined.empty() || server.locked;
        if (!parked && resume && sv.next_due <= now) {
          run = true;  // resume at once, even when the policy is held; reboots only in a window
        } else if (!parked && pv.held.empty() && sv.next_due <= now) {
          if (in_window) {
            run = true;
          } else {
            sv.next_due = config::next_window_open(policy.windows, now);
          }
        }
        if (!parked && (pv.held.empty() || resume)) {
          const SysSeconds next = run ? now : sv.next_due;
          pv.next_run = pv.next_run ? std::min(*pv.next_run, next) : next;
          if (!run) {
            policy_wake =
                std::min(policy_wake, std::max(sv.next_due, now + std::chrono::seconds(1)));
          }
        }
        view.add(sv);
        if (run && !policy.dry_run) {
          engine::Target target;
          target.server = std::move(server);
          target.vault_path = path;
          (resume ? resumes : due).push_back(std::move(target));
        }
      }
      chunk.clear();
      chunk_listed.clear();
    };
    const auto on_page = [&](ecs::ServerPage& page) -> Result<void> {
      if (first_page) {
        // As before paging: the hold is looked at once the cloud has answered.
        first_page = false;
        pv.held = check_hold(policy, now);
        in_window = policy.windows.empty() || config::in_any_window(policy.windows, now);
        rotation = rotation_policy(policy);
        if (page.count) {
          // The cloud's count, bounded: a hint for one allocation, not a trusted size.
          const std::size_t expected = std::min(*page.count, ecs::ServerFilter{}.max_servers);
          // Bytes a server, measured on this page (+1 for the rounding down).
          std::size_t id_bytes = 36;  // a UUID, when the page is empty
          std::size_t name_bytes = 12;
          if (!page.servers.empty()) {
            std::size_t ids = 0;
            std::size_t names = 0;
            for (const auto& server : page.servers) {
              ids += server.id.size();
              names += server.name.size();
            }
            id_bytes = ids / page.servers.size() + 1;
            name_bytes = names / page.servers.size() + 1;
          }
          view.reserve(view.size() + expected, id_bytes + name_bytes);
          if (listed) {
            listed->reserve(expected, id_bytes, name_bytes);  // names only where they are kept
          }
        }
      }
      const std::uint32_t listed_base =
          listed ? static_cast<std::uint32_t>(listed->size()) : std::uint32_t{0};
      if (listed) {
        for (const auto& server : page.servers) {
          (void)listed->add(server.id, server.name);
        }
      }
      for (const std::size_t index : select_indexes(policy, page.servers)) {
        chunk_listed.push_back(listed_base + static_cast<std::uint32_t>(index));
        chunk.push_back(std::move(page.servers[index]));
        if (chunk.size() == kMetadataChunk) {
          process_chunk();
        }
      }
      return {};
    };
    auto listing = cloud->for_each_server_page({}, on_page);
    if (listing && !chunk.empty()) {
      process_chunk();
    }
    if (!listing) {
      view.truncate(view_mark);
      selected_paths.truncate(selected_mark);
      marked_paths.truncate(marked_mark);
      PolicyView failed;
      failed.name = pv.name;
      failed.last_success = pv.last_success;
      failed.gone = pv.gone;
      failed.error = listing.error().to_string();
      if (repeats_.admit(
              "cannot list servers policy=" + policy.name + " error=\"" + failed.error + "\"",
              now)) {
        logger->warn("cannot list servers policy={} error=\"{}\"", policy.name, failed.error);
      }
      policy_view[policy.name] = std::move(failed);
      continue;
    }
    next_wake = policy_wake;
    if (listed) {
      listed->seal();
      listings.emplace(policy.cloud, std::move(*listed));
    }
    for (const std::uint32_t kept : kept_marks) {
      listings.at(policy.cloud).mark_selected(*scope, kept);
    }
    if (!resumes.empty() || !due.empty()) {
      add_jobs(policy, rotator, rotation, servers_per_job(rotation, *cloud_cfg), in_window,
               std::move(resumes), std::move(due));
    }
    policy_view[policy.name] = std::move(pv);
  }

  // The reconcile pass: at start-up, then every reconcile_interval.
  if (reconciling) {
    summary.reconciled = true;
    next_reconcile_ = now + options_.reconcile_interval;
    if (!warned_unsupported_) {
      warned_unsupported_ = true;
      for (const auto& name : unsupported) {
        logger->warn(
            "reconcile: the record path template does not end in {{server_id}} or "
            "{{server_name}}; records of servers gone from the cloud are not looked for policy={}",
            name);
      }
    }
    selected_paths.seal();
    marked_paths.seal();
    auto reconciled = reconcile(rt, scopes, listings, selected_paths, marked_paths, now);
    for (const auto& error : reconciled.errors) {
      if (repeats_.admit("reconcile: " + error, now)) {
        logger->warn("reconcile failed error=\"{}\"", error);
      }
    }
    gone_ = reconciled.gone;
    for (auto& [name, pv] : policy_view) {
      auto found = gone_.find(name);
      pv.gone = found == gone_.end() ? 0 : found->second;
    }
    if (reconciled.newly_gone > 0 || reconciled.back > 0) {
      logger->info(
          "reconcile finished gone={} newly_gone={} back={} pending_outside={}",
          std::accumulate(gone_.begin(), gone_.end(), std::size_t{0},
                          [](std::size_t sum, const auto& entry) { return sum + entry.second; }),
          reconciled.newly_gone, reconciled.back, reconciled.pending.size());
    }
    // Pending records that no policy selects any more (tags changed mid-rotation): resumed with
    // their own pending password, under the policy they name (I4).
    static const config::Policy kUnknownPolicy;
    for (auto& outside : reconciled.pending) {
      const config::Policy* policy = &kUnknownPolicy;
      for (const auto& candidate : cfg.policies) {
        if (candidate.name == outside.policy) {
          policy = &candidate;
        }
      }
      engine::Rotator* rotator = rt.rotator(outside.cloud);
      if (rotator == nullptr) {
        continue;
      }
      const std::string key = "pending rotation outside every selection policy=" + outside.policy;
      if (repeats_.admit(key, now)) {
        logger->warn(
            "pending rotation outside every policy's selection; resuming it with its pending "
            "password policy={} server_id={}",
            outside.policy.empty() ? "unknown" : outside.policy, outside.target.server.id);
      }
      engine::RotationPolicy rotation =
          policy == &kUnknownPolicy ? engine::RotationPolicy{} : rotation_policy(*policy);
      if (policy == &kUnknownPolicy) {
        rotation.name = outside.policy;
      }
      ServerView sv;
      sv.policy = outside.policy;
      sv.server_id = outside.target.server.id;
      sv.server_name = outside.target.server.name;
      sv.state = "pending";
      sv.next_due = now;
      view.add(sv);
      Job job;
      job.policy = outside.policy;
      job.config = policy;
      job.rotator = rotator;
      job.rotation = rotation;
      job.reboot_allowed = false;  // not selected: no reboot on this policy's behalf
      job.resume_only = true;
      job.wave = 0;
      job.targets.push_back(std::move(outside.target));
      std::size_t run = runs.size();
      for (std::size_t r = 0; r < runs.size(); ++r) {
        if (runs[r].policy == outside.policy) {
          run = r;
        }
      }
      if (run == runs.size()) {
        RampRun ramp;
        ramp.policy = outside.policy;
        ramp.budget = policy->error_budget;
        runs.push_back(std::move(ramp));
      }
      jobs.push_back(std::move(job));
      job_run.push_back(run);
    }
  }
  // Neither is needed by the rotations: free them before those run.
  listings.clear();
  selected_paths.clear();
  marked_paths.clear();
  view.seal();

  // Run the due servers in waves, with the concurrency limit across policies.
  const auto record = [&](const Job& job, const engine::Report& report,
                          std::chrono::duration<double> seconds) {
    ++summary.due;
    ServerView sv = view.find(report.server_id).value_or(ServerView{});
    sv.server_id = report.server_id;
    sv.alert = report.alert;
    const SysSeconds at = to_seconds(rt.clock().now());
    switch (report.outcome) {
      case engine::Outcome::Rotated:
        ++summary.rotated;
        sv.rotated_at = at;
        policy_view[job.policy].last_success = at;
        break;
      case engine::Outcome::StillPending: ++summary.still_pending; break;
      case engine::Outcome::Failed: ++summary.failed; break;
      case engine::Outcome::Skipped: break;
    }
    sv.state = std::string(engine::to_string(report.state));
    const bool quarantine = report.detail.find("quarantin") != std::string::npos;
    if (!report.detail.empty() && report.outcome == engine::Outcome::Skipped && quarantine) {
      sv.quarantined = report.detail;
    }
    sv.next_due = sv.state == "pending"
                      ? at + options_.tick_interval
                      : config::due_at(*job.config, sv.rotated_at, report.server_id, at);
    const bool verification_failed = report.unverified;
    sv.unverified = report.unverified;
    if ((report.outcome == engine::Outcome::Skipped || verification_failed) && !quarantine &&
        sv.state != "pending" && !job.resume_only) {
      // Not retried (and re-logged) every tick: back off until the record changes.
      auto& backoff = skipped_[report.server_id];
      backoff.step = backoff.step.count() == 0
                         ? std::chrono::seconds(std::chrono::hours(1))
                         : std::min<std::chrono::seconds>(backoff.step * 2, std::chrono::hours(24));
      backoff.until = at + backoff.step;
      backoff.state = sv.state;
      backoff.rotated_at = sv.rotated_at;
      backoff.verification = verification_failed;
      sv.next_due = std::max(sv.next_due, backoff.until);
    }
    view.put(sv);
    if (options_.on_report) {
      options_.on_report(job.policy, report, seconds);
    }
  };
  std::vector<RampJob> ramp_jobs;
  ramp_jobs.reserve(jobs.size());
  std::vector<std::chrono::duration<double>> durations(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    RampJob ramp;
    ramp.run = job_run[i];
    ramp.wave = jobs[i].wave;
    ramp.servers = jobs[i].targets.size();
    ramp.tag = i;
    ramp.work = [&rt, &job = jobs[i], &seconds = durations[i]] {
      const auto started = rt.clock().monotonic();
      std::vector<engine::Report> reports;
      if (job.resume_only) {
        reports.push_back(job.rotator->resume(job.rotation, job.targets.front(), false));
      } else if (job.rotation.mode == engine::Mode::Unique) {
        reports.push_back(
            job.rotator->rotate(job.rotation, job.targets.front(), job.reboot_allowed));
      } else {
        reports = job.rotator->rotate_shared(job.rotation, job.targets, job.reboot_allowed);
      }
      seconds = rt.clock().monotonic() - started;
      return reports;
    };
    ramp_jobs.push_back(std::move(ramp));
  }
  const auto done = [&](const RampJob& ramp, const std::vector<engine::Report>& reports) {
    const std::size_t index = ramp.tag;
    const Job& job = jobs[index];
    for (const auto& report : reports) {
      const bool failed = report.outcome == engine::Outcome::Failed;
      const std::string detail = report.detail.empty() ? "" : " detail=\"" + report.detail + "\"";
      if (!failed ||
          repeats_.admit(
              "rotation failed policy=" + job.policy + without_id(detail, report.server_id), now)) {
        logger->info("rotation finished policy={} server_id={} result={} state={} attempts={}{}",
                     job.policy, report.server_id, engine::to_string(report.outcome),
                     engine::to_string(report.state), report.attempts, detail);
      }
      record(job, report, durations[index]);
    }
  };
  const bool interrupted = run_ramped(runs, ramp_jobs, cfg.daemon.concurrency, stop, done);
  for (const auto& run : runs) {
    if (!run.halted) {
      continue;
    }
    summary.halted.push_back(run.policy);
    summary.untouched += run.untouched;
    logger->error(
        "policy run halted: {}; {} due servers left untouched; the policy is held (resumes still "
        "run) until its configuration changes or `rotor resume --policy {}` policy={}",
        run.halt_reason, run.untouched, run.policy, run.policy);
    for (const auto& policy : cfg.policies) {
      if (policy.name == run.policy) {
        hold(policy, run.halt_reason, now);
        policy_view[policy.name].held = run.halt_reason;
      }
    }
    if (options_.on_halt) {
      options_.on_halt(run.policy);
    }
  }
  summary.interrupted = interrupted;
  if (summary.still_pending > 0 || summary.interrupted) {
    next_wake = std::min(next_wake, now + options_.tick_interval);
  }
  summary.next_wake = std::max(next_wake, to_seconds(rt.clock().now()));
  {
    std::lock_guard lock(mutex_);
    view_ = std::move(view);
    policy_view_ = std::move(policy_view);
  }
  save_cache();
#if defined(__GLIBC__)
  // The tick freed the listings, the metadata and the previous view; glibc keeps freed memory
  // inside its heaps (only the top of the main heap is given back on its own), so without this
  // the idle daemon stays at the tick's peak. A walk over the heaps: milliseconds, once a tick.
  ::malloc_trim(0);
#endif
  if (const std::size_t suppressed = repeats_.flush("scheduler", to_seconds(rt.clock().now()));
      suppressed > 0 && options_.on_suppressed) {
    options_.on_suppressed(suppressed);
  }
  if (summary.due > 0) {
    logger->info("tick finished due={} rotated={} failed={} pending={} halted={}", summary.due,
                 summary.rotated, summary.failed, summary.still_pending, summary.halted.size());
  }
  return summary;
}

std::vector<ServerView> Scheduler::servers() const {
  std::lock_guard lock(mutex_);
  std::vector<ServerView> out;
  out.reserve(view_.size());
  for (std::size_t i = 0; i < view_.size(); ++i) {
    out.push_back(view_.at(i));
  }
  return out;
}

void Scheduler::visit_servers(const std::function<void(const ServerTable&)>& visit) const {
  std::lock_guard lock(mutex_);
  visit(view_);
}

std::vector<PolicyView> Scheduler::policies() const {
  std::lock_guard lock(mutex_);
  std::vector<PolicyView> out;
  for (const auto& [name, pv] : policy_view_) {
    out.push_back(pv);
  }
  return out;
}

std::string Scheduler::status_line() const {
  std::lock_guard lock(mutex_);
  std::size_t pending = 0;
  std::size_t quarantined = 0;
  std::optional<SysSeconds> next_due;
  for (std::size_t i = 0; i < view_.size(); ++i) {
    if (view_.state(i) == "pending") {
      ++pending;
    }
    if (!view_.quarantined(i).empty()) {
      ++quarantined;
      continue;
    }
    next_due = next_due ? std::min(*next_due, view_.next_due(i)) : view_.next_due(i);
  }
  std::ostringstream out;
  out << runtime_->config().policies.size() << " policies, " << view_.size() << " servers, "
      << pending << " pending, " << quarantined << " quarantined, next due "
      << (next_due ? engine::format_time(*next_due) : std::string("-"));
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// The cache

void Scheduler::save_cache() const {
  if (options_.state_file.empty()) {
    return;
  }
  // No copy and no lock: only tick() (this thread) writes view_, and readers only read it.
  if (auto written = write_state_cache(options_.state_file, view_); !written) {
    log::get("scheduler")
        ->warn("cannot write the state cache error=\"{}\"", written.error().to_string());
  }
}

void Scheduler::load_cache() {
  if (options_.state_file.empty()) {
    return;
  }
  auto cached = read_state_cache(options_.state_file);
  std::lock_guard lock(mutex_);
  view_ = std::move(cached);
}

namespace {

// Builds the table from the parser's events, without the document: the file of 100,000 servers
// is 16 MB, its nlohmann::json tree several times that. The checks are the ones the document
// reader made: the top level an object with a "servers" object of objects, known fields of the
// right type (else the whole file is broken), anything else ignored.
class CacheReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  ServerTable table;
  std::string error;  // set when the file is broken
  bool servers_seen = false;
  bool unknown_version = false;

  bool null() override { return scalar(Scalar::Other); }
  bool boolean(bool /*value*/) override { return scalar(Scalar::Other); }
  bool number_integer(number_integer_t value) override { return number(value); }
  bool number_unsigned(number_unsigned_t value) override {
    return number(static_cast<std::int64_t>(value));
  }
  bool number_float(number_float_t value, const string_t& /*text*/) override {
    return number(static_cast<std::int64_t>(value));
  }
  bool string(string_t& value) override {
    if (in_entry_field()) {
      if (field_ == "policy") {
        entry_.policy = std::move(value);
      } else if (field_ == "state") {
        entry_.state = std::move(value);
      } else if (field_ == "quarantined") {
        entry_.quarantined = std::move(value);
      } else if (field_ == "rotated_at" || field_ == "next_due") {
        return broken("'" + field_ + "' is not a number");
      }
      return true;
    }
    return scalar(Scalar::Other);
  }
  bool binary(binary_t& /*value*/) override { return scalar(Scalar::Other); }
  bool key(string_t& value) override {
    if (depth_ == 1) {
      root_key_ = std::move(value);
    } else if (depth_ == 2 && in_servers()) {
      id_ = std::move(value);
    } else if (depth_ == 3 && in_servers()) {
      field_ = std::move(value);
    }
    return true;
  }
  bool start_object(std::size_t /*elements*/) override {
    if (depth_ == 1 && root_key_ == "servers") {
      servers_seen = true;
    } else if (depth_ == 2 && in_servers()) {
      entry_ = ServerView{};
      entry_.server_id = id_;
      entry_.state = "unrotated";
    } else if (in_entry_field() && known_field()) {
      return broken("'" + field_ + "' is an object");
    }
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    if (depth_ == 2 && in_servers()) {
      table.add(entry_);
    }
    return true;
  }
  bool start_array(std::size_t /*elements*/) override {
    if (depth_ == 0) {
      return broken("the top level is not an object");
    }
    if ((depth_ == 1 && root_key_ == "servers") || (depth_ == 2 && in_servers()) ||
        (in_entry_field() && known_field())) {
      return broken("an array where an object or a value belongs");
    }
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& e) override {
    return broken(e.what());
  }

 private:
  enum class Scalar { Number, Other };

  bool in_servers() const { return servers_seen && root_key_ == "servers"; }
  bool in_entry_field() const { return depth_ == 3 && in_servers(); }
  bool known_field() const {
    return field_ == "policy" || field_ == "state" || field_ == "quarantined" ||
           field_ == "rotated_at" || field_ == "next_due";
  }
  bool number(std::int64_t value) {
    if (in_entry_field()) {
      if (field_ == "rotated_at") {
        entry_.rotated_at = SysSeconds(std::chrono::seconds(value));
      } else if (field_ == "next_due") {
        entry_.next_due = SysSeconds(std::chrono::seconds(value));
      } else if (known_field()) {
        return broken("'" + field_ + "' is not a string");
      }
      return true;
    }
    if (depth_ == 1 && root_key_ == "version" && value != 1) {
      unknown_version = true;
      return false;  // another format: ignored, not misread
    }
    return scalar(Scalar::Number);
  }
  bool scalar(Scalar /*kind*/) {
    if (depth_ == 0) {
      return broken("the top level is not an object");
    }
    if ((depth_ == 1 && root_key_ == "servers") || (depth_ == 2 && in_servers())) {
      return broken("a value where an object belongs");
    }
    if (in_entry_field() && known_field()) {
      return broken("'" + field_ + "' has the wrong type");
    }
    return true;
  }
  bool broken(std::string why) {
    error = std::move(why);
    return false;
  }

  int depth_ = 0;
  std::string root_key_;
  std::string id_;
  std::string field_;
  ServerView entry_;
};

// Writes through a buffer of its own: the file is never one string in memory.
class BufferedFile {
 public:
  explicit BufferedFile(int fd) : fd_(fd) { buffer_.reserve(kSize); }
  void put(std::string_view text) {
    buffer_.append(text);
    if (buffer_.size() >= kSize) {
      flush();
    }
  }
  // False (errno kept in error()) once a write failed; later writes are dropped.
  bool flush() {
    std::size_t written = 0;
    while (error_ == 0 && written < buffer_.size()) {
      const auto n = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
      if (n < 0) {
        if (errno != EINTR) {
          error_ = errno;
        }
        continue;
      }
      written += static_cast<std::size_t>(n);
    }
    buffer_.clear();
    return error_ == 0;
  }
  [[nodiscard]] int error() const noexcept { return error_; }

 private:
  static constexpr std::size_t kSize = std::size_t{64} * 1024;
  int fd_;
  int error_ = 0;
  std::string buffer_;
};

// A JSON string literal, as nlohmann::json::dump writes it (invalid UTF-8 replaced, not thrown).
std::string quoted(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

ServerTable read_state_cache(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    return {};
  }
  CacheReader reader;
  const bool parsed = nlohmann::json::sax_parse(in, &reader);
  if (reader.unknown_version) {
    log::get("scheduler")->info("ignoring a state cache of another version file={}", file.string());
    return {};
  }
  if (parsed && !reader.servers_seen) {
    reader.error = "no 'servers' object";
  }
  if (!parsed || !reader.error.empty()) {
    log::get("scheduler")
        ->warn("ignoring a broken state cache file={} error=\"{}\"", file.string(), reader.error);
    return {};
  }
  reader.table.seal();
  return std::move(reader.table);
}

Result<void> write_state_cache(const std::filesystem::path& file, const ServerTable& servers) {
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(ErrorCode::IoError, "cannot create {}: {}", tmp.string(), std::strerror(errno));
  }
  // The layout of nlohmann's dump(1) of the version-1 document (keys in order), so that the file
  // reads the same whichever writer made it.
  BufferedFile out(fd);
  out.put("{\n \"note\": \"a cache of the schedule; no secret; Vault metadata is the truth\",\n");
  out.put(servers.empty() ? " \"servers\": {},\n" : " \"servers\": {\n");
  for (std::size_t i = 0; i < servers.size(); ++i) {
    out.put("  ");
    out.put(quoted(servers.id(i)));
    out.put(": {\n   \"next_due\": ");
    out.put(std::to_string(unix_seconds(servers.next_due(i))));
    out.put(",\n   \"policy\": ");
    out.put(quoted(servers.policy(i)));
    if (const auto reason = servers.quarantined(i); !reason.empty()) {
      out.put(",\n   \"quarantined\": ");
      out.put(quoted(reason));
    }
    if (const auto rotated = servers.rotated_at(i)) {
      out.put(",\n   \"rotated_at\": ");
      out.put(std::to_string(unix_seconds(*rotated)));
    }
    out.put(",\n   \"state\": ");
    out.put(quoted(servers.state(i)));
    out.put(i + 1 < servers.size() ? "\n  },\n" : "\n  }\n },\n");
  }
  out.put(" \"version\": 1\n}\n");
  if (!out.flush()) {
    ::close(fd);
    return fail(ErrorCode::IoError, "cannot write {}: {}", tmp.string(),
                std::strerror(out.error()));
  }
  ::fsync(fd);
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    return fail(ErrorCode::IoError, "cannot rename {} to {}: {}", tmp.string(), file.string(),
                ec.message());
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// ServerTable

std::string_view ServerTable::id_of(const Entry& entry) const {
  return std::string_view(text_).substr(entry.text_at, entry.id_size);
}

ServerTable::Entry ServerTable::pack(const ServerView& sv) {
  Entry entry;
  entry.text_at = text_.size();
  append_packed(text_, {sv.server_id, sv.server_name, sv.quarantined});
  entry.id_size = static_cast<std::uint32_t>(sv.server_id.size());
  entry.name_size = static_cast<std::uint32_t>(sv.server_name.size());
  entry.quarantined_size = static_cast<std::uint32_t>(sv.quarantined.size());
  entry.policy = intern(sv.policy);
  entry.state = intern(sv.state);
  entry.has_rotated_at = sv.rotated_at.has_value();
  entry.rotated_at = sv.rotated_at ? unix_seconds(*sv.rotated_at) : 0;
  entry.next_due = unix_seconds(sv.next_due);
  entry.alert = sv.alert;
  entry.unverified = sv.unverified;
  return entry;
}

ServerView ServerTable::unpack(const Entry& entry) const {
  const std::string_view text = std::string_view(text_).substr(entry.text_at);
  ServerView sv;
  sv.policy = names_[entry.policy];
  sv.server_id = text.substr(0, entry.id_size);
  sv.server_name = text.substr(entry.id_size, entry.name_size);
  sv.quarantined =
      text.substr(std::size_t{entry.id_size} + entry.name_size, entry.quarantined_size);
  sv.state = names_[entry.state];
  if (entry.has_rotated_at) {
    sv.rotated_at = SysSeconds(std::chrono::seconds(entry.rotated_at));
  }
  sv.next_due = SysSeconds(std::chrono::seconds(entry.next_due));
  sv.alert = entry.alert;
  sv.unverified = entry.unverified;
  return sv;
}

void ServerTable::reserve(std::size_t servers, std::size_t text_per_server) {
  entries_.reserve(servers);
  reserve_packed(text_, servers - std::min(servers, entries_.size()), text_per_server);
}

std::uint16_t ServerTable::intern(std::string_view name) {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) {
      return static_cast<std::uint16_t>(i);
    }
  }
  // Policy names and states are a handful. Past this many only corrupt records could be adding
  // states: they read as "unknown" rather than making every look-up a long scan.
  constexpr std::size_t kMaxNames = 256;
  if (names_.size() >= kMaxNames - 1) {
    if (names_.size() == kMaxNames - 1) {
      names_.emplace_back("unknown");
    }
    return static_cast<std::uint16_t>(kMaxNames - 1);
  }
  names_.emplace_back(name);
  return static_cast<std::uint16_t>(names_.size() - 1);
}

void ServerTable::truncate(std::size_t servers) {
  if (servers >= entries_.size()) {
    return;
  }
  text_.resize(entries_[servers].text_at);  // added in order: the text of the rest follows
  entries_.resize(servers);
}

void ServerTable::add(const ServerView& sv) {
  entries_.push_back(pack(sv));
}

void ServerTable::seal() {
  const auto by_id = [this](const Entry& a, const Entry& b) { return id_of(a) < id_of(b); };
  std::stable_sort(entries_.begin(), entries_.end(), by_id);
  // Of equal ids the last added wins; they are adjacent, in the order added.
  auto out = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const auto next = std::next(it);
    if (next != entries_.end() && !by_id(*it, *next)) {
      continue;
    }
    if (out != it) {
      *out = *it;
    }
    ++out;
  }
  entries_.erase(out, entries_.end());
  entries_.shrink_to_fit();
  text_.shrink_to_fit();
}

std::vector<ServerTable::Entry>::const_iterator ServerTable::lower_bound(
    std::string_view id) const {
  return std::lower_bound(
      entries_.begin(), entries_.end(), id,
      [this](const Entry& entry, std::string_view wanted) { return id_of(entry) < wanted; });
}

std::optional<ServerView> ServerTable::find(std::string_view server_id) const {
  const auto found = lower_bound(server_id);
  if (found == entries_.end() || id_of(*found) != server_id) {
    return std::nullopt;
  }
  return unpack(*found);
}

void ServerTable::put(const ServerView& sv) {
  const auto at = entries_.begin() + (lower_bound(sv.server_id) - entries_.cbegin());
  if (at != entries_.end() && id_of(*at) == sv.server_id) {
    *at = pack(sv);
  } else {
    entries_.insert(at, pack(sv));
  }
}

ServerView ServerTable::at(std::size_t i) const {
  return unpack(entries_[i]);
}

std::string_view ServerTable::id(std::size_t i) const {
  return id_of(entries_[i]);
}

std::string_view ServerTable::policy(std::size_t i) const {
  return names_[entries_[i].policy];
}

std::string_view ServerTable::state(std::size_t i) const {
  return names_[entries_[i].state];
}

std::string_view ServerTable::quarantined(std::size_t i) const {
  const Entry& entry = entries_[i];
  return std::string_view(text_).substr(entry.text_at + entry.id_size + entry.name_size,
                                        entry.quarantined_size);
}

std::optional<config::SysSeconds> ServerTable::rotated_at(std::size_t i) const {
  if (!entries_[i].has_rotated_at) {
    return std::nullopt;
  }
  return SysSeconds(std::chrono::seconds(entries_[i].rotated_at));
}

config::SysSeconds ServerTable::next_due(std::size_t i) const {
  return SysSeconds(std::chrono::seconds(entries_[i].next_due));
}

}  // namespace rotor::daemon
