#include "sim/vault/core.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace rotor::sim {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Formatting helpers

namespace vault_detail {

std::string go_json(const ojson& value) {
  const std::string text = value.dump();
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
               (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\n');
  return out;
}

std::string rfc3339(std::int64_t unix_nanos) {
  std::int64_t secs = unix_nanos / 1'000'000'000;
  std::int64_t nanos = unix_nanos % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --secs;
  }
  const auto seconds_value = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&seconds_value, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (nanos != 0) {
    std::string fraction = fmt::format("{:09}", nanos);
    while (!fraction.empty() && fraction.back() == '0') {
      fraction.pop_back();
    }
    out += '.';
    out += fraction;
  }
  out += 'Z';
  return out;
}

std::string go_duration(std::int64_t seconds) {
  if (seconds == 0) {
    return "0s";
  }
  const std::int64_t hours = seconds / 3600;
  const std::int64_t minutes = (seconds % 3600) / 60;
  const std::int64_t rest = seconds % 60;
  if (hours > 0) {
    return fmt::format("{}h{}m{}s", hours, minutes, rest);
  }
  if (minutes > 0) {
    return fmt::format("{}m{}s", minutes, rest);
  }
  return fmt::format("{}s", rest);
}

}  // namespace vault_detail

using vault_detail::go_duration;
using vault_detail::go_json;
using vault_detail::rfc3339;

VaultFaults VaultFaults::named(const std::string& name) {
  VaultFaults profile;
  if (name == "none" || name.empty()) {
    return profile;
  }
  profile.enabled = true;
  if (name == "flaky") {
    profile.error_rate = 0.05;
    profile.latency_rate = 0.05;
    profile.throttle_rate = 0.02;
    profile.precondition_rate = 0.01;
    profile.reset_after_write_rate = 0.02;
    return profile;
  }
  if (name == "chaos") {
    profile.error_rate = 0.2;
    profile.latency_rate = 0.2;
    profile.throttle_rate = 0.05;
    profile.precondition_rate = 0.05;
    profile.timeout_rate = 0.02;
    profile.reset_after_write_rate = 0.1;
    return profile;
  }
  throw std::invalid_argument("unknown fault profile '" + name + "' (none, flaky, chaos)");
}

namespace {

constexpr std::int64_t kNanos = 1'000'000'000;
constexpr const char* kInvalidToken =
    "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n";
constexpr const char* kPolicyDenied = "1 error occurred:\n\t* permission denied\n\n";

// splitmix64: deterministic from the seed.
class Prng {
 public:
  explicit Prng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31U);
  }
  double unit() { return static_cast<double>(next() >> 11U) * 0x1.0p-53; }
  std::string hex(std::size_t count) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    while (out.size() < count) {
      out.push_back(kHex[next() & 0x0FU]);
    }
    return out;
  }
  std::string uuid() { return hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12); }
  std::string token() {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string out = "hvs.";
    for (int i = 0; i < 24; ++i) {
      out.push_back(kAlphabet[next() % 62U]);
    }
    return out;
  }

 private:
  std::uint64_t state_;
};

struct KvVersionEntry {
  std::int64_t created = 0;
  std::int64_t deletion = 0;  // 0 = not deleted; may be in the future (delete_version_after)
  bool destroyed = false;
  json data;  // null when destroyed
};

struct KvKey {
  std::uint64_t current = 0;
  std::uint64_t oldest = 0;
  std::uint64_t max_versions = 0;
  bool cas_required = false;
  std::int64_t delete_version_after = 0;  // seconds
  std::map<std::string, std::string> custom;
  std::int64_t created = 0;
  std::int64_t updated = 0;
  std::map<std::uint64_t, KvVersionEntry> versions;
};

struct Mount {
  int version = 2;
  std::string accessor;
  std::string uuid;
  std::uint64_t max_versions = 0;
  bool cas_required = false;
  std::int64_t delete_version_after = 0;
  std::map<std::string, KvKey> keys;  // v2
  std::map<std::string, json> flat;   // v1
};

struct Token {
  std::string id;
  std::string accessor;
  std::vector<std::string> policies;
  std::int64_t issue = 0;
  std::int64_t creation_ttl = 0;
  std::int64_t expire = 0;  // 0 = never
  std::int64_t max_ttl = 0;
  bool renewable = false;
  std::string path;
  std::string display_name;
  json meta = nullptr;
  std::int64_t last_renewal = 0;
};

struct SecretIdEntry {
  std::int64_t uses_left = 0;  // 0 = unlimited
  std::int64_t expires = 0;    // 0 = never
};

struct Role {
  AppRoleSpec spec;
  std::map<std::string, SecretIdEntry> secret_ids;
};

struct Rule {
  std::string glob;
  std::set<std::string> capabilities;
};

bool glob_match(const std::string& glob, const std::string& path) {
  if (!glob.empty() && glob.back() == '*') {
    return path.compare(0, glob.size() - 1, glob, 0, glob.size() - 1) == 0;
  }
  return glob == path;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t value = 0;
  if (text.empty()) {
    return std::nullopt;
  }
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// Go-style durations ("1h", "90m", "3600s", "1h30m") or plain seconds.
std::optional<std::int64_t> parse_duration(const json& value) {
  if (value.is_number_integer()) {
    return value.get<std::int64_t>();
  }
  if (value.is_number_float()) {
    return static_cast<std::int64_t>(value.get<double>());
  }
  if (!value.is_string()) {
    return std::nullopt;
  }
  const auto& text = value.get_ref<const std::string&>();
  if (auto plain = parse_int(text)) {
    return plain;
  }
  std::int64_t total = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) != 0) {
      ++j;
    }
    auto number = parse_int(std::string_view(text).substr(i, j - i));
    if (!number || j >= text.size()) {
      return std::nullopt;
    }
    const char unit = text[j];
    std::int64_t factor = 0;
    if (unit == 'h') {
      factor = 3600;
    } else if (unit == 'm') {
      factor = 60;
    } else if (unit == 's') {
      factor = 1;
    } else if (unit == 'd') {
      factor = 86400;
    } else {
      return std::nullopt;
    }
    total += *number * factor;
    any = true;
    i = j + 1;
  }
  return any ? std::optional<std::int64_t>(total) : std::nullopt;
}

