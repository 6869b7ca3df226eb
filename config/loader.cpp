// The loader: stage 1 reads the file (cannot open), stage 2 runs yaml-cpp's event parser to find
// syntax errors, duplicate keys, aliases and excessive nesting (cannot parse), stage 3 walks the
// node tree into typed structs, stage 4 checks across fields (references, password policies), and
// stage 5 (optional) resolves every secret reference once.

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config.h"
#include "config/loader_support.h"

namespace rotor::config {

using detail::Context;
using detail::Map;
using detail::mark_of;
using detail::type_error;

namespace {

// A password younger than an hour is never due in production. The chaos harness (a test build
// with ROTOR_TEST_FAILPOINTS, and ROTOR_TEST_SHORT_MAX_AGE=1 in its environment) rotates every
// few seconds; release builds do not contain this exception.
std::chrono::seconds shortest_max_age() {
#ifdef ROTOR_TEST_FAILPOINTS
  if (const char* flag = std::getenv("ROTOR_TEST_SHORT_MAX_AGE");
      flag != nullptr && std::string_view(flag) == "1") {
    return std::chrono::seconds{1};
  }
#endif
  return std::chrono::hours{1};
}

constexpr int kMaxDepth = 32;

// Thrown by the event pass to stop the parser after a fatal finding (already reported).
struct StopParsing {};

class StructureCheck final : public YAML::EventHandler {
 public:
  explicit StructureCheck(Context& ctx) : ctx_(ctx) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      ctx_.error(mark, "more than one YAML document (remove the '---' or '...' separator)");
      throw StopParsing{};
    }
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override { node(mark, ""); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override {
    ctx_.error(mark, "aliases (*name) are not supported; write the value out");
    throw StopParsing{};
  }
  void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& value) override {
    node(mark, value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/,
                       YAML::anchor_t /*anchor*/, YAML::EmitterStyle::value /*style*/) override {
    container(mark, false);
  }
  void OnSequenceEnd() override { frames_.pop_back(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {
    container(mark, true);
  }
  void OnMapEnd() override { frames_.pop_back(); }

 private:
  struct Frame {
    bool is_map = false;
    bool expect_key = true;
    std::vector<std::pair<std::string, YAML::Mark>> keys;
  };

  // A scalar or null: a key when the enclosing map expects one.
  void node(const YAML::Mark& mark, const std::string& value) {
    if (frames_.empty() || !frames_.back().is_map) {
      return;
    }
    Frame& frame = frames_.back();
    if (frame.expect_key) {
      for (const auto& [key, previous] : frame.keys) {
        if (key == value) {
          ctx_.error(mark, "duplicate '" + value + "' (previous at " +
                               ctx_.position(previous).to_string() + ")");
          break;
        }
      }
      frame.keys.emplace_back(value, mark);
    }
    frame.expect_key = !frame.expect_key;
  }

  void container(const YAML::Mark& mark, bool is_map) {
    if (!frames_.empty() && frames_.back().is_map) {
      Frame& parent = frames_.back();
      if (parent.expect_key) {
        ctx_.error(mark, "invalid type for a key (expected a string)");
        throw StopParsing{};
      }
      parent.expect_key = true;
    }
    if (static_cast<int>(frames_.size()) >= kMaxDepth) {
      ctx_.error(mark, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
      throw StopParsing{};
    }
    frames_.push_back(Frame{is_map, true, {}});
  }

  Context& ctx_;
  int documents_ = 0;
  std::vector<Frame> frames_;
};

// ----------------------------------------------------------------------------------------------
// Value checks

bool matches_name(std::string_view text, bool allow_upper, bool allow_dot, std::size_t max) {
  if (text.empty() || text.size() > max) {
    return false;
  }
  const auto ok_char = [&](char c, bool first) {
    if (c >= 'a' && c <= 'z') {
      return true;
    }
    if (c >= '0' && c <= '9') {
      return true;
    }
    if (allow_upper && c >= 'A' && c <= 'Z') {
      return true;
    }
    if (first) {
      return false;
    }
    return c == '-' || c == '_' || (allow_dot && c == '.');
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!ok_char(text[i], i == 0)) {
      return false;
    }
  }
  return true;
}

bool is_env_name(std::string_view text) {
  if (text.empty() || text.size() > 128 || (text[0] >= '0' && text[0] <= '9')) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') {
        return false;
      }
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

// Empty when `url` is acceptable; else the reason.
std::string check_url(std::string_view url, bool allow_loopback_http) {
  std::string_view rest;
  bool https = false;
  if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    https = true;
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return "expected https://HOST[:PORT]";
  }
  const std::size_t slash = rest.find('/');
  if (slash != std::string_view::npos && slash + 1 != rest.size()) {
    return "expected https://HOST[:PORT] without a path";
  }
  std::string_view authority = rest.substr(0, slash);
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return "unbalanced '[' in the host";
    }
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && (after.front() != ':' || after.size() == 1)) {
      return "expected https://HOST[:PORT]";
    }
    if (!after.empty()) {
      authority = after;
    } else {
      authority = {};
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    authority = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
  }
  if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '[' ||
               c == ']' || c == ':';
      })) {
    return "expected https://HOST[:PORT]";
  }
  if (!authority.empty()) {  // ":port"
    const std::string_view port = authority.substr(1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
      return "port not within 1..65535";
    }
  }
  if (!https && !(allow_loopback_http && is_loopback(host))) {
    return allow_loopback_http
               ? "http:// is allowed only for localhost, 127.0.0.1 and [::1]; use https://"
               : "expected https://";
  }
  return {};
}

std::string check_listen(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return "expected HOST:PORT, e.g. 127.0.0.1:9464";
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) {
      return "expected HOST:PORT, e.g. [::1]:9464";
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return "write an IPv6 address in brackets, e.g. [::1]:9464";
  }
  if (!std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':';
      })) {
    return "expected HOST:PORT, e.g. 127.0.0.1:9464";
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
    return "port not within 1..65535";
  }
  return {};
}

