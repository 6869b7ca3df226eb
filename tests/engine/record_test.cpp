#include "engine/record.h"

#include <gtest/gtest.h>

namespace rotor::engine {
namespace {

// A record survives the trip through KV fields, secrets included, and its metadata mirror holds
// no secret.
TEST(RecordTest, RoundTripsThroughKvFields) {
  ServerRecord record;
  record.username = "Administrator";
  record.password = Secret::from("P2-new!x");
  record.previous_password = Secret::from("P1-old!x");
  record.earlier.push_back(Secret::from("P0-older!x"));
  record.pending_password = Secret::from("P3-pend!x");
  record.state = State::Pending;
  record.prior_state = State::AwaitingRestart;
  record.rotation_id = "abc";
  record.rotated_at = "2026-11-23T10:00:00Z";
  record.attempts = 3;
  record.unknown_outcomes = 1;
  record.failed_cycles = 2;
  record.policy = "windows";

  const auto kv = record.to_kv();
  EXPECT_EQ(kv.secrets.size(), 4U);
  EXPECT_NE(kv.secret("previous_password_2"), nullptr);
  const auto back = ServerRecord::from_kv(kv);
  EXPECT_EQ(back.password.reveal(), "P2-new!x");
  EXPECT_EQ(back.previous_password.reveal(), "P1-old!x");
  ASSERT_EQ(back.earlier.size(), 1U);
  EXPECT_EQ(back.earlier[0].reveal(), "P0-older!x");
  EXPECT_EQ(back.pending_password.reveal(), "P3-pend!x");
  EXPECT_EQ(back.state, State::Pending);
  EXPECT_EQ(back.prior_state, State::AwaitingRestart);
  EXPECT_EQ(back.attempts, 3);
  EXPECT_EQ(back.unknown_outcomes, 1);
  EXPECT_EQ(back.failed_cycles, 2);

  for (const auto& [key, value] : record.metadata()) {
    EXPECT_EQ(value.find("!x"), std::string::npos) << key;
  }
  EXPECT_EQ(record.metadata().at("state"), "pending");
}

// The fields of the verification hook and of refusals survive the trip; an outstanding
// verification is mirrored into the metadata so that a scan finds it.
TEST(RecordTest, VerificationAndRefusalFields) {
  ServerRecord record;
  record.password = Secret::from("P2-new!x");
  record.state = State::AwaitingRestart;
  record.restarted_at = "2026-11-23T11:00:00Z";
  record.verified_at = "2026-11-01T11:00:00Z";
  record.last_refusal = "HTTP 400 Ecs.0005";
  record.refused_fingerprint = "0123456789abcdef";
  const auto back = ServerRecord::from_kv(record.to_kv());
  EXPECT_EQ(back.restarted_at, record.restarted_at);
  EXPECT_EQ(back.verified_at, record.verified_at);
  EXPECT_EQ(back.last_refusal, record.last_refusal);
  EXPECT_EQ(back.refused_fingerprint, record.refused_fingerprint);
  EXPECT_TRUE(back.awaiting_verification());
  EXPECT_EQ(record.metadata().at("unverified_since"), "2026-11-23T11:00:00Z");
  record.state = State::Current;
  record.restarted_at.clear();
  EXPECT_FALSE(record.awaiting_verification());
  EXPECT_EQ(record.metadata().count("unverified_since"), 0U);
}

// Times are RFC 3339 UTC and parse back.
TEST(RecordTest, TimesRoundTrip) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1767571200));
  EXPECT_EQ(format_time(t), "2026-01-05T00:00:00Z");
  EXPECT_EQ(parse_time("2026-01-05T00:00:00Z"), t);
  EXPECT_FALSE(parse_time("yesterday").has_value());
}

}  // namespace
}  // namespace rotor::engine
