#pragma once
// The chaos harness's oracle (docs/chaos.md): what the simulators say (every password each server
// accepts and ever accepted; every version of every Vault secret), and the invariants of
// rotation-protocol.md checked against it. No sockets here, so the checks are unit-tested.
// Violations name servers and fields, never a password.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rotor::chaos {

// One server as the ECS simulator knows it (GET /_sim/servers).
struct ServerTruth {
  std::string id;
  std::string name;
  bool windows = false;
  bool plugin = true;
  std::string current_password;        // accepted now
  std::string after_restart_password;  // accepted after the next (re)start
  std::vector<std::string> history;    // every password a reset API accepted, in order
};

// The latest version of one server's Vault secret (GET /_sim/dump), and every password any
// version of it ever held.
struct RecordTruth {
  std::map<std::string, std::string> latest;  // field → value (text fields only)
  std::vector<std::string> all_passwords;     // every *password* field of every version
};

struct Snapshot {
  std::vector<ServerTruth> servers;
  std::map<std::string, RecordTruth> records;  // by server id (the last segment of the path)
};

[[nodiscard]] std::vector<ServerTruth> parse_ecs_servers(const nlohmann::json& body);
// `mount`: the KV v2 mount; `prefix`: the path up to the server id ("ecs/chaos/PROJECT/").
[[nodiscard]] std::map<std::string, RecordTruth> parse_vault_dump(const nlohmann::json& dump,
                                                                  const std::string& mount,
                                                                  const std::string& prefix);

// True for the fields of a record that hold a password the server may accept: password,
// previous_password, previous_password_N, pending_password.
[[nodiscard]] bool is_password_field(std::string_view field);

// I1: every password the server accepts now or after its restart is in the latest version of its
// record — except the operator's password from before the first rotation (never set by a reset
// API, so absent from the history), which Rotor never knew.
[[nodiscard]] std::vector<std::string> check_no_lockout(const Snapshot& snapshot);

// I2 for the servers of unique-mode policies (`unique_ids`): no password of one of them is a
// password of any other server, and none ever comes back after it was replaced (the history has
// every accepted password; the same pending password sent again is not a reuse). For shared-mode
// servers: a password is shared only by servers of the same policy (`policy_of`).
[[nodiscard]] std::vector<std::string> check_unique_and_fresh(
    const Snapshot& snapshot, const std::set<std::string>& unique_ids,
    const std::map<std::string, std::string>& policy_of);

// I4 at the end: no record is pending (state or pending_password), and every server with the
// reset plug-in was rotated (a record with rotated_at whose password the cloud accepted);
// servers without it must be quarantined.
[[nodiscard]] std::vector<std::string> check_progress(const Snapshot& snapshot);

// Counts by (policy, state) the way rotor_servers does (a quarantined server counts as
// "quarantined", a server without a record as "unrotated").
[[nodiscard]] std::map<std::pair<std::string, std::string>, long> state_counts(
    const Snapshot& snapshot, const std::map<std::string, std::string>& policy_of);
// The rotor_servers samples of a Prometheus text scrape, by (policy, state).
[[nodiscard]] std::map<std::pair<std::string, std::string>, long> scraped_state_counts(
    std::string_view scrape);

// Looks for any known password in texts (logs, scrapes, files, argv, environ).
class LeakScanner {
 public:
  void add_password(const std::string& password);
  void add_snapshot(const Snapshot& snapshot);
  [[nodiscard]] std::size_t passwords() const noexcept { return known_.size(); }
  // Scans `text`; returns how many known passwords occur in it (each occurrence once per
  // position). `origin` names the text in `findings()`.
  std::size_t scan(std::string_view text, const std::string& origin);
  [[nodiscard]] const std::vector<std::string>& findings() const noexcept { return findings_; }
  // The findings so far, handed over once.
  [[nodiscard]] std::vector<std::string> take_findings() { return std::exchange(findings_, {}); }
  [[nodiscard]] std::size_t bytes_scanned() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t texts_scanned() const noexcept { return texts_; }

 private:
  std::unordered_set<std::string> known_;
  std::unordered_set<std::size_t> hashes_;  // of known_, to test a window without copying it
  std::set<std::size_t> lengths_;
  std::vector<std::string> findings_;
  std::size_t bytes_ = 0;
  std::size_t texts_ = 0;
};

}  // namespace rotor::chaos
