#include "daemon/runtime.h"

#include <fmt/format.h>

#include <algorithm>

#include "daemon/failpoints.h"

namespace rotor::daemon {
namespace {

Result<Secret> resolve(const std::optional<config::SecretRef>& ref, const config::EnvLookup& env,
                       std::string_view what) {
  if (!ref) {
    return fail(ErrorCode::InvalidConfig, "{} is not configured", what);
  }
  return config::resolve_secret(*ref, env);
}

Result<ecs::CloudConfig> cloud_config(const config::Cloud& cloud, const config::EnvLookup& env) {
  ecs::CloudConfig out;
  out.name = cloud.name;
  out.flavor = cloud.flavor == config::Flavor::Huawei ? ecs::Flavor::Huawei : ecs::Flavor::Otc;
  out.region = cloud.region;
  out.project_id = cloud.project_id;
  out.ecs_endpoint = cloud.ecs_endpoint;
  out.iam_endpoint = cloud.iam_endpoint + "/v3";  // the config holds it without the version
  if (cloud.auth.type == config::CloudAuthType::AkSk) {
    out.auth = ecs::AuthMode::AkSk;
    auto access_key = resolve(cloud.auth.access_key, env, "access_key");
    if (!access_key) {
      return fail(access_key.error());
    }
    out.aksk.access_key = std::string(access_key->reveal());
    auto secret_key = resolve(cloud.auth.secret_key, env, "secret_key");
    if (!secret_key) {
      return fail(secret_key.error());
    }
    out.aksk.secret_key = std::move(*secret_key);
  } else {
    out.auth = ecs::AuthMode::Token;
    out.iam.user = cloud.auth.user;
    out.iam.domain = cloud.auth.domain;
    auto password = resolve(cloud.auth.password, env, "password");
    if (!password) {
      return fail(password.error());
    }
    out.iam.password = std::move(*password);
  }
  out.limits.max_batch = static_cast<std::size_t>(cloud.limits.max_batch);
  out.limits.requests_per_second = cloud.limits.requests_per_second;
  // A tenth of a second's worth at once, not a whole second's: a gateway that allows exactly R
  // (with its own burst) then keeps a cushion for the jitter between our clock and its, where a
  // burst of R throttled at the first bunching (one 429 pauses every request and cuts the rate).
  out.limits.burst = std::max(1.0, cloud.limits.requests_per_second / 10.0);
  out.limits.adaptive = cloud.limits.adaptive;
  out.limits.request_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cloud.limits.timeout);
  // The engine retries resets itself (with the same password); the client retries only briefly.
  out.limits.retry.max_attempts = 2;
  return out;
}

Result<vault::Credentials> vault_credentials(const config::VaultSettings& vault,
                                             const config::EnvLookup& env) {
  if (vault.auth.method == config::VaultAuthMethod::Token) {
    auto token = resolve(vault.auth.token, env, "vault token");
    if (!token) {
      return fail(token.error());
    }
    return vault::Credentials(vault::TokenAuth{std::move(*token)});
  }
  auto role_id = resolve(vault.auth.role_id, env, "vault role_id");
  if (!role_id) {
    return fail(role_id.error());
  }
  auto secret_id = resolve(vault.auth.secret_id, env, "vault secret_id");
  if (!secret_id) {
    return fail(secret_id.error());
  }
  return vault::Credentials(
      vault::AppRoleAuth{std::string(role_id->reveal()), std::move(*secret_id)});
}

}  // namespace

