#include "engine/rotator.h"

#include <fmt/format.h>
#include <algorithm>

#include "common/log.h"
#include "ecs/signer.h"

namespace rotor::engine {

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::Rotated: return "rotated";
    case Outcome::StillPending: return "pending";
    case Outcome::Failed: return "failed";
    case Outcome::Skipped: return "skipped";
  }
  return "failed";
}

std::string username_for(const ecs::Server& server) {
  return server.os_type == "Windows" ? "Administrator" : "root";
}

namespace {

// Conflicting writers are rare; a server that keeps conflicting is being rotated by someone else.
constexpr int kMaxCasRounds = 5;
constexpr int kCommitAttempts = 3;

std::shared_ptr<spdlog::logger> logger() {
  return log::get("engine");
}

Secret copy(const Secret& secret) {
  return Secret::from(secret.reveal());
}

std::string describe(const Error& error) {
  return error.to_string();
}

// What a definite refusal was, without the message text: "HTTP 400 Ecs.0005", "NotFound".
std::string refusal_key(const Error& error) {
  if (error.http_status() != 0) {
    return error.remote_code().empty()
               ? fmt::format("HTTP {}", error.http_status())
               : fmt::format("HTTP {} {}", error.http_status(), error.remote_code());
  }
  return std::string(to_string(error.code()));
}

constexpr const char* kInFlight =
    "already being rotated by another worker of this process; that one finishes it";

// A server that took `max_unconfirmed_restarts` rotations without a confirmed restart is not
// rotated again: every one of those passwords stays valid (I1), and the chain would only grow.
bool unconfirmed_chain_full(const RotationPolicy& policy, const ServerRecord& record,
                            Report& report) {
  if (record.state != State::AwaitingRestart ||
      static_cast<int>(record.earlier.size()) + 1 < policy.max_unconfirmed_restarts) {
    return false;
  }
  report.outcome = Outcome::Skipped;
  report.detail = fmt::format(
      "awaiting restart: {} rotations in a row without a confirmed restart; restart the "
      "server (or configure after_reset) so that older passwords can be retired",
      record.earlier.size() + 1);
  return true;
}

}  // namespace

struct Rotator::Pending {
  std::size_t index = 0;  // position in the caller's target list
  const Target* target = nullptr;
  std::uint64_t version = 0;  // the record version that holds the pending password
  ServerRecord record;        // as stored: state Pending, pending_password set
  Report report;
  std::optional<Error> last_error;
  std::optional<std::chrono::nanoseconds> retry_after;
  bool done = false;
  bool cas_conflict = false;
  bool retired = false;  // the pending password was retired: a fresh rotation may start
};

Rotator::Rotator(RecordStore& store, ecs::EcsClient& ecs, password::Generator& generator,
                 Clock& clock, Random& random, RotatorSeams seams)
    : store_(store),
      ecs_(ecs),
      generator_(generator),
      clock_(clock),
      random_(random),
      verifier_(seams.verifier),
      in_flight_(seams.in_flight != nullptr ? *seams.in_flight : own_in_flight_),
      concurrency_(std::max<std::size_t>(1, seams.concurrency)),
      budget_(concurrency_ - 1) {}

std::string Rotator::flight_key(const Target& target) const {
  // The server, whichever policy (and Vault path) selected it.
  return ecs_.config().name + "/" + target.server.id;
}

void Rotator::step(Step step, const std::string& server_id) {
  if (failpoint_) {
    failpoint_(step, server_id);
  }
}

std::string Rotator::new_rotation_id() {
  std::uint8_t bytes[16];
  random_.fill(bytes);
  std::string id;
  for (auto b : bytes) {
    id += fmt::format("{:02x}", b);
  }
  return id;
}

void Rotator::start_pending(ServerRecord& record, Secret password, const RotationPolicy& policy,
                            const ecs::Server& server) {
  record.prior_state = record.state;
  record.state = State::Pending;
  record.pending_password = std::move(password);
  record.rotation_id = new_rotation_id();
  record.pending_since = format_time(clock_.now());
  record.attempts = 0;
  record.unknown_outcomes = 0;
  record.last_refusal.clear();
  record.policy = policy.name;
  record.server_name = server.name;
  record.username = username_for(server);
}

password::Policy Rotator::password_policy(const RotationPolicy& policy, const ecs::Server& server,
                                          bool batch) const {
  password::Policy p = policy.password;
  const bool windows = server.os_type == "Windows";
  p.os = windows ? password::OsFamily::Windows : password::OsFamily::Linux;
  p.username = username_for(server);
  if (batch) {
    p.api = password::ApiProfile::EcsV1;  // the batch API, whatever the OS mix
  } else if (server.os_type.empty()) {
    p.api = password::ApiProfile::Safe;  // unknown OS: a password both accounts accept
  } else {
    p.api = ecs_.config().flavor == ecs::Flavor::Otc ? password::ApiProfile::OtcSingle
                                                     : password::ApiProfile::EcsV1;
  }
  return p;
}

