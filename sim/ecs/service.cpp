#include "sim/ecs/service.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <ctime>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "common/log.h"
#include "common/secret.h"

namespace rotor::sim {
namespace {

using json = nlohmann::json;
using SysTime = std::chrono::system_clock::time_point;

constexpr std::string_view kJson = "application/json;charset=UTF-8";
constexpr std::size_t kMaxBatch = 1000;
constexpr std::string_view kVpcId = "5c4ba5b6-0c84-4e7a-8d1e-0f1a2b3c4d5e";

// ---------------------------------------------------------------------------------------------
// Small helpers

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t x = (state += 0x9E3779B97F4A7C15ULL);
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

// The server's fixed address in the simulated VPC (192.168.0.0/16), derived from its id so that
// every listing shows the same one; Huawei's shape: `version` is a string.
json addresses_json(std::string_view server_id, std::string_view vpc_id) {
  std::uint64_t hash = 0xCBF29CE484222325ULL;  // FNV-1a
  for (const char c : server_id) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
  }
  const auto third = static_cast<unsigned>((hash >> 8U) % 256U);
  const auto fourth = static_cast<unsigned>(hash % 254U) + 1U;
  const std::string mac =
      fmt::format("fa:16:3e:{:02x}:{:02x}:{:02x}", (hash >> 16U) & 0xFFU, third, fourth);
  json entry = {{"version", "4"},
                {"addr", fmt::format("192.168.{}.{}", third, fourth)},
                {"OS-EXT-IPS:type", "fixed"},
                {"OS-EXT-IPS-MAC:mac_addr", mac},
                {"OS-EXT-IPS:port_id", fmt::format("{:016x}{:016x}", hash, ~hash)}};
  return {{std::string(vpc_id), json::array({std::move(entry)})}};
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "2016-04-25T20:04:34.604Z" (millis) or "2016-04-25T20:04:34Z".
std::string iso_time(SysTime when, int fraction_digits) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(when);
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buffer{};
  const std::size_t n = std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buffer.data(), n);
  if (fraction_digits == 3) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when - secs).count();
    out += fmt::format(".{:03d}", ms);
  } else if (fraction_digits == 6) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(when - secs).count();
    out += fmt::format(".{:06d}", us);
  }
  out += 'Z';
  return out;
}

SimResponse json_response(int status, const json& body) {
  SimResponse res;
  res.status = status;
  res.body = body.dump();
  res.content_type = std::string(kJson);
  return res;
}

SimResponse empty_response(int status) {
  SimResponse res;
  res.status = status;
  return res;
}

// §2.1 native ECS error.
SimResponse ecs_error(int status, std::string_view code, std::string_view message) {
  return json_response(status, {{"error", {{"code", code}, {"message", message}}}});
}

// §2.2 Nova fault.
SimResponse nova_error(int status, std::string_view message) {
  std::string_view fault = "computeFault";
  switch (status) {
    case 400: fault = "badRequest"; break;
    case 401: fault = "unauthorized"; break;
    case 403: fault = "forbidden"; break;
    case 404: fault = "itemNotFound"; break;
    case 405: fault = "badMethod"; break;
    case 409: fault = "conflictingRequest"; break;
    case 413:
    case 429: fault = "overLimit"; break;
    case 415: fault = "badMediaType"; break;
    case 501: fault = "notImplemented"; break;
    case 503: fault = "serviceUnavailable"; break;
    default: break;
  }
  return json_response(status, {{fault, {{"message", message}, {"code", status}}}});
}

// §2.4 API gateway error.
SimResponse gateway_error(int status, std::string_view code, std::string_view message,
                          std::string_view request_id) {
  return json_response(status,
                       {{"error_msg", message}, {"error_code", code}, {"request_id", request_id}});
}

// §2.5 Keystone-style IAM error.
SimResponse keystone_error(int status, std::string_view title, std::string_view message) {
  return json_response(status,
                       {{"error", {{"code", status}, {"message", message}, {"title", title}}}});
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start < path.size()) {
    if (path[start] == '/') {
      ++start;
      continue;
    }
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    parts.push_back(path.substr(start, end - start));
    start = end;
  }
  return parts;
}

