#pragma once
// The ECS simulator's behaviour without any networking: routing, authentication, the server
// model, jobs, IAM tokens, fault decisions and the /_sim controls. EcsSimulator (simulator.h)
// feeds it the requests its HTTP server receives and carries out the SimResponse's action (answer,
// reset the connection, or hold it past the client's timeout).

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/ecs/faults.h"
#include "sim/ecs/options.h"
#include "sim/ecs/signature.h"

namespace rotor::sim {

namespace detail {
struct ServiceState;
}  // namespace detail

struct SimRequest {
  std::string method;
  std::string path;   // decoded
  sig::Params query;  // decoded
  sig::Headers headers;
  std::string body;
};

struct SimResponse {
  enum class Action {
    Respond,        // send status, headers and body (after `delay`)
    Reset,          // drop the connection without an answer
    HoldThenReset,  // keep the connection silent for `hold`, then drop it
  };
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;  // empty = no body
  Action action = Action::Respond;
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds hold{0};
};

class EcsService {
 public:
  explicit EcsService(EcsSimulatorOptions options);
  ~EcsService();
  EcsService(const EcsService&) = delete;
  EcsService& operator=(const EcsService&) = delete;

  [[nodiscard]] SimResponse handle(const SimRequest& request);

  [[nodiscard]] std::vector<ServerSnapshot> servers() const;
  [[nodiscard]] std::optional<ServerSnapshot> server(std::string_view id) const;
  // Adds a server; returns its id.
  std::string add_server(const ServerSpec& spec);
  bool delete_server(std::string_view id);
  // An out-of-band restart: the pending password becomes current.
  bool restart_server(std::string_view id);
  bool set_locked(std::string_view id, bool locked);
  bool set_plugin(std::string_view id, bool plugin);

  void set_faults(FaultProfile profile);
  [[nodiscard]] FaultProfile faults() const;
  void set_faults_enabled(bool enabled);
  void force_fault(ForcedFault fault);

  [[nodiscard]] SimStats stats() const;
  void reset_stats();
  // Finishes every running job now (reboots apply pending passwords). Returns how many.
  std::size_t complete_jobs();
  // Makes the named APIs (api_keys()) answer the gateway's 404, like a region that does not offer
  // them (e.g. "resetpwd-flag" on OTC public). Returns false, changing nothing, on an unknown name.
  bool set_disabled_apis(const std::vector<std::string>& keys);
  [[nodiscard]] std::vector<std::string> disabled_apis() const;
  // Moves the simulator's clock forward (token expiry, X-Sdk-Date window, jobs, rate limit).
  void advance_clock(std::chrono::seconds by);
  [[nodiscard]] std::chrono::system_clock::time_point now() const;

  [[nodiscard]] nlohmann::json servers_json() const;
  // Everything a restarted simulator needs to be the same cloud (servers, histories, ids); jobs
  // and tokens are not kept. import_state replaces the fleet; it throws std::runtime_error or a
  // json exception on a malformed state.
  [[nodiscard]] nlohmann::json export_state() const;
  void import_state(const nlohmann::json& state);
  [[nodiscard]] const EcsSimulatorOptions& options() const noexcept { return options_; }

 private:
  EcsSimulatorOptions options_;
  std::unique_ptr<detail::ServiceState> state_;
};

// Short names of the simulated APIs: iam-tokens, iam-projects, reset-v2.1, reset-v1, batch-reset,
// resetpwd-flag, list-detail, show-server, tags-otc, tags-huawei, action, show-job.
[[nodiscard]] std::vector<std::string> api_keys();

// JSON of a snapshot as served by GET /_sim/servers.
[[nodiscard]] nlohmann::json to_json(const ServerSnapshot& server);
[[nodiscard]] std::string_view to_string(OsType os) noexcept;

// The password rules of the v1 APIs (ecs-api.md §7, "v1 batch & v1 single (Huawei current)"),
// checked case-insensitively for the forbidden words. Returns an empty string when `password`
// passes, else why not (never the password itself).
[[nodiscard]] std::string check_password_v1(std::string_view password);

}  // namespace rotor::sim