std::string Rotator::refusal_fingerprint(const RotationPolicy& policy, const ecs::Server& server,
                                         bool batch) const {
  const password::Policy p = password_policy(policy, server, batch);
  std::string text =
      fmt::format("v1|api={}|os={}|user={}|length={}|min=", password::to_string(p.api),
                  password::to_string(p.os), p.username, p.length);
  for (auto count : p.min_count) {
    text += fmt::format("{},", count);
  }
  text += fmt::format("|exclude={}|image={}|os_type={}", p.exclude_chars, server.image_id,
                      server.os_type);
  return ecs::sha256_hex(text).substr(0, 16);
}

bool Rotator::refused_before(const RotationPolicy& policy, const ecs::Server& server, bool batch,
                             ServerRecord& record, Report& report) const {
  if (record.refused_fingerprint.empty()) {
    return false;
  }
  // `rotor resume` (failed_cycles back to 0) or a change of settings or image lifts the block.
  if (record.failed_cycles == 0 ||
      record.refused_fingerprint != refusal_fingerprint(policy, server, batch)) {
    record.refused_fingerprint.clear();  // written with the next pending record
    return false;
  }
  report.outcome = Outcome::Skipped;
  report.detail = fmt::format(
      "the cloud refused this policy's password for this server with HTTP 400 (last: {}); not "
      "retried until the policy's password settings or the server's image change, or `rotor "
      "resume`",
      record.last_error);
  return true;
}

std::chrono::nanoseconds Rotator::backoff(const RotationPolicy& policy, int attempt,
                                          std::optional<std::chrono::nanoseconds> retry_after) {
  // Exponential with full jitter, at least what the cloud asked for.
  const auto cap = std::min<std::chrono::nanoseconds>(
      policy.backoff_max, policy.backoff_initial * (std::int64_t{1} << std::min(attempt, 20)));
  auto wait = std::chrono::nanoseconds(
      static_cast<std::int64_t>(static_cast<double>(cap.count()) * random_.unit()));
  if (retry_after && *retry_after > wait) {
    wait = *retry_after;
  }
  return wait;
}

std::optional<Rotator::ProbeStop> Rotator::probe(const RotationPolicy& policy, const Target& target,
                                                 ServerRecord& record, std::uint64_t version,
                                                 Report& report) {
  if (!policy.probe_plugin || record.state != State::Unrotated) {
    return std::nullopt;
  }
  const auto& server = target.server;
  auto supported = ecs_.reset_supported(server.id);
  if (supported && !*supported) {
    record.quarantined =
        "the password reset plug-in (CloudResetPwdAgent) is not installed: the cloud would "
        "accept resets and never apply them; install it, then run `rotor resume`";
    record.policy = policy.name;
    record.server_name = server.name;
    record.username = username_for(server);
    if (auto saved = store_.save(target.vault_path, record, version);
        !saved && saved.error().code() == ErrorCode::Conflict) {
      return ProbeStop::Conflict;
    }
    logger()->warn("server quarantined server={} policy={} reason=no-reset-plugin", server.id,
                   policy.name);
    report.outcome = Outcome::Skipped;
    report.detail = "quarantined: " + record.quarantined;
    return ProbeStop::Stop;
  }
  if (!supported && supported.error().code() != ErrorCode::Unsupported) {
    report.outcome = Outcome::Failed;
    report.detail = fmt::format("cannot probe the reset plug-in: {}", describe(supported.error()));
    return ProbeStop::Stop;
  }
  return std::nullopt;
}

Report Rotator::rotate(const RotationPolicy& policy, const Target& target, bool reboot_allowed) {
  return run_unique(policy, target, reboot_allowed, false);
}

Report Rotator::resume(const RotationPolicy& policy, const Target& target, bool reboot_allowed) {
  return run_unique(policy, target, reboot_allowed, true);
}

