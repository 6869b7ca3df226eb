#include "config/config.h"

#include <cmath>
#include <ostream>
#include <sstream>

namespace rotor::config {

namespace {

// A YAML double-quoted scalar.
std::string yaml_quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr std::string_view kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4U];
      out += kHex[byte & 0xfU];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string_view class_name(password::CharClass cls) {
  switch (cls) {
    case password::CharClass::Upper: return "upper";
    case password::CharClass::Lower: return "lower";
    case password::CharClass::Digit: return "digit";
    case password::CharClass::Special: return "special";
  }
  return "?";
}

std::string_view api_name(password::ApiProfile api) {
  switch (api) {
    case password::ApiProfile::OtcSingle: return "OTC v2.1 single reset (OtcSingle)";
    case password::ApiProfile::EcsV1: return "ECS v1 reset (EcsV1)";
    case password::ApiProfile::Safe: return "every variant (Safe)";
  }
  return "?";
}

void emit_secret(std::ostream& out, const std::string& indent,
                 const std::optional<SecretRef>& ref) {
  if (!ref) {
    return;
  }
  if (ref->kind == SecretRef::Kind::Env) {
    out << indent << ref->parameter << ": " << yaml_quote("env:" + ref->text) << '\n';
  } else {
    out << indent << ref->parameter << ": " << yaml_quote(ref->text) << '\n';
  }
}

std::string when(const Zone& zone, SysSeconds time) {
  std::string text = zone.format(time);
  if (zone.name() != "UTC") {
    text += " (" + Zone{}.format(time) + ")";
  }
  return text;
}

void annotate(std::ostream& out, const Policy& policy, const Config& config, SysSeconds now) {
  const std::string indent = "    # ";
  if (const Cloud* cloud = config.cloud(policy.cloud)) {
    const auto engines = password_policies(policy, cloud->flavor);
    std::string users;
    for (const auto& engine : engines) {
      users += (users.empty() ? "" : " and ") + engine.username;
    }
    out << indent << "passwords for " << users << " through "
        << (policy.mode == Mode::Shared ? "the v1 batch reset" : "the single reset")
        << ", characters valid for " << api_name(api_profile(policy, cloud->flavor)) << '\n';
  }
  if (policy.schedule) {
    SysSeconds from = now;
    std::string due;
    for (int i = 0; i < 3; ++i) {
      auto next = policy.schedule->next_after(from, policy.timezone);
      if (!next) {
        break;
      }
      const SysSeconds start = next_window_open(policy.windows, *next);
      out << indent << "due " << (i + 1) << ": " << when(policy.timezone, start) << '\n';
      from = *next;
    }
  } else if (policy.max_age) {
    out << indent << "due per server " << format_duration(*policy.max_age)
        << " after its last rotation (servers without a secret: now)\n";
  }
  SysSeconds from = now;
  for (int i = 0; i < 3 && !policy.windows.empty(); ++i) {
    const auto span = next_window(policy.windows, from);
    if (!span) {
      break;
    }
    const Zone& zone = policy.windows.front().zone();
    if (span->open <= now) {
      out << indent << "window open now, until " << when(zone, span->close) << '\n';
    } else {
      out << indent << "window opens " << when(zone, span->open) << ", closes "
          << when(zone, span->close) << '\n';
    }
    from = span->close;
  }
}

}  // namespace

std::string_view to_string(Flavor flavor) noexcept {
  return flavor == Flavor::Otc ? "otc" : "huawei";
}
std::string_view to_string(Mode mode) noexcept {
  return mode == Mode::Unique ? "unique" : "shared";
}
std::string_view to_string(OsSelector os) noexcept {
  switch (os) {
    case OsSelector::Any: return "any";
    case OsSelector::Linux: return "linux";
    case OsSelector::Windows: return "windows";
  }
  return "any";
}
std::string_view to_string(AfterReset after_reset) noexcept {
  switch (after_reset) {
    case AfterReset::None: return "none";
    case AfterReset::RebootSoft: return "reboot-soft";
    case AfterReset::RebootHard: return "reboot-hard";
  }
  return "none";
}
std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::Trace: return "trace";
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "info";
}
std::string_view to_string(LogFormat format) noexcept {
  return format == LogFormat::Text ? "text" : "json";
}