std::optional<long> parse_long(std::string_view text) {
  if (text.empty() || text.size() > 18) {
    return std::nullopt;
  }
  long value = 0;
  for (char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

// Name match of §5.1: fuzzy (substring), '.' matches any single character except CR/LF.
bool fuzzy_match(std::string_view name, std::string_view pattern) {
  if (pattern.empty()) {
    return true;
  }
  if (pattern.size() > name.size()) {
    return false;
  }
  for (std::size_t start = 0; start + pattern.size() <= name.size(); ++start) {
    bool ok = true;
    for (std::size_t i = 0; i < pattern.size() && ok; ++i) {
      const char p = pattern[i];
      const char c = name[start + i];
      ok = p == '.' ? (c != '\n' && c != '\r') : p == c;
    }
    if (ok) {
      return true;
    }
  }
  return false;
}

std::pair<std::string, std::string> split_tag(std::string_view tag) {
  const std::size_t eq = tag.find('=');
  if (eq == std::string_view::npos) {
    return {std::string(tag), std::string()};
  }
  return {std::string(tag.substr(0, eq)), std::string(tag.substr(eq + 1))};
}

// Status filter of §5.1: a stable status also selects its transient relatives.
bool status_matches(std::string_view wanted, std::string_view status) {
  if (wanted == status) {
    return true;
  }
  if (wanted == "ACTIVE") {
    return status == "REBOOT" || status == "HARD_REBOOT" || status == "REBUILD" ||
           status == "MIGRATING" || status == "RESIZE";
  }
  if (wanted == "SHUTOFF") {
    return status == "RESIZE" || status == "REBUILD";
  }
  if (wanted == "ERROR") {
    return status == "REBUILD";
  }
  if (wanted == "VERIFY_RESIZE") {
    return status == "REVERT_RESIZE";
  }
  return false;
}

class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(const Clock& base) : base_(base) {}
  [[nodiscard]] std::chrono::system_clock::time_point now() const override {
    return base_.now() + std::chrono::nanoseconds(offset_.load());
  }
  [[nodiscard]] std::chrono::steady_clock::time_point monotonic() const override {
    return base_.monotonic() + std::chrono::nanoseconds(offset_.load());
  }
  void sleep_for(std::chrono::nanoseconds /*duration*/) override {}
  void advance(std::chrono::nanoseconds by) { offset_ += by.count(); }

 private:
  const Clock& base_;
  std::atomic<std::int64_t> offset_{0};
};

enum class Route {
  IamTokens,
  ResetV21,
  ResetV1,
  BatchReset,
  ResetFlag,
  ListDetail,
  ShowServer,
  TagQueryOtc,
  TagQueryHuawei,
  Action,
  ShowJob,
  IamProjects,
};

struct RouteSpec {
  std::string_view method;
  std::string_view pattern;  // '*' = one captured segment
  Route route;
  std::string_view name;
  std::string_view key;  // short name for disabling the API (EcsSimulatorOptions::disabled_apis)
};

constexpr std::array<RouteSpec, 12> kRoutes{{
    {"POST", "v3/auth/tokens", Route::IamTokens, "POST /v3/auth/tokens", "iam-tokens"},
    {"PUT", "v2.1/*/servers/*/os-reset-password", Route::ResetV21,
     "PUT /v2.1/{project_id}/servers/{server_id}/os-reset-password", "reset-v2.1"},
    {"PUT", "v1/*/cloudservers/os-reset-passwords", Route::BatchReset,
     "PUT /v1/{project_id}/cloudservers/os-reset-passwords", "batch-reset"},
    {"PUT", "v1/*/cloudservers/*/os-reset-password", Route::ResetV1,
     "PUT /v1/{project_id}/cloudservers/{server_id}/os-reset-password", "reset-v1"},
    {"GET", "v1/*/cloudservers/*/os-resetpwd-flag", Route::ResetFlag,
     "GET /v1/{project_id}/cloudservers/{server_id}/os-resetpwd-flag", "resetpwd-flag"},
    {"GET", "v1/*/cloudservers/detail", Route::ListDetail,
     "GET /v1/{project_id}/cloudservers/detail", "list-detail"},
    {"GET", "v1/*/cloudservers/*", Route::ShowServer,
     "GET /v1/{project_id}/cloudservers/{server_id}", "show-server"},
    {"POST", "v1/*/servers/resource_instances/action", Route::TagQueryOtc,
     "POST /v1/{project_id}/servers/resource_instances/action", "tags-otc"},
    {"POST", "v1/*/cloudservers/resource_instances/action", Route::TagQueryHuawei,
     "POST /v1/{project_id}/cloudservers/resource_instances/action", "tags-huawei"},
    {"POST", "v1/*/cloudservers/action", Route::Action, "POST /v1/{project_id}/cloudservers/action",
     "action"},
    {"GET", "v1/*/jobs/*", Route::ShowJob, "GET /v1/{project_id}/jobs/{job_id}", "show-job"},
    {"GET", "v3/projects", Route::IamProjects, "GET /v3/projects", "iam-projects"},
}};

struct Matched {
  const RouteSpec* spec = nullptr;
  std::vector<std::string> captures;
};

std::optional<Matched> match_route(std::string_view method, std::string_view path) {
  const auto parts = split_path(path);
  for (const auto& spec : kRoutes) {
    if (spec.method != method) {
      continue;
    }
    const auto pattern = split_path(spec.pattern);
    if (pattern.size() != parts.size()) {
      continue;
    }
    Matched matched{&spec, {}};
    bool ok = true;
    for (std::size_t i = 0; i < parts.size() && ok; ++i) {
      if (pattern[i] == "*") {
        matched.captures.emplace_back(parts[i]);
      } else {
        ok = pattern[i] == parts[i];
      }
    }
    // "GET /v1/{p}/cloudservers/detail" must not be read as a server id.
    if (ok && spec.route == Route::ShowServer && matched.captures.back() == "detail") {
      ok = false;
    }
    if (ok) {
      return matched;
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> api_keys() {
  std::vector<std::string> keys;
  for (const auto& spec : kRoutes) {
    keys.emplace_back(spec.key);
  }
  return keys;
}

std::string_view to_string(OsType os) noexcept {
  return os == OsType::Windows ? "Windows" : "Linux";
}

std::string check_password_v1(std::string_view password) {
  if (password.size() < 8 || password.size() > 26) {
    return "length not within 8..26";
  }
  constexpr std::string_view kSpecials = "!@%-_=+[]:./?";
  bool upper = false;
  bool lower_case = false;
  bool digit = false;
  bool special = false;
  for (char ch : password) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isupper(c) != 0) {
      upper = true;
    } else if (std::islower(c) != 0) {
      lower_case = true;
    } else if (std::isdigit(c) != 0) {
      digit = true;
    } else if (kSpecials.find(ch) != std::string_view::npos) {
      special = true;
    } else {
      return "character not allowed";
    }
  }
  if (static_cast<int>(upper) + static_cast<int>(lower_case) + static_cast<int>(digit) +
          static_cast<int>(special) <
      3) {
    return "fewer than 3 character classes";
  }
  const std::string folded = lower(password);
  for (std::string_view word : {"administrator", "rotartsinimda", "root", "toor"}) {
    if (folded.find(word) != std::string::npos) {
      return "contains a user name or its reverse";
    }
  }
  const std::string admin = "administrator";
  for (std::size_t i = 0; i + 3 <= admin.size(); ++i) {
    if (folded.find(admin.substr(i, 3)) != std::string::npos) {
      return "contains 3 consecutive characters of Administrator";
    }
  }
  return {};
}

json to_json(const ServerSnapshot& server) {
  json history = json::array();
  for (const auto& record : server.history) {
    history.push_back({{"password", record.password},
                       {"at", iso_time(record.at, 3)},
                       {"api", record.api},
                       {"effective", record.effective}});
  }
  return {{"id", server.id},
          {"name", server.name},
          {"os_type", to_string(server.os_type)},
          {"status", server.status},
          {"plugin", server.plugin},
          {"locked", server.locked},
          {"tags", server.tags},
          {"current_password", server.current_password},
          {"after_restart_password", server.after_restart_password},
          {"pending", server.pending()},
          {"restarts", server.restarts},
          {"history", std::move(history)}};
}

// ---------------------------------------------------------------------------------------------
// State

namespace {

struct Server {
  ServerSnapshot s;
  std::string task_state;  // empty = idle (null)
  std::string image_id;
  std::string image_name;
  std::string flavor_id;
  SysTime created;
  SysTime updated;
  std::string job_id;  // a running job acting on this server
  // The serialised server object of the last listing, and what it was built from.
  mutable std::string cached_text;
  mutable std::string cached_key;
};

struct SubJob {
  std::string job_id;
  std::string server_id;
  bool valid = true;  // false: the server was not in a state the action allows
  std::string status = "INIT";
  std::string error_code;
  std::string fail_reason;
};

struct Job {
  std::string id;
  std::string action;  // "reboot", "os-start", "os-stop"
  std::string type;    // SOFT | HARD
  std::string status = "INIT";
  SysTime begin;
  std::optional<SysTime> end;
  int polls = 0;
  std::vector<SubJob> subs;
};

struct Token {
  std::string project_id;
  std::string user;
  SysTime expires;
};

}  // namespace

namespace detail {

struct ServiceState {
  explicit ServiceState(const EcsSimulatorOptions& options)
      : clock(options.clock != nullptr ? *options.clock : system_clock),
        faults(options.seed, options.faults, clock),
        rng(options.seed * 0x2545F4914F6CDD1DULL + 1) {}

  SystemClock system_clock;
  OffsetClock clock;
  FaultInjector faults;
  mutable std::mutex mutex;
  std::uint64_t rng;
  std::list<Server> servers;  // in creation order; iterators stay valid
  std::unordered_map<std::string, std::list<Server>::iterator> index;
  std::map<std::string, Job, std::less<>> jobs;
  std::map<std::string, Token, std::less<>> tokens;
  std::set<std::string, std::less<>> disabled;  // API keys answered with the gateway's 404
  SimStats stats;
  std::shared_ptr<spdlog::logger> log = rotor::log::get("sim-ecs");

  // All below: call with `mutex` held.
  std::uint64_t next() { return splitmix(rng); }
  double unit() { return static_cast<double>(next() >> 11U) * (1.0 / 9007199254740992.0); }
  std::string hex(std::size_t digits) {
    std::string out;
    while (out.size() < digits) {
      out += fmt::format("{:016x}", next());
    }
    out.resize(digits);
    return out;
  }
  std::string uuid() {
    std::string h = hex(32);
    h[12] = '4';
    h[16] = "89ab"[next() % 4];
    return h.substr(0, 8) + '-' + h.substr(8, 4) + '-' + h.substr(12, 4) + '-' + h.substr(16, 4) +
           '-' + h.substr(20);
  }
  std::string initial_password() { return "Init-" + hex(10) + "!Zq7"; }

  Server* find(std::string_view id) {
    auto it = index.find(std::string(id));
    return it == index.end() ? nullptr : &*it->second;
  }

  Server& insert(Server server) {
    erase(server.s.id);
    servers.push_back(std::move(server));
    auto it = std::prev(servers.end());
    index.emplace(it->s.id, it);
    return *it;
  }

  bool erase(std::string_view id) {
    auto it = index.find(std::string(id));
    if (it == index.end()) {
      return false;
    }
    servers.erase(it->second);
    index.erase(it);
    return true;
  }

  void apply_restart(Server& server) {
    server.s.current_password = server.s.after_restart_password;
    ++server.s.restarts;
    server.updated = clock.now();
  }

  void record_reset(Server& server, std::string_view password, std::string_view api) {
    server.s.history.push_back(
        {std::string(password), clock.now(), std::string(api), server.s.plugin});
    if (server.s.plugin) {
      server.s.after_restart_password = std::string(password);
    }
    server.updated = clock.now();
  }

  void complete(Job& job) {
    const SysTime now = clock.now();
    bool all_ok = true;
    std::string first_code;
    std::string first_reason;
    for (auto& sub : job.subs) {
      Server* server = find(sub.server_id);
      if (server == nullptr) {
        sub.status = "FAIL";
        sub.error_code = "Ecs.0114";
        sub.fail_reason = "The ECS does not exist.";
      } else if (!sub.valid) {
        sub.status = "FAIL";
        sub.error_code = "Ecs.0100";
        sub.fail_reason = "The ECS status does not meet requirements.";
      } else {
        sub.status = "SUCCESS";
        if (job.action == "os-stop") {
          server->s.status = "SHUTOFF";
        } else {
          server->s.status = "ACTIVE";
          apply_restart(*server);
        }
        server->task_state.clear();
        server->updated = now;
      }
      if (server != nullptr && server->job_id == job.id) {
        server->job_id.clear();
      }
      if (sub.status != "SUCCESS" && all_ok) {
        all_ok = false;
        first_code = sub.error_code;
        first_reason = sub.fail_reason;
      }
    }
    job.status = all_ok ? "SUCCESS" : "FAIL";
    job.end = now;
  }

  void advance_jobs(const EcsSimulatorOptions& options) {
    const SysTime now = clock.now();
    for (auto& [id, job] : jobs) {
      if ((job.status == "INIT" || job.status == "RUNNING") &&
          now - job.begin >= options.job_duration) {
        complete(job);
      }
    }
  }

  Server make_server(const ServerSpec& spec) {
    Server server;
    server.s.id = spec.id ? *spec.id : uuid();
    server.s.name = spec.name ? *spec.name : "ecs-" + hex(6);
    server.s.status = spec.status;
    server.s.os_type = spec.os_type;
    server.s.tags = spec.tags;
    server.s.locked = spec.locked;
    server.s.plugin = spec.plugin;
    server.s.current_password = spec.password ? *spec.password : initial_password();
    server.s.after_restart_password = server.s.current_password;
    server.image_id = uuid();
    server.image_name = spec.os_type == OsType::Windows
                            ? "Windows_Server_2019_Datacenter_64bit_English"
                            : "Standard_Ubuntu_22.04_latest";
    server.flavor_id = spec.os_type == OsType::Windows ? "s3.large.2.win" : "s3.large.2.linux";
    server.created = clock.now();
    server.updated = server.created;
    return server;
  }

  json server_json(const Server& server, const std::string& project_id) const {
    const auto& s = server.s;
    const bool stopped = s.status == "SHUTOFF";
    json metadata = {{"os_type", to_string(s.os_type)},
                     {"os_bit", "64"},
                     {"image_name", server.image_name},
                     {"metering.image_id", server.image_id},
                     {"metering.imagetype", "gold"},
                     {"metering.resourcespeccode", server.flavor_id},
                     {"metering.resourcetype", "1"},
                     {"charging_mode", "0"},
                     {"vpc_id", kVpcId},
                     {"EcmResStatus", "normal"}};
    if (s.locked) {
      metadata["lockSource"] = "ORDER";
      metadata["lockSourceId"] = "CS2026010500000000";
      metadata["lockScene"] = "TO_PERIOD_LOCK";
      metadata["lockCheckEndpoint"] = "";
    }
    return {{"id", s.id},
            {"name", s.name},
            {"status", s.status},
            {"OS-EXT-STS:vm_state", stopped ? "stopped" : "active"},
            {"OS-EXT-STS:task_state",
             server.task_state.empty() ? json(nullptr) : json(server.task_state)},
            {"OS-EXT-STS:power_state", stopped ? 4 : 1},
            {"locked", s.locked},
            {"tags", s.tags},
            {"image", {{"id", server.image_id}}},
            {"flavor",
             {{"id", server.flavor_id},
              {"name", server.flavor_id},
              {"disk", "0"},
              {"vcpus", "2"},
              {"ram", "4096"}}},
            {"key_name", ""},
            {"updated", iso_time(server.updated, 0)},
            {"created", iso_time(server.created, 0)},
            {"tenant_id", project_id},
            {"user_id", "f1e2d3c4b5a6978877665544332211ff"},
            {"hostId", "c7ab6d1f0e2c4b5a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e"},
            {"host_status", "UP"},
            {"addresses", addresses_json(s.id, kVpcId)},
            {"security_groups", json::array()},
            {"os-extended-volumes:volumes_attached", json::array()},
            {"OS-EXT-AZ:availability_zone", "eu-de-01"},
            {"OS-DCF:diskConfig", "MANUAL"},
            {"OS-SRV-USG:launched_at", iso_time(server.created, 6)},
            {"OS-SRV-USG:terminated_at", ""},
            {"progress", 0},
            {"description", ""},
            {"enterprise_project_id", "0"},
            {"sys_tags", json::array({{{"key", "_sys_enterprise_project_id"}, {"value", "0"}}})},
            {"metadata", std::move(metadata)}};
  }

  // server_json() as text, rebuilt only when a field it shows has changed (listing thousands
  // of servers is the hot path of every tick of the daemon under test).
  const std::string& server_text(const Server& server, const std::string& project_id) const {
    std::string key = server.s.name;
    key += '\0';
    key += server.s.status;
    key += '\0';
    key += server.task_state;
    key += server.s.locked ? "\1" : "\0";
    for (const auto& tag : server.s.tags) {
      key += tag;
      key += '\0';
    }
    key += std::to_string(server.updated.time_since_epoch().count());
    if (key != server.cached_key || server.cached_text.empty()) {
      server.cached_text = server_json(server, project_id).dump();
      server.cached_key = std::move(key);
    }
    return server.cached_text;
  }

  json job_json(const Job& job) const {
    auto sub_type = [&] {
      if (job.action == "reboot")
        return "rebootServer";
      if (job.action == "os-start")
        return "startServer";
      return "stopServer";
    }();
    auto job_type = [&] {
      if (job.action == "reboot")
        return "batchRebootServer";
      if (job.action == "os-start")
        return "batchStartServer";
      return "batchStopServer";
    }();
    auto nullable = [](const std::string& text) {
      return text.empty() ? json(nullptr) : json(text);
    };
    const json end = job.end ? json(iso_time(*job.end, 3)) : json(nullptr);
    json subs = json::array();
    std::string error_code;
    std::string fail_reason;
    for (const auto& sub : job.subs) {
      const std::string status =
          job.status == "INIT" || job.status == "RUNNING" ? job.status : sub.status;
      json entities = {{"server_id", sub.server_id}};
      if (!sub.fail_reason.empty() && job.end) {
        entities["errorcode_message"] = sub.fail_reason;
      }
      subs.push_back({{"status", status},
                      {"job_id", sub.job_id},
                      {"job_type", sub_type},
                      {"begin_time", iso_time(job.begin, 3)},
                      {"end_time", end},
                      {"error_code", job.end ? nullable(sub.error_code) : json(nullptr)},
                      {"fail_reason", job.end ? nullable(sub.fail_reason) : json(nullptr)},
                      {"entities", std::move(entities)}});
      if (job.end && error_code.empty() && !sub.error_code.empty()) {
        error_code = sub.error_code;
        fail_reason = sub.fail_reason;
      }
    }
    return {{"status", job.status},
            {"job_id", job.id},
            {"job_type", job_type},
            {"begin_time", iso_time(job.begin, 3)},
            {"end_time", end},
            {"error_code", nullable(error_code)},
            {"fail_reason", nullable(fail_reason)},
            {"entities", {{"sub_jobs_total", job.subs.size()}, {"sub_jobs", std::move(subs)}}}};
  }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Service

EcsService::EcsService(EcsSimulatorOptions options)
    : options_(std::move(options)), state_(std::make_unique<detail::ServiceState>(options_)) {
  if (!set_disabled_apis(options_.disabled_apis)) {
    throw std::invalid_argument("unknown API name in disabled_apis");
  }
  auto& st = *state_;
  std::lock_guard lock(st.mutex);
  static constexpr std::array<std::string_view, 3> kEnvs{"prod", "staging", "dev"};
  static constexpr std::array<std::string_view, 5> kRoles{"web", "app", "db", "cache", "batch"};
  static constexpr std::array<std::string_view, 3> kTeams{"payments", "search", "platform"};
  const auto& fleet = options_.fleet;
  for (std::size_t i = 0; i < fleet.count; ++i) {
    const std::string_view env = kEnvs[st.next() % kEnvs.size()];
    const std::string_view role = kRoles[st.next() % kRoles.size()];
    const std::string_view team = kTeams[st.next() % kTeams.size()];
    ServerSpec spec;
    spec.name = fmt::format("{}-{}-{:05d}", env, role, i + 1);
    spec.tags = {fmt::format("env={}", env), fmt::format("role={}", role),
                 fmt::format("team={}", team)};
    spec.os_type = st.unit() < fleet.windows_share ? OsType::Windows : OsType::Linux;
    spec.plugin = !(st.unit() < fleet.no_plugin_share);
    spec.locked = st.unit() < fleet.locked_share;
    spec.status = st.unit() < fleet.stopped_share ? "SHUTOFF" : "ACTIVE";
    st.insert(st.make_server(spec));
  }
}

EcsService::~EcsService() = default;

std::vector<ServerSnapshot> EcsService::servers() const {
  std::lock_guard lock(state_->mutex);
  state_->advance_jobs(options_);
  std::vector<ServerSnapshot> out;
  out.reserve(state_->servers.size());
  for (const auto& server : state_->servers) {
    out.push_back(server.s);
  }
  return out;
}

std::optional<ServerSnapshot> EcsService::server(std::string_view id) const {
  std::lock_guard lock(state_->mutex);
  state_->advance_jobs(options_);
  if (const Server* found = state_->find(id)) {
    return found->s;
  }
  return std::nullopt;
}

std::string EcsService::add_server(const ServerSpec& spec) {
  std::lock_guard lock(state_->mutex);
  return state_->insert(state_->make_server(spec)).s.id;
}

bool EcsService::delete_server(std::string_view id) {
  std::lock_guard lock(state_->mutex);
  return state_->erase(id);
}

bool EcsService::restart_server(std::string_view id) {
  std::lock_guard lock(state_->mutex);
  Server* server = state_->find(id);
  if (server == nullptr) {
    return false;
  }
  state_->apply_restart(*server);
  server->s.status = "ACTIVE";
  server->task_state.clear();
  return true;
}

bool EcsService::set_locked(std::string_view id, bool locked) {
  std::lock_guard lock(state_->mutex);
  Server* server = state_->find(id);
  if (server != nullptr) {
    server->s.locked = locked;
  }
  return server != nullptr;
}

bool EcsService::set_plugin(std::string_view id, bool plugin) {
  std::lock_guard lock(state_->mutex);
  Server* server = state_->find(id);
  if (server != nullptr) {
    server->s.plugin = plugin;
  }
  return server != nullptr;
}

void EcsService::set_faults(FaultProfile profile) {
  state_->faults.set_profile(std::move(profile));
}
FaultProfile EcsService::faults() const {
  return state_->faults.profile();
}
void EcsService::set_faults_enabled(bool enabled) {
  state_->faults.set_enabled(enabled);
}
void EcsService::force_fault(ForcedFault fault) {
  state_->faults.force(std::move(fault));
}

SimStats EcsService::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

void EcsService::reset_stats() {
  std::lock_guard lock(state_->mutex);
  state_->stats = {};
}

std::size_t EcsService::complete_jobs() {
  std::lock_guard lock(state_->mutex);
  std::size_t count = 0;
  for (auto& [id, job] : state_->jobs) {
    if (job.status == "INIT" || job.status == "RUNNING") {
      state_->complete(job);
      ++count;
    }
  }
  return count;
}

bool EcsService::set_disabled_apis(const std::vector<std::string>& keys) {
  const auto known = api_keys();
  for (const auto& key : keys) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return false;
    }
  }
  std::lock_guard lock(state_->mutex);
  state_->disabled = {keys.begin(), keys.end()};
  return true;
}

std::vector<std::string> EcsService::disabled_apis() const {
  std::lock_guard lock(state_->mutex);
  return {state_->disabled.begin(), state_->disabled.end()};
}

void EcsService::advance_clock(std::chrono::seconds by) {
  state_->clock.advance(by);
}

std::chrono::system_clock::time_point EcsService::now() const {
  return state_->clock.now();
}

json EcsService::servers_json() const {
  json list = json::array();
  for (const auto& server : servers()) {
    list.push_back(to_json(server));
  }
  return {{"servers", std::move(list)}};
}

// Durable state (`rotor-sim ecs --state-file`): the servers with their whole history, and the id
// generator, so that a restarted simulator is the same cloud. Jobs and tokens are not kept: a job
// running at the stop is lost (its server keeps its status), clients log in again.
namespace {

std::int64_t to_nanos(SysTime when) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
}

SysTime from_nanos(std::int64_t nanos) {
  return SysTime(std::chrono::duration_cast<SysTime::duration>(std::chrono::nanoseconds(nanos)));
}

}  // namespace

json EcsService::export_state() const {
  std::lock_guard lock(state_->mutex);
  state_->advance_jobs(options_);
  json servers = json::array();
  for (const auto& server : state_->servers) {
    const auto& s = server.s;
    json history = json::array();
    for (const auto& record : s.history) {
      history.push_back({{"password", record.password},
                         {"at", to_nanos(record.at)},
                         {"api", record.api},
                         {"effective", record.effective}});
    }
    servers.push_back({{"id", s.id},
                       {"name", s.name},
                       {"status", s.status},
                       {"os_type", to_string(s.os_type)},
                       {"tags", s.tags},
                       {"locked", s.locked},
                       {"plugin", s.plugin},
                       {"current_password", s.current_password},
                       {"after_restart_password", s.after_restart_password},
                       {"restarts", s.restarts},
                       {"history", std::move(history)},
                       {"image_id", server.image_id},
                       {"image_name", server.image_name},
                       {"flavor_id", server.flavor_id},
                       {"created", to_nanos(server.created)},
                       {"updated", to_nanos(server.updated)}});
  }
  return {{"format", 1}, {"rng", state_->rng}, {"servers", std::move(servers)}};
}

void EcsService::import_state(const json& state) {
  if (!state.is_object() || state.value("format", 0) != 1 || !state.contains("servers")) {
    throw std::runtime_error("not an ECS simulator state (format 1)");
  }
  std::list<Server> servers;
  for (const auto& item : state.at("servers")) {
    Server server;
    auto& s = server.s;
    s.id = item.at("id").get<std::string>();
    s.name = item.at("name").get<std::string>();
    s.status = item.at("status").get<std::string>();
    if (s.status == "REBOOT" || s.status == "HARD_REBOOT") {
      s.status = "ACTIVE";  // its job did not survive the stop
    }
    s.os_type =
        item.at("os_type").get<std::string>() == "Windows" ? OsType::Windows : OsType::Linux;
    s.tags = item.at("tags").get<std::vector<std::string>>();
    s.locked = item.at("locked").get<bool>();
    s.plugin = item.at("plugin").get<bool>();
    s.current_password = item.at("current_password").get<std::string>();
    s.after_restart_password = item.at("after_restart_password").get<std::string>();
    s.restarts = item.at("restarts").get<int>();
    for (const auto& record : item.at("history")) {
      s.history.push_back({record.at("password").get<std::string>(),
                           from_nanos(record.at("at").get<std::int64_t>()),
                           record.at("api").get<std::string>(),
                           record.at("effective").get<bool>()});
    }
    server.image_id = item.at("image_id").get<std::string>();
    server.image_name = item.at("image_name").get<std::string>();
    server.flavor_id = item.at("flavor_id").get<std::string>();
    server.created = from_nanos(item.at("created").get<std::int64_t>());
    server.updated = from_nanos(item.at("updated").get<std::int64_t>());
    servers.push_back(std::move(server));
  }
  std::lock_guard lock(state_->mutex);
  state_->servers.clear();
  state_->index.clear();
  state_->jobs.clear();
  for (auto& server : servers) {
    state_->insert(std::move(server));
  }
  state_->rng = state.at("rng").get<std::uint64_t>();
}

// ---------------------------------------------------------------------------------------------
// Request handling

namespace {

std::optional<json> parse_body(const std::string& body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return std::nullopt;
  }
  return parsed;
}

std::string_view query_value(const sig::Params& query, std::string_view key) {
  for (const auto& [k, v] : query) {
    if (k == key) {
      return v;
    }
  }
  return {};
}

bool has_query(const sig::Params& query, std::string_view key) {
  return std::any_of(query.begin(), query.end(), [&](const auto& p) { return p.first == key; });
}

}  // namespace