std::string check_path_template(std::string_view text) {
  static const std::set<std::string, std::less<>> kPlaceholders{"cloud", "project_id", "server_id",
                                                                "server_name", "policy"};
  if (text.empty()) {
    return "must not be empty";
  }
  if (text.front() == '/' || text.back() == '/') {
    return "must not start or end with '/'";
  }
  bool has_server_id = false;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '}') {
      return "unbalanced '}'";
    }
    if (text[i] != '{') {
      ++i;
      continue;
    }
    const std::size_t close = text.find('}', i);
    if (close == std::string_view::npos) {
      return "unbalanced '{'";
    }
    const std::string_view name = text.substr(i + 1, close - i - 1);
    if (kPlaceholders.find(name) == kPlaceholders.end()) {
      return "unknown placeholder {" + std::string(name) +
             "} (expected cloud, project_id, server_id, server_name or policy)";
    }
    has_server_id = has_server_id || name == "server_id";
    i = close + 1;
  }
  if (text.find("//") != std::string_view::npos || text.find("..") != std::string_view::npos) {
    return "must not contain '//' or '..'";
  }
  if (!has_server_id) {
    return "must contain {server_id} (one secret per server)";
  }
  return {};
}

std::string regex_reason(std::regex_constants::error_type code) {
  switch (code) {
    case std::regex_constants::error_collate: return "invalid collating element";
    case std::regex_constants::error_ctype: return "invalid character class";
    case std::regex_constants::error_escape: return "invalid escape";
    case std::regex_constants::error_backref: return "invalid back reference";
    case std::regex_constants::error_brack: return "unbalanced [ ]";
    case std::regex_constants::error_paren: return "unbalanced ( )";
    case std::regex_constants::error_brace: return "unbalanced { }";
    case std::regex_constants::error_badbrace: return "invalid range in { }";
    case std::regex_constants::error_range: return "invalid character range";
    case std::regex_constants::error_space: return "out of memory";
    case std::regex_constants::error_badrepeat: return "nothing to repeat";
    case std::regex_constants::error_complexity:
    case std::regex_constants::error_stack: return "too complex";
    default: return "invalid";
  }
}

// Values are echoed in messages; a very long one is cut.
std::string shown(std::string_view text) {
  if (text.size() <= 80) {
    return std::string(text);
  }
  return std::string(text.substr(0, 77)) + "...";
}

// ----------------------------------------------------------------------------------------------
// Readers

class Loader {
 public:
  explicit Loader(Context& ctx) : ctx_(ctx) {}

  Config load(const YAML::Node& root);

 private:
  void placeholder_check(const YAML::Mark& mark, std::string_view key, std::string_view value) {
    if (is_placeholder(value)) {
      ctx_.error(mark, "'" + std::string(key) + "' (" + shown(value) +
                           ") looks like a placeholder; write the real value");
    }
  }
  std::optional<std::string> nonempty_string(Map& map, std::string_view key, bool required) {
    auto value = map.string(key, required);
    if (value && value->empty()) {
      ctx_.error(map.find(key)->value.Mark(), "'" + std::string(key) + "' must not be empty");
      return std::nullopt;
    }
    return value;
  }
  std::optional<SecretRef> secret(Map& map, std::string_view name, bool required);
  std::optional<std::vector<std::pair<std::string, YAML::Mark>>> string_list(Map& map,
                                                                             std::string_view key);

  DaemonSettings daemon(Map& map);
  VaultSettings vault(Map* map, const YAML::Mark& root_mark);
  std::optional<Cloud> cloud(const std::string& name, const YAML::Mark& key_mark,
                             const YAML::Node& node);
  std::optional<Policy> policy(const YAML::Node& node, const Config& config);
  Selector selector(Map& map);
  PasswordSettings password(Map& map);
  std::optional<VerifySettings> verify(Map& map);

  Context& ctx_;
};

std::optional<SecretRef> Loader::secret(Map& map, std::string_view name, bool required) {
  const std::string base(name);
  const std::string file_key = base + "_file";
  Map::Entry* inline_entry = map.find(base);
  Map::Entry* file_entry = map.find(file_key);
  if (inline_entry != nullptr && file_entry != nullptr) {
    ctx_.error(file_entry->key_mark,
               "'" + base + "' and '" + file_key + "' are mutually exclusive");
    return std::nullopt;
  }
  if (inline_entry == nullptr && file_entry == nullptr) {
    if (required) {
      map.missing(file_key, "or '" + base + ": env:NAME'");
    }
    return std::nullopt;
  }
  if (inline_entry != nullptr) {
    const YAML::Mark mark = mark_of(inline_entry->value, inline_entry->key_mark);
    if (!inline_entry->value.IsScalar()) {
      ctx_.error(mark, type_error(base, "'env:NAME'"));
      return std::nullopt;
    }
    const std::string& text = inline_entry->value.Scalar();
    if (text.rfind("env:", 0) != 0) {
      // Never echo the value: it may be the secret itself.
      ctx_.error(mark, "inline secret in '" + base +
                           "' is not allowed; put it in a file only rotor can read and write '" +
                           file_key + ": /etc/rotor/" + base + "' (or '" + file_key +
                           ": ${CREDENTIALS_DIRECTORY}/" + base +
                           "' with systemd LoadCredential=), or write '" + base + ": env:NAME'");
      return std::nullopt;
    }
    const std::string variable = text.substr(4);
    if (!is_env_name(variable)) {
      ctx_.error(mark, "'" + base + "' (" + shown(text) +
                           "): expected env:NAME with a variable name of letters, digits and '_'");
      return std::nullopt;
    }
    return SecretRef{SecretRef::Kind::Env, base, variable, {}, ctx_.position(mark)};
  }

  const YAML::Mark mark = mark_of(file_entry->value, file_entry->key_mark);
  if (!file_entry->value.IsScalar()) {
    ctx_.error(mark, type_error(file_key, "a path"));
    return std::nullopt;
  }
  const std::string& text = file_entry->value.Scalar();
  if (text.empty()) {
    ctx_.error(mark, "'" + file_key + "' must not be empty");
    return std::nullopt;
  }
  if (is_placeholder(text)) {
    placeholder_check(mark, file_key, text);
    return std::nullopt;
  }
  static constexpr std::string_view kVariable = "${CREDENTIALS_DIRECTORY}";
  std::string expanded;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t dollar = text.find("${", i);
    if (dollar == std::string::npos) {
      expanded += text.substr(i);
      break;
    }
    expanded += text.substr(i, dollar - i);
    if (text.compare(dollar, kVariable.size(), kVariable) != 0) {
      ctx_.error(mark, "'" + file_key + "' (" + shown(text) +
                           "): only ${CREDENTIALS_DIRECTORY} is expanded");
      return std::nullopt;
    }
    const auto directory = ctx_.env("CREDENTIALS_DIRECTORY");
    if (!directory) {
      ctx_.error(mark, "'" + file_key +
                           "' uses ${CREDENTIALS_DIRECTORY}, which is not set (systemd sets it "
                           "for a unit with LoadCredential=)");
      return std::nullopt;
    }
    expanded += *directory;
    i = dollar + kVariable.size();
  }
  if (expanded.empty() || expanded.front() != '/') {
    ctx_.error(mark, "'" + file_key + "' (" + shown(text) + ") must be an absolute path");
    return std::nullopt;
  }
  return SecretRef{SecretRef::Kind::File, file_key, text, std::filesystem::path(expanded),
                   ctx_.position(mark)};
}