bool Policy::operator==(const Policy& other) const {
  return name == other.name && cloud == other.cloud && select == other.select &&
         mode == other.mode && max_age == other.max_age && schedule == other.schedule &&
         timezone == other.timezone && windows == other.windows && jitter == other.jitter &&
         password == other.password && after_reset == other.after_reset &&
         preflight_dry_run == other.preflight_dry_run && dry_run == other.dry_run &&
         quarantine_after == other.quarantine_after && verify == other.verify &&
         canary == other.canary && error_budget == other.error_budget &&
         head_start == other.head_start;
}

std::size_t ErrorBudget::allowed(std::size_t attempted) const {
  if (!percent) {
    return static_cast<std::size_t>(value);
  }
  return static_cast<std::size_t>(std::ceil(value * static_cast<double>(attempted) / 100.0));
}

std::string ErrorBudget::to_string() const {
  if (!percent) {
    return std::to_string(static_cast<std::int64_t>(value));
  }
  std::ostringstream out;
  out << value << '%';
  return out.str();
}

password::ApiProfile api_profile(const Policy& policy, Flavor flavor) {
  if (policy.mode == Mode::Shared) {
    return policy.select.os == OsSelector::Any ? password::ApiProfile::Safe
                                               : password::ApiProfile::EcsV1;
  }
  return flavor == Flavor::Otc ? password::ApiProfile::OtcSingle : password::ApiProfile::EcsV1;
}

std::vector<password::Policy> password_policies(const Policy& policy, Flavor flavor) {
  std::vector<password::OsFamily> families;
  if (policy.select.os != OsSelector::Windows) {
    families.push_back(password::OsFamily::Linux);
  }
  if (policy.select.os != OsSelector::Linux) {
    families.push_back(password::OsFamily::Windows);
  }
  std::vector<password::Policy> out;
  for (const password::OsFamily os : families) {
    password::Policy engine;
    engine.length = policy.password.length;
    engine.min_count = {0, 0, 0, 0};
    for (const password::CharClass cls : policy.password.require) {
      engine.min_count[static_cast<std::size_t>(cls)] = 1;
    }
    engine.exclude_chars = policy.password.exclude_chars;
    engine.api = api_profile(policy, flavor);
    engine.os = os;
    engine.username = std::string(password::default_username(os));
    out.push_back(std::move(engine));
  }
  return out;
}

SysSeconds due_at(const Policy& policy, std::optional<SysSeconds> last_rotation,
                  std::string_view server_id, SysSeconds now) {
  SysSeconds base = now;
  if (last_rotation) {
    if (policy.max_age) {
      base = *last_rotation + *policy.max_age - policy.head_start;
    } else if (policy.schedule) {
      base = policy.schedule->next_after(*last_rotation, policy.timezone).value_or(now);
    }
  }
  const std::chrono::seconds offset = jitter_offset(server_id, policy.jitter);
  if (policy.windows.empty()) {
    return base + offset;
  }
  SysSeconds from = base;
  for (int attempt = 0; attempt < 64; ++attempt) {
    const auto span = next_window(policy.windows, from);
    if (!span) {
      break;
    }
    const SysSeconds candidate = std::max(span->open + offset, base);
    if (candidate < span->close) {
      return candidate;
    }
    from = span->close;
  }
  return next_window_open(policy.windows, base);
}

const Cloud* Config::cloud(std::string_view name) const {
  const auto found = clouds.find(std::string(name));
  return found == clouds.end() ? nullptr : &found->second;
}

std::string Diagnostic::to_string() const {
  return where.to_string() + ": " + message;
}

std::string to_string(const Diagnostics& diagnostics) {
  std::string out;
  for (const Diagnostic& diagnostic : diagnostics) {
    out += diagnostic.to_string();
    out += '\n';
  }
  return out;
}

Error to_error(const Diagnostics& diagnostics) {
  std::string text = to_string(diagnostics);
  if (!text.empty()) {
    text.pop_back();
  }
  return Error(ErrorCode::InvalidConfig, std::move(text));
}

Diagnostics verify_secrets(const Config& config, const EnvLookup& env) {
  std::vector<const SecretRef*> refs;
  for (const auto* ref :
       {&config.vault.auth.token, &config.vault.auth.role_id, &config.vault.auth.secret_id}) {
    if (*ref) {
      refs.push_back(&**ref);
    }
  }
  for (const auto& [name, cloud] : config.clouds) {
    for (const auto* ref : {&cloud.auth.access_key, &cloud.auth.secret_key, &cloud.auth.password}) {
      if (*ref) {
        refs.push_back(&**ref);
      }
    }
  }
  Diagnostics out;
  for (const SecretRef* ref : refs) {
    Result<Secret> secret = resolve_secret(*ref, env);
    if (!secret) {
      out.push_back(Diagnostic{ref->where, secret.error().message()});
    }
  }
  return out;
}

