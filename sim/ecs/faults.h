#pragma once
// Fault injection for the ECS simulator, deterministic from a seed. Each decision is a pure
// function of (seed, method, path, how many times that method+path was seen before), so a given
// request sequence per URL gets the same faults whatever the interleaving of other requests.
// The rate limit (token bucket, requests per second) runs on the simulator's clock.

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"

namespace rotor::sim {

enum class FaultClass {
  None,
  ServerError,       // 500 Common.0001; nothing applied
  ServerErrorAfter,  // applied, then 502 from the gateway
  Throttle,          // HTTP 202 with Common.0024 "flow limit" body; nothing applied
  TimeoutBefore,     // held past the client's timeout, then dropped; nothing applied
  TimeoutAfter,      // applied, then held and dropped
  ResetBefore,       // connection reset before anything is applied
  ResetAfter,        // applied, then the connection is reset without an answer
  RateLimited,       // 429 Common.1503: above the configured requests per second
};
[[nodiscard]] std::string_view to_string(FaultClass fault) noexcept;
[[nodiscard]] std::optional<FaultClass> fault_class_from(std::string_view name) noexcept;
// True for the classes after which the request's change has been applied.
[[nodiscard]] bool applies_change(FaultClass fault) noexcept;

// Probabilities per request, each in [0, 1]; their sum must not exceed 1.
struct FaultRates {
  double server_error = 0;
  double server_error_after = 0;
  double throttle = 0;
  double timeout_before = 0;
  double timeout_after = 0;
  double reset_before = 0;
  double reset_after = 0;
};

struct FaultProfile {
  bool enabled = true;
  FaultRates rates;
  // Added latency, uniform in [latency_min, latency_max].
  std::chrono::milliseconds latency_min{0};
  std::chrono::milliseconds latency_max{0};
  // Token bucket: 0 = no limit; burst 0 = one second's worth.
  double rate_limit_rps = 0;
  double rate_limit_burst = 0;
  // How long a timeout fault holds the answer before dropping the connection.
  std::chrono::milliseconds hold{3000};
  // Whether IAM token requests are subject to faults too.
  bool include_iam = false;
};

// "none", "flaky" (a few percent of every class), "chaos" (much more), "throttled" (a low
// requests/s limit plus Common.0024), "slow" (latency only).
[[nodiscard]] std::optional<FaultProfile> named_fault_profile(std::string_view name);
[[nodiscard]] nlohmann::json to_json(const FaultProfile& profile);
// Applies the fields present in `json` to `profile` ("profile" first, then the others).
[[nodiscard]] Result<FaultProfile> apply_json(FaultProfile profile, const nlohmann::json& json);

// A fault that must happen on the next `count` requests matching method and path substring.
struct ForcedFault {
  FaultClass fault = FaultClass::ResetAfter;
  std::string method;         // empty = any
  std::string path_contains;  // empty = any
  int count = 1;
  int skip = 0;  // matching requests let through before the first one this fault hits
};

class FaultInjector {
 public:
  FaultInjector(std::uint64_t seed, FaultProfile profile, const Clock& clock);

  struct Decision {
    FaultClass fault = FaultClass::None;
    std::chrono::milliseconds latency{0};
    std::chrono::milliseconds hold{0};
  };
  [[nodiscard]] Decision decide(std::string_view method, std::string_view path, bool is_iam);

  void set_profile(FaultProfile profile);
  [[nodiscard]] FaultProfile profile() const;
  void set_enabled(bool enabled);
  void force(ForcedFault fault);
  void clear_forced();
  [[nodiscard]] std::size_t forced_pending() const;

 private:
  bool take_token();

  std::uint64_t seed_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  FaultProfile profile_;
  std::map<std::string, std::uint64_t, std::less<>> seen_;
  std::deque<ForcedFault> forced_;
  double tokens_ = -1;  // -1: bucket not started yet
  std::chrono::steady_clock::time_point refilled_{};
};

}  // namespace rotor::sim
