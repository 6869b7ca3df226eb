#pragma once
// Configuration and inspection types of the ECS simulator (shared by the in-process API, the
// /_sim HTTP controls and the `rotor-sim ecs` command line).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "sim/ecs/faults.h"

namespace rotor::sim {

enum class OsType { Linux, Windows };
enum class Flavor { Otc, Huawei };

struct AccessKeyPair {
  std::string access_key;
  std::string secret_key;
};

struct IamUser {
  std::string domain;
  std::string name;
  std::string password;
};

// Generated servers: names, tags, an OS mix, a share without the reset plug-in.
struct FleetOptions {
  std::size_t count = 0;
  double windows_share = 0.3;
  double no_plugin_share = 0.05;
  double locked_share = 0.0;
  double stopped_share = 0.0;
};

struct TlsFiles {
  std::string cert_file;
  std::string key_file;
};

struct EcsSimulatorOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port; start() returns the bound one
  std::optional<TlsFiles> tls;
  Flavor flavor = Flavor::Otc;
  std::string project_id = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";
  std::string project_name = "eu-de";
  std::vector<AccessKeyPair> access_keys;
  std::vector<IamUser> iam_users;
  bool verify_auth = true;  // false: every request is accepted without credentials
  std::uint64_t seed = 1;
  FleetOptions fleet;
  FaultProfile faults;  // default: no faults
  std::chrono::seconds signature_window{15 * 60};
  std::chrono::seconds token_ttl{24 * 3600};
  // A job completes after this many polls of GET /jobs/{id}, or once this much simulated time
  // passed since it began, whichever comes first.
  int job_polls = 2;
  std::chrono::seconds job_duration{30};
  // Batch reset with some failing servers: apply the password to the others (true; the harder
  // case for a client) or to none.
  bool partial_batch_applies = true;
  std::size_t threads = 64;
  // APIs answered with the gateway's 404 (names from api_keys() in service.h), to play a region
  // that lacks them, e.g. {"resetpwd-flag"}. An unknown name makes the constructor throw.
  std::vector<std::string> disabled_apis;
  // Time source for X-Sdk-Date checks, token expiry, jobs and the rate limit; not owned.
  // nullptr = the system clock.
  const Clock* clock = nullptr;
};

struct PasswordRecord {
  std::string password;
  std::chrono::system_clock::time_point at;
  std::string api;        // "reset-v2.1", "reset-v1", "batch", "sim"
  bool effective = true;  // false when the server has no plug-in (silently ignored)
};

struct ServerSnapshot {
  std::string id;
  std::string name;
  std::string status;  // ACTIVE, SHUTOFF, REBOOT, …
  OsType os_type = OsType::Linux;
  std::vector<std::string> tags;  // "key=value"
  bool locked = false;
  bool plugin = true;
  std::string current_password;         // accepted now
  std::string after_restart_password;   // accepted after the next start/reboot
  std::vector<PasswordRecord> history;  // every password the reset APIs accepted
  int restarts = 0;
  [[nodiscard]] bool pending() const { return current_password != after_restart_password; }
};

// A server to add; unset fields are generated from the seed.
struct ServerSpec {
  std::optional<std::string> id;
  std::optional<std::string> name;
  OsType os_type = OsType::Linux;
  std::vector<std::string> tags;
  bool plugin = true;
  bool locked = false;
  std::string status = "ACTIVE";
  std::optional<std::string> password;
};

struct SimStats {
  std::uint64_t requests = 0;
  // Route ("PUT /v1/{project_id}/cloudservers/os-reset-passwords") → status → count.
  std::map<std::string, std::map<int, std::uint64_t>> by_route;
  std::map<std::string, std::uint64_t> faults;  // fault class → count
  std::uint64_t auth_refused = 0;
  // SignedHeaders lists of accepted AK/SK requests ("content-type;host;x-project-id;x-sdk-date")
  // → count: shows what a client actually signs.
  std::map<std::string, std::uint64_t> signed_headers;
};

}  // namespace rotor::sim