std::string to_yaml(const Config& config, const SummaryOptions& options) {
  std::ostringstream out;
  out << "# Rotor configuration as understood from " << config.source.string()
      << " (canonical form; secrets are shown as references only)\n";
  const DaemonSettings& daemon = config.daemon;
  out << "daemon:\n"
      << "  metrics_listen: " << yaml_quote(daemon.metrics_listen) << '\n'
      << "  log:\n"
      << "    level: " << to_string(daemon.log_level) << '\n'
      << "    format: " << to_string(daemon.log_format) << '\n'
      << "  state_dir: " << yaml_quote(daemon.state_dir.string()) << '\n'
      << "  concurrency: " << daemon.concurrency << '\n';

  const VaultSettings& vault = config.vault;
  out << "vault:\n";
  if (!vault.overridden_by.empty()) {
    out << "  # overridden by the environment:";
    for (const std::string& variable : vault.overridden_by) {
      out << ' ' << variable;
    }
    out << '\n';
  }
  out << "  address: " << yaml_quote(vault.address) << '\n';
  if (!vault.namespace_name.empty()) {
    out << "  namespace: " << yaml_quote(vault.namespace_name) << '\n';
  }
  if (vault.ca_file) {
    out << "  ca_file: " << yaml_quote(vault.ca_file->string()) << '\n';
  }
  out << "  timeout: " << format_duration(vault.timeout) << '\n';
  out << "  auth:\n";
  if (vault.auth.method == VaultAuthMethod::Token) {
    out << "    method: token\n";
    emit_secret(out, "    ", vault.auth.token);
  } else {
    out << "    method: approle\n";
    emit_secret(out, "    ", vault.auth.role_id);
    emit_secret(out, "    ", vault.auth.secret_id);
    out << "    mount: " << yaml_quote(vault.auth.approle_mount) << '\n';
  }
  out << "  kv:\n"
      << "    mount: " << yaml_quote(vault.kv.mount) << '\n'
      << "    path: " << yaml_quote(vault.kv.path) << '\n'
      << "    max_versions: " << vault.kv.max_versions << '\n';

  out << "clouds:\n";
  for (const auto& [name, cloud] : config.clouds) {
    out << "  " << yaml_quote(name) << ":\n"
        << "    flavor: " << to_string(cloud.flavor) << '\n'
        << "    region: " << yaml_quote(cloud.region) << '\n'
        << "    project_id: " << yaml_quote(cloud.project_id) << '\n'
        << "    endpoints:\n"
        << "      ecs: " << yaml_quote(cloud.ecs_endpoint) << '\n'
        << "      iam: " << yaml_quote(cloud.iam_endpoint) << '\n';
    if (cloud.ca_file) {
      out << "    ca_file: " << yaml_quote(cloud.ca_file->string()) << '\n';
    }
    out << "    auth:\n";
    if (cloud.auth.type == CloudAuthType::AkSk) {
      out << "      type: aksk\n";
      emit_secret(out, "      ", cloud.auth.access_key);
      emit_secret(out, "      ", cloud.auth.secret_key);
    } else {
      out << "      type: token\n"
          << "      domain: " << yaml_quote(cloud.auth.domain) << '\n'
          << "      user: " << yaml_quote(cloud.auth.user) << '\n';
      emit_secret(out, "      ", cloud.auth.password);
    }
    out << "    limits:\n"
        << "      requests_per_second: " << cloud.limits.requests_per_second << '\n'
        << "      adaptive: " << (cloud.limits.adaptive ? "true" : "false") << '\n'
        << "      max_batch: " << cloud.limits.max_batch << '\n'
        << "      timeout: " << format_duration(cloud.limits.timeout) << '\n';
  }

  out << "policies:\n";
  for (const Policy& policy : config.policies) {
    out << "  - name: " << yaml_quote(policy.name) << '\n'
        << "    cloud: " << yaml_quote(policy.cloud) << '\n'
        << "    select:\n";
    const Selector& select = policy.select;
    if (select.all) {
      out << "      all: true\n";
    }
    if (!select.tags.empty()) {
      out << "      tags:\n";
      for (const auto& [key, value] : select.tags) {
        out << "        " << yaml_quote(key) << ": " << yaml_quote(value) << '\n';
      }
    }
    out << "      os: " << to_string(select.os) << '\n';
    if (select.name) {
      out << "      name: " << yaml_quote(select.name->pattern) << '\n';
    }
    for (const auto& [key, ids] :
         {std::pair<std::string_view, const std::vector<std::string>*>{"ids", &select.ids},
          std::pair<std::string_view, const std::vector<std::string>*>{"exclude_ids",
                                                                       &select.exclude_ids}}) {
      if (!ids->empty()) {
        out << "      " << key << ":\n";
        for (const std::string& id : *ids) {
          out << "        - " << yaml_quote(id) << '\n';
        }
      }
    }
    out << "    mode: " << to_string(policy.mode) << '\n';
    if (policy.max_age) {
      out << "    max_age: " << format_duration(*policy.max_age) << '\n';
    }
    if (policy.schedule) {
      out << "    schedule: " << yaml_quote(policy.schedule->text()) << '\n'
          << "    timezone: " << yaml_quote(policy.timezone.name()) << '\n';
    }
    if (!policy.windows.empty()) {
      out << "    window:\n";
      for (const Window& window : policy.windows) {
        out << "      - " << yaml_quote(window.text()) << '\n';
      }
    }
    out << "    jitter: " << format_duration(policy.jitter) << '\n'
        << "    password:\n"
        << "      length: " << policy.password.length << '\n'
        << "      require: [";
    for (std::size_t i = 0; i < policy.password.require.size(); ++i) {
      out << (i > 0 ? ", " : "") << class_name(policy.password.require[i]);
    }
    out << "]\n";
    if (!policy.password.exclude_chars.empty()) {
      out << "      exclude_chars: " << yaml_quote(policy.password.exclude_chars) << '\n';
    }
    out << "    after_reset: " << to_string(policy.after_reset) << '\n'
        << "    preflight_dry_run: " << (policy.preflight_dry_run ? "true" : "false") << '\n'
        << "    dry_run: " << (policy.dry_run ? "true" : "false") << '\n'
        << "    quarantine_after: " << policy.quarantine_after << '\n'
        << "    canary: " << policy.canary << '\n'
        << "    error_budget: " << yaml_quote(policy.error_budget.to_string()) << '\n';
    if (policy.verify) {
      out << "    verify:\n"
          << "      command: [";
      for (std::size_t i = 0; i < policy.verify->command.size(); ++i) {
        out << (i > 0 ? ", " : "") << yaml_quote(policy.verify->command[i]);
      }
      out << "]\n"
          << "      timeout: " << format_duration(policy.verify->timeout) << '\n';
    }
    if (policy.head_start.count() > 0) {
      out << "    head_start: " << format_duration(policy.head_start) << '\n';
    }
    if (options.now) {
      annotate(out, policy, config, *options.now);
    }
  }
  return out.str();
}

