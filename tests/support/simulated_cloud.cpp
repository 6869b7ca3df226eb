#include "tests/support/simulated_cloud.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "tests/support/record_passwords.h"

namespace rotor::testing {

namespace {
constexpr const char* kAccessKey = "AKSIMCLOUD";
constexpr const char* kSecretKey = "sk-simulated-cloud-secret";
}  // namespace

SimulatedCloud::SimulatedCloud(Clock* clock) {
  sim::EcsSimulatorOptions ecs_options;
  ecs_options.access_keys = {{kAccessKey, kSecretKey}};
  ecs_options.project_id = kProjectId;
  ecs_options.clock = clock;
  ecs_ = std::make_unique<sim::EcsSimulator>(std::move(ecs_options));
  ecs_->start();
  sim::VaultSimulatorOptions vault_options;
  vault_options.clock = clock;
  vault_ = std::make_unique<sim::VaultSimulator>(std::move(vault_options));
}

void SimulatedCloud::clear_faults() {
  sim::SimRequest request;
  request.method = "DELETE";
  request.path = "/_sim/faults";
  const auto response = ecs_->service().handle(request);
  EXPECT_EQ(response.status, 204);
}

std::string SimulatedCloud::add(const std::string& env, sim::OsType os, bool plugin, bool locked) {
  sim::ServerSpec spec;
  spec.tags = {"env=" + env};
  spec.os_type = os;
  spec.plugin = plugin;
  spec.locked = locked;
  spec.password = kInitialPassword;
  return ecs_->add_server(spec);
}

std::string SimulatedCloud::yaml(const std::string& policies, const std::string& daemon,
                                 const std::string& limits) const {
  return fmt::format(R"(
daemon: {}
vault:
  address: {}
  auth: {{ method: token, token: env:TEST_VAULT_TOKEN }}
clouds:
  sim:
    flavor: otc
    region: eu-de
    project_id: {}
    endpoints: {{ ecs: "{}", iam: "{}" }}
    auth: {{ type: aksk, access_key: env:TEST_AK, secret_key: env:TEST_SK }}
    limits: {}
policies:
{}
)",
                     daemon, vault_->address(), kProjectId, ecs_->base_url(), ecs_->base_url(),
                     limits, policies);
}

config::EnvLookup SimulatedCloud::env() const {
  return config::fixed_env({{"TEST_VAULT_TOKEN", vault_->core().root_token()},
                            {"TEST_AK", kAccessKey},
                            {"TEST_SK", kSecretKey}});
}

config::Config SimulatedCloud::config(const std::string& yaml_text) const {
  config::LoadOptions options;
  options.env = env();
  auto cfg = config::parse_config(yaml_text, "test.yaml", options);
  if (!cfg) {
    ADD_FAILURE() << config::to_string(cfg.error());
    return {};
  }
  return std::move(*cfg);
}

std::unique_ptr<daemon::Runtime> SimulatedCloud::runtime(const std::string& yaml_text, Clock& clock,
                                                         Random& random) const {
  auto built = daemon::Runtime::create(std::make_shared<const config::Config>(config(yaml_text)),
                                       clock, random, env());
  if (!built) {
    ADD_FAILURE() << built.error().to_string();
    return nullptr;
  }
  return std::move(*built);
}

std::string SimulatedCloud::path(const std::string& server_id) {
  return std::string("ecs/sim/") + kProjectId + "/" + server_id;
}

std::vector<std::string> SimulatedCloud::lockouts(daemon::Runtime& runtime,
                                                  const std::vector<std::string>& server_ids) {
  std::vector<std::string> out;
  for (const auto& id : server_ids) {
    const auto snapshot = ecs_->server(id);
    auto loaded = runtime.store().load(path(id));
    if (!loaded) {
      out.push_back(id + ": cannot read the record: " + loaded.error().to_string());
      continue;
    }
    const engine::ServerRecord& record = loaded->record;
    const std::set<std::string> in_vault = passwords_in(record);
    if (!snapshot) {
      continue;  // deleted from the cloud: nothing accepts anything any more
    }
    for (const auto& accepted : {snapshot->current_password, snapshot->after_restart_password}) {
      if (accepted != kInitialPassword && in_vault.count(accepted) == 0) {
        out.push_back(id + ": accepts a password that is not in its Vault record");
      }
    }
  }
  return out;
}

std::vector<std::string> SimulatedCloud::passwords(
    const std::vector<std::string>& server_ids) const {
  std::vector<std::string> out;
  for (const auto& id : server_ids) {
    if (const auto snapshot = ecs_->server(id)) {
      for (const auto& record : snapshot->history) {
        out.push_back(record.password);
      }
    }
  }
  return out;
}

}  // namespace rotor::testing