namespace {

using detail::ServiceState;

constexpr std::string_view kNotExist = "The ECS does not exist.";

// ---- IAM (§3.1) ----------------------------------------------------------------------------

std::string stable_id(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  std::uint64_t state = hash;
  return fmt::format("{:016x}{:016x}", splitmix(state), splitmix(state));
}

SimResponse iam_tokens(ServiceState& st, const EcsSimulatorOptions& opt, const SimRequest& req) {
  auto body = parse_body(req.body);
  if (!body) {
    return keystone_error(400, "Bad Request", "The request body is not valid JSON.");
  }
  const json* user = nullptr;
  try {
    const json& identity = body->at("auth").at("identity");
    const auto& methods = identity.at("methods");
    if (std::find(methods.begin(), methods.end(), "password") == methods.end()) {
      return keystone_error(400, "Bad Request", "Only the password method is supported.");
    }
    user = &identity.at("password").at("user");
    (void)user->at("name").get<std::string>();
    (void)user->at("password").get<std::string>();
  } catch (const json::exception&) {
    return keystone_error(400, "Bad Request", "Invalid input for field 'auth.identity'.");
  }
  const std::string name = user->at("name").get<std::string>();
  const std::string password = user->at("password").get<std::string>();
  std::string domain;
  if (auto d = user->find("domain"); d != user->end() && d->is_object()) {
    domain = d->value("name", std::string());
    if (domain.empty()) {
      const std::string id = d->value("id", std::string());
      for (const auto& candidate : opt.iam_users) {
        if (stable_id(candidate.domain) == id) {
          domain = candidate.domain;
        }
      }
    }
  }
  const IamUser* found = nullptr;
  for (const auto& candidate : opt.iam_users) {
    if (candidate.name == name && candidate.domain == domain) {
      found = &candidate;
    }
  }
  if (found == nullptr || !constant_time_equals(found->password, password)) {
    return keystone_error(401, "Unauthorized", "The username or password is wrong.");
  }
  std::string project_id;
  if (auto scope = body->at("auth").find("scope"); scope != body->at("auth").end()) {
    if (auto project = scope->find("project"); project != scope->end() && project->is_object()) {
      const std::string id = project->value("id", std::string());
      const std::string pname = project->value("name", std::string());
      if (id != opt.project_id && pname != opt.project_name) {
        return keystone_error(401, "Unauthorized", "The project in the scope is not available.");
      }
      project_id = opt.project_id;
    }
  }
  const SysTime now = st.clock.now();
  const std::string token = "MIIsim" + st.hex(58);
  st.tokens[token] = {project_id, found->name, now + opt.token_ttl};
  json project = nullptr;
  if (!project_id.empty()) {
    project = {{"id", opt.project_id},
               {"name", opt.project_name},
               {"domain", {{"id", stable_id(found->domain)}, {"name", found->domain}}}};
  }
  json token_body = {
      {"expires_at", iso_time(now + opt.token_ttl, 6)},
      {"issued_at", iso_time(now, 6)},
      {"methods", {"password"}},
      {"catalog", json::array()},
      {"roles", json::array({{{"id", stable_id("te_admin")}, {"name", "te_admin"}}})},
      {"user",
       {{"id", stable_id(found->domain + "/" + found->name)},
        {"name", found->name},
        {"domain", {{"id", stable_id(found->domain)}, {"name", found->domain}}},
        {"password_expires_at", ""}}}};
  if (!project.is_null()) {
    token_body["project"] = std::move(project);
  }
  SimResponse res = json_response(201, {{"token", std::move(token_body)}});
  res.headers.emplace_back("X-Subject-Token", token);
  return res;
}

// GET /v3/projects[?name=…] (§3.1 project id lookup): the one project served.
SimResponse iam_projects(const EcsSimulatorOptions& opt, const SimRequest& req) {
  json projects = json::array();
  const std::string_view name = query_value(req.query, "name");
  if (name.empty() || name == opt.project_name) {
    projects.push_back({{"id", opt.project_id},
                        {"name", opt.project_name},
                        {"domain_id", stable_id(opt.iam_users.empty() ? std::string("domain")
                                                                      : opt.iam_users[0].domain)},
                        {"parent_id", stable_id("parent")},
                        {"is_domain", false},
                        {"enabled", true},
                        {"description", ""}});
  }
  return json_response(
      200, {{"projects", std::move(projects)},
            {"links", {{"self", "/v3/projects"}, {"next", nullptr}, {"previous", nullptr}}}});
}

// ---- Resets (§1.1–1.4) ---------------------------------------------------------------------

bool busy(const Server& server) {
  return !server.task_state.empty();
}

SimResponse reset_v21(ServiceState& st, const SimRequest& req, const std::string& id) {
  auto body = parse_body(req.body);
  const json* pw = nullptr;
  if (body) {
    auto outer = body->find("reset-password");
    if (outer != body->end() && outer->is_object()) {
      auto inner = outer->find("new_password");
      if (inner != outer->end() && inner->is_string()) {
        pw = &*inner;
      }
    }
  }
  if (pw == nullptr) {
    return nova_error(400, "Invalid input for field/attribute reset-password.");
  }
  Server* server = st.find(id);
  if (server == nullptr) {
    return nova_error(404, fmt::format("Instance {} could not be found.", id));
  }
  if (server->s.locked) {
    return nova_error(409, fmt::format("Instance {} is locked", id));
  }
  if (busy(*server)) {
    return nova_error(409, fmt::format("Cannot 'os-reset-password' instance {} while it is in "
                                       "task_state {}",
                                       id, server->task_state));
  }
  st.record_reset(*server, pw->get_ref<const std::string&>(), "reset-v2.1");
  return empty_response(200);
}

SimResponse reset_v1(ServiceState& st, const SimRequest& req, const std::string& id) {
  auto body = parse_body(req.body);
  if (req.body.empty()) {
    return ecs_error(400, "Common.0002", "The request body cannot be left blank.");
  }
  const json* pw = nullptr;
  bool check = false;
  if (body) {
    auto outer = body->find("reset-password");
    if (outer != body->end() && outer->is_object()) {
      auto inner = outer->find("new_password");
      if (inner != outer->end() && inner->is_string()) {
        pw = &*inner;
      }
      auto flag = outer->find("is_check_password");
      if (flag != outer->end()) {
        if (!flag->is_boolean()) {
          pw = nullptr;
        } else {
          check = flag->get<bool>();
        }
      }
    }
  }
  if (pw == nullptr) {
    return ecs_error(400, "Ecs.0005", "Invalid parameter values. Contact customer service.");
  }
  Server* server = st.find(id);
  if (server == nullptr) {
    return ecs_error(404, "Ecs.0114", kNotExist);
  }
  if (check && !check_password_v1(pw->get_ref<const std::string&>()).empty()) {
    return ecs_error(400, "Ecs.0011",
                     "Ensure the password meets the password complexity requirements.");
  }
  if (server->s.locked) {
    return ecs_error(400, "Ecs.0605", "ECS locked.");
  }
  if (busy(*server)) {
    return ecs_error(400, "Ecs.0100",
                     "The ECS status does not meet requirements. Make the ECS in the required "
                     "status and try again.");
  }
  st.record_reset(*server, pw->get_ref<const std::string&>(), "reset-v1");
  return empty_response(204);
}

SimResponse invalid_params() {
  return ecs_error(400, "Ecs.0005", "Invalid parameter values. Contact customer service.");
}

SimResponse batch_reset(ServiceState& st, const EcsSimulatorOptions& opt, const SimRequest& req) {
  if (req.body.empty()) {
    return ecs_error(400, "Common.0002", "The request body cannot be left blank.");
  }
  auto body = parse_body(req.body);
  if (!body) {
    return invalid_params();
  }
  bool dry_run = false;
  if (auto it = body->find("dry_run"); it != body->end()) {
    if (!it->is_boolean()) {
      return invalid_params();
    }
    dry_run = it->get<bool>();
  }
  auto servers = body->find("servers");
  if (servers == body->end() || !servers->is_array() || servers->empty()) {
    return invalid_params();
  }
  if (servers->size() > kMaxBatch) {
    return ecs_error(400, "Ecs.0118", "The number of ECSs exceeds the maximum allowed limit.");
  }
  std::vector<std::string> ids;
  for (const auto& entry : *servers) {
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string()) {
      return invalid_params();
    }
    const auto& id = entry["id"].get_ref<const std::string&>();
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      ids.push_back(id);
    }
  }
  const std::string* password = nullptr;
  if (auto it = body->find("new_password"); it != body->end()) {
    if (!it->is_string()) {
      return invalid_params();
    }
    password = &it->get_ref<const std::string&>();
  }
  if (password == nullptr && !dry_run) {
    return invalid_params();
  }
  if (password != nullptr && !check_password_v1(*password).empty()) {
    return ecs_error(400, "Ecs.0011",
                     "Ensure the password meets the password complexity requirements.");
  }
  json failures = json::array();
  std::vector<Server*> targets;
  for (const auto& id : ids) {
    Server* server = st.find(id);
    if (server == nullptr) {
      failures.push_back({{"id", id}, {"error_code", "Ecs.0114"}, {"error_message", kNotExist}});
    } else if (server->s.locked) {
      failures.push_back(
          {{"id", id}, {"error_code", "Ecs.0605"}, {"error_message", "ECS locked."}});
    } else if (busy(*server)) {
      failures.push_back({{"id", id},
                          {"error_code", "Ecs.0100"},
                          {"error_message", "The ECS status does not meet requirements."}});
    } else {
      targets.push_back(server);
    }
  }
  const bool apply = !dry_run && (failures.empty() || opt.partial_batch_applies);
  if (apply) {
    for (Server* server : targets) {
      st.record_reset(*server, *password, "batch");
    }
  }
  if (!failures.empty()) {
    return json_response(400,
                         {{"error", {{"code", "Ecs.0611"}, {"message", "Batch operation failed."}}},
                          {"internalError", std::move(failures)}});
  }
  json response = json::array();
  for (const Server* server : targets) {
    response.push_back({{"id", server->s.id}});
  }
  return json_response(200, {{"response", std::move(response)}});
}