Runtime::Runtime(std::shared_ptr<const config::Config> config, Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

Runtime::~Runtime() = default;

engine::Rotator* Runtime::rotator(const std::string& cloud) noexcept {
  auto found = rotators_.find(cloud);
  return found == rotators_.end() ? nullptr : found->second.get();
}

ecs::EcsClient* Runtime::cloud(const std::string& name) noexcept {
  auto found = clouds_.find(name);
  return found == clouds_.end() ? nullptr : found->second.get();
}

Result<std::unique_ptr<Runtime>> Runtime::create(std::shared_ptr<const config::Config> config,
                                                 Clock& clock, Random& random,
                                                 const config::EnvLookup& env) {
  return create(std::move(config), clock, random, env, TransportDecorator{});
}

Result<std::unique_ptr<Runtime>> Runtime::create(std::shared_ptr<const config::Config> config,
                                                 Clock& clock, Random& random,
                                                 const config::EnvLookup& env,
                                                 const TransportDecorator& decorate) {
  std::unique_ptr<Runtime> runtime(
      new Runtime(std::move(config), clock));  // NOLINT: private constructor
  const config::Config& cfg = *runtime->config_;

  http::CurlOptions vault_options;
  if (cfg.vault.ca_file) {
    vault_options.ca_file = *cfg.vault.ca_file;
  }
  vault_options.default_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.vault.timeout);
  runtime->vault_transport_ = std::make_unique<http::CurlTransport>(vault_options);

  http::CurlOptions cloud_options;
  for (const auto& [name, cloud] : cfg.clouds) {
    if (cloud.ca_file) {
      cloud_options.ca_file = *cloud.ca_file;  // one transport, one bundle for every cloud
    }
  }
  runtime->cloud_transport_ = std::make_unique<http::CurlTransport>(cloud_options);
  HttpTransport* vault_transport = runtime->vault_transport_.get();
  HttpTransport* cloud_transport = runtime->cloud_transport_.get();
  if (decorate) {
    runtime->vault_decorated_ = decorate(*runtime->vault_transport_, "vault");
    runtime->cloud_decorated_ = decorate(*runtime->cloud_transport_, "ecs");
    if (runtime->vault_decorated_) {
      vault_transport = runtime->vault_decorated_.get();
    }
    if (runtime->cloud_decorated_) {
      cloud_transport = runtime->cloud_decorated_.get();
    }
  }

  vault::VaultConfig vault_config;
  vault_config.address = cfg.vault.address;
  vault_config.vault_namespace = cfg.vault.namespace_name;
  if (cfg.vault.ca_file) {
    vault_config.ca_file = cfg.vault.ca_file->string();
  }
  vault_config.request_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.vault.timeout);
  vault_config.kv_mount = cfg.vault.kv.mount;
  vault_config.approle_mount = cfg.vault.auth.approle_mount;
  auto credentials = vault_credentials(cfg.vault, env);
  if (!credentials) {
    return fail(credentials.error());
  }
  runtime->vault_ = std::make_unique<vault::VaultClient>(vault_config, std::move(*credentials),
                                                         *vault_transport, clock, random);
  if (auto started = runtime->vault_->start(); !started) {
    return fail(Error(ErrorCode::ServiceUnavailable,
                      fmt::format("Vault at {} is not usable", cfg.vault.address))
                    .caused_by(started.error()));
  }

  for (const auto& [name, cloud] : cfg.clouds) {
    auto cloud_cfg = cloud_config(cloud, env);
    if (!cloud_cfg) {
      return fail(Error(ErrorCode::InvalidConfig, fmt::format("cloud '{}'", name))
                      .caused_by(cloud_cfg.error()));
    }
    runtime->clouds_.emplace(name, std::make_unique<ecs::EcsClient>(
                                       std::move(*cloud_cfg), *cloud_transport, clock, random));
  }
  runtime->store_ = std::make_unique<engine::RecordStore>(*runtime->vault_);
  runtime->generator_ = std::make_unique<password::Generator>(random);
  engine::RotatorSeams seams;
  seams.verifier = &runtime->verifier_;
  seams.in_flight = &runtime->in_flight_;
  seams.concurrency = static_cast<std::size_t>(cfg.daemon.concurrency);  // 1..1024, validated
  for (auto& [name, client] : runtime->clouds_) {
    auto rotator = std::make_unique<engine::Rotator>(*runtime->store_, *client,
                                                     *runtime->generator_, clock, random, seams);
    if (auto installed = install_test_failpoint(*rotator); !installed) {
      return fail(installed.error());
    }
    runtime->rotators_.emplace(name, std::move(rotator));
  }
  return runtime;
}

std::size_t servers_per_job(const engine::RotationPolicy& rotation, const config::Cloud& cloud) {
  return rotation.mode == engine::Mode::Unique
             ? 1
             : std::max<std::size_t>(1, static_cast<std::size_t>(cloud.limits.max_batch));
}

engine::RotationPolicy rotation_policy(const config::Policy& policy) {
  engine::RotationPolicy out;
  out.name = policy.name;
  out.mode = policy.mode == config::Mode::Shared ? engine::Mode::Shared : engine::Mode::Unique;
  out.password.length = policy.password.length;
  out.password.min_count = {0, 0, 0, 0};
  for (auto cls : policy.password.require) {
    out.password.min_count[static_cast<std::size_t>(cls)] = 1;
  }
  out.password.exclude_chars = policy.password.exclude_chars;
  switch (policy.after_reset) {
    case config::AfterReset::None: out.after_reset = engine::AfterReset::None; break;
    case config::AfterReset::RebootSoft: out.after_reset = engine::AfterReset::RebootSoft; break;
    case config::AfterReset::RebootHard: out.after_reset = engine::AfterReset::RebootHard; break;
  }
  out.preflight_dry_run = policy.preflight_dry_run;
  out.quarantine_after_failures = policy.quarantine_after;
  if (policy.verify) {
    engine::VerifyHook hook;
    hook.command = policy.verify->command;
    hook.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(policy.verify->timeout);
    out.verify = std::move(hook);
  }
  return out;
}

}  // namespace rotor::daemon