std::optional<std::vector<std::pair<std::string, YAML::Mark>>> Loader::string_list(
    Map& map, std::string_view key) {
  Map::Entry* entry = map.find(key);
  if (entry == nullptr) {
    return std::nullopt;
  }
  const YAML::Mark mark = mark_of(entry->value, entry->key_mark);
  if (!entry->value.IsSequence()) {
    ctx_.error(mark, type_error(key, "a list of strings"));
    return std::nullopt;
  }
  std::vector<std::pair<std::string, YAML::Mark>> items;
  bool ok = true;
  for (const YAML::Node& item : entry->value) {
    if (!item.IsScalar()) {
      ctx_.error(mark_of(item, mark), type_error(key, "a list of strings"));
      ok = false;
      continue;
    }
    items.emplace_back(item.Scalar(), mark_of(item, mark));
  }
  if (!ok) {
    return std::nullopt;
  }
  return items;
}

DaemonSettings Loader::daemon(Map& map) {
  DaemonSettings settings;
  if (auto listen = map.string("metrics_listen", false)) {
    if (const std::string reason = check_listen(*listen); !reason.empty()) {
      ctx_.error(map.find("metrics_listen")->value.Mark(),
                 "invalid address for 'metrics_listen' (" + shown(*listen) + "): " + reason);
    } else {
      settings.metrics_listen = *listen;
    }
  }
  if (auto log = map.map("log", false)) {
    if (auto level = log->choice("level", {"trace", "debug", "info", "warn", "error"}, false)) {
      settings.log_level = static_cast<LogLevel>(*level);
    }
    if (auto format = log->choice("format", {"text", "json"}, false)) {
      settings.log_format = static_cast<LogFormat>(*format);
    }
    log->finish();
  }
  if (auto dir = map.string("state_dir", false)) {
    if (dir->empty() || dir->front() != '/') {
      ctx_.error(map.find("state_dir")->value.Mark(),
                 "'state_dir' (" + shown(*dir) + ") must be an absolute path");
    } else {
      settings.state_dir = *dir;
    }
  }
  if (auto concurrency = map.integer("concurrency", 1, 1024, false)) {
    settings.concurrency = static_cast<int>(*concurrency);
  }
  map.finish();
  return settings;
}

VaultSettings Loader::vault(Map* map, const YAML::Mark& root_mark) {
  VaultSettings settings;
  const YAML::Mark mark = map != nullptr ? map->mark() : root_mark;
  const auto env_addr = ctx_.env("VAULT_ADDR");
  const auto env_cacert = ctx_.env("VAULT_CACERT");
  const auto env_namespace = ctx_.env("VAULT_NAMESPACE");
  const bool env_token = ctx_.env("VAULT_TOKEN").has_value();

  if (map != nullptr) {
    if (auto address = map->string("address", false)) {
      const YAML::Mark at = map->find("address")->value.Mark();
      if (is_placeholder(*address)) {
        placeholder_check(at, "address", *address);
      } else if (const std::string reason = check_url(*address, true); !reason.empty()) {
        ctx_.error(at, "invalid URL for 'address' (" + shown(*address) + "): " + reason);
      } else {
        settings.address = *address;
      }
    } else if (!env_addr && map->find("address") == nullptr) {
      map->missing("address", "or set VAULT_ADDR");
    }
    if (auto name = nonempty_string(*map, "namespace", false)) {
      placeholder_check(map->find("namespace")->value.Mark(), "namespace", *name);
      settings.namespace_name = *name;
    }
    if (auto ca = nonempty_string(*map, "ca_file", false)) {
      const YAML::Mark at = map->find("ca_file")->value.Mark();
      if (ca->front() != '/') {
        ctx_.error(at, "'ca_file' (" + shown(*ca) + ") must be an absolute path");
      } else {
        settings.ca_file = *ca;
        if (ctx_.options().check_secrets && !env_cacert) {
          std::ifstream probe(*ca);
          if (!probe || !std::filesystem::is_regular_file(*ca)) {
            ctx_.error(at, "'ca_file' (" + shown(*ca) + ") is not a readable file");
          }
        }
      }
    }
    if (auto auth = map->map("auth", !env_token)) {
      auto method = auth->choice("method", {"token", "approle"}, true);
      if (method && *method == 0) {
        settings.auth.method = VaultAuthMethod::Token;
        settings.auth.token = secret(*auth, "token", true);
        for (std::string_view other :
             {"role_id", "role_id_file", "secret_id", "secret_id_file", "mount"}) {
          if (Map::Entry* entry = auth->find(other)) {
            ctx_.error(entry->key_mark,
                       "'" + std::string(other) + "' does not apply to method token");
          }
        }
      } else if (method && *method == 1) {
        settings.auth.method = VaultAuthMethod::AppRole;
        settings.auth.role_id = secret(*auth, "role_id", true);
        settings.auth.secret_id = secret(*auth, "secret_id", true);
        if (auto mount = nonempty_string(*auth, "mount", false)) {
          if (mount->find('/') != std::string::npos) {
            ctx_.error(auth->find("mount")->value.Mark(),
                       "'mount' (" + shown(*mount) + ") must not contain '/'");
          }
          settings.auth.approle_mount = *mount;
        }
        for (std::string_view other : {"token", "token_file"}) {
          if (Map::Entry* entry = auth->find(other)) {
            ctx_.error(entry->key_mark,
                       "'" + std::string(other) + "' does not apply to method approle");
          }
        }
      } else {
        for (std::string_view other : {"token", "token_file", "role_id", "role_id_file",
                                       "secret_id", "secret_id_file", "mount"}) {
          auth->known(other);
          if (Map::Entry* entry = auth->find(other)) {
            entry->used = true;
          }
        }
      }
      auth->finish();
    }
    if (auto timeout =
            map->duration("timeout", std::chrono::seconds{1}, std::chrono::seconds{600}, false)) {
      settings.timeout = *timeout;
    }
    if (auto kv = map->map("kv", false)) {
      if (auto mount = nonempty_string(*kv, "mount", false)) {
        if (mount->find('/') != std::string::npos) {
          ctx_.error(kv->find("mount")->value.Mark(),
                     "'mount' (" + shown(*mount) + ") must not contain '/'");
        } else {
          settings.kv.mount = *mount;
        }
      }
      if (auto path = kv->string("path", false)) {
        if (const std::string reason = check_path_template(*path); !reason.empty()) {
          ctx_.error(kv->find("path")->value.Mark(),
                     "invalid template for 'path' (" + shown(*path) + "): " + reason);
        } else {
          settings.kv.path = *path;
        }
      }
      if (auto versions = kv->integer("max_versions", 1, 1000, false)) {
        settings.kv.max_versions = static_cast<int>(*versions);
      }
      kv->finish();
    }
    map->finish();
  } else if (!env_addr || !env_token) {
    ctx_.error(root_mark, "missing parameter 'vault'");
  }

  // The environment wins over the file, as with the Vault CLI.
  if (env_addr) {
    settings.overridden_by.emplace_back("VAULT_ADDR");
    if (const std::string reason = check_url(*env_addr, true); !reason.empty()) {
      ctx_.error(mark, "invalid URL in VAULT_ADDR (" + shown(*env_addr) + "): " + reason);
    } else {
      settings.address = *env_addr;
    }
  }
  if (env_cacert) {
    settings.overridden_by.emplace_back("VAULT_CACERT");
    settings.ca_file = *env_cacert;
  }
  if (env_namespace) {
    settings.overridden_by.emplace_back("VAULT_NAMESPACE");
    settings.namespace_name = *env_namespace;
  }
  if (env_token) {
    settings.overridden_by.emplace_back("VAULT_TOKEN");
    settings.auth = VaultAuth{};
    settings.auth.method = VaultAuthMethod::Token;
    settings.auth.token =
        SecretRef{SecretRef::Kind::Env, "token", "VAULT_TOKEN", {}, ctx_.position(mark)};
  }
  return settings;
}

