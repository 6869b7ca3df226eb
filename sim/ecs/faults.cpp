#include "sim/ecs/faults.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <utility>

namespace rotor::sim {
namespace {

constexpr std::array<std::pair<FaultClass, std::string_view>, 9> kNames{{
    {FaultClass::None, "none"},
    {FaultClass::ServerError, "server_error"},
    {FaultClass::ServerErrorAfter, "server_error_after"},
    {FaultClass::Throttle, "throttle"},
    {FaultClass::TimeoutBefore, "timeout_before"},
    {FaultClass::TimeoutAfter, "timeout_after"},
    {FaultClass::ResetBefore, "reset_before"},
    {FaultClass::ResetAfter, "reset_after"},
    {FaultClass::RateLimited, "rate_limited"},
}};

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

double unit_of(std::uint64_t x) {
  return static_cast<double>(x >> 11U) * (1.0 / 9007199254740992.0);  // 53 bits → [0, 1)
}

double* rate_field(FaultRates& rates, std::string_view name) {
  if (name == "server_error")
    return &rates.server_error;
  if (name == "server_error_after")
    return &rates.server_error_after;
  if (name == "throttle")
    return &rates.throttle;
  if (name == "timeout_before")
    return &rates.timeout_before;
  if (name == "timeout_after")
    return &rates.timeout_after;
  if (name == "reset_before")
    return &rates.reset_before;
  if (name == "reset_after")
    return &rates.reset_after;
  return nullptr;
}

double total(const FaultRates& r) {
  return r.server_error + r.server_error_after + r.throttle + r.timeout_before + r.timeout_after +
         r.reset_before + r.reset_after;
}

}  // namespace

std::string_view to_string(FaultClass fault) noexcept {
  for (const auto& [cls, name] : kNames) {
    if (cls == fault) {
      return name;
    }
  }
  return "none";
}

std::optional<FaultClass> fault_class_from(std::string_view name) noexcept {
  for (const auto& [cls, text] : kNames) {
    if (text == name) {
      return cls;
    }
  }
  return std::nullopt;
}

bool applies_change(FaultClass fault) noexcept {
  return fault == FaultClass::ServerErrorAfter || fault == FaultClass::TimeoutAfter ||
         fault == FaultClass::ResetAfter;
}

std::optional<FaultProfile> named_fault_profile(std::string_view name) {
  FaultProfile profile;
  if (name == "none") {
    return profile;
  }
  if (name == "flaky") {
    profile.rates = {0.02, 0.02, 0.02, 0.01, 0.01, 0.02, 0.02};
    profile.latency_max = std::chrono::milliseconds(5);
    profile.hold = std::chrono::milliseconds(1500);
    return profile;
  }
  if (name == "chaos") {
    profile.rates = {0.08, 0.06, 0.06, 0.04, 0.04, 0.08, 0.08};
    profile.latency_max = std::chrono::milliseconds(20);
    profile.hold = std::chrono::milliseconds(1500);
    return profile;
  }
  if (name == "throttled") {
    profile.rates.throttle = 0.1;
    profile.rate_limit_rps = 20;
    profile.rate_limit_burst = 20;
    return profile;
  }
  if (name == "slow") {
    profile.latency_min = std::chrono::milliseconds(20);
    profile.latency_max = std::chrono::milliseconds(200);
    return profile;
  }
  return std::nullopt;
}

nlohmann::json to_json(const FaultProfile& profile) {
  const auto& r = profile.rates;
  return {
      {"enabled", profile.enabled},
      {"rates",
       {{"server_error", r.server_error},
        {"server_error_after", r.server_error_after},
        {"throttle", r.throttle},
        {"timeout_before", r.timeout_before},
        {"timeout_after", r.timeout_after},
        {"reset_before", r.reset_before},
        {"reset_after", r.reset_after}}},
      {"latency_ms", {{"min", profile.latency_min.count()}, {"max", profile.latency_max.count()}}},
      {"rate_limit", {{"rps", profile.rate_limit_rps}, {"burst", profile.rate_limit_burst}}},
      {"hold_ms", profile.hold.count()},
      {"include_iam", profile.include_iam}};
}

Result<FaultProfile> apply_json(FaultProfile profile, const nlohmann::json& json) {
  if (!json.is_object()) {
    return fail(ErrorCode::InvalidArgument, "fault settings must be a JSON object");
  }
  try {
    if (auto it = json.find("profile"); it != json.end()) {
      auto named = named_fault_profile(it->get<std::string>());
      if (!named) {
        return fail(ErrorCode::InvalidArgument, "unknown fault profile '{}'",
                    it->get<std::string>());
      }
      profile = *named;
    }
    for (const auto& [key, value] : json.items()) {
      if (key == "profile" || key == "force") {
        continue;
      }
      if (key == "enabled") {
        profile.enabled = value.get<bool>();
      } else if (key == "rates") {
        for (const auto& [name, rate] : value.items()) {
          double* field = rate_field(profile.rates, name);
          if (field == nullptr) {
            return fail(ErrorCode::InvalidArgument, "unknown fault class '{}'", name);
          }
          *field = rate.get<double>();
          if (*field < 0 || *field > 1) {
            return fail(ErrorCode::InvalidArgument, "rate of '{}' not within 0..1", name);
          }
        }
      } else if (key == "latency_ms") {
        profile.latency_min = std::chrono::milliseconds(value.value("min", 0));
        profile.latency_max = std::chrono::milliseconds(value.value("max", 0));
      } else if (key == "rate_limit") {
        profile.rate_limit_rps = value.value("rps", 0.0);
        profile.rate_limit_burst = value.value("burst", 0.0);
      } else if (key == "hold_ms") {
        profile.hold = std::chrono::milliseconds(value.get<long>());
      } else if (key == "include_iam") {
        profile.include_iam = value.get<bool>();
      } else {
        return fail(ErrorCode::InvalidArgument, "unknown fault setting '{}'", key);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::InvalidArgument, "invalid fault settings: {}", e.what());
  }
  if (total(profile.rates) > 1.0 + 1e-9) {
    return fail(ErrorCode::InvalidArgument, "fault rates add up to more than 1");
  }
  if (profile.latency_max < profile.latency_min) {
    profile.latency_max = profile.latency_min;
  }
  return profile;
}

FaultInjector::FaultInjector(std::uint64_t seed, FaultProfile profile, const Clock& clock)
    : seed_(seed), clock_(clock), profile_(std::move(profile)) {}

void FaultInjector::set_profile(FaultProfile profile) {
  std::lock_guard lock(mutex_);
  profile_ = std::move(profile);
  tokens_ = -1;
}

FaultProfile FaultInjector::profile() const {
  std::lock_guard lock(mutex_);
  return profile_;
}

void FaultInjector::set_enabled(bool enabled) {
  std::lock_guard lock(mutex_);
  profile_.enabled = enabled;
}

void FaultInjector::force(ForcedFault fault) {
  std::lock_guard lock(mutex_);
  forced_.push_back(std::move(fault));
}

void FaultInjector::clear_forced() {
  std::lock_guard lock(mutex_);
  forced_.clear();
}

std::size_t FaultInjector::forced_pending() const {
  std::lock_guard lock(mutex_);
  return forced_.size();
}

bool FaultInjector::take_token() {
  const double rate = profile_.rate_limit_rps;
  const double burst = profile_.rate_limit_burst > 0 ? profile_.rate_limit_burst : rate;
  const auto now = clock_.monotonic();
  if (tokens_ < 0) {
    tokens_ = burst;
    refilled_ = now;
  }
  const std::chrono::duration<double> elapsed = now - refilled_;
  refilled_ = now;
  tokens_ = std::min(burst, tokens_ + elapsed.count() * rate);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

FaultInjector::Decision FaultInjector::decide(std::string_view method, std::string_view path,
                                              bool is_iam) {
  std::lock_guard lock(mutex_);
  Decision decision;
  decision.hold = profile_.hold;
  for (auto it = forced_.begin(); it != forced_.end(); ++it) {
    if ((it->method.empty() || it->method == method) &&
        (it->path_contains.empty() || path.find(it->path_contains) != std::string_view::npos)) {
      if (it->skip > 0) {
        --it->skip;
        continue;
      }
      decision.fault = it->fault;
      if (--it->count <= 0) {
        forced_.erase(it);
      }
      return decision;
    }
  }
  if (!profile_.enabled || (is_iam && !profile_.include_iam)) {
    return decision;
  }
  if (profile_.rate_limit_rps > 0 && !take_token()) {
    decision.fault = FaultClass::RateLimited;
    return decision;
  }
  std::string key(method);
  key += ' ';
  key += path;
  auto& seen = seen_[key];
  const std::uint64_t base = splitmix(seed_ ^ splitmix(fnv1a(key) + seen));
  ++seen;
  double draw = unit_of(base);
  const auto& r = profile_.rates;
  const std::array<std::pair<double, FaultClass>, 7> classes{{
      {r.server_error, FaultClass::ServerError},
      {r.server_error_after, FaultClass::ServerErrorAfter},
      {r.throttle, FaultClass::Throttle},
      {r.timeout_before, FaultClass::TimeoutBefore},
      {r.timeout_after, FaultClass::TimeoutAfter},
      {r.reset_before, FaultClass::ResetBefore},
      {r.reset_after, FaultClass::ResetAfter},
  }};
  for (const auto& [rate, cls] : classes) {
    if (draw < rate) {
      decision.fault = cls;
      break;
    }
    draw -= rate;
  }
  const auto span = profile_.latency_max - profile_.latency_min;
  if (span.count() > 0 || profile_.latency_min.count() > 0) {
    const double u = unit_of(splitmix(base ^ 0x5bd1e995ULL));
    decision.latency =
        profile_.latency_min +
        std::chrono::milliseconds(static_cast<long>(u * static_cast<double>(span.count() + 1)));
  }
  return decision;
}

}  // namespace rotor::sim
