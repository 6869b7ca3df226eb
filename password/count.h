#pragma once
// Exact counting of the passwords a policy allows (class minimums and the no-leading-'/' rule);
// used for the entropy figure, for rejecting impractical policies, and by the uniformity tests.

#include <array>
#include <cstddef>

#include "password/policy.h"

namespace rotor::password {

// Policies whose compliant share of random strings is below this are refused as impractical.
inline constexpr double kMinimumCompliantShare = 1e-4;

// The number of strings of `length` characters drawn from classes of the given sizes in which
// class c occurs at least mins[c] times.
long double count_with_minimums(std::size_t length,
                                const std::array<std::size_t, kClassCount>& sizes,
                                const std::array<std::size_t, kClassCount>& mins);

// The number of passwords that meet the class minimums and do not start with '/'. The username
// rules are left out: they remove a vanishing share (see docs/password.md).
long double count_compliant(const Policy& policy);

// count_compliant divided by the number of all strings over the policy's alphabet.
double compliant_share(const Policy& policy);

// log2(count_compliant): the entropy of one generated password, in bits.
double entropy_bits(const Policy& policy);

}  // namespace rotor::password