ReloadOutcome reload(const std::filesystem::path& file, std::shared_ptr<const Config> current,
                     const LoadOptions& options) {
  LoadResult loaded = load_config(file, options);
  ReloadOutcome outcome;
  if (!loaded) {
    outcome.config = std::move(current);
    outcome.reasons = std::move(loaded.error());
    return outcome;
  }
  outcome.replaced = true;
  outcome.changed = !current || !(*current == *loaded);
  outcome.config = std::make_shared<const Config>(std::move(*loaded));
  return outcome;
}

int check_config(const std::filesystem::path& file, bool verbose, std::ostream& out,
                 std::ostream& err, const LoadOptions& options, SysSeconds now) {
  LoadResult loaded = load_config(file, options);
  if (!loaded) {
    err << to_string(loaded.error());
    return 1;
  }
  if (verbose) {
    out << to_yaml(*loaded, SummaryOptions{now});
  } else {
    out << file.string() << ": configuration is valid (" << loaded->clouds.size()
        << (loaded->clouds.size() == 1 ? " cloud, " : " clouds, ") << loaded->policies.size()
        << (loaded->policies.size() == 1 ? " policy)" : " policies)") << '\n';
  }
  return 0;
}

int check_config_command(const std::filesystem::path& file, bool verbose, std::ostream& out,
                         std::ostream& err) {
  return check_config(file, verbose, out, err, LoadOptions{},
                      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

}  // namespace rotor::config