// Weak decoding of an integer the way Vault's mapstructure does for cas ("1" works).
std::optional<std::int64_t> weak_int(const json& value) {
  if (value.is_number_integer()) {
    return value.get<std::int64_t>();
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (d == static_cast<double>(static_cast<std::int64_t>(d))) {
      return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
  }
  if (value.is_string()) {
    return parse_int(value.get_ref<const std::string&>());
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? 1 : 0;
  }
  return std::nullopt;
}

bool query_bool(const VaultRequest& request, const std::string& key, bool& bad) {
  const auto found = request.query.find(key);
  if (found == request.query.end()) {
    return false;
  }
  const auto& v = found->second;
  if (v.empty() || v == "true" || v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "True") {
    return true;
  }
  if (v == "false" || v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "False") {
    return false;
  }
  bad = true;
  return false;
}

VaultResponse raw(int status, std::string body) {
  VaultResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

VaultResponse errors(int status, std::vector<std::string> messages) {
  ojson body;
  body["errors"] = messages;
  return raw(status, go_json(body));
}

VaultResponse no_content() {
  return raw(204, "");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// State

struct VaultCore::State {
  State(VaultSimOptions o, Clock& c) : options(std::move(o)), clock(c), prng(options.seed) {}

  VaultSimOptions options;
  Clock& clock;
  mutable std::mutex mutex;
  Prng prng;
  std::int64_t offset = 0;  // advance(), nanoseconds
  bool sealed = false;
  bool standby = false;
  bool perf_standby = false;
  // Rarer health states (spec §4), set with /_sim/health-state.
  bool uninitialized = false;
  bool removed = false;
  bool ha_unhealthy = false;
  bool dr_secondary = false;
  VaultFaults faults;
  std::map<std::string, Mount> mounts;
  std::map<std::string, Token> tokens;
  std::map<std::string, Role> roles;  // by role_id
  std::map<std::string, std::vector<Rule>> policies;
  std::string cluster_id;

  std::int64_t now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now().time_since_epoch())
               .count() +
           offset;
  }

  // ----- envelope -----------------------------------------------------------------------------

  ojson envelope(ojson data, ojson warnings = nullptr, ojson auth = nullptr,
                 std::string mount_type = "") {
    ojson body;
    body["request_id"] = prng.uuid();
    body["lease_id"] = "";
    body["renewable"] = false;
    body["lease_duration"] = 0;
    body["data"] = std::move(data);
    body["wrap_info"] = nullptr;
    body["warnings"] = std::move(warnings);
    body["auth"] = std::move(auth);
    body["mount_type"] = std::move(mount_type);
    return body;
  }

  VaultResponse ok(ojson data, std::string mount_type = "", ojson warnings = nullptr) {
    return raw(200, go_json(envelope(std::move(data), std::move(warnings), nullptr,
                                     std::move(mount_type))));
  }

  // ----- persistence ------------------------------------------------------------------------

  json to_json() const {
    json state;
    state["sealed"] = sealed;
    state["offset"] = offset;
    state["cluster_id"] = cluster_id;
    json& mounts_json = state["mounts"];
    mounts_json = json::object();
    for (const auto& [name, mount] : mounts) {
      json m;
      m["version"] = mount.version;
      m["accessor"] = mount.accessor;
      m["uuid"] = mount.uuid;
      m["max_versions"] = mount.max_versions;
      m["cas_required"] = mount.cas_required;
      m["delete_version_after"] = mount.delete_version_after;
      m["flat"] = mount.flat;
      json& keys = m["keys"];
      keys = json::object();
      for (const auto& [path, key] : mount.keys) {
        json k;
        k["current"] = key.current;
        k["oldest"] = key.oldest;
        k["max_versions"] = key.max_versions;
        k["cas_required"] = key.cas_required;
        k["delete_version_after"] = key.delete_version_after;
        k["custom"] = key.custom;
        k["created"] = key.created;
        k["updated"] = key.updated;
        json& versions = k["versions"];
        versions = json::object();
        for (const auto& [number, version] : key.versions) {
          versions[std::to_string(number)] = {{"created", version.created},
                                              {"deletion", version.deletion},
                                              {"destroyed", version.destroyed},
                                              {"data", version.data}};
        }
        keys[path] = std::move(k);
      }
      mounts_json[name] = std::move(m);
    }
    json& tokens_json = state["tokens"];
    tokens_json = json::object();
    for (const auto& [id, token] : tokens) {
      tokens_json[id] = {{"accessor", token.accessor},
                         {"policies", token.policies},
                         {"issue", token.issue},
                         {"creation_ttl", token.creation_ttl},
                         {"expire", token.expire},
                         {"max_ttl", token.max_ttl},
                         {"renewable", token.renewable},
                         {"path", token.path},
                         {"display_name", token.display_name},
                         {"meta", token.meta},
                         {"last_renewal", token.last_renewal}};
    }
    json& roles_json = state["secret_ids"];
    roles_json = json::object();
    for (const auto& [role_id, role] : roles) {
      json ids = json::object();
      for (const auto& [secret_id, entry] : role.secret_ids) {
        ids[secret_id] = {{"uses_left", entry.uses_left}, {"expires", entry.expires}};
      }
      roles_json[role_id] = std::move(ids);
    }
    json& policies_json = state["policies"];
    policies_json = json::object();
    for (const auto& [name, rules] : policies) {
      json list = json::array();
      for (const auto& rule : rules) {
        list.push_back({{"path", rule.glob}, {"capabilities", rule.capabilities}});
      }
      policies_json[name] = std::move(list);
    }
    return state;
  }

  void from_json(const json& state) {
    sealed = state.value("sealed", false);
    offset = state.value("offset", std::int64_t{0});
    cluster_id = state.value("cluster_id", cluster_id);
    for (const auto& [name, m] : state.at("mounts").items()) {
      Mount mount;
      mount.version = m.at("version").get<int>();
      mount.accessor = m.value("accessor", "");
      mount.uuid = m.value("uuid", "");
      mount.max_versions = m.value("max_versions", std::uint64_t{0});
      mount.cas_required = m.value("cas_required", false);
      mount.delete_version_after = m.value("delete_version_after", std::int64_t{0});
      if (m.contains("flat")) {
        mount.flat = m.at("flat").get<std::map<std::string, json>>();
      }
      for (const auto& [path, k] : m.at("keys").items()) {
        KvKey key;
        key.current = k.at("current").get<std::uint64_t>();
        key.oldest = k.at("oldest").get<std::uint64_t>();
        key.max_versions = k.at("max_versions").get<std::uint64_t>();
        key.cas_required = k.at("cas_required").get<bool>();
        key.delete_version_after = k.at("delete_version_after").get<std::int64_t>();
        key.custom = k.at("custom").get<std::map<std::string, std::string>>();
        key.created = k.at("created").get<std::int64_t>();
        key.updated = k.at("updated").get<std::int64_t>();
        for (const auto& [number, v] : k.at("versions").items()) {
          KvVersionEntry version;
          version.created = v.at("created").get<std::int64_t>();
          version.deletion = v.at("deletion").get<std::int64_t>();
          version.destroyed = v.at("destroyed").get<bool>();
          version.data = v.at("data");
          key.versions[std::stoull(number)] = std::move(version);
        }
        mount.keys[path] = std::move(key);
      }
      mounts[name] = std::move(mount);
    }
    for (const auto& [id, t] : state.at("tokens").items()) {
      Token token;
      token.id = id;
      token.accessor = t.at("accessor").get<std::string>();
      token.policies = t.at("policies").get<std::vector<std::string>>();
      token.issue = t.at("issue").get<std::int64_t>();
      token.creation_ttl = t.at("creation_ttl").get<std::int64_t>();
      token.expire = t.at("expire").get<std::int64_t>();
      token.max_ttl = t.at("max_ttl").get<std::int64_t>();
      token.renewable = t.at("renewable").get<bool>();
      token.path = t.at("path").get<std::string>();
      token.display_name = t.at("display_name").get<std::string>();
      token.meta = t.at("meta");
      token.last_renewal = t.at("last_renewal").get<std::int64_t>();
      tokens[id] = std::move(token);
    }
    for (const auto& [role_id, ids] : state.at("secret_ids").items()) {
      auto role = roles.find(role_id);
      if (role == roles.end()) {
        continue;  // the role is configured by the command line; its secret ids persist
      }
      role->second.secret_ids.clear();
      for (const auto& [secret_id, e] : ids.items()) {
        role->second.secret_ids[secret_id] = SecretIdEntry{e.at("uses_left").get<std::int64_t>(),
                                                           e.at("expires").get<std::int64_t>()};
      }
    }
    for (const auto& [name, list] : state.at("policies").items()) {
      std::vector<Rule> rules;
      for (const auto& r : list) {
        rules.push_back(Rule{r.at("path").get<std::string>(),
                             r.at("capabilities").get<std::set<std::string>>()});
      }
      policies[name] = std::move(rules);
    }
  }

  void persist() const {
    if (options.state_file.empty()) {
      return;
    }
    const auto tmp = options.state_file.string() + ".tmp";
    const std::string text = to_json().dump();
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      throw std::runtime_error("cannot write state file " + tmp);
    }
    std::size_t written = 0;
    while (written < text.size()) {
      const auto n = ::write(fd, text.data() + written, text.size() - written);
      if (n <= 0) {
        ::close(fd);
        throw std::runtime_error("cannot write state file " + tmp);
      }
      written += static_cast<std::size_t>(n);
    }
    ::fsync(fd);
    ::close(fd);
    std::filesystem::rename(tmp, options.state_file);
    const auto dir = options.state_file.parent_path().empty() ? std::filesystem::path(".")
                                                              : options.state_file.parent_path();
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }

  // ----- tokens & policy --------------------------------------------------------------------

  Token& mint(std::vector<std::string> token_policies, std::int64_t ttl, std::int64_t max_ttl,
              bool renewable, std::string path, json meta) {
    Token token;
    token.id = prng.token();
    token.accessor = prng.uuid();
    token.policies = std::move(token_policies);
    token.issue = now();
    token.creation_ttl = ttl;
    token.expire = ttl > 0 ? token.issue + ttl * kNanos : 0;
    token.max_ttl = max_ttl;
    token.renewable = renewable && ttl > 0;
    token.path = std::move(path);
    token.display_name = token.path == "auth/approle/login" ? "approle" : "token";
    token.meta = std::move(meta);
    auto [it, inserted] = tokens.emplace(token.id, std::move(token));
    (void)inserted;
    return it->second;
  }

  bool is_root(const Token& token) const {
    return std::find(token.policies.begin(), token.policies.end(), "root") != token.policies.end();
  }

  bool allowed(const Token& token, const std::string& path, const std::string& capability) const {
    if (is_root(token)) {
      return true;
    }
    bool granted = false;
    for (const auto& policy_name : token.policies) {
      const auto policy = policies.find(policy_name);
      if (policy == policies.end()) {
        continue;
      }
      for (const auto& rule : policy->second) {
        if (!glob_match(rule.glob, path)) {
          continue;
        }
        if (rule.capabilities.count("deny") != 0) {
          return false;
        }
        if (rule.capabilities.count(capability) != 0) {
          granted = true;
        }
      }
    }
    return granted;
  }

  ojson auth_block(const Token& token, std::int64_t lease) const {
    ojson auth;
    auth["client_token"] = token.id;
    auth["accessor"] = token.accessor;
    auth["policies"] = token.policies;
    auth["token_policies"] = token.policies;
    auth["metadata"] = token.meta;
    auth["lease_duration"] = lease;
    auth["renewable"] = token.renewable;
    auth["entity_id"] = "";
    auth["token_type"] = "service";
    auth["orphan"] = true;
    auth["mfa_requirement"] = nullptr;
    auth["num_uses"] = 0;
    return auth;
  }

  // ----- handlers ---------------------------------------------------------------------------

  VaultResponse health(const VaultRequest& request) {
    bool bad = false;
    const bool standbyok = query_bool(request, "standbyok", bad);
    const bool perfstandbyok = query_bool(request, "perfstandbyok", bad);
    auto code = [&](const std::string& key, int fallback) -> std::optional<int> {
      const auto found = request.query.find(key);
      if (found == request.query.end()) {
        return fallback;
      }
      auto value = parse_int(found->second);
      if (!value) {
        return std::nullopt;
      }
      return static_cast<int>(*value);
    };
    const auto active = code("activecode", 200);
    const auto standby_code = code("standbycode", 429);
    const auto perf_code = code("performancestandbycode", 473);
    const auto sealed_code = code("sealedcode", 503);
    const auto uninit_code = code("uninitcode", 501);
    const auto dr_code = code("drsecondarycode", 472);
    const auto unhealthy_code = code("haunhealthycode", 474);
    const auto removed_code = code("removedcode", 530);
    if (bad || !active || !standby_code || !perf_code || !sealed_code || !uninit_code || !dr_code ||
        !unhealthy_code || !removed_code) {
      return errors(400, {});
    }
    // First match wins, in the order of Vault's http/sys_health.go.
    int status = *active;
    if (uninitialized) {
      status = *uninit_code;
    } else if (removed) {
      status = *removed_code;
    } else if (sealed) {
      status = *sealed_code;
    } else if (ha_unhealthy && (standby || perf_standby)) {
      status = *unhealthy_code;
    } else if (dr_secondary) {
      status = *dr_code;
    } else if (perf_standby) {
      status = perfstandbyok ? *active : *perf_code;
    } else if (standby) {
      status = standbyok ? *active : *standby_code;
    }
    ojson body;
    body["initialized"] = !uninitialized;
    body["sealed"] = sealed || uninitialized;
    body["standby"] = standby || perf_standby;
    body["performance_standby"] = perf_standby;
    body["replication_performance_mode"] = "disabled";
    body["replication_dr_mode"] = dr_secondary ? "secondary" : "disabled";
    body["server_time_utc"] = now() / kNanos;
    body["version"] = options.version;
    body["enterprise"] = false;
    if (!sealed && !uninitialized) {
      body["cluster_name"] = "vault-cluster-rotor-sim";
      body["cluster_id"] = cluster_id;
    }
    if (removed) {
      body["removed_from_cluster"] = true;
    }
    if (standby || perf_standby) {
      body["ha_connection_healthy"] = !ha_unhealthy;
    }
    body["echo_duration_ms"] = 0;
    body["clock_skew_ms"] = 0;
    body["replication_primary_canary_age_ms"] = 0;
    return raw(status, request.method == "HEAD" ? std::string() : go_json(body));
  }

  VaultResponse seal_status() {
    ojson body;
    body["type"] = "shamir";
    body["initialized"] = true;
    body["sealed"] = sealed;
    body["t"] = 1;
    body["n"] = 1;
    body["progress"] = 0;
    body["nonce"] = "";
    body["version"] = options.version;
    body["build_date"] = "2024-01-01T00:00:00Z";
    body["migration"] = false;
    if (!sealed) {
      body["cluster_name"] = "vault-cluster-rotor-sim";
      body["cluster_id"] = cluster_id;
    }
    body["recovery_seal"] = false;
    body["storage_type"] = "inmem";
    return raw(200, go_json(body));
  }

  VaultResponse approle_login(const json& body, bool& changed) {
    const auto role_id = body.is_object() ? body.value("role_id", json()) : json();
    const auto secret_id = body.is_object() ? body.value("secret_id", json()) : json();
    if (!role_id.is_string() || role_id.get<std::string>().empty()) {
      return errors(400, {"missing role_id"});
    }
    const auto role = roles.find(role_id.get<std::string>());
    if (role == roles.end()) {
      return errors(400, {"invalid role or secret ID"});
    }
    if (!secret_id.is_string() || secret_id.get<std::string>().empty()) {
      return errors(400, {"missing secret_id"});
    }
    auto entry = role->second.secret_ids.find(secret_id.get<std::string>());
    if (entry == role->second.secret_ids.end() ||
        (entry->second.expires != 0 && now() >= entry->second.expires)) {
      return errors(400, {"invalid role or secret ID"});
    }
    if (entry->second.uses_left > 0) {
      if (--entry->second.uses_left == 0) {
        role->second.secret_ids.erase(entry);
      }
    }
    const auto& spec = role->second.spec;
    std::vector<std::string> token_policies = {"default"};
    for (const auto& p : spec.policies) {
      if (p != "default") {
        token_policies.push_back(p);
      }
    }
    Token& token = mint(token_policies, spec.token_ttl, spec.token_max_ttl, spec.renewable,
                        "auth/approle/login", json{{"role_name", spec.role_name}});
    changed = true;
    return raw(200, go_json(envelope(nullptr, nullptr, auth_block(token, token.creation_ttl))));
  }

  VaultResponse lookup_self(const Token& token) {
    ojson data;
    data["accessor"] = token.accessor;
    data["creation_time"] = token.issue / kNanos;
    data["creation_ttl"] = token.creation_ttl;
    data["display_name"] = token.display_name;
    data["entity_id"] = "";
    data["expire_time"] = token.expire == 0 ? ojson(nullptr) : ojson(rfc3339(token.expire));
    data["explicit_max_ttl"] = 0;
    data["id"] = token.id;
    data["issue_time"] = rfc3339(token.issue);
    if (token.last_renewal != 0) {
      data["last_renewal"] = rfc3339(token.last_renewal);
      data["last_renewal_time"] = token.last_renewal / kNanos;
    }
    data["meta"] = token.meta;
    data["num_uses"] = 0;
    data["orphan"] = true;
    data["path"] = is_root(token) ? "auth/token/root" : token.path;
    data["policies"] = token.policies;
    data["renewable"] = token.renewable;
    data["ttl"] =
        token.expire == 0 ? 0 : std::max<std::int64_t>(0, (token.expire - now()) / kNanos);
    data["type"] = "service";
    return ok(std::move(data));
  }

  VaultResponse renew_self(Token& token, const json& body, bool& changed) {
    if (!token.renewable || token.expire == 0) {
      return errors(400, {"lease is not renewable"});
    }
    std::int64_t increment = token.creation_ttl;
    if (body.is_object() && body.contains("increment")) {
      auto parsed = parse_duration(body.at("increment"));
      if (!parsed) {
        return errors(400, {"invalid increment"});
      }
      if (*parsed > 0) {
        increment = *parsed;
      }
    }
    const std::int64_t current = now();
    ojson warnings = nullptr;
    std::int64_t ttl = increment;
    if (token.max_ttl > 0) {
      const std::int64_t max_expiry = token.issue + token.max_ttl * kNanos;
      if (current >= max_expiry) {
        return errors(400, {"past the max TTL, cannot renew"});
      }
      const std::int64_t remaining = (max_expiry - current) / kNanos;
      if (ttl > remaining) {
        warnings = ojson::array({fmt::format(
            "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped "
            "accordingly",
            go_duration(increment), go_duration(remaining))});
        ttl = remaining;
      }
    }
    token.expire = current + ttl * kNanos;
    token.last_renewal = current;
    changed = true;
    return raw(200, go_json(envelope(nullptr, std::move(warnings), auth_block(token, ttl))));
  }

  VaultResponse ui_mounts(const std::string& rest) {
    for (const auto& [name, mount] : mounts) {
      if (rest == name || rest.rfind(name + "/", 0) == 0) {
        ojson data;
        data["accessor"] = mount.accessor;
        data["config"] = {
            {"default_lease_ttl", 0}, {"force_no_cache", false}, {"max_lease_ttl", 0}};
        data["description"] = "key/value secret storage";
        data["external_entropy_access"] = false;
        data["local"] = false;
        data["options"] = {{"version", std::to_string(mount.version)}};
        data["path"] = name + "/";
        data["plugin_version"] = "";
        data["running_plugin_version"] = "v0.16.1+builtin";
        data["running_sha256"] = "";
        data["seal_wrap"] = false;
        data["type"] = "kv";
        data["uuid"] = mount.uuid;
        return ok(std::move(data));
      }
    }
    return errors(403, {fmt::format("preflight capability check returned 403, please ensure "
                                    "client's policies grant access to path \"{}/\"",
                                    rest)});
  }

  // ----- KV v2 ---------------------------------------------------------------------------------

  std::uint64_t effective_max(const Mount& mount, const KvKey& key) const {
    const std::uint64_t m = std::max(key.max_versions, mount.max_versions);
    return m == 0 ? 10 : m;
  }

  ojson version_meta(const KvKey& key, std::uint64_t number, const KvVersionEntry& version) const {
    ojson meta;
    meta["created_time"] = rfc3339(version.created);
    meta["custom_metadata"] = key.custom.empty() ? ojson(nullptr) : ojson(key.custom);
    meta["deletion_time"] = version.deletion == 0 ? "" : rfc3339(version.deletion);
    meta["destroyed"] = version.destroyed;
    meta["version"] = number;
    return meta;
  }

  bool is_deleted(const KvVersionEntry& version) const {
    return version.deletion != 0 && version.deletion <= now();
  }

  VaultResponse kv_not_root(const std::string& method) {
    (void)method;
    return raw(404, go_json(envelope(nullptr,
                                     ojson::array({"Non-listing operations on the root of a K/V v2 "
                                                   "mount are not supported."}))));
  }

  VaultResponse kv_invalid_path(const std::string& method) {
    std::string verb = "get";
    if (method == "POST" || method == "PUT") {
      verb = "put";
    } else if (method == "DELETE") {
      verb = "delete";
    } else if (method == "PATCH") {
      verb = "patch";
    } else if (method == "LIST") {
      verb = "list";
    }
    return raw(404, go_json(envelope(
                        nullptr, ojson::array({fmt::format(
                                     "Invalid path for a versioned K/V secrets engine. See the API "
                                     "docs for the appropriate API endpoints to use. If using the "
                                     "Vault CLI, use 'vault kv {}' for this operation.",
                                     verb)}))));
  }

  // Applies CAS rules and appends a version (spec §2.3, §2.5).
  VaultResponse kv_put(Mount& mount, const std::string& path, const json& body, json data,
                       bool& changed) {
    auto existing = mount.keys.find(path);
    const std::uint64_t current = existing == mount.keys.end() ? 0 : existing->second.current;
    const bool key_cas_required = existing != mount.keys.end() && existing->second.cas_required;
    const json write_options = body.is_object() ? body.value("options", json()) : json();
    if (write_options.is_object() && write_options.contains("cas")) {
      const auto cas = weak_int(write_options.at("cas"));
      if (!cas || *cas < 0) {
        return errors(400, {"error parsing check-and-set parameter"});
      }
      if (static_cast<std::uint64_t>(*cas) != current) {
        return errors(400, {"check-and-set parameter did not match the current version"});
      }
    } else if (mount.cas_required || key_cas_required) {
      return errors(400, {"check-and-set parameter required for this call"});
    }
    const std::int64_t t = now();
    KvKey& key = mount.keys[path];
    if (key.created == 0) {
      key.created = t;
    }
    key.updated = t;
    key.current += 1;
    KvVersionEntry& version = key.versions[key.current];
    version.created = t;
    version.data = std::move(data);
    std::int64_t dva = key.delete_version_after;
    if (dva == 0 || (mount.delete_version_after != 0 && mount.delete_version_after < dva)) {
      dva = mount.delete_version_after;
    }
    version.deletion = dva > 0 ? t + dva * kNanos : 0;
    const std::uint64_t max = effective_max(mount, key);
    if (key.current - key.oldest >= max) {
      const std::uint64_t cut = key.current - max;
      for (auto it = key.versions.begin(); it != key.versions.end() && it->first <= cut;) {
        it = key.versions.erase(it);
      }
      key.oldest = cut + 1;
    }
    changed = true;
    return ok(version_meta(key, key.current, key.versions.at(key.current)), "kv");
  }

  VaultResponse kv_read(Mount& mount, const std::string& path, const VaultRequest& request) {
    const auto key = mount.keys.find(path);
    std::uint64_t wanted = 0;
    if (auto v = request.query.find("version"); v != request.query.end()) {
      auto parsed = parse_int(v->second);
      if (!parsed || *parsed < 0) {
        return errors(400, {"error converting input for field \"version\": invalid syntax"});
      }
      wanted = static_cast<std::uint64_t>(*parsed);
    }
    if (key == mount.keys.end()) {
      return errors(404, {});
    }
    if (wanted == 0) {
      wanted = key->second.current;
    }
    const auto version = key->second.versions.find(wanted);
    if (version == key->second.versions.end()) {
      return errors(404, {});
    }
    ojson data;
    if (version->second.destroyed || is_deleted(version->second)) {
      data["data"] = nullptr;
      data["metadata"] = version_meta(key->second, wanted, version->second);
      return raw(404, go_json(envelope(std::move(data))));
    }
    data["data"] = ojson::parse(version->second.data.dump());
    data["metadata"] = version_meta(key->second, wanted, version->second);
    return ok(std::move(data), "kv");
  }

  VaultResponse kv_metadata_read(Mount& mount, const std::string& path) {
    const auto found = mount.keys.find(path);
    if (found == mount.keys.end()) {
      return errors(404, {});
    }
    const KvKey& key = found->second;
    ojson data;
    data["cas_required"] = key.cas_required;
    data["created_time"] = rfc3339(key.created);
    data["current_version"] = key.current;
    data["custom_metadata"] = key.custom.empty() ? ojson(nullptr) : ojson(key.custom);
    data["delete_version_after"] = go_duration(key.delete_version_after);
    data["max_versions"] = key.max_versions;
    data["oldest_version"] = key.oldest;
    data["updated_time"] = rfc3339(key.updated);
    // Go sorts map keys as strings: "10" before "2".
    std::map<std::string, ojson> versions;
    for (const auto& [number, version] : key.versions) {
      ojson v;
      v["created_time"] = rfc3339(version.created);
      v["deletion_time"] = version.deletion == 0 ? "" : rfc3339(version.deletion);
      v["destroyed"] = version.destroyed;
      versions[std::to_string(number)] = std::move(v);
    }
    ojson versions_json = ojson::object();
    for (auto& [number, v] : versions) {
      versions_json[number] = std::move(v);
    }
    data["versions"] = std::move(versions_json);
    return ok(std::move(data), "kv");
  }

  std::vector<std::string> validate_custom(const json& custom) {
    std::vector<std::string> problems;
    if (!custom.is_object()) {
      problems.emplace_back("custom_metadata must be a map of strings");
      return problems;
    }
    if (custom.size() > 64) {
      problems.push_back(
          fmt::format("payload must contain at most 64 keys, provided {}", custom.size()));
    }
    for (const auto& [k, v] : custom.items()) {
      if (k.empty() || k.size() > 128) {
        problems.push_back(
            fmt::format("length of key \"{}\" is {} but must be 0 < len(key) <= 128", k, k.size()));
      }
      if (v.is_null()) {
        continue;  // only valid inside a PATCH (removes the key); POST rejects below
      }
      if (!v.is_string()) {
        problems.push_back(fmt::format("value for key \"{}\" must be a string", k));
        continue;
      }
      const auto& s = v.get_ref<const std::string&>();
      if (s.size() > 512) {
        problems.push_back(fmt::format(
            "length of value for key \"{}\" is {} but must be 0 < len(value) <= 512", k, s.size()));
      }
      if (std::any_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
        problems.push_back(fmt::format("value for key \"{}\" contains unprintable characters", k));
      }
    }
    return problems;
  }

  VaultResponse custom_error(const std::vector<std::string>& problems) {
    if (problems.size() == 1) {
      return errors(400, {"custom_metadata validation failed: " + problems.front()});
    }
    std::string text = fmt::format("{} errors occurred:\n", problems.size());
    for (const auto& p : problems) {
      text += "\t* custom_metadata validation failed: " + p + "\n";
    }
    text += "\n";
    return errors(400, {text});
  }

  VaultResponse kv_metadata_write(Mount& mount, const std::string& path, const json& body,
                                  bool patch, bool& changed) {
    if (patch && mount.keys.find(path) == mount.keys.end()) {
      return raw(404, "");
    }
    KvKey updated = mount.keys.count(path) != 0 ? mount.keys.at(path) : KvKey{};
    ojson warnings = nullptr;
    if (!body.is_object()) {
      return errors(400, {"error parsing JSON"});
    }
    if (body.contains("max_versions") && !body.at("max_versions").is_null()) {
      auto value = weak_int(body.at("max_versions"));
      if (!value || *value < 0) {
        return errors(400, {"max_versions must be a non-negative integer"});
      }
      updated.max_versions = static_cast<std::uint64_t>(*value);
    }
    if (body.contains("cas_required") && !body.at("cas_required").is_null()) {
      const auto& value = body.at("cas_required");
      if (!value.is_boolean()) {
        return errors(400, {"cas_required must be a boolean"});
      }
      updated.cas_required = value.get<bool>();
      if (!updated.cas_required && mount.cas_required) {
        warnings =
            ojson::array({"\"cas_required\" set to false, but is mandated by backend "
                          "config. This value will be ignored."});
      }
    }
    if (body.contains("delete_version_after") && !body.at("delete_version_after").is_null()) {
      auto value = parse_duration(body.at("delete_version_after"));
      if (!value || *value < 0) {
        return errors(400, {"invalid delete_version_after"});
      }
      updated.delete_version_after = *value;
    }
    if (body.contains("custom_metadata") && !body.at("custom_metadata").is_null()) {
      const auto& custom = body.at("custom_metadata");
      auto problems = validate_custom(custom);
      if (!patch && custom.is_object()) {
        for (const auto& [k, v] : custom.items()) {
          if (v.is_null()) {
            problems.push_back(fmt::format("value for key \"{}\" must be a string", k));
          }
        }
      }
      if (!problems.empty()) {
        return custom_error(problems);
      }
      if (!patch) {
        updated.custom.clear();
      }
      for (const auto& [k, v] : custom.items()) {
        if (v.is_null()) {
          updated.custom.erase(k);
        } else {
          updated.custom[k] = v.get<std::string>();
        }
      }
    }
    const std::int64_t t = now();
    if (updated.created == 0) {
      updated.created = t;
    }
    updated.updated = t;
    mount.keys[path] = std::move(updated);
    changed = true;
    if (!warnings.is_null()) {
      return raw(200, go_json(envelope(nullptr, std::move(warnings))));
    }
    return no_content();
  }

  VaultResponse kv_list(Mount& mount, std::string folder) {
    if (!folder.empty() && folder.back() != '/') {
      folder += '/';
    }
    std::set<std::string> keys;
    for (const auto& [path, key] : mount.keys) {
      (void)key;
      if (path.rfind(folder, 0) != 0) {
        continue;
      }
      const std::string rest = path.substr(folder.size());
      const auto slash = rest.find('/');
      keys.insert(slash == std::string::npos ? rest : rest.substr(0, slash + 1));
    }
    if (keys.empty()) {
      return errors(404, {});
    }
    ojson data;
    data["keys"] = std::vector<std::string>(keys.begin(), keys.end());
    return ok(std::move(data), "kv");
  }

  VaultResponse kv_versions_op(Mount& mount, const std::string& op, const std::string& path,
                               const json& body, bool& changed) {
    std::vector<std::uint64_t> numbers;
    if (body.is_object() && body.contains("versions") && body.at("versions").is_array()) {
      for (const auto& v : body.at("versions")) {
        if (auto n = weak_int(v); n && *n > 0) {
          numbers.push_back(static_cast<std::uint64_t>(*n));
        }
      }
    }
    if (numbers.empty()) {
      return errors(
          400, {op == "destroy" ? "no version number provided" : "No version number provided"});
    }
    const auto found = mount.keys.find(path);
    if (found == mount.keys.end()) {
      return no_content();
    }
    const std::int64_t t = now();
    for (const auto n : numbers) {
      auto version = found->second.versions.find(n);
      if (version == found->second.versions.end()) {
        continue;
      }
      auto& v = version->second;
      if (op == "delete" && !v.destroyed && !is_deleted(v)) {
        v.deletion = t;
      } else if (op == "undelete" && !v.destroyed) {
        v.deletion = 0;
      } else if (op == "destroy") {
        v.destroyed = true;
        v.data = nullptr;
      }
    }
    changed = true;
    return no_content();
  }

  VaultResponse kv2(Mount& mount, const std::string& rest, const VaultRequest& request,
                    const json& body, bool list, bool& changed) {
    const auto& method = request.method;
    if (rest == "config") {
      if (method == "GET") {
        ojson data;
        data["cas_required"] = mount.cas_required;
        data["delete_version_after"] = go_duration(mount.delete_version_after);
        data["max_versions"] = mount.max_versions;
        return ok(std::move(data), "kv");
      }
      if (method == "POST" || method == "PUT") {
        if (body.is_object()) {
          if (auto v = body.find("max_versions"); v != body.end() && weak_int(*v)) {
            mount.max_versions =
                static_cast<std::uint64_t>(std::max<std::int64_t>(0, *weak_int(*v)));
          }
          if (auto v = body.find("cas_required"); v != body.end() && v->is_boolean()) {
            mount.cas_required = v->get<bool>();
          }
          if (auto v = body.find("delete_version_after"); v != body.end()) {
            mount.delete_version_after = parse_duration(*v).value_or(0);
          }
        }
        changed = true;
        return no_content();
      }
      return errors(405, {"unsupported operation"});
    }
    const auto slash = rest.find('/');
    const std::string area = rest.substr(0, slash);
    const std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
    const bool known = area == "data" || area == "metadata" || area == "delete" ||
                       area == "undelete" || area == "destroy" || area == "subkeys";
    if (!known) {
      return kv_invalid_path(list ? "LIST" : method);
    }
    if (list) {
      if (area != "metadata") {
        return errors(405, {"unsupported operation"});
      }
      return kv_list(mount, path);
    }
    if (path.empty() || path.back() == '/') {
      return kv_not_root(method);
    }
    if (area == "data") {
      if (method == "GET") {
        return kv_read(mount, path, request);
      }
      if (method == "POST" || method == "PUT") {
        if (!body.is_object() || !body.contains("data") || !body.at("data").is_object()) {
          return errors(400, {"no data provided"});
        }
        return kv_put(mount, path, body, body.at("data"), changed);
      }
      if (method == "PATCH") {
        const auto key = mount.keys.find(path);
        if (key == mount.keys.end() || key->second.current == 0) {
          return raw(404, "");
        }
        auto version = key->second.versions.find(key->second.current);
        if (version == key->second.versions.end() || version->second.destroyed ||
            is_deleted(version->second)) {
          ojson data;
          data["data"] = nullptr;
          if (version != key->second.versions.end()) {
            data["metadata"] = version_meta(key->second, key->second.current, version->second);
          }
          return raw(404, go_json(envelope(std::move(data))));
        }
        if (!body.is_object() || !body.contains("data") || !body.at("data").is_object()) {
          return errors(400, {"no data provided"});
        }
        json merged = version->second.data;
        merged.merge_patch(body.at("data"));
        return kv_put(mount, path, body, std::move(merged), changed);
      }
      if (method == "DELETE") {
        const auto key = mount.keys.find(path);
        if (key != mount.keys.end()) {
          auto version = key->second.versions.find(key->second.current);
          if (version != key->second.versions.end() && !version->second.destroyed &&
              !is_deleted(version->second)) {
            version->second.deletion = now();
            changed = true;
          }
        }
        return no_content();
      }
      return errors(405, {"unsupported operation"});
    }
    if (area == "metadata") {
      if (method == "GET") {
        return kv_metadata_read(mount, path);
      }
      if (method == "POST" || method == "PUT") {
        return kv_metadata_write(mount, path, body, false, changed);
      }
      if (method == "PATCH") {
        return kv_metadata_write(mount, path, body, true, changed);
      }
      if (method == "DELETE") {
        changed = mount.keys.erase(path) != 0;
        return no_content();
      }
      return errors(405, {"unsupported operation"});
    }
    if (area == "subkeys") {
      return errors(405, {"unsupported operation"});
    }
    if (method != "POST" && method != "PUT") {
      return errors(405, {"unsupported operation"});
    }
    return kv_versions_op(mount, area, path, body, changed);
  }

  VaultResponse kv1(Mount& mount, const std::string& rest, const VaultRequest& request,
                    const json& body, bool list, bool& changed) {
    if (list) {
      std::string folder = rest;
      if (!folder.empty() && folder.back() != '/') {
        folder += '/';
      }
      std::set<std::string> keys;
      for (const auto& [path, value] : mount.flat) {
        (void)value;
        if (path.rfind(folder, 0) == 0) {
          const std::string tail = path.substr(folder.size());
          const auto slash = tail.find('/');
          keys.insert(slash == std::string::npos ? tail : tail.substr(0, slash + 1));
        }
      }
      if (keys.empty()) {
        return errors(404, {});
      }
      ojson data;
      data["keys"] = std::vector<std::string>(keys.begin(), keys.end());
      return ok(std::move(data), "kv");
    }
    const auto& method = request.method;
    if (method == "GET") {
      const auto found = mount.flat.find(rest);
      if (found == mount.flat.end()) {
        return errors(404, {});
      }
      auto body_json = envelope(ojson::parse(found->second.dump()), nullptr, nullptr, "kv");
      body_json["lease_duration"] = 2764800;
      return raw(200, go_json(body_json));
    }
    if (method == "POST" || method == "PUT") {
      if (!body.is_object() || body.empty()) {
        return errors(400, {"missing data fields"});
      }
      mount.flat[rest] = body;
      changed = true;
      return no_content();
    }
    if (method == "DELETE") {
      changed = mount.flat.erase(rest) != 0;
      return no_content();
    }
    return errors(405, {"unsupported operation"});
  }

  // ----- control ------------------------------------------------------------------------------

  json dump_json() const {
    json out;
    out["sealed"] = sealed;
    out["standby"] = standby;
    out["performance_standby"] = perf_standby;
    out["faults_enabled"] = faults.enabled;
    json& mounts_json = out["mounts"];
    mounts_json = json::object();
    for (const auto& [name, mount] : mounts) {
      json m;
      m["version"] = mount.version;
      m["cas_required"] = mount.cas_required;
      m["max_versions"] = mount.max_versions;
      if (mount.version == 1) {
        m["secrets"] = mount.flat;
      } else {
        json& secrets = m["secrets"];
        secrets = json::object();
        for (const auto& [path, key] : mount.keys) {
          json k;
          k["current_version"] = key.current;
          k["oldest_version"] = key.oldest;
          k["max_versions"] = key.max_versions;
          k["cas_required"] = key.cas_required;
          k["custom_metadata"] = key.custom;
          json& versions = k["versions"];
          versions = json::object();
          for (const auto& [number, version] : key.versions) {
            versions[std::to_string(number)] = {
                {"created_time", rfc3339(version.created)},
                {"deletion_time", version.deletion == 0 ? "" : rfc3339(version.deletion)},
                {"deleted", is_deleted(version)},
                {"destroyed", version.destroyed},
                {"data", version.data}};
          }
          secrets[path] = std::move(k);
        }
      }
      mounts_json[name] = std::move(m);
    }
    json& tokens_json = out["tokens"];
    tokens_json = json::array();
    for (const auto& [id, token] : tokens) {
      tokens_json.push_back({{"accessor", token.accessor},
                             {"policies", token.policies},
                             {"path", token.path},
                             {"expire_time", token.expire == 0 ? "" : rfc3339(token.expire)}});
    }
    return out;
  }

  void add_mount_locked(const std::string& name, int version) {
    Mount mount;
    mount.version = version;
    mount.accessor = "kv_" + prng.hex(8);
    mount.uuid = prng.uuid();
    mounts.emplace(name, std::move(mount));
  }

  VaultFaults faults_from(const json& body) {
    VaultFaults profile = faults;
    if (body.contains("profile")) {
      profile = VaultFaults::named(body.at("profile").get<std::string>());
    }
    profile.enabled = body.value("enabled", profile.enabled);
    profile.error_rate = body.value("error_rate", profile.error_rate);
    profile.latency_rate = body.value("latency_rate", profile.latency_rate);
    profile.latency = std::chrono::milliseconds(body.value("latency_ms", profile.latency.count()));
    profile.timeout_rate = body.value("timeout_rate", profile.timeout_rate);
    profile.timeout = std::chrono::milliseconds(body.value("timeout_ms", profile.timeout.count()));
    profile.reset_after_write_rate =
        body.value("reset_after_write_rate", profile.reset_after_write_rate);
    profile.throttle_rate = body.value("throttle_rate", profile.throttle_rate);
    profile.precondition_rate = body.value("precondition_rate", profile.precondition_rate);
    return profile;
  }

  VaultResponse control(const VaultRequest& request, bool& changed) {
    const std::string what = request.path.substr(std::string("/_sim/").size());
    json body = request.body.empty() ? json::object() : json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return errors(400, {"control body must be a JSON object"});
    }
    try {
      if (what == "dump" && request.method == "GET") {
        return raw(200, dump_json().dump() + "\n");
      }
      if (request.method != "POST" && request.method != "PUT") {
        return errors(405, {"unsupported operation"});
      }
      if (what == "seal") {
        sealed = true;
      } else if (what == "unseal") {
        sealed = false;
      } else if (what == "standby") {
        standby = body.value("standby", true);
        perf_standby = body.value("performance", false);
      } else if (what == "health-state") {
        uninitialized = body.value("uninitialized", false);
        removed = body.value("removed", false);
        ha_unhealthy = body.value("ha_unhealthy", false);
        dr_secondary = body.value("dr_secondary", false);
      } else if (what == "expire-token") {
        const std::string id = body.value("token", "");
        if (!expire_locked(id)) {
          return errors(404, {"no such token"});
        }
      } else if (what == "faults") {
        faults = faults_from(body);
      } else if (what == "advance") {
        offset += body.value("seconds", std::int64_t{0}) * kNanos;
      } else if (what == "policy") {
        std::vector<Rule> rules;
        for (const auto& r : body.at("rules")) {
          rules.push_back(Rule{r.at("path").get<std::string>(),
                               r.at("capabilities").get<std::set<std::string>>()});
        }
        policies[body.at("name").get<std::string>()] = std::move(rules);
      } else if (what == "token") {
        Token& token =
            mint(body.value("policies", std::vector<std::string>{"rotor"}),
                 body.value("ttl", std::int64_t{3600}), body.value("max_ttl", std::int64_t{0}),
                 body.value("renewable", true), "auth/token/create", nullptr);
        changed = true;
        return raw(200, json{{"token", token.id}}.dump() + "\n");
      } else if (what == "mount") {
        add_mount_locked(body.at("path").get<std::string>(), body.value("version", 2));
      } else {
        return errors(404, {"unknown control endpoint"});
      }
    } catch (const std::exception& e) {
      return errors(400, {std::string("bad control request: ") + e.what()});
    }
    changed = true;
    return no_content();
  }

  bool expire_locked(const std::string& id) {
    const std::int64_t t = now();
    bool any = false;
    for (auto& [token_id, token] : tokens) {
      if ((id.empty() && !is_root(token)) || token_id == id) {
        token.expire = t;
        any = true;
      }
    }
    return any;
  }

  // ----- dispatch -----------------------------------------------------------------------------

  std::string capability(const std::string& method, bool list, bool exists) const {
    if (list) {
      return "list";
    }
    if (method == "GET" || method == "HEAD") {
      return "read";
    }
    if (method == "DELETE") {
      return "delete";
    }
    if (method == "PATCH") {
      return "patch";
    }
    return exists ? "update" : "create";
  }

  VaultResponse dispatch(const VaultRequest& request, bool& changed, bool& mutating) {
    if (request.path.rfind("/_sim/", 0) == 0) {
      return control(request, changed);
    }
    if (request.path.rfind("/v1/", 0) != 0) {
      return errors(404, {});
    }
    std::string path = request.path.substr(4);
    bool bad_list = false;
    bool list = request.method == "LIST" || query_bool(request, "list", bad_list);
    if (bad_list) {
      return errors(400, {"invalid list parameter"});
    }
    if (request.method != "GET" && request.method != "LIST") {
      list = false;
    }
    mutating = request.method == "POST" || request.method == "PUT" || request.method == "PATCH" ||
               request.method == "DELETE";
    if (path == "sys/health") {
      return health(request);
    }
    if (path == "sys/seal-status") {
      return seal_status();
    }
    if (sealed || uninitialized) {
      return errors(503, {"Vault is sealed"});
    }
    if (dr_secondary) {
      return errors(400, {"path disabled in replication DR secondary mode"});
    }
    if (request.method == "PATCH" &&
        request.content_type.rfind("application/merge-patch+json", 0) != 0) {
      if (request.content_type.empty()) {
        return errors(400, {"mime: no media type"});
      }
      return errors(415, {"PATCH requires Content-Type of application/merge-patch+json, provided " +
                          request.content_type});
    }
    json body = nullptr;
    if (!request.body.empty()) {
      body = json::parse(request.body, nullptr, false);
      if (body.is_discarded()) {
        return errors(400, {"error parsing JSON"});
      }
    }
    if (path == "auth/approle/login") {
      if (request.method != "POST" && request.method != "PUT") {
        return errors(405, {"unsupported operation"});
      }
      return approle_login(body, changed);
    }
    if (request.token.empty()) {
      return errors(403, {"permission denied"});
    }
    auto token_it = tokens.find(request.token);
    if (token_it == tokens.end()) {
      return errors(403, {kInvalidToken});
    }
    Token& token = token_it->second;
    if (token.expire != 0 && now() >= token.expire) {
      tokens.erase(token_it);  // expired tokens are revoked
      changed = true;
      return errors(403, {kInvalidToken});
    }
    if (path == "auth/token/lookup-self") {
      return lookup_self(token);
    }
    if (path == "auth/token/renew-self") {
      if (request.method != "POST" && request.method != "PUT") {
        return errors(405, {"unsupported operation"});
      }
      return renew_self(token, body, changed);
    }
    if (path == "auth/token/revoke-self") {
      tokens.erase(token_it);
      changed = true;
      return no_content();
    }
    if (path.rfind("sys/internal/ui/mounts/", 0) == 0) {
      return ui_mounts(path.substr(std::string("sys/internal/ui/mounts/").size()));
    }
    std::string mount_name;
    for (const auto& [name, mount] : mounts) {
      (void)mount;
      if (path == name || path.rfind(name + "/", 0) == 0) {
        mount_name = name;
      }
    }
    if (mount_name.empty()) {
      if (!is_root(token)) {
        return errors(403, {kPolicyDenied});
      }
      return errors(404,
                    {fmt::format("no handler for route \"{}\". route entry not found.", path)});
    }
    Mount& mount = mounts.at(mount_name);
    const std::string rest =
        path.size() > mount_name.size() ? path.substr(mount_name.size() + 1) : "";
    bool exists = true;
    if (mount.version == 2 && rest.rfind("data/", 0) == 0) {
      exists = mount.keys.count(rest.substr(5)) != 0;
    } else if (mount.version == 1) {
      exists = mount.flat.count(rest) != 0;
    }
    std::string policy_path = path;
    if (list && (policy_path.empty() || policy_path.back() != '/')) {
      policy_path += '/';
    }
    if (!allowed(token, policy_path, capability(request.method, list, exists))) {
      return errors(403, {kPolicyDenied});
    }
    if (mount.version == 1) {
      return kv1(mount, rest, request, body, list, changed);
    }
    return kv2(mount, rest, request, body, list, changed);
  }
};

