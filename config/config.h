#pragma once
// Rotor's configuration: typed value structs, the loader (cannot open / cannot parse / invalid,
// every error as `file:line:col: message`), the canonical summary, reload and check-config.
// The schema is documented in docs/configuration.md; packaging/rotor.yaml is a commented example.
//
// These are plain values: the daemon maps them onto the ECS and Vault clients' own settings.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "config/duration.h"
#include "config/schedule.h"
#include "config/secret_ref.h"
#include "password/policy.h"

namespace rotor::config {

// ---------------------------------------------------------------------------------------------
// daemon:

enum class LogLevel { Trace, Debug, Info, Warn, Error };
enum class LogFormat { Text, Json };

struct DaemonSettings {
  std::string metrics_listen = "127.0.0.1:9464";
  LogLevel log_level = LogLevel::Info;
  LogFormat log_format = LogFormat::Text;
  std::filesystem::path state_dir = "/var/lib/rotor";
  int concurrency = 16;
  bool operator==(const DaemonSettings&) const = default;
};

// ---------------------------------------------------------------------------------------------
// vault:

enum class VaultAuthMethod { Token, AppRole };

struct VaultAuth {
  VaultAuthMethod method = VaultAuthMethod::Token;
  std::optional<SecretRef> token;      // method token
  std::optional<SecretRef> role_id;    // method approle
  std::optional<SecretRef> secret_id;  // method approle
  std::string approle_mount = "approle";
  bool operator==(const VaultAuth&) const = default;
};

struct VaultKv {
  std::string mount = "secret";
  std::string path = "ecs/{cloud}/{project_id}/{server_id}";
  int max_versions = 20;
  bool operator==(const VaultKv&) const = default;
};

struct VaultSettings {
  std::string address;
  std::string namespace_name;  // empty: none
  std::optional<std::filesystem::path> ca_file;
  std::chrono::seconds timeout{30};  // per request
  VaultAuth auth;
  VaultKv kv;
  // The environment variables that overrode the file (VAULT_ADDR, …), in that order.
  std::vector<std::string> overridden_by;
  bool operator==(const VaultSettings&) const = default;
};

// ---------------------------------------------------------------------------------------------
// clouds:

enum class Flavor { Otc, Huawei };
enum class CloudAuthType { AkSk, Token };

struct CloudAuth {
  CloudAuthType type = CloudAuthType::AkSk;
  std::optional<SecretRef> access_key;  // aksk
  std::optional<SecretRef> secret_key;  // aksk
  std::string domain;                   // token
  std::string user;                     // token
  std::optional<SecretRef> password;    // token
  bool operator==(const CloudAuth&) const = default;
};

struct CloudLimits {
  int requests_per_second = 10;
  // The cloud's limit is unknown: requests_per_second is where Rotor starts, and it probes up
  // (to 1000/s) until the cloud throttles. Throttling slows Rotor down in both cases.
  bool adaptive = false;
  int max_batch = 100;
  std::chrono::seconds timeout{30};
  bool operator==(const CloudLimits&) const = default;
};

struct Cloud {
  std::string name;
  Flavor flavor = Flavor::Otc;
  std::string region;
  std::string project_id;
  std::string ecs_endpoint;  // defaulted from flavor and region
  std::string iam_endpoint;
  // CA bundle for the cloud's TLS certificates; empty: the system bundle.
  std::optional<std::filesystem::path> ca_file;
  CloudAuth auth;
  CloudLimits limits;
  bool operator==(const Cloud&) const = default;
};

// ---------------------------------------------------------------------------------------------
// policies:

enum class Mode { Unique, Shared };
enum class OsSelector { Any, Linux, Windows };
enum class AfterReset { None, RebootSoft, RebootHard };

// A compiled ECMAScript regex, compared by its pattern.
struct Regex {
  std::string pattern;
  std::shared_ptr<const std::regex> compiled;
  bool operator==(const Regex& other) const { return pattern == other.pattern; }
};

struct Selector {
  bool all = false;  // every server of the project (must be said explicitly)
  std::map<std::string, std::string> tags;
  OsSelector os = OsSelector::Any;
  std::optional<Regex> name;
  std::vector<std::string> ids;
  std::vector<std::string> exclude_ids;
  bool operator==(const Selector&) const = default;
};

struct PasswordSettings {
  std::size_t length = 20;
  // Classes that must appear at least once (the others are not used).
  std::vector<password::CharClass> require{password::CharClass::Upper, password::CharClass::Lower,
                                           password::CharClass::Digit,
                                           password::CharClass::Special};
  std::string exclude_chars;
  bool operator==(const PasswordSettings&) const = default;
};

// The verification hook: a program run after the restart that makes a new password effective,
// the password on its stdin; exit 0 = the password logs in.
struct VerifySettings {
  std::vector<std::string> command;  // argv: an absolute path, then its arguments; no shell
  std::chrono::seconds timeout{60};  // then its process group is killed
  bool operator==(const VerifySettings&) const = default;
};

// How many definite failures a policy's run tolerates before it halts (landscape.md: SSM
// MaxErrors): a count, or a percentage of the servers attempted so far (rounded up).
struct ErrorBudget {
  bool percent = true;
  double value = 5.0;  // failures (count) or percent
  // Failures allowed once `attempted` servers have had a definite answer or an attempt.
  [[nodiscard]] std::size_t allowed(std::size_t attempted) const;
  [[nodiscard]] std::string to_string() const;  // "5%" or "3"
  bool operator==(const ErrorBudget&) const = default;
};

struct Policy {
  std::string name;
  std::string cloud;
  Selector select;
  Mode mode = Mode::Unique;
  std::optional<std::chrono::seconds> max_age;  // exactly one of max_age and schedule
  std::optional<CronExpr> schedule;
  Zone timezone;  // of the schedule
  std::vector<Window> windows;
  std::chrono::seconds jitter{0};
  PasswordSettings password;
  AfterReset after_reset = AfterReset::None;
  bool preflight_dry_run = false;
  bool dry_run = false;
  int quarantine_after = 5;
  std::optional<VerifySettings> verify;
  // The first wave of a run; the next waves double (docs/rotation.md, "Canary ramp").
  int canary = 3;
  ErrorBudget error_budget;
  // max_age only: rotate this long before the deadline, so that retries fit before it.
  std::chrono::seconds head_start{0};
  Position where;  // not part of equality

