#pragma once
// The daemon's scheduler: one tick looks at every policy's servers (ECS listing ∩ Vault
// metadata), decides which are due, and runs them through the engine with the concurrency limit
// across policies. Pending rotations are resumed on every tick (the first tick is the start-up
// reconcile pass). Rotations start, and reboots happen, only inside a policy's windows.
//
// Due time per server: pending → now; no record → now; otherwise config::due_at (max_age minus
// head_start, or cron; windows, jitter). Quarantined servers are left alone until `rotor resume`;
// a server the engine skipped (e.g. too many rotations without a confirmed restart) is backed off
// (1 h, doubling to 24 h) until its record changes.
//
// Each policy's due servers run in waves (daemon/ramp.h): resumes, then the canary, then doubling
// waves, halted by the policy's error budget. A halted policy is held (daemon/hold.h): no new
// rotation until its configuration changes or `rotor resume --policy`; resumes still run.
// The reconcile pass (daemon/reconcile.h) runs on the first tick and every reconcile_interval.
//
// A cache of the schedule (server id → policy, state, rotated_at, next due) is written atomically
// to the state directory after every tick. It never holds a password, and it is only a cache:
// Vault metadata is re-read every tick, so losing the file loses nothing.
//
// Memory: between ticks the scheduler keeps one compact entry per server (ServerTable), not the
// ECS listing; the listing is consumed a page at a time (EcsClient::for_each_server_page), and
// the reconcile pass gets only the listed ids, with a bit for each selected one (ListedServers);
// the cache is written and read as a stream.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "daemon/hold.h"
#include "daemon/logging.h"
#include "daemon/runtime.h"
#include "engine/rotator.h"

namespace rotor::daemon {

struct ServerView {
  std::string policy;
  std::string server_id;
  std::string server_name;
  std::string state;  // "unrotated", "current", "pending", "awaiting_restart"
  std::optional<config::SysSeconds> rotated_at;
  config::SysSeconds next_due{};
  std::string quarantined;  // the reason; empty when not quarantined
  bool alert = false;       // a pending rotation past the alert threshold of attempts
  bool unverified = false;  // restarted, the verification hook has not confirmed it yet
};

// The scheduler's view of every server, as kept between ticks: ~100 bytes a server (an entry of
// 48 bytes; the ids, names and quarantine reasons of all servers in one buffer; the policy and the
// state as indexes into a small table of names) where a ServerView in a map took ~400. Two large
// blocks, not 100,000 small ones scattered among the tick's freed memory: freed whole, nothing
// left pinning half-empty heap pages.
// Built by add() in any order, then seal() sorts it by id; find() and put() need a sealed table.
class ServerTable {
 public:
  // The last one added for an id wins (as assigning into a map would).
  void add(const ServerView& sv);
  // Room for `servers` in all, of `text_per_server` bytes of id, name and reason each.
  void reserve(std::size_t servers, std::size_t text_per_server);
  // Keeps the first `servers` added (before seal): drops what a failed listing added.
  void truncate(std::size_t servers);
  void seal();
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  // The i-th server in id order.
  [[nodiscard]] ServerView at(std::size_t i) const;
  [[nodiscard]] std::optional<ServerView> find(std::string_view server_id) const;
  // Replaces the entry of sv.server_id, or inserts it in order.
  void put(const ServerView& sv);

  // Allocation-free reads of the i-th server, for the cache and the status line.
  [[nodiscard]] std::string_view id(std::size_t i) const;
  [[nodiscard]] std::string_view policy(std::size_t i) const;
  [[nodiscard]] std::string_view state(std::size_t i) const;
  [[nodiscard]] std::string_view quarantined(std::size_t i) const;
  [[nodiscard]] bool alert(std::size_t i) const { return entries_[i].alert; }
  [[nodiscard]] std::optional<config::SysSeconds> rotated_at(std::size_t i) const;
  [[nodiscard]] config::SysSeconds next_due(std::size_t i) const;

 private:
  struct Entry {
    std::uint64_t text_at = 0;  // server_id, server_name, quarantined, in text_
    std::uint32_t id_size = 0;
    std::uint32_t name_size = 0;
    std::uint32_t quarantined_size = 0;
    std::uint16_t policy = 0;  // index into names_
    std::uint16_t state = 0;   // index into names_
    std::int64_t rotated_at = 0;
    std::int64_t next_due = 0;
    bool has_rotated_at = false;
    bool alert = false;
    bool unverified = false;
  };
  [[nodiscard]] Entry pack(const ServerView& sv);
  [[nodiscard]] ServerView unpack(const Entry& entry) const;
  [[nodiscard]] std::uint16_t intern(std::string_view name);
  [[nodiscard]] std::vector<Entry>::const_iterator lower_bound(std::string_view id) const;
  [[nodiscard]] std::string_view id_of(const Entry& entry) const;