// ---------------------------------------------------------------------------------------------
// VaultCore

VaultCore::VaultCore(VaultSimOptions options, Clock& clock)
    : state_(std::make_unique<State>(std::move(options), clock)) {
  auto& s = *state_;
  s.cluster_id = s.prng.uuid();
  s.policies["default"] = {
      Rule{"auth/token/lookup-self", {"read"}}, Rule{"auth/token/renew-self", {"update"}},
      Rule{"auth/token/revoke-self", {"update"}}, Rule{"sys/internal/ui/mounts/*", {"read"}}};
  s.policies["rotor"] = {Rule{"*", {"create", "read", "update", "delete", "list", "patch"}}};
  for (const auto& spec : s.options.approles) {
    Role role;
    role.spec = spec;
    role.secret_ids[spec.secret_id] =
        SecretIdEntry{spec.secret_id_num_uses,
                      spec.secret_id_ttl > 0 ? s.now() + spec.secret_id_ttl * kNanos : 0};
    s.roles[spec.role_id] = std::move(role);
  }
  const bool loaded =
      !s.options.state_file.empty() && std::filesystem::exists(s.options.state_file);
  if (loaded) {
    std::ifstream in(s.options.state_file);
    json state = json::parse(in, nullptr, false);
    if (state.is_discarded() || !state.is_object()) {
      throw std::runtime_error("state file " + s.options.state_file.string() + " is not valid");
    }
    try {
      s.from_json(state);
    } catch (const json::exception& e) {
      throw std::runtime_error("state file " + s.options.state_file.string() +
                               " is not valid: " + e.what());
    }
  } else {
    for (const auto& name : s.options.kv2_mounts) {
      s.add_mount_locked(name, 2);
    }
    for (const auto& name : s.options.kv1_mounts) {
      s.add_mount_locked(name, 1);
    }
  }
  // The root token is always valid (re-created after a restart if the state lost it).
  if (!s.options.root_token.empty() && s.tokens.count(s.options.root_token) == 0) {
    Token root;
    root.id = s.options.root_token;
    root.accessor = s.prng.uuid();
    root.policies = {"root"};
    root.issue = s.now();
    root.path = "auth/token/root";
    root.display_name = "root";
    s.tokens[root.id] = std::move(root);
  }
  s.faults = s.options.faults;
  s.persist();
}

