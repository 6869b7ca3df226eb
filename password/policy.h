#pragma once
// What a password must look like: the cloud's documented rules (ecs-api.md §7) for the API that
// carries it, plus the operator's own policy (length, classes, excluded characters).

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rotor::password {

// The API a password travels through decides which special characters it may contain.
enum class ApiProfile {
  OtcSingle,  // OTC v2.1 single reset: !@$%^-_=+[{}]:,./?
  EcsV1,      // v1 batch reset and Huawei v1 single reset: !@%-_=+[]:./?
  Safe,       // the intersection of every documented variant (passes all of them)
};

enum class OsFamily { Linux, Windows };

enum class CharClass { Upper = 0, Lower = 1, Digit = 2, Special = 3 };
inline constexpr std::size_t kClassCount = 4;

std::string_view to_string(ApiProfile profile) noexcept;
std::string_view to_string(OsFamily os) noexcept;
std::string_view to_string(CharClass cls) noexcept;

// The cloud's limits (ecs-api.md §7).
inline constexpr std::size_t kMinLength = 8;
inline constexpr std::size_t kMaxLength = 26;
inline constexpr std::size_t kMinClasses = 3;

// The special characters an API accepts.
std::string_view allowed_specials(ApiProfile profile) noexcept;
// root for Linux, Administrator for Windows.
std::string_view default_username(OsFamily os) noexcept;

struct Policy {
  std::size_t length = 20;
  // Minimum count per class, indexed by CharClass; 0 means the class is not used at all.
  // Only classes with a minimum of at least 1 contribute characters.
  std::array<std::size_t, kClassCount> min_count{1, 1, 1, 1};
  std::string exclude_chars;
  ApiProfile api = ApiProfile::Safe;
  OsFamily os = OsFamily::Linux;
  std::string username = "root";

  // A policy for an OS with its default username, the Safe profile, and every class required.
  static Policy for_os(OsFamily os, std::size_t length = 20, ApiProfile api = ApiProfile::Safe);

  bool operator==(const Policy&) const = default;
};

// Why a policy cannot produce an acceptable password; empty when it can. Each entry is one
// complete sentence fragment, e.g. "length 30 not within 8..26".
std::vector<std::string> validate_policy(const Policy& policy);

// The characters the generator draws from for each class, after exclusions.
std::array<std::string, kClassCount> class_alphabets(const Policy& policy);

}  // namespace rotor::password