std::optional<Cloud> Loader::cloud(const std::string& name, const YAML::Mark& key_mark,
                                   const YAML::Node& node) {
  if (!matches_name(name, false, false, 63)) {
    ctx_.error(key_mark, "invalid cloud name '" + shown(name) +
                             "' (expected lowercase letters, digits, '-' and '_')");
  }
  if (!node.IsMap()) {
    ctx_.error(mark_of(node, key_mark), type_error(name, "a map"));
    return std::nullopt;
  }
  Map map(ctx_, node);
  Cloud cloud;
  cloud.name = name;
  bool ok = true;
  if (auto flavor = map.choice("flavor", {"otc", "huawei"}, true)) {
    cloud.flavor = static_cast<Flavor>(*flavor);
  } else {
    ok = false;
  }
  if (auto region = nonempty_string(map, "region", true)) {
    const YAML::Mark at = map.find("region")->value.Mark();
    if (is_placeholder(*region)) {
      placeholder_check(at, "region", *region);
    } else if (!matches_name(*region, false, false, 32)) {
      ctx_.error(at, "'region' (" + shown(*region) +
                         ") is not a region name (expected e.g. eu-de or ap-southeast-1)");
    }
    cloud.region = *region;
  } else {
    ok = false;
  }
  if (auto project = nonempty_string(map, "project_id", true)) {
    const YAML::Mark at = map.find("project_id")->value.Mark();
    if (is_placeholder(*project)) {
      placeholder_check(at, "project_id", *project);
    } else if (project->size() != 32 || !std::all_of(project->begin(), project->end(), [](char c) {
                 return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
               })) {
      ctx_.error(at, "'project_id' (" + shown(*project) +
                         ") is not a project ID (expected 32 lowercase hexadecimal characters)");
    }
    cloud.project_id = *project;
  }
  const std::string domain_suffix =
      cloud.flavor == Flavor::Otc ? ".otc.t-systems.com" : ".myhuaweicloud.com";
  cloud.ecs_endpoint = "https://ecs." + cloud.region + domain_suffix;
  cloud.iam_endpoint = "https://iam." + cloud.region + domain_suffix;
  if (auto endpoints = map.map("endpoints", false)) {
    for (const auto& [key, target] :
         {std::pair<std::string_view, std::string*>{"ecs", &cloud.ecs_endpoint},
          std::pair<std::string_view, std::string*>{"iam", &cloud.iam_endpoint}}) {
      if (auto url = endpoints->string(key, false)) {
        // IAM URLs are often written with the API version; the client adds it itself.
        for (std::string_view suffix : {"/v3/", "/v3"}) {
          if (key == "iam" && url->size() > suffix.size() &&
              url->compare(url->size() - suffix.size(), suffix.size(), suffix) == 0) {
            url->resize(url->size() - suffix.size());
            break;
          }
        }
        if (const std::string reason = check_url(*url, true); !reason.empty()) {
          ctx_.error(endpoints->find(key)->value.Mark(),
                     "invalid URL for '" + std::string(key) + "' (" + shown(*url) + "): " + reason);
        } else {
          *target = *url;
        }
      }
    }
    endpoints->finish();
  }
  if (auto ca = nonempty_string(map, "ca_file", false)) {
    const YAML::Mark at = map.find("ca_file")->value.Mark();
    if (ca->front() != '/') {
      ctx_.error(at, "'ca_file' (" + shown(*ca) + ") must be an absolute path");
    } else {
      cloud.ca_file = *ca;
      if (ctx_.options().check_secrets &&
          (!std::ifstream(*ca) || !std::filesystem::is_regular_file(*ca))) {
        ctx_.error(at, "'ca_file' (" + shown(*ca) + ") is not a readable file");
      }
    }
  }
  if (auto auth = map.map("auth", true)) {
    auto type = auth->choice("type", {"aksk", "token"}, true);
    const std::vector<std::string_view> aksk_keys{"access_key", "access_key_file", "secret_key",
                                                  "secret_key_file"};
    const std::vector<std::string_view> token_keys{"domain", "user", "password", "password_file"};
    if (type && *type == 0) {
      cloud.auth.type = CloudAuthType::AkSk;
      cloud.auth.access_key = secret(*auth, "access_key", true);
      cloud.auth.secret_key = secret(*auth, "secret_key", true);
      for (std::string_view other : token_keys) {
        if (Map::Entry* entry = auth->find(other)) {
          ctx_.error(entry->key_mark, "'" + std::string(other) + "' does not apply to type aksk");
        }
      }
    } else if (type && *type == 1) {
      cloud.auth.type = CloudAuthType::Token;
      if (auto domain = nonempty_string(*auth, "domain", true)) {
        placeholder_check(auth->find("domain")->value.Mark(), "domain", *domain);
        cloud.auth.domain = *domain;
      }
      if (auto user = nonempty_string(*auth, "user", true)) {
        placeholder_check(auth->find("user")->value.Mark(), "user", *user);
        cloud.auth.user = *user;
      }
      cloud.auth.password = secret(*auth, "password", true);
      for (std::string_view other : aksk_keys) {
        if (Map::Entry* entry = auth->find(other)) {
          ctx_.error(entry->key_mark, "'" + std::string(other) + "' does not apply to type token");
        }
      }
    } else {
      for (const auto* keys : {&aksk_keys, &token_keys}) {
        for (std::string_view other : *keys) {
          if (Map::Entry* entry = auth->find(other)) {
            entry->used = true;
          }
        }
      }
    }
    auth->finish();
  }
  if (auto limits = map.map("limits", false)) {
    if (auto rps = limits->integer("requests_per_second", 1, 1000, false)) {
      cloud.limits.requests_per_second = static_cast<int>(*rps);
    }
    if (auto adaptive = limits->boolean("adaptive")) {
      cloud.limits.adaptive = *adaptive;
    }
    if (auto batch = limits->integer("max_batch", 1, 1000, false)) {
      cloud.limits.max_batch = static_cast<int>(*batch);
    }
    if (auto timeout = limits->duration("timeout", std::chrono::seconds{1},
                                        std::chrono::seconds{600}, false)) {
      cloud.limits.timeout = *timeout;
    }
    limits->finish();
  }
  map.finish();
  if (!ok) {
    return std::nullopt;
  }
  return cloud;
}