VaultCore::~VaultCore() = default;

VaultResponse VaultCore::handle(const VaultRequest& request) {
  auto& s = *state_;
  std::lock_guard lock(s.mutex);
  std::chrono::milliseconds delay{0};
  bool drop_after_write = false;
  const bool faultable =
      s.faults.enabled && request.path.rfind("/v1/", 0) == 0 && request.path != "/v1/sys/health";
  if (faultable) {
    if (s.prng.unit() < s.faults.latency_rate) {
      delay = s.faults.latency;
    }
    if (s.prng.unit() < s.faults.timeout_rate) {
      VaultResponse response = errors(504, {"injected timeout"});
      response.delay = s.faults.timeout;
      return response;
    }
    if (s.prng.unit() < s.faults.throttle_rate) {
      VaultResponse response = errors(
          429, {"request path \"" + request.path.substr(4) + "\": rate limit quota exceeded"});
      response.headers.emplace_back("Retry-After", "1");
      response.delay = delay;
      return response;
    }
    if (s.prng.unit() < s.faults.precondition_rate) {
      VaultResponse response = errors(412, {"required index state not present"});
      response.delay = delay;
      return response;
    }
    if (s.prng.unit() < s.faults.error_rate) {
      static constexpr int kCodes[] = {500, 502, 503};
      const int code = kCodes[s.prng.next() % 3U];
      VaultResponse response = errors(code, {"injected fault"});
      response.delay = delay;
      return response;
    }
    drop_after_write = s.prng.unit() < s.faults.reset_after_write_rate;
  }
  bool changed = false;
  bool mutating = false;
  VaultResponse response = s.dispatch(request, changed, mutating);
  if (changed) {
    s.persist();
  }
  response.delay = delay;
  response.drop_connection =
      drop_after_write && mutating && response.status >= 200 && response.status < 300;
  if (!response.body.empty() || response.status != 204) {
    response.headers.emplace_back("Cache-Control", "no-store");
  }
  return response;
}

