#include "daemon/hold.h"

#include "ecs/signer.h"

namespace rotor::daemon {

std::string hold_path(const std::string& policy) {
  return "rotor/holds/" + policy;
}

std::string policy_fingerprint(const config::Config& config, const config::Policy& policy) {
  config::Config only;
  if (const config::Cloud* cloud = config.cloud(policy.cloud)) {
    only.clouds[cloud->name] = *cloud;
  }
  only.policies.push_back(policy);
  return ecs::sha256_hex(config::to_yaml(only));
}

Result<std::optional<Hold>> read_hold(vault::VaultClient& vault, const std::string& policy) {
  auto secret = vault.read(hold_path(policy));
  if (!secret) {
    if (secret.error().code() == ErrorCode::NotFound) {
      return std::optional<Hold>{};
    }
    return fail(secret.error());
  }
  const auto* held = secret->data.text("held");
  if (secret->deleted || secret->destroyed || held == nullptr || *held != "true") {
    return std::optional<Hold>{};
  }
  Hold hold;
  if (const auto* reason = secret->data.text("reason")) {
    hold.reason = *reason;
  }
  if (const auto* since = secret->data.text("since")) {
    hold.since = *since;
  }
  if (const auto* fingerprint = secret->data.text("fingerprint")) {
    hold.fingerprint = *fingerprint;
  }
  return std::optional<Hold>{std::move(hold)};
}

Result<void> write_hold(vault::VaultClient& vault, const std::string& policy, const Hold& hold) {
  vault::KvData data;
  data.plain = {{"held", "true"},
                {"policy", policy},
                {"reason", hold.reason},
                {"since", hold.since},
                {"fingerprint", hold.fingerprint}};
  auto written = vault.write(hold_path(policy), data, vault::Cas::none());
  if (!written) {
    return fail(written.error());
  }
  return {};
}

Result<void> lift_hold(vault::VaultClient& vault, const std::string& policy,
                       const std::string& lifted_by, const std::string& at) {
  vault::KvData data;
  data.plain = {{"held", "false"}, {"policy", policy}, {"lifted_by", lifted_by}, {"lifted_at", at}};
  auto written = vault.write(hold_path(policy), data, vault::Cas::none());
  if (!written) {
    return fail(written.error());
  }
  return {};
}

}  // namespace rotor::daemon
