#include "daemon/scheduler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "daemon/metadata_reader.h"
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
};

namespace {

using config::SysSeconds;

SysSeconds to_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

std::optional<SysSeconds> metadata_time(const std::map<std::string, std::string>& metadata,
                                        const char* key) {
  auto found = metadata.find(key);
  if (found == metadata.end()) {
    return std::nullopt;
  }
  auto parsed = engine::parse_time(found->second);
  if (!parsed) {
    return std::nullopt;
  }
  return to_seconds(*parsed);
}

std::int64_t unix_seconds(SysSeconds t) {
  return t.time_since_epoch().count();
}

}  // namespace

Scheduler::Scheduler(Runtime& runtime, SchedulerOptions options)
    : runtime_(&runtime), options_(std::move(options)) {
  load_cache();
}

TickSummary Scheduler::tick(const std::atomic<bool>& stop) {
  auto logger = log::get("scheduler");
  Runtime& rt = *runtime_;
  const config::Config& cfg = rt.config();
  const SysSeconds now = to_seconds(rt.clock().now());
  TickSummary summary;
  summary.at = now;
  SysSeconds next_wake = now + options_.tick_interval;

  if (auto maintained = rt.store().maintain(); !maintained) {
    logger->warn("vault token maintenance failed error=\"{}\"", maintained.error().to_string());
  }

  std::map<std::string, ServerView> view;
  std::map<std::string, PolicyView> policy_view;
  std::vector<Job> jobs;
  for (const auto& policy : cfg.policies) {
    PolicyView pv;
    pv.name = policy.name;
    {
      std::lock_guard lock(mutex_);
      if (auto old = policy_view_.find(policy.name); old != policy_view_.end()) {
        pv.last_success = old->second.last_success;
      }
    }
    ecs::EcsClient* cloud = rt.cloud(policy.cloud);
    engine::Rotator* rotator = rt.rotator(policy.cloud);
    const config::Cloud* cloud_cfg = cfg.cloud(policy.cloud);
    if (cloud == nullptr || rotator == nullptr || cloud_cfg == nullptr) {
      pv.error = "unknown cloud " + policy.cloud;
      policy_view[policy.name] = std::move(pv);
      continue;
    }
    auto listing = cloud->list_servers();
    if (!listing) {
      pv.error = listing.error().to_string();
      logger->warn("cannot list servers policy={} error=\"{}\"", policy.name, pv.error);
      policy_view[policy.name] = std::move(pv);
      continue;
    }
    const bool in_window = policy.windows.empty() || config::in_any_window(policy.windows, now);
    const engine::RotationPolicy rotation = rotation_policy(policy);
    std::vector<engine::Target> due;
    auto selected = select(policy, *listing);
    // Metadata is read a chunk at a time, the reads of a chunk overlapping (metadata_reader.h);
    // chunks keep the memory for them bounded whatever the fleet size.
    constexpr std::size_t kMetadataChunk = 512;
    std::vector<std::string> chunk_paths;
    std::vector<Result<vault::KvMetadata>> chunk_metadata;
    for (std::size_t index = 0; index < selected.size(); ++index) {
      auto& server = selected[index];
      if (index % kMetadataChunk == 0) {
        chunk_paths.clear();
        for (std::size_t j = index; j < std::min(selected.size(), index + kMetadataChunk); ++j) {
          chunk_paths.push_back(vault_path(cfg.vault.kv.path, *cloud_cfg, policy, selected[j]));
        }
        chunk_metadata = read_metadata_concurrently(
            rt.vault(), chunk_paths, static_cast<std::size_t>(std::max(1, cfg.daemon.concurrency)));
      }
      ServerView sv;
      sv.policy = policy.name;
      sv.server_id = server.id;
      sv.server_name = server.name;
      sv.state = "unrotated";
      const std::string path = chunk_paths[index % kMetadataChunk];
      auto& metadata = chunk_metadata[index % kMetadataChunk];
      if (metadata) {
        const auto& custom = metadata->custom_metadata;
        if (auto state = custom.find("state"); state != custom.end()) {
          sv.state = state->second;
        }
        if (auto q = custom.find("quarantined"); q != custom.end()) {
          sv.quarantined = q->second;
        }
        sv.rotated_at = metadata_time(custom, "rotated_at");
      } else if (metadata.error().code() != ErrorCode::NotFound) {
        logger->warn("cannot read metadata policy={} server_id={} error=\"{}\"", policy.name,
                     server.id, metadata.error().to_string());
        continue;  // unknown state: never act on a guess
      }
      const bool pending = sv.state == "pending";
      sv.next_due = pending ? now : config::due_at(policy, sv.rotated_at, server.id, now);
      bool run = false;
      if (!sv.quarantined.empty() || server.locked) {
        run = false;  // parked until an operator acts; not scheduled
      } else if (pending) {
        run = true;  // resume at once; reboots only in a window
      } else if (sv.next_due <= now) {
        if (in_window) {
          run = true;
        } else {
          sv.next_due = config::next_window_open(policy.windows, now);
        }
      }
      if (sv.quarantined.empty() && !server.locked) {
        const SysSeconds next = run ? now : sv.next_due;
        pv.next_run = pv.next_run ? std::min(*pv.next_run, next) : next;
        if (!run) {
          next_wake = std::min(next_wake, std::max(sv.next_due, now + std::chrono::seconds(1)));
        }
      }
      if (run && !policy.dry_run) {
        engine::Target target;
        target.server = std::move(server);
        target.vault_path = path;
        due.push_back(std::move(target));
      }
      view[sv.server_id] = std::move(sv);
    }
    if (!due.empty()) {
      const std::size_t batch =
          rotation.mode == engine::Mode::Unique
              ? 1
              : std::max<std::size_t>(1, static_cast<std::size_t>(cloud_cfg->limits.max_batch));
      for (std::size_t start = 0; start < due.size(); start += batch) {
        Job job;
        job.policy = policy.name;
        job.config = &policy;
        job.rotator = rotator;
        job.rotation = rotation;
        job.reboot_allowed = in_window;
        const auto end = std::min(due.size(), start + batch);
        job.targets.assign(
            std::make_move_iterator(due.begin() + static_cast<std::ptrdiff_t>(start)),
            std::make_move_iterator(due.begin() + static_cast<std::ptrdiff_t>(end)));
        jobs.push_back(std::move(job));
      }
    }
    policy_view[policy.name] = std::move(pv);
  }

  // Run the due servers with the concurrency limit across policies.
  std::mutex done_mutex;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> interrupted{false};
  const auto record = [&](const Job& job, const engine::Report& report,
                          std::chrono::duration<double> seconds) {
    std::lock_guard lock(done_mutex);
    ++summary.due;
    auto& sv = view[report.server_id];
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
    if (!report.detail.empty() && report.outcome == engine::Outcome::Skipped &&
        report.detail.find("quarantin") != std::string::npos) {
      sv.quarantined = report.detail;
    }
    sv.next_due = sv.state == "pending"
                      ? at + options_.tick_interval
                      : config::due_at(*job.config, sv.rotated_at, report.server_id, at);
    if (options_.on_report) {
      options_.on_report(job.policy, report, seconds);
    }
  };
  const auto worker = [&] {
    for (std::size_t i = next++; i < jobs.size(); i = next++) {
      if (stop.load()) {
        interrupted = true;
        continue;
      }
      const Job& job = jobs[i];
      const auto started = rt.clock().monotonic();
      std::vector<engine::Report> reports;
      if (job.rotation.mode == engine::Mode::Unique) {
        reports.push_back(
            job.rotator->rotate(job.rotation, job.targets.front(), job.reboot_allowed));
      } else {
        reports = job.rotator->rotate_shared(job.rotation, job.targets, job.reboot_allowed);
      }
      const std::chrono::duration<double> seconds = rt.clock().monotonic() - started;
      for (const auto& report : reports) {
        logger->info("rotation finished policy={} server_id={} result={} state={} attempts={}{}",
                     job.policy, report.server_id, engine::to_string(report.outcome),
                     engine::to_string(report.state), report.attempts,
                     report.detail.empty() ? "" : " detail=\"" + report.detail + "\"");
        record(job, report, seconds);
      }
    }
  };
  const auto threads =
      std::min(static_cast<std::size_t>(std::max(1, cfg.daemon.concurrency)), jobs.size());
  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < threads; ++t) {
      pool.emplace_back(worker);
    }
    if (!jobs.empty()) {
      worker();
    }
  }
  summary.interrupted = interrupted.load();
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
  if (summary.due > 0) {
    logger->info("tick finished due={} rotated={} failed={} pending={}", summary.due,
                 summary.rotated, summary.failed, summary.still_pending);
  }
  return summary;
}