SimResponse reset_flag(ServiceState& st, const std::string& id) {
  const Server* server = st.find(id);
  if (server == nullptr) {
    return ecs_error(404, "Ecs.0114", kNotExist);
  }
  return json_response(200, {{"resetpwd_flag", server->s.plugin ? "True" : "False"}});
}

// ---- Listing (§5.1, §5.3) ------------------------------------------------------------------

SimResponse list_detail(ServiceState& st, const EcsSimulatorOptions& opt, const SimRequest& req) {
  long page = 1;
  long limit = 25;
  if (has_query(req.query, "offset")) {
    auto value = parse_long(query_value(req.query, "offset"));
    if (!value) {
      return invalid_params();
    }
    page = std::max(1L, *value);
  }
  if (has_query(req.query, "limit")) {
    auto value = parse_long(query_value(req.query, "limit"));
    if (!value || *value < 1 || *value > 1000) {
      return invalid_params();
    }
    limit = *value;
  }
  std::set<std::string, std::less<>> wanted_ids;
  std::vector<std::string_view> tags;
  std::vector<std::string_view> not_tags;
  for (const auto& [key, value] : req.query) {
    if (key == "server_id") {
      wanted_ids.insert(value);
    } else if (key == "tags") {
      tags.push_back(value);
    } else if (key == "not-tags") {
      not_tags.push_back(value);
    }
  }
  const std::string_view name = query_value(req.query, "name");
  const std::string_view status = query_value(req.query, "status");
  auto has_tag = [](const Server& server, std::string_view tag) {
    const bool with_value = tag.find('=') != std::string_view::npos;
    return std::any_of(server.s.tags.begin(), server.s.tags.end(), [&](const std::string& t) {
      return with_value ? t == tag : split_tag(t).first == tag;
    });
  };
  std::vector<const Server*> matching;
  for (const auto& server : st.servers) {
    if (!wanted_ids.empty()) {
      if (wanted_ids.count(server.s.id) != 0) {
        matching.push_back(&server);
      }
      continue;
    }
    if (!fuzzy_match(server.s.name, name))
      continue;
    if (!status.empty() && !status_matches(status, server.s.status))
      continue;
    if (!std::all_of(tags.begin(), tags.end(), [&](auto t) { return has_tag(server, t); }))
      continue;
    if (std::any_of(not_tags.begin(), not_tags.end(), [&](auto t) { return has_tag(server, t); }))
      continue;
    matching.push_back(&server);
  }
  SimResponse res;
  res.status = 200;
  res.content_type = std::string(kJson);
  res.body = "{\"count\":" + std::to_string(matching.size()) + ",\"servers\":[";
  const auto first = static_cast<std::size_t>((page - 1) * limit);
  for (std::size_t i = first; i < matching.size() && i < first + static_cast<std::size_t>(limit);
       ++i) {
    if (i != first) {
      res.body += ',';
    }
    res.body += st.server_text(*matching[i], opt.project_id);
  }
  res.body += "]}";
  return res;
}

