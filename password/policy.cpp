#include "password/policy.h"

#include <fmt/format.h>
#include <algorithm>
#include <numeric>

#include "password/count.h"

namespace rotor::password {

std::string_view to_string(ApiProfile profile) noexcept {
  switch (profile) {
    case ApiProfile::OtcSingle: return "OTC v2.1 single reset";
    case ApiProfile::EcsV1: return "v1 reset";
    case ApiProfile::Safe: return "safe (every)";
  }
  return "safe";
}

std::string_view to_string(OsFamily os) noexcept {
  return os == OsFamily::Windows ? "windows" : "linux";
}

std::string_view to_string(CharClass cls) noexcept {
  switch (cls) {
    case CharClass::Upper: return "upper";
    case CharClass::Lower: return "lower";
    case CharClass::Digit: return "digit";
    case CharClass::Special: return "special";
  }
  return "special";
}

std::string_view allowed_specials(ApiProfile profile) noexcept {
  switch (profile) {
    case ApiProfile::OtcSingle: return "!@$%^-_=+[{}]:,./?";
    case ApiProfile::EcsV1:
    case ApiProfile::Safe: return "!@%-_=+[]:./?";  // the v1 set is contained in every other list
  }
  return "!@%-_=+[]:./?";
}

std::string_view default_username(OsFamily os) noexcept {
  return os == OsFamily::Windows ? "Administrator" : "root";
}

Policy Policy::for_os(OsFamily os, std::size_t length, ApiProfile api) {
  Policy policy;
  policy.length = length;
  policy.os = os;
  policy.api = api;
  policy.username = std::string(default_username(os));
  return policy;
}

std::array<std::string, kClassCount> class_alphabets(const Policy& policy) {
  static constexpr std::string_view kUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz";
  static constexpr std::string_view kDigit = "0123456789";
  const std::array<std::string_view, kClassCount> full{kUpper, kLower, kDigit,
                                                       allowed_specials(policy.api)};
  std::array<std::string, kClassCount> result;
  for (std::size_t cls = 0; cls < kClassCount; ++cls) {
    if (policy.min_count[cls] == 0) {
      continue;  // a class the policy does not use contributes no characters
    }
    for (char c : full[cls]) {
      if (policy.exclude_chars.find(c) == std::string::npos) {
        result[cls].push_back(c);
      }
    }
  }
  return result;
}

namespace {

std::string plural_class(CharClass cls) {
  switch (cls) {
    case CharClass::Upper: return "upper-case letter";
    case CharClass::Lower: return "lower-case letter";
    case CharClass::Digit: return "digit";
    case CharClass::Special: return "special character";
  }
  return "character";
}

}  // namespace

std::vector<std::string> validate_policy(const Policy& policy) {
  std::vector<std::string> reasons;
  if (policy.length < kMinLength || policy.length > kMaxLength) {
    reasons.push_back(
        fmt::format("length {} not within {}..{}", policy.length, kMinLength, kMaxLength));
  }
  std::vector<std::string> used;
  for (std::size_t cls = 0; cls < kClassCount; ++cls) {
    if (policy.min_count[cls] > 0) {
      used.emplace_back(to_string(static_cast<CharClass>(cls)));
    }
  }
  if (used.size() < kMinClasses) {
    reasons.push_back(fmt::format(
        "the policy uses {} character class{} ({}); the cloud needs at least {} of upper, lower, "
        "digit, special",
        used.size(), used.size() == 1 ? "" : "es", fmt::join(used, ", "), kMinClasses));
  }
  const auto alphabets = class_alphabets(policy);
  for (std::size_t cls = 0; cls < kClassCount; ++cls) {
    if (policy.min_count[cls] > 0 && alphabets[cls].empty()) {
      const auto name = plural_class(static_cast<CharClass>(cls));
      if (cls == static_cast<std::size_t>(CharClass::Special)) {
        reasons.push_back(fmt::format(
            "every special character the {} API allows ({}) is excluded while special characters "
            "are required",
            to_string(policy.api), allowed_specials(policy.api)));
      } else {
        reasons.push_back(fmt::format("every {} is excluded while {}s are required", name, name));
      }
    }
  }
  const std::size_t minimum_total =
      std::accumulate(policy.min_count.begin(), policy.min_count.end(), std::size_t{0});
  if (minimum_total > policy.length) {
    reasons.push_back(fmt::format("the minimum counts add up to {}, more than the length {}",
                                  minimum_total, policy.length));
  }
  if (policy.username.empty()) {
    reasons.push_back("the username is empty");
  }
  if (reasons.empty()) {
    // Structurally possible; make sure a random draw complies often enough to be practical.
    const double share = compliant_share(policy);
    if (share < kMinimumCompliantShare) {
      reasons.push_back(fmt::format(
          "only about 1 in {:.0f} random passwords meets the policy's minimum counts; lower the "
          "minimums or raise the length",
          1.0 / share));
    }
  }
  return reasons;
}

}  // namespace rotor::password
