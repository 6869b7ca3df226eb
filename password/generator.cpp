#include "password/generator.h"

#include <fmt/format.h>

#include "password/count.h"
#include "password/validator.h"

namespace rotor::password {
namespace {

// With a compliant share of at least kMinimumCompliantShare, this many draws all failing has a
// probability below e^-100: reaching the limit means a bug, not bad luck.
constexpr std::size_t kMaxDraws = 1'000'000;

}  // namespace

Result<Generator::Prepared> Generator::prepare(const Policy& policy) {
  std::lock_guard lock(mutex_);
  for (const auto& known : prepared_) {
    if (known.policy == policy) {
      return known;
    }
  }
  if (auto reasons = validate_policy(policy); !reasons.empty()) {
    return fail(ErrorCode::InvalidPolicy, "password policy cannot be met: {}",
                fmt::join(reasons, "; "));
  }
  Prepared prepared{policy, {}};
  for (const auto& chars : class_alphabets(policy)) {
    prepared.alphabet += chars;
  }
  if (prepared_.size() == kMaxPrepared) {
    prepared_.erase(prepared_.begin());
  }
  prepared_.push_back(prepared);
  return prepared;
}

Result<Secret> Generator::generate(const Policy& policy) {
  auto prepared = prepare(policy);
  if (!prepared) {
    return fail(prepared.error());
  }
  const std::string& alphabet = prepared->alphabet;
  const auto size = static_cast<std::uint32_t>(alphabet.size());

  char draft[kMaxLength];
  const std::string_view candidate(draft, policy.length);
  for (std::size_t attempt = 0; attempt < kMaxDraws; ++attempt) {
    for (std::size_t i = 0; i < policy.length; ++i) {
      draft[i] = alphabet[random_->uniform(size)];
    }
    if (complies(candidate, policy)) {
      Secret secret = Secret::from(candidate);
      secure_wipe(draft, sizeof draft);
      return secret;
    }
  }
  secure_wipe(draft, sizeof draft);
  return fail(ErrorCode::Internal, "no compliant password after {} draws", kMaxDraws);
}

}  // namespace rotor::password
