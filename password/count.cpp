#include "password/count.h"

#include <cmath>
#include <map>
#include <vector>

namespace rotor::password {

long double count_with_minimums(std::size_t length,
                                const std::array<std::size_t, kClassCount>& sizes,
                                const std::array<std::size_t, kClassCount>& mins) {
  // Dynamic programme over positions; the state is the per-class count capped at its minimum,
  // so a state says how much of each minimum is still missing.
  using State = std::array<std::size_t, kClassCount>;
  std::map<State, long double> ways{{State{}, 1.0L}};
  for (std::size_t position = 0; position < length; ++position) {
    std::map<State, long double> next;
    for (const auto& [state, count] : ways) {
      for (std::size_t cls = 0; cls < kClassCount; ++cls) {
        if (sizes[cls] == 0) {
          continue;
        }
        State moved = state;
        if (moved[cls] < mins[cls]) {
          ++moved[cls];
        }
        next[moved] += count * static_cast<long double>(sizes[cls]);
      }
    }
    ways = std::move(next);
  }
  const auto done = ways.find(mins);
  return done == ways.end() ? 0.0L : done->second;
}

namespace {

std::array<std::size_t, kClassCount> alphabet_sizes(const Policy& policy) {
  const auto alphabets = class_alphabets(policy);
  std::array<std::size_t, kClassCount> sizes{};
  for (std::size_t cls = 0; cls < kClassCount; ++cls) {
    sizes[cls] = alphabets[cls].size();
  }
  return sizes;
}

bool slash_allowed(const Policy& policy) {
  const auto alphabets = class_alphabets(policy);
  return alphabets[static_cast<std::size_t>(CharClass::Special)].find('/') != std::string::npos;
}

}  // namespace

long double count_compliant(const Policy& policy) {
  const auto sizes = alphabet_sizes(policy);
  long double total = count_with_minimums(policy.length, sizes, policy.min_count);
  if (slash_allowed(policy) && policy.length > 0) {
    // Subtract the strings that start with '/': the first character is one special character.
    auto rest = policy.min_count;
    auto& special = rest[static_cast<std::size_t>(CharClass::Special)];
    if (special > 0) {
      --special;
    }
    total -= count_with_minimums(policy.length - 1, sizes, rest);
  }
  return total;
}

double compliant_share(const Policy& policy) {
  const auto sizes = alphabet_sizes(policy);
  std::size_t alphabet = 0;
  for (auto size : sizes) {
    alphabet += size;
  }
  if (alphabet == 0) {
    return 0.0;
  }
  const long double all =
      std::pow(static_cast<long double>(alphabet), static_cast<long double>(policy.length));
  return static_cast<double>(count_compliant(policy) / all);
}

double entropy_bits(const Policy& policy) {
  const long double count = count_compliant(policy);
  return count <= 0.0L ? 0.0 : static_cast<double>(std::log2(count));
}

}  // namespace rotor::password
