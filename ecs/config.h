#pragma once
// One cloud account as the ECS client needs it: plain values, filled by the config loader.
// Move-only because the credentials are Secrets.

#include <chrono>
#include <cstddef>
#include <string>

#include "common/secret.h"
#include "http/retry.h"

namespace rotor::ecs {

enum class Flavor {
  Otc,     // Open Telekom Cloud: single reset on the Nova v2.1 path, tag query under /servers/
  Huawei,  // Huawei Cloud: single reset on the native v1 path, tag query under /cloudservers/
};

enum class AuthMode { AkSk, Token };

struct AkSkCredentials {
  std::string access_key;
  Secret secret_key;
};

// IAM password authentication (ecs-api.md §3.1), scoped to the cloud's project.
struct IamCredentials {
  std::string user;
  std::string domain;  // account (domain) name, e.g. OTC00000000001000000xxx
  Secret password;
};

struct CloudLimits {
  std::size_t max_batch = 1000;  // servers per batch reset / reboot call (1..1000)
  std::size_t page_size = 100;   // servers per listing page (1..1000)
  // Listing pages asked for at once once the first page gave the count (1: one by one).
  std::size_t listing_pages_in_flight = 8;
  // The token bucket. Throttling (429, Common.0024) always slows it down (and Retry-After pauses
  // it); it then probes back up to requests_per_second, or, when `adaptive` (the cloud's limit
  // is unknown), from requests_per_second up to max_requests_per_second.
  double requests_per_second = 10.0;
  double burst = 10.0;
  bool adaptive = false;
  double max_requests_per_second = 1000.0;
  http::RetryPolicy retry;
  std::chrono::milliseconds request_timeout{30'000};
  // A cached token is replaced when it has less than this left, or is older than max_token_age.
  std::chrono::seconds token_refresh_margin{std::chrono::hours(1)};
  std::chrono::seconds max_token_age{std::chrono::hours(12)};
};

struct CloudConfig {
  std::string name;  // for logs
  Flavor flavor = Flavor::Otc;
  std::string region;
  std::string project_id;
  std::string ecs_endpoint;  // "https://ecs.eu-de.otc.t-systems.com"
  std::string iam_endpoint;  // "https://iam.eu-de.otc.t-systems.com/v3"
  AuthMode auth = AuthMode::AkSk;
  AkSkCredentials aksk;
  IamCredentials iam;
  CloudLimits limits;
};

}  // namespace rotor::ecs