void VaultCore::seal() {
  std::lock_guard lock(state_->mutex);
  state_->sealed = true;
  state_->persist();
}

void VaultCore::unseal() {
  std::lock_guard lock(state_->mutex);
  state_->sealed = false;
  state_->persist();
}

void VaultCore::set_standby(bool standby, bool performance_standby) {
  std::lock_guard lock(state_->mutex);
  state_->standby = standby;
  state_->perf_standby = performance_standby;
}

void VaultCore::set_health_state(bool uninitialized, bool removed, bool ha_unhealthy,
                                 bool dr_secondary) {
  std::lock_guard lock(state_->mutex);
  state_->uninitialized = uninitialized;
  state_->removed = removed;
  state_->ha_unhealthy = ha_unhealthy;
  state_->dr_secondary = dr_secondary;
}

bool VaultCore::expire_token(const std::string& token) {
  std::lock_guard lock(state_->mutex);
  const bool any = state_->expire_locked(token);
  state_->persist();
  return any;
}

void VaultCore::set_faults(VaultFaults faults) {
  std::lock_guard lock(state_->mutex);
  state_->faults = faults;
}

void VaultCore::set_faults_enabled(bool enabled) {
  std::lock_guard lock(state_->mutex);
  state_->faults.enabled = enabled;
}