Selector Loader::selector(Map& map) {
  Selector select;
  bool any_condition = false;
  if (auto all = map.boolean("all")) {
    select.all = *all;
  }
  if (Map::Entry* tags = map.find("tags")) {
    if (!tags->value.IsMap()) {
      ctx_.error(mark_of(tags->value, tags->key_mark), type_error("tags", "a map of strings"));
    } else {
      for (auto it = tags->value.begin(); it != tags->value.end(); ++it) {
        const YAML::Node key = it->first;
        const YAML::Node value = it->second;
        if (!key.IsScalar() || key.Scalar().empty()) {
          ctx_.error(mark_of(key, tags->key_mark),
                     "invalid type for a tag key (expected a string)");
          continue;
        }
        if (!value.IsScalar()) {
          ctx_.error(mark_of(value, key.Mark()), type_error(key.Scalar(), "a string"));
          continue;
        }
        select.tags.emplace(key.Scalar(), value.Scalar());
      }
      any_condition = !select.tags.empty();
      if (select.tags.empty()) {
        ctx_.error(mark_of(tags->value, tags->key_mark), "'tags' must not be empty");
      }
    }
  }
  if (auto os = map.choice("os", {"any", "linux", "windows"}, false)) {
    select.os = static_cast<OsSelector>(*os);
  }
  if (auto name = map.string("name", false)) {
    const YAML::Mark at = map.find("name")->value.Mark();
    if (name->size() > 256) {
      ctx_.error(at, "regular expression for 'name' is longer than 256 characters");
    } else {
      try {
        select.name =
            Regex{*name, std::make_shared<const std::regex>(*name, std::regex::ECMAScript)};
        any_condition = true;
      } catch (const std::regex_error& e) {
        ctx_.error(at, "invalid regular expression for 'name' (" + shown(*name) +
                           "): " + regex_reason(e.code()));
      }
    }
  }
  for (auto [key, target] :
       {std::pair<std::string_view, std::vector<std::string>*>{"ids", &select.ids},
        std::pair<std::string_view, std::vector<std::string>*>{"exclude_ids",
                                                               &select.exclude_ids}}) {
    auto items = string_list(map, key);
    if (!items) {
      continue;
    }
    std::vector<std::pair<std::string, YAML::Mark>> seen;
    for (const auto& item : *items) {
      const std::string& id = item.first;
      const YAML::Mark& at = item.second;
      if (!is_uuid(id)) {
        ctx_.error(at, "'" + shown(id) + "' in '" + std::string(key) +
                           "' is not a server ID (expected a UUID)");
        continue;
      }
      const auto previous = std::find_if(seen.begin(), seen.end(),
                                         [&id](const auto& entry) { return entry.first == id; });
      if (previous != seen.end()) {
        ctx_.error(at, "duplicate '" + id + "' in '" + std::string(key) + "' (previous at " +
                           ctx_.position(previous->second).to_string() + ")");
        continue;
      }
      seen.emplace_back(id, at);
      target->push_back(id);
    }
    if (key == "exclude_ids") {
      for (const auto& [id, at] : seen) {
        if (std::find(select.ids.begin(), select.ids.end(), id) != select.ids.end()) {
          ctx_.error(at, "'" + id + "' is in both 'ids' and 'exclude_ids'");
        }
      }
    }
  }
  if (!select.ids.empty()) {
    any_condition = true;
  }
  const bool condition_written =
      map.find("tags") != nullptr || map.find("name") != nullptr || map.find("ids") != nullptr;
  if (select.all && condition_written) {
    ctx_.error(map.find("all")->key_mark, "'all' cannot be combined with 'tags', 'name' or 'ids'");
  } else if (!select.all && !any_condition && !condition_written) {
    ctx_.error(map.mark(),
               "'select' has no condition on tags, name or ids (write 'all: true' to select "
               "every server of the project)");
  }
  map.finish();
  return select;
}