  bool operator==(const Policy& other) const;
};

// The API that carries a policy's passwords: shared → the v1 batch API (EcsV1), or Safe when the
// selector may match both Linux and Windows; unique → the flavor's single reset (otc → OtcSingle,
// huawei → EcsV1).
[[nodiscard]] password::ApiProfile api_profile(const Policy& policy, Flavor flavor);
// The password engine's policies for every OS the selector may match (one for linux/windows, two
// for any), with the username of each OS.
[[nodiscard]] std::vector<password::Policy> password_policies(const Policy& policy, Flavor flavor);

// When one server of `policy` is next due, for the scheduler:
//  - the base: never rotated → `now`; max_age → last rotation + max_age - head_start; schedule →
//    the first
//    cron time after the last rotation (in the policy's time zone);
//  - plus the server's deterministic jitter (jitter_offset), counted from the opening of the
//    window in which the base falls (or the next one), never before the base itself, and moved to
//    the next window when it would fall after the window's close; without windows the jitter is
//    simply added.
// The result may lie in the past: the server is overdue and due at once.
[[nodiscard]] SysSeconds due_at(const Policy& policy, std::optional<SysSeconds> last_rotation,
                                std::string_view server_id, SysSeconds now);

// ---------------------------------------------------------------------------------------------

struct Config {
  std::filesystem::path source;
  DaemonSettings daemon;
  VaultSettings vault;
  std::map<std::string, Cloud> clouds;
  std::vector<Policy> policies;

  bool operator==(const Config& other) const {
    return daemon == other.daemon && vault == other.vault && clouds == other.clouds &&
           policies == other.policies;
  }
  [[nodiscard]] const Cloud* cloud(std::string_view name) const;
};

// One error: `file:line:col: message` (1-based; `file: message` when there is no position).
struct Diagnostic {
  Position where;
  std::string message;
  [[nodiscard]] std::string to_string() const;
  bool operator==(const Diagnostic&) const = default;
};
using Diagnostics = std::vector<Diagnostic>;

// Renders diagnostics one per line, and as one rotor::Error (InvalidConfig) for the daemon's log.
[[nodiscard]] std::string to_string(const Diagnostics& diagnostics);
[[nodiscard]] Error to_error(const Diagnostics& diagnostics);

inline constexpr std::size_t kMaxDiagnostics = 50;
inline constexpr std::size_t kMaxConfigBytes = std::size_t{1024} * 1024;

struct LoadOptions {
  // The environment: VAULT_* overrides, ${CREDENTIALS_DIRECTORY}, env: references.
  EnvLookup env = process_env();
  // Also resolve every secret reference (and check vault.ca_file) and report those that cannot be
  // read; the secrets themselves are dropped (wiped) at once.
  bool check_secrets = true;
};

using LoadResult = tl::expected<Config, Diagnostics>;

// Reads and validates a configuration file.
[[nodiscard]] LoadResult load_config(const std::filesystem::path& file,
                                     const LoadOptions& options = {});
// Validates configuration text; `name` stands for the file in messages.
[[nodiscard]] LoadResult parse_config(std::string_view text, const std::string& name,
                                      const LoadOptions& options = {});
// Resolves every secret reference once and reports those that cannot be read.
[[nodiscard]] Diagnostics verify_secrets(const Config& config, const EnvLookup& env);

// The configuration as canonical YAML: every default spelled out, secrets only as references.
// Loading the result yields an equal Config. With `now`, each policy is annotated with comments:
// the API and password profile, and the next three due times (or window openings).
struct SummaryOptions {
  std::optional<SysSeconds> now;
};
[[nodiscard]] std::string to_yaml(const Config& config, const SummaryOptions& options = {});

// SIGHUP: load and validate `file`; on success the new config replaces the current one, else the
// current one is kept and the reasons say why.
struct ReloadOutcome {
  std::shared_ptr<const Config> config;  // the one to run with from now on
  bool replaced = false;
  bool changed = false;  // replaced by a config that differs from the current one
  Diagnostics reasons;   // why the reload was refused (empty when replaced)
};
[[nodiscard]] ReloadOutcome reload(const std::filesystem::path& file,
                                   std::shared_ptr<const Config> current,
                                   const LoadOptions& options = {});

// `rotor check-config [-c FILE] [--verbose]`: 0 when valid, 1 with every error on `err`. With
// `verbose`, the redacted summary (to_yaml with annotations) goes to `out`.
int check_config_command(const std::filesystem::path& file, bool verbose, std::ostream& out,
                         std::ostream& err);
// The same with an injected environment and time, for tests.
int check_config(const std::filesystem::path& file, bool verbose, std::ostream& out,
                 std::ostream& err, const LoadOptions& options, SysSeconds now);

[[nodiscard]] std::string_view to_string(Flavor flavor) noexcept;
[[nodiscard]] std::string_view to_string(Mode mode) noexcept;
[[nodiscard]] std::string_view to_string(OsSelector os) noexcept;
[[nodiscard]] std::string_view to_string(AfterReset after_reset) noexcept;
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;
[[nodiscard]] std::string_view to_string(LogFormat format) noexcept;

}  // namespace rotor::config
