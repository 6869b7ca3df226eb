// The Vault client's JSON helpers against hostile input found by fuzzing
// (tests/fuzz/vault_response_fuzz.cpp): numbers beyond int64, documents nested too deep, and an
// error text that echoes the client's token.

#include "vault/json_util.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/manual_clock.h"
#include "tests/support/scripted_transport.h"
#include "tests/support/seeded_random.h"
#include "vault/client.h"

namespace rotor::vault::detail {
namespace {

// A float outside int64's range is not an integer (the cast would be undefined behaviour).
TEST(JsonUtilTest, GetIntRefusesOutOfRangeFloats) {
  auto parsed = parse_body(R"({"a":-9.3e18,"b":1.7e308,"c":9.2e18,"d":-42.0,"e":3})");
  ASSERT_TRUE(parsed.has_value());
  const Json& body = parsed->get();
  EXPECT_EQ(get_int(body, "a"), std::nullopt);
  EXPECT_EQ(get_int(body, "b"), std::nullopt);
  EXPECT_EQ(get_int(body, "c"), std::int64_t{9'200'000'000'000'000'000});
  EXPECT_EQ(get_int(body, "d"), -42);
  EXPECT_EQ(get_int(body, "e"), 3);
}

// 128 levels parse; 129 are refused as BadResponse before any recursive walk can overflow.
TEST(JsonUtilTest, ParseBodyRefusesDeepNesting) {
  const auto nested = [](std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  EXPECT_TRUE(parse_body(nested(128)).has_value());
  auto deep = parse_body(nested(129));
  ASSERT_FALSE(deep.has_value());
  EXPECT_EQ(deep.error().code(), ErrorCode::BadResponse);
  auto very_deep = parse_body(nested(1'000'000));
  ASSERT_FALSE(very_deep.has_value());
  EXPECT_EQ(very_deep.error().code(), ErrorCode::BadResponse);
}

// Brackets inside strings (escaped quotes included) do not count as nesting.
TEST(JsonUtilTest, BracketsInStringsAreNotNesting) {
  const std::string text = R"({"k":")" + std::string(500, '[') + R"(\"{{{"})";
  auto parsed = parse_body(text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(get_string(parsed->get(), "k"), std::string(500, '[') + "\"{{{");
}

// A peer that echoes the token in its error text does not get it into the Error.
TEST(VaultErrorTextTest, EchoedTokenIsRedacted) {
  rotor::testing::ScriptedTransport transport;
  transport.reply(403,
                  R"({"errors":["1 error occurred:\n\t* token hvs.ECHOED-tok_1 is bad\n\n"]})");
  rotor::testing::ManualClock clock;
  rotor::testing::SeededRandom random;
  VaultConfig config;
  config.address = "https://vault.test:8200";
  config.retry.max_attempts = 1;
  VaultClient client(config, token_from_value("hvs.ECHOED-tok_1"), transport, clock, random);
  auto secret = client.read("servers/db01");
  ASSERT_FALSE(secret.has_value());
  const std::string text = secret.error().to_string();
  EXPECT_EQ(text.find("ECHOED"), std::string::npos) << text;
  EXPECT_NE(text.find("token [redacted] is bad"), std::string::npos) << text;
}

}  // namespace
}  // namespace rotor::vault::detail