Report Rotator::run_unique(const RotationPolicy& policy, const Target& target, bool reboot_allowed,
                           bool resume_only) {
  const auto& server = target.server;
  Report report;
  report.server_id = server.id;
  report.server_name = server.name;
  const InFlight::Lease lease = in_flight_.try_acquire(flight_key(target));
  if (!lease.held()) {
    report.outcome = Outcome::Skipped;
    report.detail = kInFlight;
    return report;
  }
  // After a check-and-set conflict: the rotation this call was driving (empty before any send),
  // and whether another writer overtook the pending write.
  std::string driving;
  Secret driving_password;
  bool overtaken = false;
  bool fresh_allowed = !resume_only;
  std::string retired_note;
  for (int round = 0; round < kMaxCasRounds; ++round) {
    // Step 1: read.
    auto loaded = store_.load(target.vault_path);
    if (!loaded) {
      report.outcome = Outcome::Failed;
      report.detail =
          fmt::format("cannot read the Vault record (nothing was sent to the cloud): {}",
                      describe(loaded.error()));
      return report;
    }
    step(Step::Read, server.id);
    ServerRecord& record = loaded->record;
    report.state = record.state;
    report.attempts = record.attempts;
    if (!record.quarantined.empty()) {
      report.outcome = Outcome::Skipped;
      report.detail = "quarantined: " + record.quarantined;
      return report;
    }
    // The loser of a race with another process ends here instead of starting a second rotation.
    const bool still_ours = record.rotation_id == driving &&
                            (record.state == State::Pending || record.awaiting_verification());
    if (!driving.empty() && !still_ours) {
      if (record.rotation_id == driving && record.password.equals(driving_password)) {
        report.outcome = Outcome::Rotated;
        report.detail = "committed by another process (check-and-set)";
        logger()->info("rotation committed elsewhere server={} policy={} rotation_id={}", server.id,
                       policy.name, driving);
      } else {
        report.outcome = Outcome::Skipped;
        report.detail =
            "another process ended this rotation or started another (check-and-set); see its "
            "record";
      }
      return report;
    }
    if (overtaken && record.state == State::Pending) {
      report.outcome = Outcome::Skipped;
      report.detail = "another process is rotating this server (check-and-set); it finishes it";
      return report;
    }

    Pending item;
    item.target = &target;
    item.version = loaded->version;
    if (record.state == State::Pending && !record.pending_password.empty()) {
      report.resumed = true;  // step 4 again with the same password
      logger()->info("resuming pending rotation server={} policy={} rotation_id={} attempts={}",
                     server.id, policy.name, record.rotation_id, record.attempts);
    } else if (record.awaiting_verification()) {
      // Restarted, not yet verified: only the verification is left to do.
      report.resumed = true;
      item.record = std::move(record);
      item.report = report;
      item.report.outcome = Outcome::Rotated;
      verify_restarted(policy, item);
      if (item.cas_conflict) {
        continue;
      }
      return item.report;
    } else {
      if (!fresh_allowed) {
        report.outcome = Outcome::Skipped;
        report.detail = "nothing pending";
        return report;
      }
      if (unconfirmed_chain_full(policy, record, report)) {
        return report;
      }
      if (refused_before(policy, server, policy.mode == Mode::Shared, record, report)) {
        return report;
      }
      if (auto stop = probe(policy, target, record, loaded->version, report); stop) {
        if (*stop == ProbeStop::Conflict) {
          continue;
        }
        return report;
      }
      // Step 2: generate.
      auto password =
          generator_.generate(password_policy(policy, server, policy.mode == Mode::Shared));
      if (!password) {
        report.outcome = Outcome::Failed;
        report.detail = describe(password.error());
        return report;
      }
      // Step 3: store it as pending before anything is sent.
      start_pending(record, std::move(*password), policy, server);
      auto saved = store_.save(target.vault_path, record, loaded->version);
      if (!saved) {
        if (saved.error().code() == ErrorCode::Conflict) {
          overtaken = true;
          continue;  // someone else wrote: read again and start over
        }
        report.outcome = Outcome::Failed;
        report.detail = fmt::format(
            "cannot store the pending password in Vault (nothing was sent to the cloud): {}",
            describe(saved.error()));
        return report;
      }
      item.version = *saved;
      step(Step::PendingWritten, server.id);
    }
    item.record = std::move(record);
    item.report = report;
    std::vector<Pending> group;
    group.push_back(std::move(item));
    push_and_commit(policy, group, policy.mode == Mode::Shared, reboot_allowed);
    Pending& done = group.front();
    if (done.cas_conflict) {
      driving = done.record.rotation_id;
      driving_password = copy(done.record.pending_password.empty() ? done.record.password
                                                                   : done.record.pending_password);
      overtaken = false;
      continue;
    }
    if (done.retired && done.record.quarantined.empty()) {
      // The refused password stays in the chain; start over with a fresh one.
      retired_note = done.report.detail;
      report.resumed = false;
      fresh_allowed = true;
      overtaken = false;
      driving.clear();
      driving_password = Secret();
      continue;
    }
    if (!retired_note.empty()) {
      done.report.detail = retired_note + "; the fresh password: " +
                           (done.report.detail.empty() ? std::string(to_string(done.report.outcome))
                                                       : done.report.detail);
    }
    return done.report;
  }
  report.outcome = Outcome::Failed;
  report.detail = fmt::format(
      "gave up after {} check-and-set conflicts: another process keeps writing this server's "
      "record",
      kMaxCasRounds);
  return report;
}

