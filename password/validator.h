#pragma once
// Checks a password against the cloud's rules for its API and against the operator's policy.
// Reasons name positions and rules, never the password's characters.

#include <string>
#include <string_view>
#include <vector>

#include "password/policy.h"

namespace rotor::password {

enum class Rule {
  Length,            // outside 8..26, or shorter than the policy's length
  Character,         // a character the API does not allow, or the policy excludes or does not use
  Classes,           // fewer than 3 of the 4 classes
  ClassMinimum,      // fewer characters of a class than the policy requires
  Username,          // contains a username or its reverse
  UsernameFragment,  // contains 3 consecutive characters of Administrator (or its reverse)
  LeadingSlash,      // starts with '/'
};

struct Violation {
  Rule rule;
  std::string reason;
};

// Every rule `password` breaks; empty when it complies. Which names are forbidden depends on the
// profile: the OTC v2.1 API forbids the server's username; the v1 APIs (and so the safe profile)
// forbid both root and Administrator whatever the OS (ecs-api.md §7).
std::vector<Violation> check(std::string_view password, const Policy& policy);

// True when check() finds nothing (stops at the first violation).
bool complies(std::string_view password, const Policy& policy);

}  // namespace rotor::password