void VaultCore::advance(std::chrono::seconds by) {
  std::lock_guard lock(state_->mutex);
  state_->offset += by.count() * kNanos;
  state_->persist();
}

void VaultCore::set_policy(const std::string& name,
                           std::vector<std::pair<std::string, std::vector<std::string>>> rules) {
  std::lock_guard lock(state_->mutex);
  std::vector<Rule> converted;
  for (auto& [glob, caps] : rules) {
    converted.push_back(Rule{glob, std::set<std::string>(caps.begin(), caps.end())});
  }
  state_->policies[name] = std::move(converted);
  state_->persist();
}

std::string VaultCore::create_token(std::vector<std::string> policies, std::int64_t ttl,
                                    std::int64_t max_ttl, bool renewable) {
  std::lock_guard lock(state_->mutex);
  std::string id =
      state_->mint(std::move(policies), ttl, max_ttl, renewable, "auth/token/create", nullptr).id;
  state_->persist();
  return id;
}

void VaultCore::add_mount(const std::string& path, int kv_version) {
  std::lock_guard lock(state_->mutex);
  state_->add_mount_locked(path, kv_version);
  state_->persist();
}

nlohmann::json VaultCore::dump() const {
  std::lock_guard lock(state_->mutex);
  return state_->dump_json();
}

const std::string& VaultCore::root_token() const noexcept {
  return state_->options.root_token;
}

}  // namespace rotor::sim