std::vector<ServerView> Scheduler::servers() const {
  std::lock_guard lock(mutex_);
  std::vector<ServerView> out;
  out.reserve(view_.size());
  for (const auto& [id, sv] : view_) {
    out.push_back(sv);
  }
  return out;
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
  for (const auto& [id, sv] : view_) {
    if (sv.state == "pending") {
      ++pending;
    }
    if (!sv.quarantined.empty()) {
      ++quarantined;
      continue;
    }
    next_due = next_due ? std::min(*next_due, sv.next_due) : sv.next_due;
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
  std::map<std::string, ServerView> copy;
  {
    std::lock_guard lock(mutex_);
    copy = view_;
  }
  if (auto written = write_state_cache(options_.state_file, copy); !written) {
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

std::map<std::string, ServerView> read_state_cache(const std::filesystem::path& file) {
  std::map<std::string, ServerView> out;
  std::ifstream in(file);
  if (!in) {
    return out;
  }
  try {
    const auto json = nlohmann::json::parse(in);
    for (const auto& [id, entry] : json.at("servers").items()) {
      ServerView sv;
      sv.server_id = id;
      sv.policy = entry.value("policy", "");
      sv.state = entry.value("state", "unrotated");
      sv.quarantined = entry.value("quarantined", "");
      if (entry.contains("rotated_at")) {
        sv.rotated_at = SysSeconds(std::chrono::seconds(entry["rotated_at"].get<std::int64_t>()));
      }
      sv.next_due = SysSeconds(std::chrono::seconds(entry.value("next_due", std::int64_t{0})));
      out[id] = std::move(sv);
    }
  } catch (const nlohmann::json::exception& e) {
    log::get("scheduler")
        ->warn("ignoring a broken state cache file={} error=\"{}\"", file.string(), e.what());
    out.clear();
  }
  return out;
}

Result<void> write_state_cache(const std::filesystem::path& file,
                               const std::map<std::string, ServerView>& servers) {
  nlohmann::json json;
  json["version"] = 1;
  json["note"] = "a cache of the schedule; no secret; Vault metadata is the truth";
  auto& entries = json["servers"];
  entries = nlohmann::json::object();
  for (const auto& [id, sv] : servers) {
    nlohmann::json entry;
    entry["policy"] = sv.policy;
    entry["state"] = sv.state;
    if (sv.rotated_at) {
      entry["rotated_at"] = unix_seconds(*sv.rotated_at);
    }
    entry["next_due"] = unix_seconds(sv.next_due);
    if (!sv.quarantined.empty()) {
      entry["quarantined"] = sv.quarantined;
    }
    entries[id] = std::move(entry);
  }
  const std::string text = json.dump(1) + "\n";
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(ErrorCode::IoError, "cannot create {}: {}", tmp.string(), std::strerror(errno));
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::close(fd);
      return fail(ErrorCode::IoError, "cannot write {}: {}", tmp.string(), std::strerror(err));
    }
    written += static_cast<std::size_t>(n);
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

}  // namespace rotor::daemon