void Rotator::push_and_commit(const RotationPolicy& policy, std::vector<Pending>& group, bool batch,
                              bool reboot_allowed) {
  for (int attempt = 0; attempt < policy.push_attempts; ++attempt) {
    std::vector<Pending*> active;
    for (auto& item : group) {
      if (!item.done) {
        active.push_back(&item);
      }
    }
    if (active.empty()) {
      break;
    }
    if (attempt > 0) {
      std::optional<std::chrono::nanoseconds> asked;
      for (auto* item : active) {
        if (item->retry_after && (!asked || *item->retry_after > *asked)) {
          asked = item->retry_after;
        }
      }
      clock_.sleep_for(backoff(policy, attempt, asked));
    }

    // Step 4: send. Servers that share a pending password share a batch call.
    std::vector<std::pair<Pending*, ecs::CallStatus>> answers;
    if (batch) {
      std::vector<std::vector<Pending*>> buckets;
      for (auto* item : active) {
        auto same = std::find_if(buckets.begin(), buckets.end(), [&](const auto& bucket) {
          return bucket.front()->record.pending_password.equals(item->record.pending_password);
        });
        if (same == buckets.end()) {
          buckets.push_back({item});
        } else {
          same->push_back(item);
        }
      }
      // Resumed servers from different batches hold different passwords: one call per bucket,
      // the calls side by side.
      std::vector<ecs::BatchResetResult> results(buckets.size());
      parallel_for(buckets.size(), concurrency_, &budget_, [&](std::size_t b) {
        std::vector<std::string> ids;
        ids.reserve(buckets[b].size());
        for (auto* item : buckets[b]) {
          ids.push_back(item->target->server.id);
        }
        results[b] =
            ecs_.batch_reset_password(ids, &buckets[b].front()->record.pending_password, false);
      });
      for (std::size_t b = 0; b < buckets.size(); ++b) {
        for (std::size_t i = 0; i < buckets[b].size(); ++i) {
          answers.emplace_back(buckets[b][i], std::move(results[b].servers.at(i).status));
        }
      }
    } else {
      for (auto* item : active) {
        answers.emplace_back(
            item, ecs_.reset_password(item->target->server.id, item->record.pending_password));
      }
    }

    // Each answer touches only its own server's record: the commits run side by side.
    parallel_for(answers.size(), concurrency_, &budget_, [&](std::size_t a) {
      Pending* item = answers[a].first;
      const ecs::CallStatus& status = answers[a].second;
      const std::string& id = item->target->server.id;
      ++item->record.attempts;
      if (status.verdict == ecs::Verdict::Unknown) {
        ++item->record.unknown_outcomes;
      }
      item->report.attempts = item->record.attempts;
      step(Step::ResetSent, id);
      switch (status.verdict) {
        case ecs::Verdict::Accepted:
          logger()->info("reset accepted server={} policy={} rotation_id={} attempt={}", id,
                         policy.name, item->record.rotation_id, item->record.attempts);
          // Committed, or left pending (Vault failed), or to re-read (a CAS conflict): done here.
          commit(policy, *item);
          item->done = true;
          break;
        case ecs::Verdict::RejectedFinal: {
          item->done = true;
          const std::string refusal = refusal_key(*status.error);
          if (item->record.unknown_outcomes == 0) {
            finish_failure(policy, *item, *status.error);  // never set: drop it
          } else if (item->record.last_refusal == refusal) {
            // The same deterministic refusal twice: it will not change; try a fresh password.
            retire_pending(policy, *item, *status.error);
          } else {
            // An earlier call may have set this password: it must stay readable (I1).
            item->record.last_refusal = refusal;
            park_pending(policy, *item, *status.error, true);
            item->report.outcome = Outcome::Failed;
          }
          break;
        }
        case ecs::Verdict::RejectedTransient:
        case ecs::Verdict::Unknown:
          logger()->warn("reset not confirmed server={} policy={} verdict={} attempt={} error={}",
                         id, policy.name, ecs::to_string(status.verdict), item->record.attempts,
                         status.error ? describe(*status.error) : std::string("none"));
          item->last_error = status.error;
          item->retry_after = status.retry_after;
          break;
      }
    });
  }

  parallel_for(group.size(), concurrency_, &budget_, [&](std::size_t i) {
    Pending& item = group[i];
    if (!item.done) {
      const Error error = item.last_error.value_or(Error(ErrorCode::Internal, "no answer"));
      park_pending(policy, item, error, false);
      item.report.outcome = Outcome::StillPending;
      item.done = true;
    }
  });

  if (policy.after_reset != AfterReset::None && reboot_allowed) {
    std::vector<Pending*> to_reboot;
    for (auto& item : group) {
      if (item.report.outcome == Outcome::Rotated && item.record.state == State::AwaitingRestart &&
          item.target->server.status != "SHUTOFF") {
        to_reboot.push_back(&item);
      }
    }
    if (!to_reboot.empty()) {
      reboot(policy, to_reboot);
    }
  }
}

