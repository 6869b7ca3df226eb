#pragma once
// The object graph of one Rotor process, built from a configuration: transports, the Vault
// client, one ECS client per cloud, the record store, the generator and the rotator. Credentials
// are read from their references here, once, into Secrets.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "common/random.h"
#include "config/config.h"
#include "ecs/client.h"
#include "engine/in_flight.h"
#include "engine/rotator.h"
#include "engine/store.h"
#include "engine/verifier.h"
#include "http/curl_transport.h"
#include "password/generator.h"
#include "vault/client.h"

namespace rotor::daemon {

// Wraps a transport (e.g. to meter it); `service` is "vault" or "ecs". nullptr: use `inner`.
using TransportDecorator =
    std::function<std::unique_ptr<HttpTransport>(HttpTransport& inner, std::string_view service)>;

class Runtime {
 public:
  // Builds every client and starts the Vault session (health, login or lookup, KV v2 check).
  static Result<std::unique_ptr<Runtime>> create(std::shared_ptr<const config::Config> config,
                                                 Clock& clock, Random& random,
                                                 const config::EnvLookup& env);
  // The same, with every client's transport wrapped by `decorate`.
  static Result<std::unique_ptr<Runtime>> create(std::shared_ptr<const config::Config> config,
                                                 Clock& clock, Random& random,
                                                 const config::EnvLookup& env,
                                                 const TransportDecorator& decorate);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  [[nodiscard]] const config::Config& config() const noexcept { return *config_; }
  [[nodiscard]] std::shared_ptr<const config::Config> config_ptr() const noexcept {
    return config_;
  }
  [[nodiscard]] vault::VaultClient& vault() noexcept { return *vault_; }
  [[nodiscard]] engine::RecordStore& store() noexcept { return *store_; }
  [[nodiscard]] password::Generator& generator() noexcept { return *generator_; }
  [[nodiscard]] Clock& clock() noexcept { return clock_; }
  // nullptr when no cloud has that name.
  [[nodiscard]] ecs::EcsClient* cloud(const std::string& name) noexcept;
  [[nodiscard]] engine::Rotator* rotator(const std::string& cloud) noexcept;
  // The single-flight guard shared by every rotator of this runtime (one rotation per server).
  [[nodiscard]] engine::InFlight& in_flight() noexcept { return in_flight_; }

 private:
  Runtime(std::shared_ptr<const config::Config> config, Clock& clock);

  std::shared_ptr<const config::Config> config_;
  Clock& clock_;
  std::unique_ptr<http::CurlTransport> vault_transport_;
  std::unique_ptr<http::CurlTransport> cloud_transport_;
  std::unique_ptr<HttpTransport> vault_decorated_;  // null when not decorated
  std::unique_ptr<HttpTransport> cloud_decorated_;
  std::unique_ptr<vault::VaultClient> vault_;
  std::map<std::string, std::unique_ptr<ecs::EcsClient>> clouds_;
  std::unique_ptr<engine::RecordStore> store_;
  std::unique_ptr<password::Generator> generator_;
  engine::ProcessVerifier verifier_;  // runs the policies' verification hooks
  engine::InFlight in_flight_;
  std::map<std::string, std::unique_ptr<engine::Rotator>> rotators_;  // one per cloud
};

// The engine's policy for a configured one (password classes, restarts, safety limits).
[[nodiscard]] engine::RotationPolicy rotation_policy(const config::Policy& policy);
// Servers per job of a policy's run: 1 in unique mode, the cloud's max_batch (at least 1) in
// shared mode.
[[nodiscard]] std::size_t servers_per_job(const engine::RotationPolicy& rotation,
                                          const config::Cloud& cloud);

}  // namespace rotor::daemon
