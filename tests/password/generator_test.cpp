#include "password/generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <cmath>
#include <map>
#include <set>

#include "common/log.h"
#include "password/count.h"
#include "password/validator.h"
#include "tests/support/log_capture.h"
#include "tests/support/seeded_random.h"

namespace rotor::password {
namespace {

struct Profile {
  const char* name;
  Policy policy;
};

std::vector<Profile> profiles() {
  return {
      {"linux-otc-single", Policy::for_os(OsFamily::Linux, 16, ApiProfile::OtcSingle)},
      {"windows-v1", Policy::for_os(OsFamily::Windows, 14, ApiProfile::EcsV1)},
      {"windows-safe", Policy::for_os(OsFamily::Windows, 20, ApiProfile::Safe)},
      {"linux-short-v1", Policy::for_os(OsFamily::Linux, 8, ApiProfile::EcsV1)},
  };
}

// Each generated password passes the validator: 100,000 per profile.
TEST(GeneratorTest, HundredThousandPerProfileComply) {
  testing::SeededRandom random(1);
  Generator generator(random);
  for (const auto& profile : profiles()) {
    for (int i = 0; i < 100'000; ++i) {
      auto password = generator.generate(profile.policy);
      ASSERT_TRUE(password.has_value()) << profile.name;
      ASSERT_EQ(password->size(), profile.policy.length);
      ASSERT_TRUE(complies(password->reveal(), profile.policy))
          << profile.name << ": " << check(password->reveal(), profile.policy).front().reason;
    }
  }
}

// The upper tail quantile of chi-square with `df` degrees of freedom for a standard normal
// quantile z (Wilson–Hilferty; accurate to well under 1% for df above 30).
double chi_square_critical(double df, double z) {
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

// The exact probability that position `pos` holds character `c`, among compliant passwords
// (class minimums and no leading '/'), from the counting functions.
double expected_share(const Policy& policy, std::size_t pos, char c, CharClass cls) {
  const auto alphabets = class_alphabets(policy);
  std::array<std::size_t, kClassCount> sizes{};
  for (std::size_t k = 0; k < kClassCount; ++k) {
    sizes[k] = alphabets[k].size();
  }
  const auto reduced = [&](std::array<std::size_t, kClassCount> mins, CharClass k) {
    auto& m = mins[static_cast<std::size_t>(k)];
    m = m > 0 ? m - 1 : 0;
    return mins;
  };
  const bool slash = alphabets[3].find('/') != std::string::npos;
  const auto rest = reduced(policy.min_count, cls);
  long double with_c = 0;
  if (pos == 0) {
    with_c = c == '/' ? 0 : count_with_minimums(policy.length - 1, sizes, rest);
  } else {
    with_c = count_with_minimums(policy.length - 1, sizes, rest);
    if (slash) {
      with_c -= count_with_minimums(policy.length - 2, sizes, reduced(rest, CharClass::Special));
    }
  }
  return static_cast<double>(with_c / count_compliant(policy));
}

// Per position, the character counts fit the exact expected distribution (chi-square at
// significance 1e-4 per position, z = 3.719). A modulo-biased or position-skewed generator fails.
TEST(GeneratorTest, PerPositionChiSquare) {
  testing::SeededRandom random(2);
  Generator generator(random);
  constexpr int kSamples = 100'000;
  for (const auto& profile : profiles()) {
    const auto& policy = profile.policy;
    const auto alphabets = class_alphabets(policy);
    std::vector<std::map<char, int>> counts(policy.length);
    for (int i = 0; i < kSamples; ++i) {
      auto password = generator.generate(policy);
      ASSERT_TRUE(password.has_value());
      for (std::size_t pos = 0; pos < policy.length; ++pos) {
        ++counts[pos][password->reveal()[pos]];
      }
    }
    for (std::size_t pos = 0; pos < policy.length; ++pos) {
      double statistic = 0;
      int cells = 0;
      for (std::size_t k = 0; k < kClassCount; ++k) {
        for (char c : alphabets[k]) {
          const double expected =
              kSamples * expected_share(policy, pos, c, static_cast<CharClass>(k));
          const int observed = counts[pos][c];
          if (expected == 0) {
            EXPECT_EQ(observed, 0) << profile.name << " position " << pos;
            continue;
          }
          statistic += (observed - expected) * (observed - expected) / expected;
          ++cells;
        }
      }
      const double critical = chi_square_critical(cells - 1, 3.719);
      EXPECT_LT(statistic, critical) << profile.name << " position " << pos << " cells " << cells;
    }
  }
}

// The system CSPRNG produces distinct passwords (a sanity check of the wiring, not of the kernel).
TEST(GeneratorTest, SystemRandomPasswordsAreDistinct) {
  SystemRandom random;
  Generator generator(random);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto password = generator.generate(Policy::for_os(OsFamily::Linux));
    ASSERT_TRUE(password.has_value());
    seen.emplace(password->reveal());
  }
  EXPECT_EQ(seen.size(), 1000U);
}

// An impossible policy is refused with every reason, and nothing is generated.
TEST(GeneratorTest, ImpossiblePolicyIsRefused) {
  testing::SeededRandom random(3);
  Generator generator(random);
  auto policy = Policy::for_os(OsFamily::Linux, 30);
  policy.exclude_chars = "0123456789";
  const auto result = generator.generate(policy);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::InvalidPolicy);
  EXPECT_EQ(result.error().message(),
            "password policy cannot be met: length 30 not within 8..26; every digit is excluded "
            "while digits are required");
}

// Generated passwords never reach a log, even when the caller logs the Secret.
TEST(GeneratorTest, PasswordNeverLogged) {
  testing::LogCapture capture;
  SystemRandom random;
  Generator generator(random);
  auto password = generator.generate(Policy::for_os(OsFamily::Windows));
  ASSERT_TRUE(password.has_value());
  log::get("password")->info("generated password={} length={}", *password, password->size());
  EXPECT_FALSE(capture.contains(std::string(password->reveal())));
  EXPECT_TRUE(capture.contains("password=[redacted] length=20"));
}

}  // namespace
}  // namespace rotor::password