PasswordSettings Loader::password(Map& map) {
  PasswordSettings settings;
  if (auto length = map.integer("length", static_cast<std::int64_t>(password::kMinLength),
                                static_cast<std::int64_t>(password::kMaxLength), false)) {
    settings.length = static_cast<std::size_t>(*length);
  }
  if (auto classes = string_list(map, "require")) {
    settings.require.clear();
    static const std::vector<std::pair<std::string_view, password::CharClass>> kClasses{
        {"upper", password::CharClass::Upper},
        {"lower", password::CharClass::Lower},
        {"digit", password::CharClass::Digit},
        {"special", password::CharClass::Special}};
    for (const auto& item : *classes) {
      const std::string& name = item.first;
      const YAML::Mark& at = item.second;
      const auto found = std::find_if(kClasses.begin(), kClasses.end(),
                                      [&name](const auto& entry) { return entry.first == name; });
      if (found == kClasses.end()) {
        ctx_.error(at, "'require' (" + shown(name) + ") not one of upper, lower, digit or special");
        continue;
      }
      if (std::find(settings.require.begin(), settings.require.end(), found->second) !=
          settings.require.end()) {
        ctx_.error(at, "duplicate '" + name + "' in 'require'");
        continue;
      }
      settings.require.push_back(found->second);
    }
    std::sort(settings.require.begin(), settings.require.end());
  }
  if (auto exclude = map.string("exclude_chars", false)) {
    const YAML::Mark at = map.find("exclude_chars")->value.Mark();
    if (!std::all_of(exclude->begin(), exclude->end(), [](char c) { return c > ' ' && c < 127; })) {
      ctx_.error(at, "'exclude_chars' must hold visible ASCII characters only (no spaces)");
    } else {
      settings.exclude_chars = *exclude;
    }
  }
  map.finish();
  return settings;
}

std::optional<VerifySettings> Loader::verify(Map& map) {
  VerifySettings settings;
  bool ok = true;
  if (Map::Entry* entry = map.find("command"); entry == nullptr) {
    map.missing("command");
    ok = false;
  } else if (auto words = string_list(map, "command"); !words) {
    ok = false;
  } else if (words->empty()) {
    ctx_.error(mark_of(entry->value, entry->key_mark),
               "'command' must name a program (a list: its absolute path, then its arguments)");
    ok = false;
  } else if (words->size() > 64) {
    ctx_.error(mark_of(entry->value, entry->key_mark),
               "'command' has " + std::to_string(words->size()) + " words (at most 64)");
    ok = false;
  } else {
    for (const auto& [word, at] : *words) {
      if (word.find('\0') != std::string::npos || word.size() > 4096) {
        ctx_.error(at, "invalid word in 'command' (no NUL characters, at most 4096 bytes)");
        ok = false;
      }
    }
    const auto& [program, at] = words->front();
    if (program.empty() || program.front() != '/') {
      ctx_.error(at, "'command' must start with an absolute path (" + shown(program) +
                         "); it is run without a shell or PATH lookup");
      ok = false;
    }
    for (const auto& item : *words) {
      settings.command.push_back(item.first);
    }
  }
  if (auto timeout =
          map.duration("timeout", std::chrono::seconds{1}, std::chrono::hours{1}, false)) {
    settings.timeout = *timeout;
  }
  map.finish();
  if (!ok) {
    return std::nullopt;
  }
  return settings;
}