  std::vector<Entry> entries_;
  // Append-only while the table lives (a put() that replaces leaves the old text unused): it is
  // rebuilt on every tick.
  std::string text_;
  // Policy names and states: a handful of distinct values.
  std::vector<std::string> names_;
};

struct PolicyView {
  std::string name;
  std::optional<config::SysSeconds> next_run;  // the earliest next work among its servers
  std::optional<config::SysSeconds> last_success;
  std::string error;     // listing failed on the last tick
  std::string held;      // why the policy is held (a halted run); empty when not held
  std::size_t gone = 0;  // records marked gone_since by the last reconcile pass
};

struct TickSummary {
  config::SysSeconds at{};
  config::SysSeconds next_wake{};  // when the next tick should run (≤ at + tick_interval)
  std::size_t due = 0;             // servers run in this tick
  std::size_t rotated = 0;
  std::size_t failed = 0;
  std::size_t still_pending = 0;
  bool interrupted = false;         // a stop request left due servers for later
  bool reconciled = false;          // the reconcile pass ran in this tick
  std::vector<std::string> halted;  // policies whose run the error budget halted in this tick
  std::size_t untouched = 0;        // due servers left alone by those halts
};

struct SchedulerOptions {
  std::chrono::seconds tick_interval{60};
  // Empty: no cache file.
  std::filesystem::path state_file;
  // Called after each server's rotation, from worker threads (serialised by the scheduler).
  std::function<void(const std::string& policy, const engine::Report& report,
                     std::chrono::duration<double> seconds)>
      on_report;
  // Called once per halted run, from the tick's thread.
  std::function<void(const std::string& policy)> on_halt;
  // Called after each tick with the number of log messages suppressed as repeats.
  std::function<void(std::size_t count)> on_suppressed;
  std::chrono::seconds reconcile_interval{3600};
  // Repeated identical warnings inside this window are counted, not logged (daemon/logging.h).
  std::chrono::seconds log_repeat_window{600};
};

class Scheduler {
 public:
  Scheduler(Runtime& runtime, SchedulerOptions options);

  // One pass. `stop` is checked before each rotation starts: in-flight ones are finished.
  TickSummary tick(const std::atomic<bool>& stop);

  // The scheduler's view after the last tick (or from the cache before the first one).
  [[nodiscard]] std::vector<ServerView> servers() const;
  // The same view without a copy: `visit` runs under the scheduler's lock (so it must not call
  // back into the scheduler).
  void visit_servers(const std::function<void(const ServerTable&)>& visit) const;
  [[nodiscard]] std::vector<PolicyView> policies() const;
  // One human line for STATUS=: policies, servers, pending, next due.
  [[nodiscard]] std::string status_line() const;

  // Points the scheduler at a new runtime (after a reload); the view is kept.
  void set_runtime(Runtime& runtime) noexcept { runtime_ = &runtime; }

 private:
  struct Job;
  struct SkipBackoff {
    config::SysSeconds until{};
    std::chrono::seconds step{0};
    std::string state;
    std::optional<config::SysSeconds> rotated_at;
    // A failed verification: kept while the record says unverified (its rotated_at is the
    // commit's, which this view may not have seen).
    bool verification = false;
  };
  void save_cache() const;
  void load_cache();
  // The policy's hold: from Vault (lifted when the policy changed), or the one this process could
  // not persist yet. Empty: not held.
  std::string check_hold(const config::Policy& policy, config::SysSeconds now);
  void hold(const config::Policy& policy, const std::string& reason, config::SysSeconds now);

  Runtime* runtime_;
  SchedulerOptions options_;
  mutable std::mutex mutex_;
  ServerTable view_;  // written only by tick() (and the constructor), under mutex_
  std::map<std::string, PolicyView> policy_view_;
  // Only touched by tick() (and its serialised record callback).
  std::map<std::string, SkipBackoff> skipped_;     // by server id
  std::map<std::string, Hold> unpersisted_holds_;  // by policy: Vault could not be written
  std::map<std::string, std::size_t> gone_;        // by policy, from the last reconcile pass
  std::optional<config::SysSeconds> next_reconcile_;
  bool warned_unsupported_ = false;
  RepeatFilter repeats_;
};

// The state cache: JSON (version 1), streamed both ways: writing never holds the document in
// memory, reading never builds it. Reading a missing or broken file yields nothing (sealed).
[[nodiscard]] ServerTable read_state_cache(const std::filesystem::path& file);
Result<void> write_state_cache(const std::filesystem::path& file, const ServerTable& servers);

}  // namespace rotor::daemon