void Rotator::commit(const RotationPolicy& policy, Pending& item) {
  const auto& server = item.target->server;
  ServerRecord next = item.record.clone();
  // Which passwords may the server still accept once the new one is set?
  switch (next.prior_state) {
    case State::AwaitingRestart:
      // No restart was confirmed: it accepts `password` if it restarted since the last rotation,
      // else `previous_password` (or an earlier one). All of them stay.
      if (!next.previous_password.empty()) {
        next.earlier.insert(next.earlier.begin(), std::move(next.previous_password));
      }
      next.previous_password = std::move(next.password);
      break;
    case State::Current:
    case State::Pending:
      next.previous_password = std::move(next.password);
      next.earlier.clear();
      break;
    case State::Unrotated: break;
  }
  next.password = std::move(next.pending_password);
  next.pending_password = Secret();
  // A running server takes the new password at its next restart; a stopped one at its next start
  // (with a verification hook it is `current` only once verified, which needs a restart).
  next.state =
      server.status == "SHUTOFF" && !policy.verify ? State::Current : State::AwaitingRestart;
  next.prior_state = State::Unrotated;
  next.rotated_at = format_time(clock_.now());
  next.pending_since.clear();
  next.attempts = 0;
  next.unknown_outcomes = 0;
  next.failed_cycles = 0;
  next.last_error.clear();
  next.last_refusal.clear();
  next.refused_fingerprint.clear();
  next.restarted_at.clear();
  next.verified_at.clear();  // verifies the previous password, not this one

  for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
    if (attempt > 0) {
      clock_.sleep_for(backoff(policy, attempt, std::nullopt));
    }
    auto saved = store_.save(item.target->vault_path, next, item.version);
    if (saved) {
      item.version = *saved;
      item.record = std::move(next);
      item.report.outcome = Outcome::Rotated;
      item.report.state = item.record.state;  // report.attempts keeps the calls this rotation took
      logger()->info("rotation committed server={} policy={} rotation_id={} state={}", server.id,
                     policy.name, item.record.rotation_id, to_string(item.record.state));
      step(Step::Committed, server.id);
      return;
    }
    if (saved.error().code() == ErrorCode::Conflict) {
      // Someone else wrote the record: re-read and resume (sending the same password is harmless).
      item.cas_conflict = true;
      return;
    }
    logger()->warn("commit failed server={} policy={} attempt={} error={}", server.id, policy.name,
                   attempt + 1, describe(saved.error()));
  }
  item.report.outcome = Outcome::StillPending;
  item.report.state = State::Pending;
  item.report.detail =
      "the cloud accepted the password but Vault could not be written; it stays pending in Vault "
      "and the next run commits it";
}

void Rotator::finish_failure(const RotationPolicy& policy, Pending& item, const Error& error) {
  const auto& server = item.target->server;
  ServerRecord next = item.record.clone();
  next.pending_password = Secret();  // the cloud definitely did not set it
  next.state = next.prior_state;
  next.pending_since.clear();
  next.last_error = describe(error);
  next.attempts = 0;
  next.unknown_outcomes = 0;
  next.last_refusal.clear();
  ++next.failed_cycles;
  if (error.http_status() == 400) {
    // A validation error: the same settings on the same image would be refused again.
    next.refused_fingerprint = refusal_fingerprint(policy, server, policy.mode == Mode::Shared);
  }
  if (next.failed_cycles >= policy.quarantine_after_failures) {
    next.quarantined = fmt::format(
        "{} rotations in a row were refused by the cloud (last: {}); fix the cause, then run "
        "`rotor resume`",
        next.failed_cycles, next.last_error);
  }
  if (auto saved = store_.save(item.target->vault_path, next, item.version); saved) {
    item.version = *saved;
  } else {
    // The pending password stays in Vault: harmless, the next run sends it once more.
    logger()->warn("could not record a failure server={} error={}", server.id,
                   describe(saved.error()));
  }
  logger()->warn("rotation refused server={} policy={} error={} failed_cycles={}{}", server.id,
                 policy.name, next.last_error, next.failed_cycles,
                 next.quarantined.empty() ? "" : " quarantined=true");
  item.report.outcome = Outcome::Failed;
  item.report.state = next.state;
  item.report.detail =
      next.quarantined.empty() ? next.last_error : "quarantined: " + next.quarantined;
  item.record = std::move(next);
}