std::optional<Policy> Loader::policy(const YAML::Node& node, const Config& config) {
  if (!node.IsMap()) {
    ctx_.error(node.Mark(), type_error("policies", "a list of maps"));
    return std::nullopt;
  }
  Map map(ctx_, node);
  Policy policy;
  policy.where = ctx_.position(map.mark());
  bool ok = true;
  if (auto name = map.string("name", true)) {
    if (!matches_name(*name, true, true, 64)) {
      ctx_.error(map.find("name")->value.Mark(),
                 "invalid policy name '" + shown(*name) +
                     "' (expected letters, digits, '.', '-' and '_', at most 64)");
    }
    policy.name = *name;
  } else {
    ok = false;
  }
  const Cloud* cloud = nullptr;
  if (auto name = map.string("cloud", true)) {
    policy.cloud = *name;
    cloud = config.cloud(*name);
    if (cloud == nullptr && !config.clouds.empty()) {
      std::string defined;
      for (const auto& [known, unused] : config.clouds) {
        defined += (defined.empty() ? "" : ", ") + known;
      }
      ctx_.error(map.find("cloud")->value.Mark(),
                 "unknown cloud '" + shown(*name) + "' (defined: " + defined + ")");
    } else if (cloud == nullptr) {
      ctx_.error(map.find("cloud")->value.Mark(), "unknown cloud '" + shown(*name) + "'");
    } else if (cloud->region.empty()) {
      cloud = nullptr;  // defined, but with errors of its own
    }
  } else {
    ok = false;
  }
  if (auto select = map.map("select", true)) {
    policy.select = selector(*select);
  }
  if (auto mode = map.choice("mode", {"unique", "shared"}, false)) {
    policy.mode = static_cast<Mode>(*mode);
  }
  policy.max_age = map.duration("max_age", shortest_max_age(), kMaxDuration, false);
  Map::Entry* schedule = map.find("schedule");
  if (schedule != nullptr) {
    const YAML::Mark at = mark_of(schedule->value, schedule->key_mark);
    if (!schedule->value.IsScalar()) {
      ctx_.error(at, type_error("schedule", "a cron expression"));
    } else if (auto expr = CronExpr::parse(schedule->value.Scalar()); !expr) {
      ctx_.error(at, "invalid cron expression for 'schedule' (" + shown(schedule->value.Scalar()) +
                         "): " + expr.error());
    } else if (!expr->next_after(SysSeconds{std::chrono::seconds{946684800}}, Zone{})) {
      ctx_.error(at, "cron expression for 'schedule' (" + shown(schedule->value.Scalar()) +
                         ") never fires");
    } else {
      policy.schedule = std::move(*expr);
    }
  }
  Map::Entry* max_age = map.find("max_age");
  if (max_age != nullptr && schedule != nullptr) {
    ctx_.error(schedule->key_mark, "'max_age' and 'schedule' are mutually exclusive");
  } else if (max_age == nullptr && schedule == nullptr) {
    map.missing("max_age", "or 'schedule'");
  }
  if (auto zone_name = map.string("timezone", false)) {
    const YAML::Mark at = map.find("timezone")->value.Mark();
    if (schedule == nullptr) {
      ctx_.error(map.find("timezone")->key_mark,
                 "'timezone' applies only to 'schedule' (a window names its own zone)");
    } else if (auto zone = Zone::locate(*zone_name); !zone) {
      ctx_.error(at, "invalid time zone for 'timezone': " + zone.error());
    } else {
      policy.timezone = std::move(*zone);
    }
  }
  if (Map::Entry* window = map.find("window")) {
    const YAML::Mark at = mark_of(window->value, window->key_mark);
    std::vector<YAML::Node> items;
    if (window->value.IsScalar()) {
      items.push_back(window->value);
    } else if (window->value.IsSequence() && window->value.size() > 0) {
      for (const YAML::Node& item : window->value) {
        items.push_back(item);
      }
    } else {
      ctx_.error(at, type_error("window",
                                "a window such as 'Sun 01:00-05:00 Europe/Berlin', or a "
                                "list of them"));
    }
    for (const YAML::Node& item : items) {
      const YAML::Mark item_at = mark_of(item, at);
      if (!item.IsScalar()) {
        ctx_.error(item_at, type_error("window", "a string"));
      } else if (auto parsed = Window::parse(item.Scalar()); !parsed) {
        ctx_.error(item_at, "invalid window (" + shown(item.Scalar()) + "): " + parsed.error());
      } else {
        policy.windows.push_back(std::move(*parsed));
      }
    }
  }
  if (auto jitter =
          map.duration("jitter", std::chrono::seconds{0}, std::chrono::hours{24 * 7}, false)) {
    policy.jitter = *jitter;
    if (policy.max_age && policy.jitter >= *policy.max_age) {
      ctx_.error(map.find("jitter")->value.Mark(), "'jitter' (" + format_duration(policy.jitter) +
                                                       ") must be shorter than 'max_age' (" +
                                                       format_duration(*policy.max_age) + ")");
    }
    if (!policy.windows.empty()) {
      std::chrono::minutes shortest = policy.windows.front().length();
      for (const Window& window : policy.windows) {
        shortest = std::min(shortest, window.length());
      }
      if (policy.jitter >= shortest) {
        ctx_.error(map.find("jitter")->value.Mark(),
                   "'jitter' (" + format_duration(policy.jitter) +
                       ") must be shorter than the shortest window (" +
                       format_duration(std::chrono::duration_cast<std::chrono::seconds>(shortest)) +
                       ")");
      }
    }
  }
  YAML::Mark password_mark = map.mark();
  bool password_readable = true;
  if (auto settings = map.map("password", false)) {
    password_mark = settings->mark();
    const std::size_t before = ctx_.error_count();
    policy.password = password(*settings);
    password_readable = ctx_.error_count() == before;
  } else if (map.find("password") != nullptr) {
    password_readable = false;
  }
  if (auto after = map.choice("after_reset", {"none", "reboot-soft", "reboot-hard"}, false)) {
    policy.after_reset = static_cast<AfterReset>(*after);
    if (policy.after_reset != AfterReset::None && map.find("window") == nullptr) {
      ctx_.error(map.find("after_reset")->value.Mark(),
                 "'after_reset' (" + std::string(to_string(policy.after_reset)) +
                     ") needs a 'window' (servers are restarted only inside it)");
    }
  }
  if (auto preflight = map.boolean("preflight_dry_run")) {
    policy.preflight_dry_run = *preflight;
  }
  if (auto dry = map.boolean("dry_run")) {
    policy.dry_run = *dry;
  }
  if (auto limit = map.integer("quarantine_after", 1, 100, false)) {
    policy.quarantine_after = static_cast<int>(*limit);
  }
  if (Map::Entry* entry = map.find("verify")) {
    const YAML::Mark at = entry->key_mark;
    if (auto settings = map.map("verify", false)) {
      policy.verify = verify(*settings);
    }
    Map::Entry* after = map.find("after_reset");
    const bool no_restart =
        after == nullptr || (after->value.IsScalar() && after->value.Scalar() == "none");
    if (no_restart) {
      ctx_.error(at,
                 "'verify' needs 'after_reset' reboot-soft or reboot-hard (the hook runs after "
                 "the restart that makes the new password effective)");
    }
  }
  if (auto canary = map.integer("canary", 1, 1000, false)) {
    policy.canary = static_cast<int>(*canary);
  }
  if (Map::Entry* budget = map.find("error_budget")) {
    const YAML::Mark at = mark_of(budget->value, budget->key_mark);
    const std::string expected = "a count of failures (0..100000) or a percentage such as '5%'";
    std::string text = budget->value.IsScalar() ? budget->value.Scalar() : std::string();
    const bool percent = !text.empty() && text.back() == '%';
    if (percent) {
      text.pop_back();
    }
    const bool digits = !text.empty() &&
                        std::all_of(text.begin(), text.end(),
                                    [](char c) { return (c >= '0' && c <= '9') || c == '.'; }) &&
                        std::count(text.begin(), text.end(), '.') <= 1 && text.front() != '.' &&
                        text.back() != '.';
    if (!budget->value.IsScalar() || !digits) {
      ctx_.error(at, type_error("error_budget", expected));
    } else if (!percent && text.find('.') != std::string::npos) {
      ctx_.error(at, "'error_budget' (" + budget->value.Scalar() +
                         ") must be a whole number of failures, or a percentage such as '5%'");
    } else {
      const double value = std::stod(text);
      if (percent && value > 100.0) {
        ctx_.error(at, "'error_budget' (" + budget->value.Scalar() + ") not within 0%..100%");
      } else if (!percent && value > 100000.0) {
        ctx_.error(at, "'error_budget' (" + budget->value.Scalar() + ") not within 0..100000");
      } else {
        policy.error_budget = ErrorBudget{percent, value};
      }
    }
  }
  if (auto head_start = map.duration("head_start", std::chrono::seconds{0}, kMaxDuration, false)) {
    Map::Entry* entry = map.find("head_start");
    if (!policy.max_age) {
      ctx_.error(entry->key_mark,
                 "'head_start' applies only to 'max_age' (a 'schedule' names the times itself)");
    } else if (*head_start + policy.jitter >= *policy.max_age) {
      ctx_.error(entry->value.Mark(), "'head_start' (" + format_duration(*head_start) +
                                          ") plus 'jitter' (" + format_duration(policy.jitter) +
                                          ") must be shorter than 'max_age' (" +
                                          format_duration(*policy.max_age) + ")");
    } else {
      policy.head_start = *head_start;
    }
  }
  map.finish();

  // Can the password engine produce a password that the API will accept?
  if (cloud != nullptr && password_readable) {
    const password::ApiProfile api = api_profile(policy, cloud->flavor);
    std::string what;
    if (policy.mode == Mode::Shared && policy.select.os == OsSelector::Any) {
      what =
          "one password for both root and Administrator (mode shared with os any uses the "
          "Safe profile)";
    } else if (policy.mode == Mode::Shared) {
      what = "a password for the v1 batch reset API (mode shared)";
    } else if (api == password::ApiProfile::OtcSingle) {
      what = "a password for the OTC v2.1 single reset API (mode unique, flavor otc)";
    } else {
      what = "a password for the v1 single reset API (mode unique, flavor huawei)";
    }
    for (const password::Policy& engine : password_policies(policy, cloud->flavor)) {
      for (const std::string& reason : password::validate_policy(engine)) {
        std::string message = "'password' cannot produce ";
        message += what;
        message += ": ";
        message += reason;
        ctx_.error(password_mark, std::move(message));
      }
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return policy;
}

Config Loader::load(const YAML::Node& root) {
  Config config;
  if (!root.IsMap()) {
    ctx_.error(root.IsDefined() && !root.IsNull() ? root.Mark() : YAML::Mark{},
               root.IsNull() || !root.IsDefined()
                   ? "empty configuration (expected 'vault', 'clouds' and 'policies')"
                   : type_error("the configuration", "a map"));
    return config;
  }
  Map map(ctx_, root);
  if (auto daemon_map = map.map("daemon", false)) {
    config.daemon = daemon(*daemon_map);
  }
  {
    auto vault_map = map.map("vault", false);
    const bool present = map.find("vault") != nullptr;
    if (!present || vault_map) {
      config.vault = vault(vault_map ? &*vault_map : nullptr, map.mark());
    }
  }
  if (Map::Entry* clouds = map.find("clouds")) {
    if (!clouds->value.IsMap() || clouds->value.size() == 0) {
      ctx_.error(mark_of(clouds->value, clouds->key_mark),
                 clouds->value.IsMap() ? "'clouds' must not be empty"
                                       : type_error("clouds", "a map of cloud names"));
    } else {
      Map cloud_map(ctx_, clouds->value);
      for (Map::Entry& entry : cloud_map.entries()) {
        entry.used = true;
        if (auto cloud_value = cloud(entry.key, entry.key_mark, entry.value)) {
          config.clouds.emplace(entry.key, std::move(*cloud_value));
        } else {
          // Keep the name so that policies referring to it are not reported twice.
          Cloud placeholder;
          placeholder.name = entry.key;
          config.clouds.emplace(entry.key, std::move(placeholder));
        }
      }
    }
  } else {
    map.missing("clouds");
  }
  std::set<std::string> broken_clouds;
  for (const auto& [name, cloud_value] : config.clouds) {
    if (cloud_value.region.empty()) {
      broken_clouds.insert(name);
    }
  }
  if (Map::Entry* policies = map.find("policies")) {
    if (!policies->value.IsSequence() || policies->value.size() == 0) {
      ctx_.error(mark_of(policies->value, policies->key_mark),
                 policies->value.IsSequence() ? "'policies' must not be empty"
                                              : type_error("policies", "a list of maps"));
    } else {
      std::vector<std::pair<std::string, Position>> names;
      for (const YAML::Node& node : policies->value) {
        auto parsed = policy(node, config);
        if (!parsed) {
          continue;
        }
        const auto previous = std::find_if(names.begin(), names.end(), [&](const auto& entry) {
          return entry.first == parsed->name;
        });
        if (previous != names.end()) {
          ctx_.error(parsed->where, "duplicate policy '" + parsed->name + "' (previous at " +
                                        previous->second.to_string() + ")");
          continue;
        }
        names.emplace_back(parsed->name, parsed->where);
        config.policies.push_back(std::move(*parsed));
      }
    }
  } else {
    map.missing("policies");
  }
  map.finish();
  for (const auto& name : broken_clouds) {
    config.clouds.erase(name);
  }
  return config;
}

}  // namespace

// ----------------------------------------------------------------------------------------------

LoadResult parse_config(std::string_view text, const std::string& name,
                        const LoadOptions& options) {
  Context ctx(name, options);
  if (text.size() > kMaxConfigBytes) {
    ctx.error(Position{name, 0, 0}, "cannot parse: larger than 1 MiB");
    return tl::unexpected(ctx.take());
  }
  // Stage 2: syntax, duplicates, aliases, depth.
  {
    std::istringstream stream{std::string(text)};
    StructureCheck check(ctx);
    try {
      YAML::Parser parser(stream);
      while (parser.HandleNextDocument(check)) {
      }
    } catch (const StopParsing&) {
      return tl::unexpected(ctx.take());
    } catch (const YAML::Exception& e) {
      ctx.error(e.mark, "cannot parse: " + e.msg);
      return tl::unexpected(ctx.take());
    }
  }
  // Stage 3 and 4: typed structs and cross-field checks.
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "cannot parse: " + e.msg);
    return tl::unexpected(ctx.take());
  }
  Loader loader(ctx);
  Config config;
  try {
    config = loader.load(root);
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "cannot parse: " + e.msg);
  }
  config.source = name;
  // Stage 5: secrets are readable (only when everything else is valid).
  if (!ctx.has_errors() && options.check_secrets) {
    for (Diagnostic& diagnostic : verify_secrets(config, options.env)) {
      ctx.error(diagnostic.where, std::move(diagnostic.message));
    }
  }
  if (ctx.has_errors()) {
    return tl::unexpected(ctx.take());
  }
  return config;
}

LoadResult load_config(const std::filesystem::path& file, const LoadOptions& options) {
  const std::string name = file.string();
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(file, ec)) {
    const int error = errno;
    std::string reason = std::filesystem::is_directory(file, ec) ? "is a directory"
                                                                 : std::strerror(error);  // NOLINT
    return tl::unexpected(Diagnostics{Diagnostic{Position{name, 0, 0}, "cannot open: " + reason}});
  }
  std::string text;
  text.resize(kMaxConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) {
    return tl::unexpected(Diagnostics{Diagnostic{Position{name, 0, 0}, "cannot read"}});
  }
  LoadResult result = parse_config(text, name, options);
  if (result) {
    result->source = file;
  }
  return result;
}

}  // namespace rotor::config
