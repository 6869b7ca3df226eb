#pragma once
// The rotation protocol (rotation-protocol.md) for one server (`unique` mode) or one group
// (`shared` mode): read → generate → write pending (CAS) → reset → commit (CAS) → optional reboot.
//
// Every password a server may accept is in its Vault record before the cloud is asked to set it,
// and stays there until it is certain the server no longer accepts it. A reset whose outcome is
// unknown keeps its pending password, which the next attempt sends again (the same password twice
// is harmless). A crash anywhere leaves a record from which rotate() resumes.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/parallel.h"
#include "common/random.h"
#include "ecs/client.h"
#include "engine/in_flight.h"
#include "engine/record.h"
#include "engine/store.h"
#include "engine/verifier.h"
#include "password/generator.h"

namespace rotor::engine {

enum class Mode { Unique, Shared };
enum class AfterReset { None, RebootSoft, RebootHard };

struct RotationPolicy {
  std::string name;
  Mode mode = Mode::Unique;
  // Length, classes and exclusions; the OS, username and API profile are set per server.
  password::Policy password;
  AfterReset after_reset = AfterReset::None;
  bool preflight_dry_run = false;     // shared mode: drop the servers a dry run rejects
  bool probe_plugin = true;           // os-resetpwd-flag before a server's first rotation
  int push_attempts = 4;              // reset calls per run for one pending password
  int alert_after_attempts = 12;      // total calls on one pending password before the alert state
  int quarantine_after_failures = 3;  // definite failures in a row before quarantine
  int max_unconfirmed_restarts = 3;   // rotations in a row without a confirmed restart
  std::chrono::milliseconds backoff_initial{1'000};
  std::chrono::milliseconds backoff_max{60'000};
  std::chrono::milliseconds job_poll_interval{2'000};
  std::chrono::milliseconds job_timeout{600'000};
  // Run after a confirmed restart; with a hook, a server becomes `current` only once verified.
  std::optional<VerifyHook> verify;
};

struct Target {
  ecs::Server server;
  std::string vault_path;  // relative to the KV mount
};

enum class Outcome {
  Rotated,       // committed: the record holds the new password (current or awaiting restart)
  StillPending,  // the reset's outcome is unknown or it was throttled: the pending password stays
  Failed,        // a definite failure (the cloud refused, or Vault could not be written)
  Skipped,       // not rotated: quarantined, no reset plug-in, or too many unconfirmed restarts
};
std::string_view to_string(Outcome outcome) noexcept;

struct Report {
  std::string server_id;
  std::string server_name;
  Outcome outcome = Outcome::Failed;
  State state = State::Unrotated;
  int attempts = 0;         // reset calls on the pending password so far
  bool resumed = false;     // the run resumed a pending rotation
  bool alert = false;       // the pending password reached alert_after_attempts, or the
                            // verification hook refused the new password: a human must look
  bool unverified = false;  // restarted, but the verification hook did not confirm the password
  std::string detail;       // why (an error or a reason); never a secret
};

// The protocol's steps, for test-only failpoints (a test throws from the hook to simulate a
// crash between two steps).
// Rebooted: the confirmed restart is recorded (with a hook: not yet verified). Verified: the
// hook's verdict is recorded. Retired: a pending password refused twice for the same reason was
// moved into the chain of older passwords.
enum class Step { Read, PendingWritten, ResetSent, Committed, Rebooted, Verified, Retired };
using Failpoint = std::function<void(Step, const std::string& server_id)>;

// What a Rotator shares with the rest of the process (all optional).
struct RotatorSeams {
  // Runs the verification hook; policies with `verify` fail their verification without one.
  Verifier* verifier = nullptr;
  // The single-flight guard shared by every Rotator of the process; nullptr: one of its own.
  InFlight* in_flight = nullptr;
  // Shared mode: how many servers run their per-server steps (Vault reads and writes, the plug-in
  // probe, the commits) at once: the calling thread and up to `concurrency` - 1 helpers, shared
  // by the batches this Rotator runs side by side. The daemon passes `daemon.concurrency`; 1
  // runs them one after another on the calling thread.
  std::size_t concurrency = 1;
};

class Rotator {
 public:
  Rotator(RecordStore& store, ecs::EcsClient& ecs, password::Generator& generator, Clock& clock,
          Random& random, RotatorSeams seams = {});

  // One server, unique mode: resumes a pending rotation or starts a new one.
  Report rotate(const RotationPolicy& policy, const Target& target, bool reboot_allowed = true);
  // A group, shared mode: one password for the servers that are not pending; pending ones are
  // resumed with their own pending password. One report per target, in order. The per-server
  // steps run for up to `RotatorSeams::concurrency` servers at once; the batch reset is sent only
  // once every server in it has its pending password written.
  std::vector<Report> rotate_shared(const RotationPolicy& policy, std::span<const Target> targets,
                                    bool reboot_allowed = true);
  // Reads the record and, when pending, sends the pending password again and commits — the
  // resume path on its own (used by the reconcile pass).
  Report resume(const RotationPolicy& policy, const Target& target, bool reboot_allowed = true);

  // With a concurrency above 1 the failpoint is called from several threads at once.
  void set_failpoint(Failpoint failpoint) { failpoint_ = std::move(failpoint); }

 private:
  struct Pending;
  enum class ProbeStop { Stop, Conflict };
  // Before a first rotation: quarantines a server without the reset plug-in. nullopt: go on.
  std::optional<ProbeStop> probe(const RotationPolicy& policy, const Target& target,
                                 ServerRecord& record, std::uint64_t version, Report& report);
  Report run_unique(const RotationPolicy& policy, const Target& target, bool reboot_allowed,
                    bool resume_only);
  // Steps 4–6 for servers that each hold a written pending password.
  void push_and_commit(const RotationPolicy& policy, std::vector<Pending>& group, bool batch,
                       bool reboot_allowed);
  void commit(const RotationPolicy& policy, Pending& item);
  void finish_failure(const RotationPolicy& policy, Pending& item, const Error& error);
  // Keeps the pending password (its outcome is unknown, or it may have been set); `refused`: the
  // cloud refused it for good this time, which counts towards quarantine.
  void park_pending(const RotationPolicy& policy, Pending& item, const Error& error, bool refused);
  // A pending password that may have been set and is refused for the same reason again: moved
  // into the chain of older passwords (it stays readable), so that a fresh one can be tried.
  void retire_pending(const RotationPolicy& policy, Pending& item, const Error& error);
  void reboot(const RotationPolicy& policy, std::vector<Pending*>& items);
  // After a confirmed restart with a hook: runs it; `current` only when it confirmed.
  void verify_restarted(const RotationPolicy& policy, Pending& item);
  // The settings a 400 refusal depends on (password policy, API, server image and OS), hashed.
  std::string refusal_fingerprint(const RotationPolicy& policy, const ecs::Server& server,
                                  bool batch) const;
  // Skips a server whose last 400 refusal still applies; clears a stale one. True: skip.
  bool refused_before(const RotationPolicy& policy, const ecs::Server& server, bool batch,
                      ServerRecord& record, Report& report) const;
  std::chrono::nanoseconds backoff(const RotationPolicy& policy, int attempt,
                                   std::optional<std::chrono::nanoseconds> retry_after);
  password::Policy password_policy(const RotationPolicy& policy, const ecs::Server& server,
                                   bool batch) const;
  std::string new_rotation_id();
  // Step 3's record: `password` pending for a new rotation of `server` under `policy`.
  void start_pending(ServerRecord& record, Secret password, const RotationPolicy& policy,
                     const ecs::Server& server);
  // The single-flight key: the cloud's name and the server id.
  [[nodiscard]] std::string flight_key(const Target& target) const;
  void step(Step step, const std::string& server_id);

  RecordStore& store_;
  ecs::EcsClient& ecs_;
  password::Generator& generator_;
  Clock& clock_;
  Random& random_;
  Verifier* verifier_;
  InFlight own_in_flight_;
  InFlight& in_flight_;
  std::size_t concurrency_;
  // The helper threads of every batch this Rotator runs at once: several batches side by side
  // (the daemon's workers) share `concurrency` - 1 helpers instead of taking that many each.
  ThreadBudget budget_;
  Failpoint failpoint_;
};

// The usernames by OS type from the ECS listing ("Windows" → Administrator, otherwise root).
std::string username_for(const ecs::Server& server);

}  // namespace rotor::engine
