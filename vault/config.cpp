#include "vault/config.h"

namespace rotor::vault {

void apply_environment(VaultConfig& config, const EnvLookup& lookup) {
  const auto take = [&](const char* name, std::string& into) {
    const char* value = lookup(name);
    if (value != nullptr && *value != '\0') {
      into = value;
    }
  };
  take("VAULT_ADDR", config.address);
  take("VAULT_CACERT", config.ca_file);
  take("VAULT_NAMESPACE", config.vault_namespace);
}

Result<void> validate(const VaultConfig& config) {
  std::string_view address = config.address;
  std::string_view rest;
  bool plain = false;
  if (address.rfind("https://", 0) == 0) {
    rest = address.substr(8);
  } else if (address.rfind("http://", 0) == 0) {
    rest = address.substr(7);
    plain = true;
  } else {
    return fail(ErrorCode::InvalidConfig, "vault address '{}' must start with https://",
                config.address);
  }
  while (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);
  }
  if (rest.empty() || rest.find('/') != std::string_view::npos ||
      rest.find('@') != std::string_view::npos) {
    return fail(ErrorCode::InvalidConfig,
                "vault address '{}' must be scheme://host[:port] without a path or user info",
                config.address);
  }
  if (plain && !config.allow_plain_http) {
    const bool loopback = rest.rfind("127.", 0) == 0 || rest.rfind("localhost", 0) == 0 ||
                          rest.rfind("[::1]", 0) == 0;
    if (!loopback) {
      return fail(ErrorCode::InvalidConfig,
                  "vault address '{}' uses plain http to a remote host: tokens and passwords "
                  "would cross the network unencrypted (use https://)",
                  config.address);
    }
  }
  if (config.kv_mount.empty() || config.kv_mount.find('/') != std::string::npos) {
    return fail(ErrorCode::InvalidConfig, "vault kv mount '{}' must be a name without '/'",
                config.kv_mount);
  }
  if (config.approle_mount.empty() || config.approle_mount.find('/') != std::string::npos) {
    return fail(ErrorCode::InvalidConfig, "vault approle mount '{}' must be a name without '/'",
                config.approle_mount);
  }
  if (config.request_timeout.count() <= 0) {
    return fail(ErrorCode::InvalidConfig, "vault request timeout must be positive");
  }
  if (config.retry.max_attempts < 1) {
    return fail(ErrorCode::InvalidConfig, "vault retry max_attempts ({}) must be at least 1",
                config.retry.max_attempts);
  }
  if (config.retry.initial_backoff.count() <= 0 ||
      config.retry.max_backoff < config.retry.initial_backoff) {
    return fail(ErrorCode::InvalidConfig,
                "vault retry back-off must be positive with max_backoff >= initial_backoff");
  }
  return {};
}

}  // namespace rotor::vault