void Rotator::park_pending(const RotationPolicy& policy, Pending& item, const Error& error,
                           bool refused) {
  const auto& server = item.target->server;
  ServerRecord next = item.record.clone();
  next.last_error = describe(error);
  if (refused) {  // refused for good, but an earlier call may have set it: counts as a failure
    ++next.failed_cycles;
    if (next.failed_cycles >= policy.quarantine_after_failures) {
      next.quarantined = fmt::format(
          "the cloud refuses a password it may already have set (last: {}); the password stays "
          "pending in Vault; fix the cause, then run `rotor resume`",
          next.last_error);
    }
  }
  if (auto saved = store_.save(item.target->vault_path, next, item.version); saved) {
    item.version = *saved;
  }
  item.report.alert = next.attempts >= policy.alert_after_attempts;
  item.report.state = State::Pending;
  item.report.detail =
      fmt::format("pending kept after {} attempt(s): {}", next.attempts, next.last_error);
  if (item.report.alert) {
    logger()->error("rotation stuck server={} policy={} rotation_id={} attempts={} error={}",
                    server.id, policy.name, next.rotation_id, next.attempts, next.last_error);
  }
  item.record = std::move(next);
}

void Rotator::retire_pending(const RotationPolicy& policy, Pending& item, const Error& error) {
  const auto& server = item.target->server;
  ServerRecord next = item.record.clone();
  // An earlier call may have set it, and the server may accept it now (it restarted unseen) or
  // after its next restart: it joins the passwords kept until a restart is confirmed (I1).
  next.earlier.insert(next.earlier.begin(), std::move(next.pending_password));
  next.pending_password = Secret();
  // A restart is unconfirmed since a password may have been set: the next commit keeps the chain.
  next.state = next.prior_state == State::Current ? State::AwaitingRestart : next.prior_state;
  next.prior_state = State::Unrotated;
  next.pending_since.clear();
  next.last_error = describe(error);
  next.last_refusal.clear();
  next.attempts = 0;
  next.unknown_outcomes = 0;
  // Not a failed cycle of its own: the first refusal counted, the fresh password decides this one.
  auto saved = store_.save(item.target->vault_path, next, item.version);
  if (!saved) {
    if (saved.error().code() == ErrorCode::Conflict) {
      item.cas_conflict = true;
      return;
    }
    // It stays pending: harmless, the next run sends it once more.
    logger()->warn("could not retire a refused password server={} error={}", server.id,
                   describe(saved.error()));
    item.report.outcome = Outcome::Failed;
    item.report.state = State::Pending;
    item.report.detail = fmt::format("refused again ({}); pending kept: Vault could not be written",
                                     next.last_error);
    return;
  }
  item.version = *saved;
  logger()->warn(
      "refused twice for the same reason, password retired server={} policy={} rotation_id={} "
      "error={}",
      server.id, policy.name, next.rotation_id, next.last_error);
  item.retired = true;
  item.report.outcome = Outcome::Failed;
  item.report.state = next.state;
  item.report.detail = fmt::format(
      "the pending password was refused twice ({}) and retired (kept in Vault)", next.last_error);
  item.record = std::move(next);
  step(Step::Retired, server.id);
}

void Rotator::reboot(const RotationPolicy& policy, std::vector<Pending*>& items) {
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (auto* item : items) {
    ids.push_back(item->target->server.id);
  }
  const auto type =
      policy.after_reset == AfterReset::RebootHard ? ecs::RebootType::Hard : ecs::RebootType::Soft;
  auto started = ecs_.reboot(ids, type);
  if (!started.status.accepted()) {
    for (auto* item : items) {
      item->report.detail = fmt::format(
          "reboot not started: {}", started.status.error ? describe(*started.status.error) : "");
    }
    return;
  }
  auto job = ecs_.wait_for_job(started.job_id, policy.job_poll_interval, policy.job_timeout);
  // Per server: record the restart (and run the verification hook) side by side.
  parallel_for(items.size(), concurrency_, &budget_, [&](std::size_t k) {
    Pending* item = items[k];
    const auto& id = item->target->server.id;
    bool ok = job && job->state == ecs::JobState::Success;
    if (job) {
      for (const auto& sub : job->sub_jobs) {
        if (sub.server_id == id) {
          ok = sub.state == ecs::JobState::Success;
        }
      }
    }
    if (!ok) {
      item->report.detail =
          job ? fmt::format("reboot job {} ended {}", started.job_id, ecs::to_string(job->state))
              : fmt::format("reboot job: {}", describe(job.error()));
      return;
    }
    ServerRecord next = item->record.clone();
    if (policy.verify) {
      // The restart is confirmed, the password not yet: record the restart (a crash from here
      // on resumes with the verification), keep every older password.
      next.restarted_at = format_time(clock_.now());
      auto saved = store_.save(item->target->vault_path, next, item->version);
      if (!saved) {
        item->report.detail = fmt::format(
            "rebooted, but Vault could not be written ({}); the verification waits for the next "
            "restart",
            describe(saved.error()));
        return;
      }
      item->version = *saved;
      item->record = std::move(next);
      step(Step::Rebooted, id);
      verify_restarted(policy, *item);
      return;
    }
    // The restart is confirmed: the server accepts only the new password now.
    next.state = State::Current;
    next.earlier.clear();
    if (auto saved = store_.save(item->target->vault_path, next, item->version); saved) {
      item->version = *saved;
      item->record = std::move(next);
      item->report.state = State::Current;
      step(Step::Rebooted, id);
    }
  });
}

