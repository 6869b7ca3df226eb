#include "common/secret.h"

#include <gtest/gtest.h>

#include "common/log.h"
#include "tests/support/log_capture.h"

namespace rotor {
namespace {

// A Secret keeps its bytes and gives them back only through reveal().
TEST(SecretTest, HoldsItsBytes) {
  const Secret secret = Secret::from("Tr0ub4dor&3");
  EXPECT_EQ(secret.reveal(), "Tr0ub4dor&3");
  EXPECT_EQ(secret.size(), 11U);
  EXPECT_FALSE(secret.empty());
}

// Formatting a Secret, directly or through a logger, prints "[redacted]" and never the value.
TEST(SecretTest, FormatsAsRedactedEverywhere) {
  testing::LogCapture capture;
  const Secret secret = Secret::from("hunter2-Xy9!");
  EXPECT_EQ(fmt::format("{}", secret), "[redacted]");
  log::get("test")->info("rotated password={}", secret);
  EXPECT_TRUE(capture.contains("password=[redacted]"));
  EXPECT_FALSE(capture.contains("hunter2"));
}

// Moving transfers ownership and leaves the source empty.
TEST(SecretTest, MoveLeavesSourceEmpty) {
  Secret first = Secret::from("abc");
  Secret second = std::move(first);
  EXPECT_TRUE(first.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_EQ(second.reveal(), "abc");
  first = std::move(second);
  EXPECT_EQ(first.reveal(), "abc");
}

// take() wipes the string it took the characters from.
TEST(SecretTest, TakeWipesTheSource) {
  std::string text = "a-long-password-beyond-sso-size-123";
  const Secret secret = Secret::take(std::move(text));
  EXPECT_EQ(secret.reveal(), "a-long-password-beyond-sso-size-123");
  EXPECT_TRUE(text.empty());  // NOLINT(bugprone-use-after-move)
}

// Equality is by content and does not depend on where the inputs differ.
TEST(SecretTest, ConstantTimeEquality) {
  const Secret a = Secret::from("same-value");
  const Secret b = Secret::from("same-value");
  const Secret c = Secret::from("same-valuf");
  EXPECT_TRUE(a.equals(b));
  EXPECT_FALSE(a.equals(c));
  EXPECT_FALSE(a.equals("same-valu"));
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_FALSE(constant_time_equals("a", ""));
}

// secure_wipe zeroes a string's characters, including one stored inline (short string).
TEST(SecretTest, SecureWipeZeroesInlineStrings) {
  std::string shortText = "abc";
  char* inlineData = shortText.data();
  secure_wipe(shortText);
  EXPECT_TRUE(shortText.empty());
  EXPECT_EQ(inlineData[0], '\0');
  EXPECT_EQ(inlineData[1], '\0');
}

// A WipingBuffer grows like a string and is cleared (wiped) on demand.
TEST(SecretTest, WipingBufferAppendsAndClears) {
  WipingBuffer buffer("{\"new_password\":\"");
  buffer.append("x");
  buffer.push_back('"');
  EXPECT_EQ(buffer.view(), "{\"new_password\":\"x\"");
  buffer.clear();
  EXPECT_TRUE(buffer.empty());
}

}  // namespace
}  // namespace rotor
