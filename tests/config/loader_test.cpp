// The loader on inline YAML: typed values and defaults, environment overrides and their
// precedence, ${CREDENTIALS_DIRECTORY}, inline secrets, the API mapping of password policies,
// secret checks against real files, reload and check-config.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.h"
#include "tests/support/log_capture.h"
#include "tests/support/scratch_dir.h"

namespace rotor::config {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kBase = R"(vault:
  address: https://vault.example.internal:8200
  auth:
    method: token
    token_file: /etc/rotor/vault-token
clouds:
  otc-eu-de:
    flavor: otc
    region: eu-de
    project_id: 0123456789abcdef0123456789abcdef
    auth:
      type: aksk
      access_key_file: /etc/rotor/otc-ak
      secret_key_file: /etc/rotor/otc-sk
policies:
  - name: linux-prod
    cloud: otc-eu-de
    select: { tags: { env: prod }, os: linux }
    max_age: 30d
)";

LoadOptions options(std::vector<std::pair<std::string, std::string>> env = {}) {
  LoadOptions result;
  result.env = fixed_env(std::move(env));
  result.check_secrets = false;
  return result;
}

std::string replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const std::size_t at = out.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) {
    out.replace(at, from.size(), to);
  }
  return out;
}

std::string errors(const LoadResult& result) {
  return result ? "accepted" : to_string(result.error());
}

class LoaderTest : public ::testing::Test {};

// Values are typed, and defaults fill what the file leaves out.
TEST_F(LoaderTest, LoadsValuesAndDefaults) {
  const LoadResult result = parse_config(kBase, "rotor.yaml", options());
  ASSERT_TRUE(result.has_value()) << errors(result);
  const Config& config = *result;
  EXPECT_EQ(config.daemon, DaemonSettings{});
  EXPECT_EQ(config.vault.address, "https://vault.example.internal:8200");
  EXPECT_EQ(config.vault.auth.method, VaultAuthMethod::Token);
  ASSERT_TRUE(config.vault.auth.token.has_value());
  EXPECT_EQ(config.vault.auth.token->path, fs::path("/etc/rotor/vault-token"));
  EXPECT_EQ(config.vault.auth.token->where.to_string(), "rotor.yaml:5:17");
  EXPECT_EQ(config.vault.kv, VaultKv{});
  const Cloud* cloud = config.cloud("otc-eu-de");
  ASSERT_NE(cloud, nullptr);
  EXPECT_EQ(cloud->ecs_endpoint, "https://ecs.eu-de.otc.t-systems.com");
  EXPECT_EQ(cloud->iam_endpoint, "https://iam.eu-de.otc.t-systems.com");
  EXPECT_EQ(cloud->limits, CloudLimits{});
  ASSERT_EQ(config.policies.size(), 1U);
  const Policy& policy = config.policies[0];
  EXPECT_EQ(policy.mode, Mode::Unique);
  EXPECT_EQ(policy.max_age, std::chrono::hours{30 * 24});
  EXPECT_EQ(policy.select.tags, (std::map<std::string, std::string>{{"env", "prod"}}));
  EXPECT_EQ(policy.select.os, OsSelector::Linux);
  EXPECT_EQ(policy.where.to_string(), "rotor.yaml:16:5");
}

// Huawei endpoints default from the region.
TEST_F(LoaderTest, HuaweiEndpointsDefault) {
  const LoadResult result =
      parse_config(replace(kBase, "flavor: otc", "flavor: huawei"), "rotor.yaml", options());
  ASSERT_TRUE(result.has_value()) << errors(result);
  EXPECT_EQ(result->cloud("otc-eu-de")->ecs_endpoint, "https://ecs.eu-de.myhuaweicloud.com");
}

// Explicit endpoints replace the defaults; an IAM URL may carry the API version, which is dropped.
TEST_F(LoaderTest, ExplicitEndpoints) {
  const LoadResult result = parse_config(
      replace(
          kBase, "    region: eu-de\n",
          "    region: eu-ch2\n    endpoints:\n      ecs: https://ecs.eu-ch2.sc.otc.t-systems.com\n"
          "      iam: https://iam-pub.eu-ch2.sc.otc.t-systems.com/v3\n"),
      "rotor.yaml", options());
  ASSERT_TRUE(result.has_value()) << errors(result);
  EXPECT_EQ(result->cloud("otc-eu-de")->ecs_endpoint, "https://ecs.eu-ch2.sc.otc.t-systems.com");
  EXPECT_EQ(result->cloud("otc-eu-de")->iam_endpoint,
            "https://iam-pub.eu-ch2.sc.otc.t-systems.com");
}

// VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE and VAULT_TOKEN win over the file.
TEST_F(LoaderTest, EnvironmentWinsOverFile) {
  const LoadResult result = parse_config(kBase, "rotor.yaml",
                                         options({{"VAULT_ADDR", "https://vault.other:8200"},
                                                  {"VAULT_CACERT", "/etc/ssl/vault.pem"},
                                                  {"VAULT_NAMESPACE", "team-a"},
                                                  {"VAULT_TOKEN", "hvs.from-the-environment"}}));
  ASSERT_TRUE(result.has_value()) << errors(result);
  const VaultSettings& vault = result->vault;
  EXPECT_EQ(vault.address, "https://vault.other:8200");
  EXPECT_EQ(vault.ca_file, fs::path("/etc/ssl/vault.pem"));
  EXPECT_EQ(vault.namespace_name, "team-a");
  EXPECT_EQ(vault.auth.method, VaultAuthMethod::Token);
  ASSERT_TRUE(vault.auth.token.has_value());
  EXPECT_EQ(vault.auth.token->kind, SecretRef::Kind::Env);
  EXPECT_EQ(vault.auth.token->text, "VAULT_TOKEN");
  EXPECT_EQ(vault.overridden_by, (std::vector<std::string>{"VAULT_ADDR", "VAULT_CACERT",
                                                           "VAULT_NAMESPACE", "VAULT_TOKEN"}));
  // The summary names the override but never the token itself.
  const std::string summary = to_yaml(*result);
  EXPECT_NE(summary.find("# overridden by the environment: VAULT_ADDR VAULT_CACERT"),
            std::string::npos);
  EXPECT_EQ(summary.find("hvs.from-the-environment"), std::string::npos);
}

// The environment can supply what the file leaves out; an empty variable counts as unset.
TEST_F(LoaderTest, EnvironmentSuppliesMissingAddressAndAuth) {
  const std::string text =
      replace(replace(kBase, "  address: https://vault.example.internal:8200\n", ""),
              "  auth:\n    method: token\n    token_file: /etc/rotor/vault-token\n", "  {}\n");
  std::string no_vault = text;
  no_vault.replace(0, no_vault.find("clouds:"), "vault: {}\n");
  const auto with_env = options({{"VAULT_ADDR", "https://v:8200"}, {"VAULT_TOKEN", "t"}});
  EXPECT_TRUE(parse_config(no_vault, "rotor.yaml", with_env).has_value());
  EXPECT_EQ(errors(parse_config(no_vault, "rotor.yaml", options({{"VAULT_ADDR", ""}}))),
            "rotor.yaml:1:8: missing parameter 'address' (or set VAULT_ADDR)\n"
            "rotor.yaml:1:8: missing parameter 'auth'\n");
}

// A bad VAULT_ADDR is reported against the vault section.
TEST_F(LoaderTest, InvalidVaultAddrFromEnvironment) {
  EXPECT_EQ(
      errors(parse_config(kBase, "rotor.yaml", options({{"VAULT_ADDR", "vault:8200"}}))),
      "rotor.yaml:2:3: invalid URL in VAULT_ADDR (vault:8200): expected https://HOST[:PORT]\n");
}

// ${CREDENTIALS_DIRECTORY} is expanded from the environment, and refused when unset.
TEST_F(LoaderTest, CredentialsDirectory) {
  const std::string text = replace(kBase, "token_file: /etc/rotor/vault-token",
                                   "token_file: ${CREDENTIALS_DIRECTORY}/vault-token");
  const LoadResult result =
      parse_config(text, "rotor.yaml", options({{"CREDENTIALS_DIRECTORY", "/run/credentials/r"}}));
  ASSERT_TRUE(result.has_value()) << errors(result);
  EXPECT_EQ(result->vault.auth.token->path, fs::path("/run/credentials/r/vault-token"));
  EXPECT_EQ(result->vault.auth.token->text, "${CREDENTIALS_DIRECTORY}/vault-token");
  EXPECT_EQ(errors(parse_config(text, "rotor.yaml", options())),
            "rotor.yaml:5:17: 'token_file' uses ${CREDENTIALS_DIRECTORY}, which is not set "
            "(systemd sets it for a unit with LoadCredential=)\n");
}

