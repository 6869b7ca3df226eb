#include "password/validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rotor::password {
namespace {

std::vector<Rule> rules_of(std::string_view password, const Policy& policy) {
  std::vector<Rule> rules;
  for (const auto& v : check(password, policy)) {
    rules.push_back(v.rule);
  }
  return rules;
}

std::vector<std::string> reasons_of(std::string_view password, const Policy& policy) {
  std::vector<std::string> reasons;
  for (const auto& v : check(password, policy)) {
    reasons.push_back(v.reason);
  }
  return reasons;
}

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class ValidatorTest : public ::testing::Test {
 protected:
  Policy linux_ = Policy::for_os(OsFamily::Linux, 12, ApiProfile::OtcSingle);
  Policy windows_ = Policy::for_os(OsFamily::Windows, 12, ApiProfile::OtcSingle);
  Policy v1_ = Policy::for_os(OsFamily::Linux, 12, ApiProfile::EcsV1);
};

// A password with all four classes and nothing forbidden passes.
TEST_F(ValidatorTest, CompliantPasswordPasses) {
  EXPECT_THAT(check("Abc!def9Ghij", linux_), IsEmpty());
  EXPECT_TRUE(complies("Abc!def9Ghij", linux_));
}

// Length must be within 8..26 and not shorter than the policy's length.
TEST_F(ValidatorTest, Length) {
  EXPECT_THAT(reasons_of("Ab1!xyz", linux_), ElementsAre("length 7 not within 8..26"));
  EXPECT_THAT(reasons_of("Ab1!xyzAb1!xyzAb1!xyzAb1!xy", linux_),
              ElementsAre("length 27 not within 8..26"));
  EXPECT_THAT(reasons_of("Ab1!xyzw", linux_),
              ElementsAre("length 8 is shorter than the policy's 12"));
}

// '$', '^', ',', '{' and '}' are allowed by the OTC v2.1 API and refused by the v1 APIs.
TEST_F(ValidatorTest, SpecialsDependOnApi) {
  EXPECT_THAT(check("Abcdef9Ghij$", linux_), IsEmpty());
  EXPECT_THAT(check("Abcdef9Ghij^", linux_), IsEmpty());
  EXPECT_THAT(reasons_of("Ab!def9Ghij$", v1_),
              ElementsAre("character 12 is not allowed by the v1 reset API (letters, digits and "
                          "!@%-_=+[]:./? only)"));
  for (char c : std::string_view("^,{}")) {
    std::string password = "Ab!def9Ghij";
    password.push_back(c);
    EXPECT_THAT(rules_of(password, v1_), ElementsAre(Rule::Character)) << c;
  }
}

// Characters no API allows (space, quote, backslash, non-ASCII) are refused everywhere.
TEST_F(ValidatorTest, NeverAllowedCharacters) {
  for (std::string_view bad : {"Abc def9Ghij", "Abc'def9Ghij", "Abc\\def9Ghij", "Abc#def9Ghij",
                               "Abc\xc3\xa9"
                               "ef9Ghij",
                               "Abc~def9Ghij", "Abc&def9Ghij"}) {
    EXPECT_THAT(rules_of(bad, linux_), ::testing::Contains(Rule::Character)) << bad;
  }
}

// Reasons give positions, never the characters of the password.
TEST_F(ValidatorTest, ReasonsDoNotQuoteThePassword) {
  for (const auto& v : check("Zq#Zq#Zq#Zq", linux_)) {
    EXPECT_EQ(v.reason.find("Zq"), std::string::npos) << v.reason;
    EXPECT_EQ(v.reason.find('#'), std::string::npos) << v.reason;
  }
}

// At least three of the four classes are needed.
TEST_F(ValidatorTest, ThreeClassesNeeded) {
  auto three = linux_;
  three.min_count = {1, 1, 1, 0};
  EXPECT_THAT(check("Abcdefg9hijk", three), IsEmpty());
  auto two = linux_;
  two.min_count = {1, 1, 0, 0};
  EXPECT_THAT(reasons_of("Abcdefghijkl", two),
              ElementsAre("uses 2 of the 4 character classes; the cloud needs at least 3"));
}

// Per-class minimums of the policy are enforced.
TEST_F(ValidatorTest, ClassMinimums) {
  auto policy = linux_;
  policy.min_count = {1, 1, 3, 1};
  EXPECT_THAT(reasons_of("Abc!def9Ghij", policy),
              ElementsAre("has 1 digit; the policy requires at least 3"));
}

// Excluded characters and classes the policy does not use are reported by position.
TEST_F(ValidatorTest, ExcludedAndUnusedCharacters) {
  auto policy = linux_;
  policy.exclude_chars = "0O";
  EXPECT_THAT(reasons_of("Abc!def0Ghij", policy),
              ElementsAre("character 8 is excluded by the policy"));
  policy.min_count = {1, 1, 1, 0};
  EXPECT_THAT(reasons_of("Abc!def9Ghij", policy),
              ElementsAre("character 4 is a special character, a class the policy does not use"));
}

// The username and its reverse are refused, case-insensitively.
TEST_F(ValidatorTest, Username) {
  EXPECT_THAT(reasons_of("xRoOt9!abcde", linux_), ElementsAre("contains the username 'root'"));
  EXPECT_THAT(reasons_of("xTOOR9!abcde", linux_),
              ElementsAre("contains the reversed username 'toor'"));
}

// Windows: no three consecutive characters of Administrator (either direction, any case).
TEST_F(ValidatorTest, WindowsFragments) {
  EXPECT_THAT(check("Xyz9!qwKpLvB", windows_), IsEmpty());
  EXPECT_THAT(reasons_of("xyADM9!qwkpL", windows_),
              ElementsAre("characters 3..5 are three consecutive characters of 'Administrator'"));
  EXPECT_THAT(rules_of("xyRTS9!qwkpL", windows_),
              ElementsAre(Rule::UsernameFragment));  // "str" reversed
  EXPECT_THAT(rules_of("xyADMINISTRATOR9!", windows_),
              ElementsAre(Rule::Username, Rule::UsernameFragment));
  // Linux servers on the OTC v2.1 API only care about "root".
  EXPECT_THAT(check("xyAdm9!qwkpL", linux_), IsEmpty());
}

// The v1 APIs forbid both account names whatever the OS.
TEST_F(ValidatorTest, V1ForbidsBothNames) {
  EXPECT_THAT(rules_of("xyAdm9!qwkpL", v1_), ElementsAre(Rule::UsernameFragment));
  auto windows_v1 = Policy::for_os(OsFamily::Windows, 12, ApiProfile::EcsV1);
  EXPECT_THAT(rules_of("xyroot9!QWKP", windows_v1), ElementsAre(Rule::Username));
}

// A password never starts with '/'.
TEST_F(ValidatorTest, LeadingSlash) {
  EXPECT_THAT(reasons_of("/Abcdef9ghij", linux_), ElementsAre("starts with '/'"));
  EXPECT_THAT(check("A/bcdef9ghij", linux_), IsEmpty());
}

// Every violation is reported, not only the first.
TEST_F(ValidatorTest, ReportsEverything) {
  EXPECT_THAT(rules_of("/rota", windows_),
              ElementsAre(Rule::Length, Rule::Classes, Rule::ClassMinimum, Rule::ClassMinimum,
                          Rule::UsernameFragment, Rule::LeadingSlash));
}

}  // namespace
}  // namespace rotor::password