SimResponse show_server(ServiceState& st, const EcsSimulatorOptions& opt, const std::string& id) {
  const Server* server = st.find(id);
  if (server == nullptr) {
    return ecs_error(404, "Ecs.0114", kNotExist);
  }
  return json_response(200, {{"server", st.server_json(*server, opt.project_id)}});
}

struct TagCondition {
  std::string key;
  std::vector<std::string> values;  // empty = any value
};

std::optional<std::vector<TagCondition>> parse_tag_conditions(const json& body,
                                                              std::string_view field) {
  std::vector<TagCondition> out;
  auto it = body.find(field);
  if (it == body.end()) {
    return out;
  }
  if (!it->is_array()) {
    return std::nullopt;
  }
  for (const auto& entry : *it) {
    if (entry.is_string()) {  // OTC documents not_tags as strings: "key" or "key=value"
      auto [key, value] = split_tag(entry.get<std::string>());
      out.push_back({key, value.empty() ? std::vector<std::string>{} : std::vector{value}});
      continue;
    }
    if (!entry.is_object() || !entry.contains("key") || !entry["key"].is_string()) {
      return std::nullopt;
    }
    TagCondition condition{entry["key"].get<std::string>(), {}};
    if (entry.contains("values")) {
      if (!entry["values"].is_array()) {
        return std::nullopt;
      }
      for (const auto& value : entry["values"]) {
        if (!value.is_string()) {
          return std::nullopt;
        }
        condition.values.push_back(value.get<std::string>());
      }
    }
    out.push_back(std::move(condition));
  }
  return out;
}