// An inline secret is refused with the fix, and the value never appears in the message.
TEST_F(LoaderTest, InlineSecretIsRefusedWithoutEchoingIt) {
  testing::LogCapture logs;
  const std::string text = replace(kBase, "secret_key_file: /etc/rotor/otc-sk",
                                   "secret_key: Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5");
  const std::string message = errors(parse_config(text, "rotor.yaml", options()));
  EXPECT_EQ(message,
            "rotor.yaml:14:19: inline secret in 'secret_key' is not allowed; put it in a file only "
            "rotor can read and write 'secret_key_file: /etc/rotor/secret_key' (or "
            "'secret_key_file: ${CREDENTIALS_DIRECTORY}/secret_key' with systemd "
            "LoadCredential=), or write 'secret_key: env:NAME'\n");
  EXPECT_EQ(message.find("Zm9vYmFy"), std::string::npos);
  EXPECT_FALSE(logs.contains("Zm9vYmFy"));
}

// unique uses the flavor's single reset API; shared the v1 batch API, or Safe for mixed OSes.
TEST_F(LoaderTest, PasswordApiMapping) {
  Policy policy;
  policy.select.os = OsSelector::Linux;
  EXPECT_EQ(api_profile(policy, Flavor::Otc), password::ApiProfile::OtcSingle);
  EXPECT_EQ(api_profile(policy, Flavor::Huawei), password::ApiProfile::EcsV1);
  policy.mode = Mode::Shared;
  EXPECT_EQ(api_profile(policy, Flavor::Otc), password::ApiProfile::EcsV1);
  policy.select.os = OsSelector::Any;
  EXPECT_EQ(api_profile(policy, Flavor::Otc), password::ApiProfile::Safe);
  const auto engines = password_policies(policy, Flavor::Otc);
  ASSERT_EQ(engines.size(), 2U);
  EXPECT_EQ(engines[0].username, "root");
  EXPECT_EQ(engines[1].username, "Administrator");
  EXPECT_EQ(engines[1].api, password::ApiProfile::Safe);
  policy.password.require = {password::CharClass::Upper, password::CharClass::Digit,
                             password::CharClass::Lower};
  EXPECT_EQ(password_policies(policy, Flavor::Otc)[0].min_count,
            (std::array<std::size_t, password::kClassCount>{1, 1, 1, 0}));
}

// Excluding the specials that only the OTC single reset accepts is fine for unique mode, and an
// error for a shared policy over both OSes.
TEST_F(LoaderTest, SharedAnyUsesSafeProfile) {
  const std::string unique = replace(kBase, "    max_age: 30d\n",
                                     "    max_age: 30d\n    password: { exclude_chars: "
                                     "\"!@%-_=+[]:./?\" }\n");
  EXPECT_TRUE(parse_config(unique, "rotor.yaml", options()).has_value());
  const std::string shared = replace(replace(unique, "os: linux", "os: any"), "max_age: 30d",
                                     "mode: shared\n    max_age: 30d");
  const std::string message = errors(parse_config(shared, "rotor.yaml", options()));
  EXPECT_EQ(message.rfind("rotor.yaml:21:15: 'password' cannot produce one password for both root "
                          "and Administrator (mode shared with os any uses the Safe profile): ",
                          0),
            0U)
      << message;
}

// A verification hook: argv as a list, a timeout, and a restart to verify after; the summary
// loads back to the same hook.
TEST_F(LoaderTest, VerifyHook) {
  const std::string text = replace(kBase, "    max_age: 30d\n",
                                   "    max_age: 30d\n"
                                   "    window: \"Sun 01:00-05:00 Europe/Berlin\"\n"
                                   "    after_reset: reboot-soft\n"
                                   "    verify:\n"
                                   "      command: [/usr/lib/rotor/verify-ssh, --port, \"22\"]\n"
                                   "      timeout: 90s\n");
  const LoadResult result = parse_config(text, "rotor.yaml", options());
  ASSERT_TRUE(result.has_value()) << errors(result);
  const Policy& policy = result->policies.at(0);
  ASSERT_TRUE(policy.verify.has_value());
  EXPECT_EQ(policy.verify->command,
            (std::vector<std::string>{"/usr/lib/rotor/verify-ssh", "--port", "22"}));
  EXPECT_EQ(policy.verify->timeout, std::chrono::seconds{90});
  const LoadResult again = parse_config(to_yaml(*result), "summary.yaml", options());
  ASSERT_TRUE(again.has_value()) << errors(again);
  EXPECT_EQ(*again, *result);

  // Defaults: a 60 s timeout.
  const LoadResult plain =
      parse_config(replace(text, "      timeout: 90s\n", ""), "rotor.yaml", options());
  ASSERT_TRUE(plain.has_value()) << errors(plain);
  EXPECT_EQ(plain->policies.at(0).verify->timeout, std::chrono::seconds{60});
}

