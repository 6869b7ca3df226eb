// Vault client configuration: environment overrides and validation.

#include "vault/config.h"

#include <gtest/gtest.h>

#include <map>

namespace rotor::vault {
namespace {

// VAULT_ADDR, VAULT_CACERT and VAULT_NAMESPACE override the config; empty values do not.
TEST(VaultConfigTest, EnvironmentOverrides) {
  const std::map<std::string, std::string> env = {{"VAULT_ADDR", "https://vault.corp:8200"},
                                                  {"VAULT_CACERT", "/etc/ssl/vault-ca.pem"},
                                                  {"VAULT_NAMESPACE", ""}};
  VaultConfig config;
  config.vault_namespace = "kept";
  apply_environment(config, [&](const char* name) -> const char* {
    const auto found = env.find(name);
    return found == env.end() ? nullptr : found->second.c_str();
  });
  EXPECT_EQ(config.address, "https://vault.corp:8200");
  EXPECT_EQ(config.ca_file, "/etc/ssl/vault-ca.pem");
  EXPECT_EQ(config.vault_namespace, "kept");
}

// Addresses: https anywhere, plain http only to loopback unless allowed; no paths.
TEST(VaultConfigTest, Validation) {
  VaultConfig config;
  config.address = "https://vault.corp:8200/";
  EXPECT_TRUE(validate(config));
  config.address = "http://127.0.0.1:8200";
  EXPECT_TRUE(validate(config));
  config.address = "http://vault.corp:8200";
  auto plain = validate(config);
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code(), ErrorCode::InvalidConfig);
  EXPECT_NE(plain.error().message().find("plain http"), std::string::npos);
  config.allow_plain_http = true;
  EXPECT_TRUE(validate(config));
  config.address = "vault.corp:8200";
  EXPECT_FALSE(validate(config));
  config.address = "https://vault.corp:8200/v1";
  EXPECT_FALSE(validate(config));
  config.address = "https://user@vault.corp";
  EXPECT_FALSE(validate(config));
  config.address = "https://vault.corp";
  config.kv_mount = "a/b";
  EXPECT_FALSE(validate(config));
  config.kv_mount = "secret";
  config.retry.max_attempts = 0;
  EXPECT_FALSE(validate(config));
}

}  // namespace
}  // namespace rotor::vault
