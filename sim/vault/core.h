#pragma once
// The Vault simulator's logic, free of any HTTP library: a request goes in, a response comes out.
// It follows ../shared/spec/vault-api.md (section numbers in comments) and docs/simulators.md
// ("Vault simulator") lists what is modelled and which Vault documentation each behaviour follows.
//
// Test-only: secret values are held as plain strings, and tokens come from a seeded generator.
// Thread-safe (one mutex around the whole state).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"

namespace rotor::sim {

struct VaultRequest {
  std::string method;  // GET, HEAD, POST, PUT, PATCH, DELETE, LIST
  std::string path;    // "/v1/secret/data/x" or "/_sim/dump", percent-decoded
  std::multimap<std::string, std::string> query;
  std::string token;            // X-Vault-Token, else the Bearer value of Authorization
  std::string vault_namespace;  // X-Vault-Namespace (accepted and ignored: Vault CE behaviour)
  std::string content_type;
  std::string body;
};

struct VaultResponse {
  int status = 200;
  std::string body;  // JSON with a trailing newline, or empty (204 and some 404s)
  std::vector<std::pair<std::string, std::string>> headers;
  // Fault injection, applied by the HTTP layer: wait before answering; close the connection
  // after the status line instead of sending the body (the request *was* applied).
  std::chrono::milliseconds delay{0};
  bool drop_connection = false;
};

struct AppRoleSpec {
  std::string role_id;
  std::string secret_id;
  std::string role_name = "rotor";
  std::vector<std::string> policies = {"rotor"};
  std::int64_t token_ttl = 1200;      // seconds
  std::int64_t token_max_ttl = 3600;  // seconds, 0 = none
  bool renewable = true;
  std::int64_t secret_id_num_uses = 0;  // 0 = unlimited
  std::int64_t secret_id_ttl = 0;       // seconds, 0 = never expires
};

// Faults drawn per /v1 request from the seeded generator (none touch /v1/sys/health).
struct VaultFaults {
  bool enabled = false;
  double error_rate = 0;  // answer 500/502/503 without doing anything
  double latency_rate = 0;
  std::chrono::milliseconds latency{200};
  double timeout_rate = 0;  // answer only after `timeout` (longer than a client's timeout)
  std::chrono::milliseconds timeout{5000};
  double reset_after_write_rate = 0;  // apply a write, then drop the connection
  double throttle_rate = 0;      // 429 rate limit quota exceeded, Retry-After: 1, nothing applied
  double precondition_rate = 0;  // 412 required index state not present, nothing applied
  // "none", "flaky" (a few % of each), "chaos" (many); throws std::invalid_argument otherwise.
  static VaultFaults named(const std::string& name);
};

struct VaultSimOptions {
  std::string root_token = "hvs.root-token-for-tests";
  std::vector<AppRoleSpec> approles;
  std::vector<std::string> kv2_mounts = {"secret"};
  std::vector<std::string> kv1_mounts;
  std::uint64_t seed = 1;
  VaultFaults faults;
  // When set, the state is loaded from it at start and rewritten atomically after each change.
  std::filesystem::path state_file;
  std::string version = "1.16.0";
};

class VaultCore {
 public:
  // `clock` must outlive the core. Throws std::runtime_error when the state file is unreadable.
  VaultCore(VaultSimOptions options, Clock& clock);
  ~VaultCore();
  VaultCore(const VaultCore&) = delete;
  VaultCore& operator=(const VaultCore&) = delete;

  VaultResponse handle(const VaultRequest& request);

  // Control (also reachable over HTTP under /_sim/, see docs/simulators.md).
  void seal();
  void unseal();
  void set_standby(bool standby, bool performance_standby);
  // The rarer sys/health states of spec §4 (501, 530, 474, 472); all false = normal.
  void set_health_state(bool uninitialized, bool removed, bool ha_unhealthy, bool dr_secondary);
  // Expires one token (or, with an empty id, every token but the root token) now.
  bool expire_token(const std::string& token);
  void set_faults(VaultFaults faults);
  void set_faults_enabled(bool enabled);
  // Moves the simulator's time forward (on top of the clock) — for standalone runs.
  void advance(std::chrono::seconds by);
  // Adds or replaces a policy: rules of {path glob (trailing '*' = prefix), capabilities}; the
  // capability "deny" wins over everything.
  void set_policy(const std::string& name,
                  std::vector<std::pair<std::string, std::vector<std::string>>> rules);
  // Creates a token directly (like `vault token create`), returns its id.
  std::string create_token(std::vector<std::string> policies, std::int64_t ttl,
                           std::int64_t max_ttl, bool renewable);
  void add_mount(const std::string& path, int kv_version);
  // Every secret with every version and its data, every mount, the seal state.
  [[nodiscard]] nlohmann::json dump() const;
  [[nodiscard]] const std::string& root_token() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

namespace vault_detail {
// Go's json.Encoder output: <, >, & (and U+2028/U+2029) escaped, a trailing newline (spec §1.4).
std::string go_json(const nlohmann::ordered_json& value);
// RFC 3339 with nanoseconds and trailing zeros trimmed, as Go's time.Time marshals.
std::string rfc3339(std::int64_t unix_nanos);
// Go's time.Duration.String(): "1h0m0s", "2m0s", "0s".
std::string go_duration(std::int64_t seconds);
}  // namespace vault_detail

}  // namespace rotor::sim