// A hook needs a restart to verify after, an absolute program, a list (never a shell string).
TEST_F(LoaderTest, VerifyHookErrors) {
  const std::string no_restart =
      replace(kBase, "    max_age: 30d\n",
              "    max_age: 30d\n    verify: { command: [/usr/lib/rotor/verify-ssh] }\n");
  EXPECT_EQ(errors(parse_config(no_restart, "rotor.yaml", options())),
            "rotor.yaml:20:5: 'verify' needs 'after_reset' reboot-soft or reboot-hard (the hook "
            "runs after the restart that makes the new password effective)\n");
  const std::string base = replace(kBase, "    max_age: 30d\n",
                                   "    max_age: 30d\n"
                                   "    window: \"Sun 01:00-05:00 Europe/Berlin\"\n"
                                   "    after_reset: reboot-hard\n"
                                   "    verify: { command: HOOK }\n");
  EXPECT_EQ(errors(parse_config(replace(base, "HOOK", "\"verify-ssh --port 22\""), "rotor.yaml",
                                options())),
            "rotor.yaml:22:24: invalid type for 'command' (expected a list of strings)\n");
  EXPECT_EQ(errors(parse_config(replace(base, "HOOK", "[verify-ssh]"), "rotor.yaml", options())),
            "rotor.yaml:22:25: 'command' must start with an absolute path (verify-ssh); it is run "
            "without a shell or PATH lookup\n");
  EXPECT_EQ(errors(parse_config(replace(base, "HOOK", "[]"), "rotor.yaml", options())),
            "rotor.yaml:22:24: 'command' must name a program (a list: its absolute path, then its "
            "arguments)\n");
  EXPECT_EQ(errors(parse_config(replace(base, "{ command: HOOK }", "{ timeout: 5s }"), "rotor.yaml",
                                options())),
            "rotor.yaml:22:13: missing parameter 'command'\n");
  EXPECT_EQ(errors(parse_config(replace(base, "HOOK", "[/bin/true], timeout: 2h"), "rotor.yaml",
                                options())),
            "rotor.yaml:22:46: 'timeout' (2h) not within 1s..1h\n");
}

class LoaderFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret("vault-token", "hvs.VaultTokenInTest", 0600);
    secret("otc-ak", "AKIDINTEST0000000001", 0600);
    secret("otc-sk", "SecretKeyValueInTest0001", 0600);
    config_ = dir_ / "rotor.yaml";
    write_config(std::string(kBase));
  }
  void secret(const std::string& name, std::string_view content, mode_t mode) {
    const fs::path path = dir_ / name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ASSERT_EQ(::fchmod(fd, mode), 0);
    ::close(fd);
  }
  void write_config(const std::string& text) {
    std::ofstream(config_) << replace(
        replace(replace(text, "/etc/rotor/vault-token", (dir_ / "vault-token").string()),
                "/etc/rotor/otc-ak", (dir_ / "otc-ak").string()),
        "/etc/rotor/otc-sk", (dir_ / "otc-sk").string());
  }
  LoadOptions checking() const {
    LoadOptions result;
    result.env = fixed_env({});
    result.check_secrets = true;
    return result;
  }

  rotor::testing::ScratchDir scratch_{"config"};
  fs::path dir_ = scratch_.path();
  fs::path config_;
};

// With check_secrets, every reference is resolved once; a readable-by-others file is an error
// at the position of the reference.
TEST_F(LoaderFilesTest, ChecksSecretFiles) {
  EXPECT_TRUE(load_config(config_, checking()).has_value());
  secret("otc-sk", "SecretKeyValueInTest0001", 0644);
  const std::string sk = (dir_ / "otc-sk").string();
  EXPECT_EQ(errors(load_config(config_, checking())),
            config_.string() + ":14:24: 'secret_key_file': " + sk +
                " is accessible by group or others (mode 0644); run chmod 600 " + sk + "\n");
}

// Files that cannot be opened are a stage of their own.
TEST_F(LoaderFilesTest, CannotOpen) {
  EXPECT_EQ(errors(load_config(dir_ / "missing.yaml", checking())),
            (dir_ / "missing.yaml").string() + ": cannot open: No such file or directory\n");
  EXPECT_EQ(errors(load_config(dir_, checking())),
            dir_.string() + ": cannot open: is a directory\n");
}

