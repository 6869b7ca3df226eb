#pragma once
// Both simulators in-process for the daemon's tests: the ECS simulator (one OTC project, AK/SK)
// and the Vault simulator, on one clock; a configuration for them from a few lines of policies;
// runtimes built from it; and the I1 check (every password the ECS simulator says a server
// accepts now or after its restart is in the server's Vault record).

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "config/config.h"
#include "daemon/runtime.h"
#include "sim/ecs/simulator.h"
#include "sim/vault/simulator.h"

namespace rotor::testing {

class SimulatedCloud {
 public:
  // Every server starts with this password; Rotor never knew it, so I1 does not ask for it.
  static constexpr const char* kInitialPassword = "Initial-Passw0rd!";
  static constexpr const char* kProjectId = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";

  // `clock`: both simulators' time (nullptr: the system clock); must outlive this object.
  explicit SimulatedCloud(Clock* clock);

  sim::EcsSimulator& ecs() { return *ecs_; }
  sim::VaultSimulator& vault() { return *vault_; }

  // Drops every fault profile and forced fault of the ECS simulator.
  void clear_faults();

  // A server tagged env=`env`.
  std::string add(const std::string& env, sim::OsType os = sim::OsType::Linux, bool plugin = true,
                  bool locked = false);

  // A whole configuration: `daemon` (a YAML flow map) and the vault and cloud sections for the
  // simulators, then `policies` (the YAML list under "policies:", indented by two).
  // `limits`: the cloud's limits (a YAML flow map).
  [[nodiscard]] std::string yaml(
      const std::string& policies, const std::string& daemon = "{ concurrency: 1 }",
      const std::string& limits = "{ requests_per_second: 1000, max_batch: 10 }") const;
  [[nodiscard]] config::EnvLookup env() const;
  [[nodiscard]] config::Config config(const std::string& yaml_text) const;
  [[nodiscard]] std::unique_ptr<daemon::Runtime> runtime(const std::string& yaml_text, Clock& clock,
                                                         Random& random) const;

  // The record's path for a server of the "sim" cloud (the default path template).
  [[nodiscard]] static std::string path(const std::string& server_id);
  // I1 for `server_ids`: one line per password a server accepts that its record lacks.
  [[nodiscard]] std::vector<std::string> lockouts(daemon::Runtime& runtime,
                                                  const std::vector<std::string>& server_ids);
  // Every password any of `server_ids` ever accepted (for "not in the logs" checks).
  [[nodiscard]] std::vector<std::string> passwords(
      const std::vector<std::string>& server_ids) const;

 private:
  std::unique_ptr<sim::EcsSimulator> ecs_;
  std::unique_ptr<sim::VaultSimulator> vault_;
};

}  // namespace rotor::testing
