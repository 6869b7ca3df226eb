#include "password/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "password/count.h"

namespace rotor::password {
namespace {

using ::testing::ElementsAre;

// The specials of each API are the documented lists (ecs-api.md §7).
TEST(PolicyTest, SpecialsPerApi) {
  EXPECT_EQ(allowed_specials(ApiProfile::OtcSingle), "!@$%^-_=+[{}]:,./?");
  EXPECT_EQ(allowed_specials(ApiProfile::EcsV1), "!@%-_=+[]:./?");
  EXPECT_EQ(allowed_specials(ApiProfile::Safe), "!@%-_=+[]:./?");
}

// The default policies for both OSes are valid.
TEST(PolicyTest, DefaultsAreValid) {
  EXPECT_TRUE(validate_policy(Policy::for_os(OsFamily::Linux)).empty());
  EXPECT_TRUE(validate_policy(Policy::for_os(OsFamily::Windows, 8, ApiProfile::EcsV1)).empty());
  EXPECT_EQ(Policy::for_os(OsFamily::Windows).username, "Administrator");
}

// A length outside the cloud's range is refused with the range in the reason.
TEST(PolicyTest, LengthOutOfRange) {
  auto policy = Policy::for_os(OsFamily::Linux, 30);
  EXPECT_THAT(validate_policy(policy), ElementsAre("length 30 not within 8..26"));
  policy.length = 7;
  EXPECT_THAT(validate_policy(policy), ElementsAre("length 7 not within 8..26"));
}

// Fewer than three classes can never satisfy the cloud.
TEST(PolicyTest, TooFewClasses) {
  auto policy = Policy::for_os(OsFamily::Linux);
  policy.min_count = {1, 1, 0, 0};
  EXPECT_THAT(validate_policy(policy),
              ElementsAre("the policy uses 2 character classes (upper, lower); the cloud needs at "
                          "least 3 of upper, lower, digit, special"));
}

// Excluding every digit while digits are required is impossible.
TEST(PolicyTest, EveryDigitExcluded) {
  auto policy = Policy::for_os(OsFamily::Linux);
  policy.exclude_chars = "0123456789";
  EXPECT_THAT(validate_policy(policy),
              ElementsAre("every digit is excluded while digits are required"));
}

// Excluding every special the API allows is impossible, and the reason names the API's list.
TEST(PolicyTest, EverySpecialExcluded) {
  auto policy = Policy::for_os(OsFamily::Linux, 20, ApiProfile::EcsV1);
  policy.exclude_chars = "!@%-_=+[]:./?";
  EXPECT_THAT(validate_policy(policy),
              ElementsAre("every special character the v1 reset API allows (!@%-_=+[]:./?) is "
                          "excluded while special characters are required"));
}

// Minimum counts that do not fit in the length are refused.
TEST(PolicyTest, MinimumsExceedLength) {
  auto policy = Policy::for_os(OsFamily::Linux, 10);
  policy.min_count = {4, 4, 2, 1};
  EXPECT_THAT(validate_policy(policy),
              ElementsAre("the minimum counts add up to 11, more than the length 10"));
}

// A policy that is possible but so tight that random draws almost never comply is refused.
TEST(PolicyTest, ImpracticallyTight) {
  auto policy = Policy::for_os(OsFamily::Linux, 10);
  policy.min_count = {1, 1, 6, 2};  // about 1 in 20,000 random strings
  ASSERT_LT(compliant_share(policy), kMinimumCompliantShare);
  const auto reasons = validate_policy(policy);
  ASSERT_EQ(reasons.size(), 1U);
  EXPECT_TRUE(reasons[0].starts_with("only about 1 in ")) << reasons[0];
}

// The counting agrees with brute force on a tiny alphabet.
TEST(PolicyTest, CountMatchesBruteForce) {
  const std::array<std::size_t, kClassCount> sizes{2, 1, 1, 0};
  const std::array<std::size_t, kClassCount> mins{1, 1, 0, 0};
  // Alphabet {A,B,a,0}; strings of length 4 with at least one of A/B and at least one 'a'.
  long double brute = 0;
  const char alphabet[] = {'A', 'B', 'a', '0'};
  for (int code = 0; code < 256; ++code) {
    bool upper = false;
    bool lower = false;
    for (int pos = 0; pos < 4; ++pos) {
      const char c = alphabet[(code >> (2 * pos)) & 3];
      upper = upper || c == 'A' || c == 'B';
      lower = lower || c == 'a';
    }
    brute += (upper && lower) ? 1 : 0;
  }
  EXPECT_EQ(count_with_minimums(4, sizes, mins), brute);
}

// The entropy of the default 20-character safe policy is close to 20·log2(75).
TEST(PolicyTest, EntropyIsReported) {
  const double bits = entropy_bits(Policy::for_os(OsFamily::Linux, 20));
  EXPECT_GT(bits, 123.0);
  EXPECT_LT(bits, 20 * std::log2(75.0));
}

}  // namespace
}  // namespace rotor::password