std::optional<long> string_or_number(const json& body, std::string_view field, long fallback) {
  auto it = body.find(field);
  if (it == body.end()) {
    return fallback;
  }
  if (it->is_number_integer()) {
    return it->get<long>();
  }
  if (it->is_string()) {
    return parse_long(it->get<std::string>());
  }
  return std::nullopt;
}

SimResponse tag_query(ServiceState& st, const SimRequest& req) {
  auto body = parse_body(req.body);
  if (!body) {
    return invalid_params();
  }
  const std::string action = body->value("action", std::string());
  if (action != "filter" && action != "count") {
    return invalid_params();
  }
  auto tags = parse_tag_conditions(*body, "tags");
  auto not_tags = parse_tag_conditions(*body, "not_tags");
  auto limit = string_or_number(*body, "limit", 1000);
  auto offset = string_or_number(*body, "offset", 0);
  if (!tags || !not_tags || !limit || !offset || *limit < 1 || *limit > 1000 || *offset < 0) {
    return invalid_params();
  }
  std::string name_match;
  if (auto matches = body->find("matches"); matches != body->end() && matches->is_array()) {
    for (const auto& m : *matches) {
      if (m.is_object() && m.value("key", std::string()) == "resource_name") {
        name_match = m.value("value", std::string());
      }
    }
  }
  auto satisfies = [](const Server& server, const TagCondition& cond) {
    return std::any_of(server.s.tags.begin(), server.s.tags.end(), [&](const std::string& t) {
      auto [key, value] = split_tag(t);
      return key == cond.key &&
             (cond.values.empty() ||
              std::find(cond.values.begin(), cond.values.end(), value) != cond.values.end());
    });
  };
  std::vector<const Server*> matching;
  for (const auto& server : st.servers) {
    if (!name_match.empty() && server.s.name.find(name_match) == std::string::npos)
      continue;
    if (!std::all_of(tags->begin(), tags->end(),
                     [&](const auto& c) { return satisfies(server, c); }))
      continue;
    if (std::any_of(not_tags->begin(), not_tags->end(),
                    [&](const auto& c) { return satisfies(server, c); }))
      continue;
    matching.push_back(&server);
  }
  if (action == "count") {
    return json_response(200, {{"total_count", matching.size()}});
  }
  json resources = json::array();
  const auto first = static_cast<std::size_t>(*offset);
  for (std::size_t i = first; i < matching.size() && i < first + static_cast<std::size_t>(*limit);
       ++i) {
    json tag_list = json::array();
    for (const auto& t : matching[i]->s.tags) {
      auto [key, value] = split_tag(t);
      tag_list.push_back({{"key", key}, {"value", value}});
    }
    resources.push_back({{"resource_id", matching[i]->s.id},
                         {"resource_name", matching[i]->s.name},
                         {"resource_detail", nullptr},
                         {"tags", std::move(tag_list)}});
  }
  return json_response(200,
                       {{"resources", std::move(resources)}, {"total_count", matching.size()}});
}

// ---- Actions and jobs (§6) -----------------------------------------------------------------