void Rotator::verify_restarted(const RotationPolicy& policy, Pending& item) {
  const auto& server = item.target->server;
  ServerRecord next = item.record.clone();
  if (!policy.verify) {
    // The hook was removed from the configuration: the confirmed restart is enough.
    next.state = State::Current;
    next.earlier.clear();
    next.restarted_at.clear();
  } else {
    VerifyContext context;
    context.server_id = server.id;
    context.server_name = server.name;
    context.username = next.username.empty() ? username_for(server) : next.username;
    context.os_type = server.os_type;
    context.addresses = server.addresses;
    context.policy = policy.name;
    context.rotation_id = next.rotation_id;
    const Result<void> verified =
        verifier_ != nullptr
            ? verifier_->verify(*policy.verify, context, next.password)
            : Result<void>(fail(ErrorCode::Internal, "no verification hook runner is configured"));
    if (verified) {
      next.state = State::Current;
      next.earlier.clear();
      next.restarted_at.clear();
      next.verified_at = format_time(clock_.now());
      next.failed_cycles = 0;
      next.last_error.clear();
    } else {
      next.last_error = "verification failed: " + describe(verified.error());
      ++next.failed_cycles;
      if (next.failed_cycles >= policy.quarantine_after_failures) {
        next.quarantined = fmt::format(
            "{} failures in a row, the last one a verification (last: {}); the server may still "
            "accept previous_password (every candidate is in Vault); check it, then run `rotor "
            "resume`",
            next.failed_cycles, next.last_error);
      }
    }
  }
  auto saved = store_.save(item.target->vault_path, next, item.version);
  if (!saved && saved.error().code() == ErrorCode::Conflict) {
    item.cas_conflict = true;  // re-read; verifying twice is harmless
    return;
  }
  const bool ok = next.state == State::Current;
  if (ok) {
    logger()->info("password verified server={} policy={} rotation_id={}", server.id, policy.name,
                   next.rotation_id);
    item.report.state = saved ? State::Current : State::AwaitingRestart;
    if (!saved) {
      item.report.detail =
          fmt::format("verified, but Vault could not be written ({}); the next run verifies again",
                      describe(saved.error()));
    }
  } else {
    logger()->error("verification failed server={} policy={} rotation_id={} error={}{}", server.id,
                    policy.name, next.rotation_id, next.last_error,
                    next.quarantined.empty() ? "" : " quarantined=true");
    item.report.outcome = Outcome::Failed;
    item.report.state = State::AwaitingRestart;
    item.report.alert = true;
    item.report.unverified = true;
    item.report.detail = next.quarantined.empty()
                             ? next.last_error + "; older passwords kept; retried on the next run"
                             : "quarantined: " + next.quarantined;
  }
  if (saved) {
    item.version = *saved;
    item.record = std::move(next);
    step(Step::Verified, server.id);
  }
}