// SIGHUP: a valid file replaces the config, an invalid one keeps it and says why.
TEST_F(LoaderFilesTest, ReloadKeepsCurrentOnError) {
  ReloadOutcome first = reload(config_, nullptr, checking());
  ASSERT_TRUE(first.replaced);
  EXPECT_TRUE(first.changed);
  ASSERT_NE(first.config, nullptr);
  ReloadOutcome same = reload(config_, first.config, checking());
  EXPECT_TRUE(same.replaced);
  EXPECT_FALSE(same.changed);
  write_config(replace(kBase, "max_age: 30d", "max_age: 30"));
  ReloadOutcome broken = reload(config_, first.config, checking());
  EXPECT_FALSE(broken.replaced);
  EXPECT_EQ(broken.config, first.config);
  EXPECT_EQ(to_string(broken.reasons),
            config_.string() +
                ":19:14: invalid duration for 'max_age' (30): missing unit (s, m, "
                "h, d or w)\n");
  write_config(replace(kBase, "max_age: 30d", "max_age: 7d"));
  ReloadOutcome changed = reload(config_, first.config, checking());
  EXPECT_TRUE(changed.replaced);
  EXPECT_TRUE(changed.changed);
  EXPECT_EQ(changed.config->policies[0].max_age, std::chrono::hours{7 * 24});
}

// check-config: exit 0 with a one-line verdict, exit 1 with every error on stderr, and a verbose
// summary with due times that never shows a secret.
TEST_F(LoaderFilesTest, CheckConfigCommand) {
  testing::LogCapture logs;
  const SysSeconds now{std::chrono::seconds{1795000000}};  // 2026-11-18 UTC
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(check_config(config_, false, out, err, checking(), now), 0);
  EXPECT_EQ(out.str(), config_.string() + ": configuration is valid (1 cloud, 1 policy)\n");
  EXPECT_EQ(err.str(), "");

  write_config(replace(kBase, "    max_age: 30d\n",
                       "    schedule: \"0 3 1 * *\"\n    timezone: Europe/Berlin\n"
                       "    window: \"Mon-Fri 02:00-06:00 Europe/Berlin\"\n"));
  std::ostringstream verbose;
  EXPECT_EQ(check_config(config_, true, verbose, err, checking(), now), 0);
  const std::string summary = verbose.str();
  EXPECT_NE(summary.find("    # due 1: 2026-12-01 03:00 CET (2026-12-01 02:00 UTC)\n"),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("    # due 2: 2027-01-01 03:00 CET (2027-01-01 02:00 UTC)\n"),
            std::string::npos);
  EXPECT_NE(summary.find("    # due 3: 2027-02-01 03:00 CET (2027-02-01 02:00 UTC)\n"),
            std::string::npos);
  EXPECT_NE(summary.find("    # window opens 2026-11-19 02:00 CET"), std::string::npos);
  for (const char* secret : {"hvs.VaultTokenInTest", "AKIDINTEST", "SecretKeyValueInTest"}) {
    EXPECT_EQ(summary.find(secret), std::string::npos) << secret;
    EXPECT_FALSE(logs.contains(secret)) << secret;
  }

  write_config(replace(replace(kBase, "flavor: otc", "flavor: aws"), "max_age: 30d",
                       "max_age: 30d\n    priority: high"));
  std::ostringstream out2;
  std::ostringstream err2;
  EXPECT_EQ(check_config(config_, false, out2, err2, checking(), now), 1);
  EXPECT_EQ(out2.str(), "");
  EXPECT_EQ(err2.str(), config_.string() + ":8:13: 'flavor' (aws) not one of otc or huawei\n" +
                            config_.string() + ":20:5: unknown parameter 'priority'\n");
}

// Sets (or unsets) process environment variables for one test and restores them afterwards.
class EnvGuard {
 public:
  EnvGuard(std::initializer_list<std::pair<const char*, const char*>> changes) {
    for (const auto& [name, value] : changes) {
      const char* old = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
      saved_.emplace_back(name, old != nullptr ? std::optional<std::string>(old) : std::nullopt);
      if (value != nullptr) {
        ::setenv(name, value, 1);  // NOLINT(concurrency-mt-unsafe)
      } else {
        ::unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
      }
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
      } else {
        ::unsetenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// The command the CLI calls reads the real process environment: VAULT_ADDR wins over the file.
TEST_F(LoaderFilesTest, CheckConfigCommandUsesProcessEnvironment) {
  const EnvGuard env{{"VAULT_ADDR", "https://vault.from-env.example:8200"},
                     {"VAULT_TOKEN", nullptr},
                     {"VAULT_CACERT", nullptr},
                     {"VAULT_NAMESPACE", nullptr}};
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(check_config_command(config_, true, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("  # overridden by the environment: VAULT_ADDR\n"
                           "  address: \"https://vault.from-env.example:8200\"\n"),
            std::string::npos)
      << out.str();
  EXPECT_EQ(out.str().find("hvs.VaultTokenInTest"), std::string::npos);
}

}  // namespace
}  // namespace rotor::config