SimResponse server_action(ServiceState& st, const EcsSimulatorOptions& opt, const SimRequest& req) {
  if (req.body.empty()) {
    return ecs_error(400, "Common.0002", "The request body cannot be left blank.");
  }
  auto body = parse_body(req.body);
  if (!body || body->size() != 1) {
    return invalid_params();
  }
  const std::string action = body->begin().key();
  const json& spec = body->begin().value();
  if ((action != "reboot" && action != "os-start" && action != "os-stop") || !spec.is_object()) {
    return invalid_params();
  }
  std::string type = "SOFT";
  if (auto it = spec.find("type"); it != spec.end()) {
    if (!it->is_string() || (*it != "SOFT" && *it != "HARD")) {
      return invalid_params();
    }
    type = it->get<std::string>();
  } else if (action == "reboot") {
    return invalid_params();
  }
  auto servers = spec.find("servers");
  if (servers == spec.end() || !servers->is_array() || servers->empty()) {
    return invalid_params();
  }
  if (servers->size() > kMaxBatch) {
    return ecs_error(400, "Ecs.0118", "The number of ECSs exceeds the maximum allowed limit.");
  }
  std::vector<Server*> targets;
  for (const auto& entry : *servers) {
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string()) {
      return invalid_params();
    }
    Server* server = st.find(entry["id"].get<std::string>());
    if (server == nullptr) {
      return ecs_error(404, "Ecs.0114", kNotExist);
    }
    if (server->s.locked) {
      return ecs_error(400, "Ecs.0605", "ECS locked.");
    }
    if (std::find(targets.begin(), targets.end(), server) == targets.end()) {
      targets.push_back(server);
    }
  }
  Job job;
  job.id = st.hex(32);
  job.action = action;
  job.type = type;
  job.begin = st.clock.now();
  for (Server* server : targets) {
    SubJob sub;
    sub.job_id = st.hex(32);
    sub.server_id = server->s.id;
    const bool stopped = server->s.status == "SHUTOFF";
    sub.valid = !busy(*server) && (action == "os-start" ? stopped : !stopped);
    if (sub.valid) {
      server->job_id = job.id;
      if (action == "reboot") {
        server->s.status = type == "HARD" ? "HARD_REBOOT" : "REBOOT";
        server->task_state = type == "HARD" ? "rebooting_hard" : "rebooting";
      } else if (action == "os-start") {
        server->task_state = "powering-on";
      } else {
        server->task_state = "powering-off";
      }
    }
    job.subs.push_back(std::move(sub));
  }
  if (opt.job_polls <= 0) {
    st.complete(job);
  }
  const std::string id = job.id;
  st.jobs.emplace(id, std::move(job));
  return json_response(200, {{"job_id", id}});
}

SimResponse show_job(ServiceState& st, const EcsSimulatorOptions& opt, const std::string& id) {
  auto it = st.jobs.find(id);
  if (it == st.jobs.end()) {
    return ecs_error(400, "Common.0011", "Failed to query system tasks.");
  }
  Job& job = it->second;
  if (job.status == "INIT" || job.status == "RUNNING") {
    ++job.polls;
    if (job.polls >= opt.job_polls) {
      st.complete(job);
    } else {
      job.status = "RUNNING";
    }
  }
  return json_response(200, st.job_json(job));
}

// ---- /_sim controls ------------------------------------------------------------------------

json stats_json(const SimStats& stats) {
  json routes = json::object();
  for (const auto& [route, statuses] : stats.by_route) {
    json by_status = json::object();
    for (const auto& [status, count] : statuses) {
      by_status[std::to_string(status)] = count;
    }
    routes[route] = std::move(by_status);
  }
  return {{"requests", stats.requests},
          {"routes", std::move(routes)},
          {"faults", stats.faults},
          {"auth_refused", stats.auth_refused},
          {"signed_headers", stats.signed_headers}};
}

std::optional<ServerSpec> spec_from_json(const json& body) {
  ServerSpec spec;
  try {
    if (body.contains("id"))
      spec.id = body["id"].get<std::string>();
    if (body.contains("name"))
      spec.name = body["name"].get<std::string>();
    if (body.contains("os_type")) {
      const auto os = body["os_type"].get<std::string>();
      if (os != "Linux" && os != "Windows") {
        return std::nullopt;
      }
      spec.os_type = os == "Windows" ? OsType::Windows : OsType::Linux;
    }
    if (body.contains("tags"))
      spec.tags = body["tags"].get<std::vector<std::string>>();
    spec.plugin = body.value("plugin", true);
    spec.locked = body.value("locked", false);
    spec.status = body.value("status", std::string("ACTIVE"));
    if (body.contains("password"))
      spec.password = body["password"].get<std::string>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return spec;
}

}  // namespace