std::vector<Report> Rotator::rotate_shared(const RotationPolicy& policy,
                                           std::span<const Target> targets, bool reboot_allowed) {
  std::vector<Report> reports(targets.size());
  std::vector<Pending> fresh;
  std::vector<Pending> resumed;
  std::vector<std::size_t> candidates;
  // What step 1 left for each server; filled side by side, one slot per server, and read in
  // target order afterwards so that the batch and the reports keep the caller's order. The
  // leases live here until the batch is done.
  struct Slot {
    InFlight::Lease lease;
    std::optional<Pending> resumed;      // a rotation already under way
    std::optional<LoadedRecord> loaded;  // a candidate for the new password
  };
  std::vector<Slot> slots(targets.size());

  // Step 1 for every server.
  parallel_for(targets.size(), concurrency_, &budget_, [&](std::size_t i) {
    const auto& server = targets[i].server;
    Slot& slot = slots[i];
    reports[i].server_id = server.id;
    reports[i].server_name = server.name;
    slot.lease = in_flight_.try_acquire(flight_key(targets[i]));
    if (!slot.lease.held()) {
      reports[i].outcome = Outcome::Skipped;
      reports[i].detail = kInFlight;
      return;
    }
    auto record = store_.load(targets[i].vault_path);
    if (!record) {
      reports[i].outcome = Outcome::Failed;
      reports[i].detail = fmt::format("cannot read the Vault record (nothing was sent): {}",
                                      describe(record.error()));
      return;
    }
    step(Step::Read, server.id);
    reports[i].state = record->record.state;
    if (!record->record.quarantined.empty()) {
      reports[i].outcome = Outcome::Skipped;
      reports[i].detail = "quarantined: " + record->record.quarantined;
      return;
    }
    // A rotation already under way: resumed with its own record, never with the new password.
    const auto take_over = [&] {
      Pending item;
      item.index = i;
      item.target = &targets[i];
      item.version = record->version;
      item.record = std::move(record->record);
      item.report = reports[i];
      item.report.resumed = true;
      return item;
    };
    if (record->record.state == State::Pending && !record->record.pending_password.empty()) {
      slot.resumed = take_over();
      return;
    }
    if (record->record.awaiting_verification()) {
      Pending item = take_over();
      item.report.outcome = Outcome::Rotated;
      verify_restarted(policy, item);
      if (item.cas_conflict) {
        item.report.outcome = Outcome::StillPending;
        item.report.detail = "another process wrote the record; the next run verifies again";
      }
      reports[i] = std::move(item.report);
      return;
    }
    if (unconfirmed_chain_full(policy, record->record, reports[i]) ||
        refused_before(policy, server, true, record->record, reports[i])) {
      return;
    }
    if (probe(policy, targets[i], record->record, record->version, reports[i])) {
      return;  // quarantined (no plug-in), or the probe failed: not part of this batch
    }
    slot.loaded = std::move(*record);
  });
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (slots[i].resumed) {
      resumed.push_back(std::move(*slots[i].resumed));
    } else if (slots[i].loaded) {
      candidates.push_back(i);
    }
  }

  // Optional dry run: drop the servers the cloud would refuse.
  if (policy.preflight_dry_run && !candidates.empty()) {
    std::vector<std::string> ids;
    ids.reserve(candidates.size());
    for (auto i : candidates) {
      ids.push_back(targets[i].server.id);
    }
    auto dry = ecs_.batch_reset_password(ids, nullptr, true);
    std::vector<std::size_t> kept;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const auto& status = dry.servers.at(k).status;
      if (status.verdict == ecs::Verdict::RejectedFinal) {
        reports[candidates[k]].outcome = Outcome::Failed;
        reports[candidates[k]].detail =
            fmt::format("dry run refused: {}", status.error ? describe(*status.error) : "");
      } else {
        kept.push_back(candidates[k]);
      }
    }
    candidates = std::move(kept);
  }

  if (!candidates.empty()) {
    // Step 2: one password that every server of the group accepts through the batch API.
    auto password =
        generator_.generate(password_policy(policy, targets[candidates.front()].server, true));
    if (!password) {
      for (auto i : candidates) {
        reports[i].outcome = Outcome::Failed;
        reports[i].detail = describe(password.error());
      }
      candidates.clear();
    }
    // Step 3 per server, side by side; a server whose write failed is not in the batch.
    std::vector<std::optional<Pending>> written(candidates.size());
    parallel_for(candidates.size(), concurrency_, &budget_, [&](std::size_t k) {
      const std::size_t i = candidates[k];
      const auto& server = targets[i].server;
      LoadedRecord& loaded = *slots[i].loaded;
      ServerRecord record = std::move(loaded.record);
      start_pending(record, copy(*password), policy, server);
      auto saved = store_.save(targets[i].vault_path, record, loaded.version);
      if (!saved) {
        reports[i].outcome = Outcome::Failed;
        reports[i].detail = fmt::format(
            "cannot store the pending password in Vault (nothing was sent; retried next run): {}",
            describe(saved.error()));
        return;
      }
      step(Step::PendingWritten, server.id);
      Pending item;
      item.index = i;
      item.target = &targets[i];
      item.version = *saved;
      item.record = std::move(record);
      item.report = reports[i];
      written[k] = std::move(item);
    });
    // Every write above has returned: the batch below holds only durably written servers.
    for (auto& item : written) {
      if (item) {
        fresh.push_back(std::move(*item));
      }
    }
  }

  // Steps 4–6: the new group in one batch, the resumed ones by their own passwords.
  push_and_commit(policy, fresh, true, reboot_allowed);
  push_and_commit(policy, resumed, true, reboot_allowed);
  for (auto* group : {&fresh, &resumed}) {
    for (auto& item : *group) {
      if (item.cas_conflict) {
        item.report.outcome = Outcome::StillPending;
        item.report.detail = "another process wrote the record; the next run resumes it";
      } else if (item.retired && item.record.quarantined.empty()) {
        item.report.detail += "; the next run starts a fresh rotation";
      }
      reports[item.index] = std::move(item.report);
    }
  }
  return reports;
}

}  // namespace rotor::engine
