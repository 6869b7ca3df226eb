#pragma once
// Draws passwords that the cloud accepts, uniformly over every password the policy allows.
//
// Each character is drawn uniformly from the policy's alphabet (Random::uniform, rejection
// sampling, no modulo bias); a whole password that breaks any rule is wiped and drawn again.
// Drawing uniformly over all strings and keeping only compliant ones gives each compliant
// password the same probability (docs/password.md has the argument).

#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/random.h"
#include "common/secret.h"
#include "password/policy.h"

namespace rotor::password {

class Generator {
 public:
  explicit Generator(Random& random) : random_(&random) {}

  // A fresh compliant password, or InvalidPolicy with the reasons the policy cannot produce one.
  // Thread-safe.
  Result<Secret> generate(const Policy& policy);

 private:
  // A validated policy and its alphabet, kept because validation counts passwords exactly and
  // that is far slower than drawing one. Several are kept: one fleet mixes Linux and Windows
  // servers, whose policies differ, and a single slot was recomputed at every switch.
  struct Prepared {
    Policy policy;
    std::string alphabet;
  };
  Result<Prepared> prepare(const Policy& policy);

  Random* random_;
  std::mutex mutex_;
  static constexpr std::size_t kMaxPrepared = 16;
  std::vector<Prepared> prepared_;  // oldest first
};

}  // namespace rotor::password