SimResponse EcsService::handle(const SimRequest& req) {
  auto& st = *state_;
  std::string request_id;
  {
    std::lock_guard lock(st.mutex);
    request_id = st.hex(32);
  }
  std::string path = req.path;
  while (path.size() > 1 && path.back() == '/') {
    path.pop_back();
  }

  // Test-only controls: unauthenticated, never faulted, not counted.
  if (path == "/_sim" || path.rfind("/_sim/", 0) == 0) {
    const auto parts = split_path(path);
    auto control_error = [](int status, std::string_view message) {
      return json_response(status, {{"error", message}});
    };
    const std::string& m = req.method;
    if (parts.size() >= 2 && parts[1] == "servers") {
      if (parts.size() == 2 && m == "GET") {
        return json_response(200, servers_json());
      }
      if (parts.size() == 2 && m == "POST") {
        auto body = parse_body(req.body.empty() ? std::string("{}") : req.body);
        auto spec = body ? spec_from_json(*body) : std::nullopt;
        if (!spec) {
          return control_error(400, "invalid server spec");
        }
        const std::string id = add_server(*spec);
        return json_response(201, to_json(*server(id)));
      }
      if (parts.size() >= 3) {
        const std::string id(parts[2]);
        if (parts.size() == 4 && parts[3] == "restart" && m == "POST") {
          if (!restart_server(id))
            return control_error(404, "no such server");
          return json_response(200, to_json(*server(id)));
        }
        if (parts.size() == 3 && m == "GET") {
          auto found = server(id);
          return found ? json_response(200, to_json(*found)) : control_error(404, "no such server");
        }
        if (parts.size() == 3 && m == "DELETE") {
          return delete_server(id) ? empty_response(204) : control_error(404, "no such server");
        }
        if (parts.size() == 3 && m == "PATCH") {
          auto body = parse_body(req.body);
          if (!body)
            return control_error(400, "invalid JSON");
          std::lock_guard lock(st.mutex);
          Server* found = st.find(id);
          if (found == nullptr)
            return control_error(404, "no such server");
          try {
            if (body->contains("locked"))
              found->s.locked = (*body)["locked"].get<bool>();
            if (body->contains("plugin"))
              found->s.plugin = (*body)["plugin"].get<bool>();
            if (body->contains("status"))
              found->s.status = (*body)["status"].get<std::string>();
            if (body->contains("tags"))
              found->s.tags = (*body)["tags"].get<std::vector<std::string>>();
            if (body->contains("name"))
              found->s.name = (*body)["name"].get<std::string>();
          } catch (const json::exception&) {
            return control_error(400, "invalid field");
          }
          return json_response(200, to_json(found->s));
        }
      }
    } else if (parts.size() == 2 && parts[1] == "faults") {
      if (m == "GET") {
        return json_response(
            200, {{"profile", to_json(faults())}, {"forced_pending", st.faults.forced_pending()}});
      }
      if (m == "POST") {
        auto body = parse_body(req.body);
        if (!body)
          return control_error(400, "invalid JSON");
        auto profile = apply_json(faults(), *body);
        if (!profile)
          return control_error(400, profile.error().message());
        std::vector<ForcedFault> forced;
        if (auto it = body->find("force"); it != body->end()) {
          if (!it->is_array())
            return control_error(400, "force must be an array");
          for (const auto& f : *it) {
            auto cls = fault_class_from(f.value("class", std::string()));
            if (!f.is_object() || !cls)
              return control_error(400, "unknown fault class");
            forced.push_back({*cls, f.value("method", std::string()),
                              f.value("path_contains", std::string()), f.value("count", 1),
                              f.value("skip", 0)});
          }
        }
        set_faults(*profile);
        for (auto& f : forced)
          force_fault(std::move(f));
        return json_response(
            200, {{"profile", to_json(faults())}, {"forced_pending", st.faults.forced_pending()}});
      }
      if (m == "DELETE") {
        set_faults(FaultProfile{});
        st.faults.clear_forced();
        return empty_response(204);
      }
    } else if (parts.size() == 2 && parts[1] == "apis") {
      if (m == "POST") {
        auto body = parse_body(req.body);
        if (!body || !body->contains("disabled") || !(*body)["disabled"].is_array()) {
          return control_error(400, "expected {\"disabled\": [names]}");
        }
        std::vector<std::string> keys;
        for (const auto& key : (*body)["disabled"]) {
          if (!key.is_string())
            return control_error(400, "API names are strings");
          keys.push_back(key.get<std::string>());
        }
        if (!set_disabled_apis(keys))
          return control_error(400, "unknown API name");
      }
      if (m == "POST" || m == "GET") {
        return json_response(200, {{"apis", api_keys()}, {"disabled", disabled_apis()}});
      }
    } else if (parts.size() == 2 && parts[1] == "stats") {
      if (m == "GET")
        return json_response(200, stats_json(stats()));
      if (m == "DELETE") {
        reset_stats();
        return empty_response(204);
      }
    } else if (parts.size() == 3 && parts[1] == "jobs" && parts[2] == "complete" && m == "POST") {
      return json_response(200, {{"completed", complete_jobs()}});
    } else if (parts.size() == 2 && parts[1] == "clock") {
      if (m == "POST") {
        auto body = parse_body(req.body);
        if (!body || !body->contains("advance_seconds") ||
            !(*body)["advance_seconds"].is_number_integer()) {
          return control_error(400, "expected {\"advance_seconds\": N}");
        }
        advance_clock(std::chrono::seconds((*body)["advance_seconds"].get<long>()));
      }
      if (m == "POST" || m == "GET") {
        return json_response(200, {{"now", iso_time(now(), 3)}});
      }
    }
    return control_error(404, "unknown control");
  }

  SimResponse res;
  std::string route_name = "unknown";
  auto count = [&](SimResponse& out, std::string_view fault) {
    std::lock_guard lock(st.mutex);
    ++st.stats.requests;
    const int status = out.action == SimResponse::Action::Respond ? out.status : 0;
    ++st.stats.by_route[route_name][status];
    if (!fault.empty()) {
      ++st.stats.faults[std::string(fault)];
    }
    out.headers.emplace_back("X-Request-Id", request_id);
  };

  auto matched = match_route(req.method, path);
  if (!matched) {
    res = gateway_error(404, "APIGW.0101",
                        "The API does not exist or has not been published in the environment.",
                        request_id);
    count(res, {});
    return res;
  }
  route_name = std::string(matched->spec->name);
  bool disabled = false;
  {
    std::lock_guard lock(st.mutex);
    disabled = st.disabled.count(matched->spec->key) != 0;
  }
  if (disabled) {
    res = gateway_error(404, "APIGW.0101",
                        "The API does not exist or has not been published in the environment.",
                        request_id);
    count(res, {});
    return res;
  }
  const Route route = matched->spec->route;
  const bool is_iam = route == Route::IamTokens || route == Route::IamProjects;
  const bool nova = route == Route::ResetV21;

  // Authentication (everything except the IAM token endpoint). IAM's own paths carry no project.
  std::optional<SimResponse> refused;
  if (route != Route::IamTokens && options_.verify_auth) {
    const std::string url_project = matched->captures.empty() ? "" : matched->captures.front();
    auto token = sig::find_header(req.headers, "x-auth-token");
    std::lock_guard lock(st.mutex);
    if (token) {
      auto it = st.tokens.find(*token);
      if (it == st.tokens.end() || it->second.expires <= st.clock.now()) {
        refused = gateway_error(401, "APIGW.0301",
                                it == st.tokens.end()
                                    ? "Incorrect IAM authentication information: decrypt token fail"
                                    : "Incorrect IAM authentication information: token expired",
                                request_id);
      } else if (!url_project.empty() && it->second.project_id != url_project) {
        refused =
            ecs_error(400, "Ecs.0023", "project_id in token mismatches with project_id in url.");
      }
    } else if (sig::find_header(req.headers, "authorization")) {
      sig::ReceivedRequest received{req.method, req.path, req.query, req.headers, req.body};
      auto verdict = sig::verify(
          received,
          [&](const std::string& ak) -> std::optional<std::string> {
            for (const auto& pair : options_.access_keys) {
              if (pair.access_key == ak) {
                return pair.secret_key;
              }
            }
            return std::nullopt;
          },
          st.clock.now(), options_.signature_window);
      if (!verdict.ok) {
        refused = gateway_error(401, "APIGW.0301",
                                "Incorrect IAM authentication information: " + verdict.reason,
                                request_id);
      } else {
        std::string names;
        if (auto parsed =
                sig::parse_authorization(*sig::find_header(req.headers, "authorization"))) {
          for (const auto& name : parsed->signed_headers) {
            names += names.empty() ? name : ";" + name;
          }
        }
        ++st.stats.signed_headers[names];
        auto header_project = sig::find_header(req.headers, "x-project-id");
        if (!url_project.empty() && ((header_project && *header_project != url_project) ||
                                     url_project != options_.project_id)) {
          refused =
              ecs_error(400, "Ecs.0023", "project_id in token mismatches with project_id in url.");
        }
      }
    } else {
      refused = gateway_error(401, "APIGW.0301",
                              "Incorrect IAM authentication information: Authorization not found",
                              request_id);
    }
    if (refused && refused->status == 401) {
      ++st.stats.auth_refused;
    }
  }
  if (refused) {
    count(*refused, {});
    return std::move(*refused);
  }

  // Faults decided before the change.
  const auto decision = st.faults.decide(req.method, path, is_iam);
  const std::string_view fault_name =
      decision.fault == FaultClass::None ? std::string_view{} : to_string(decision.fault);
  switch (decision.fault) {
    case FaultClass::ResetBefore:
      res.action = SimResponse::Action::Reset;
      count(res, fault_name);
      return res;
    case FaultClass::TimeoutBefore:
      res.action = SimResponse::Action::HoldThenReset;
      res.hold = decision.hold;
      count(res, fault_name);
      return res;
    case FaultClass::ServerError:
      res = nova ? nova_error(500, "Unexpected API Error. Please report this.")
                 : ecs_error(500, "Common.0001",
                             "A system exception occurred. Try again later or contact customer "
                             "service.");
      res.delay = decision.latency;
      count(res, fault_name);
      return res;
    case FaultClass::Throttle:
      res = ecs_error(
          202, "Common.0024",
          options_.flavor == Flavor::Otc ? "Flow limit exceeded." : "exceeds flow over limit");
      res.delay = decision.latency;
      count(res, fault_name);
      return res;
    case FaultClass::RateLimited:
      res = ecs_error(429, "Common.1503",
                      "Api flow control Error because the request rate exceeds the limit.");
      res.headers.emplace_back("Retry-After", "1");
      count(res, fault_name);
      return res;
    default: break;
  }

  {
    std::lock_guard lock(st.mutex);
    st.advance_jobs(options_);
    const auto& caps = matched->captures;
    switch (route) {
      case Route::IamTokens: res = iam_tokens(st, options_, req); break;
      case Route::ResetV21: res = reset_v21(st, req, caps[1]); break;
      case Route::ResetV1: res = reset_v1(st, req, caps[1]); break;
      case Route::BatchReset: res = batch_reset(st, options_, req); break;
      case Route::ResetFlag: res = reset_flag(st, caps[1]); break;
      case Route::ListDetail: res = list_detail(st, options_, req); break;
      case Route::ShowServer: res = show_server(st, options_, caps[1]); break;
      case Route::TagQueryOtc:
      case Route::TagQueryHuawei: res = tag_query(st, req); break;
      case Route::Action: res = server_action(st, options_, req); break;
      case Route::ShowJob: res = show_job(st, options_, caps[1]); break;
      case Route::IamProjects: res = iam_projects(options_, req); break;
    }
  }
  res.delay = decision.latency;

  // Faults after the change was applied.
  switch (decision.fault) {
    case FaultClass::ResetAfter:
      res = SimResponse{};
      res.action = SimResponse::Action::Reset;
      break;
    case FaultClass::TimeoutAfter:
      res = SimResponse{};
      res.action = SimResponse::Action::HoldThenReset;
      res.hold = decision.hold;
      break;
    case FaultClass::ServerErrorAfter:
      res = gateway_error(504, "APIGW.0203", "Backend timeout.", request_id);
      break;
    default: break;
  }
  count(res, fault_name);
  return res;
}

}  // namespace rotor::sim
