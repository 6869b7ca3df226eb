// Fault decisions (deterministic per URL, independent of interleaving; rates; forced faults;
// profiles from JSON) and the v1 password rules the simulator enforces.
#include "sim/ecs/faults.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/ecs/service.h"
#include "tests/support/manual_clock.h"

namespace rotor::sim {
namespace {

class SimFaultInjectorTest : public ::testing::Test {
 protected:
  testing::ManualClock clock_;
};

FaultProfile mixed() {
  FaultProfile profile;
  profile.rates = {0.1, 0.1, 0.1, 0.05, 0.05, 0.1, 0.1};
  return profile;
}

// The faults one URL sees depend on the seed and on that URL's own history only.
TEST_F(SimFaultInjectorTest, DecisionsPerUrlIgnoreInterleaving) {
  FaultInjector alone(7, mixed(), clock_);
  FaultInjector mixed_in(7, mixed(), clock_);
  for (int i = 0; i < 200; ++i) {
    const auto a = alone.decide("PUT", "/v1/p/cloudservers/a/os-reset-password", false);
    (void)mixed_in.decide("GET", "/v1/p/cloudservers/detail", false);
    const auto b = mixed_in.decide("PUT", "/v1/p/cloudservers/a/os-reset-password", false);
    EXPECT_EQ(a.fault, b.fault) << "request " << i;
  }
}

// Over many requests each class shows up at roughly its rate.
TEST_F(SimFaultInjectorTest, RatesAreRoughlyHonoured) {
  FaultInjector injector(99, mixed(), clock_);
  std::map<FaultClass, int> seen;
  for (int i = 0; i < 20000; ++i) {
    ++seen[injector.decide("GET", "/x/" + std::to_string(i % 50), false).fault];
  }
  EXPECT_NEAR(seen[FaultClass::None], 8000, 400);
  EXPECT_NEAR(seen[FaultClass::ResetAfter], 2000, 250);
  EXPECT_NEAR(seen[FaultClass::TimeoutBefore], 1000, 200);
}

// Forced faults win over everything, match method and path, and run out after `count`.
TEST_F(SimFaultInjectorTest, ForcedFaultsMatchAndRunOut) {
  FaultProfile off;
  off.enabled = false;
  FaultInjector injector(1, off, clock_);
  injector.force({FaultClass::ResetAfter, "PUT", "os-reset", 2});
  EXPECT_EQ(injector.decide("GET", "/os-reset", false).fault, FaultClass::None);
  EXPECT_EQ(injector.decide("PUT", "/v1/os-reset-password", false).fault, FaultClass::ResetAfter);
  EXPECT_EQ(injector.decide("PUT", "/v1/os-reset-password", false).fault, FaultClass::ResetAfter);
  EXPECT_EQ(injector.decide("PUT", "/v1/os-reset-password", false).fault, FaultClass::None);
  EXPECT_EQ(injector.forced_pending(), 0U);
}

// IAM requests are spared unless include_iam; latency stays within its bounds.
TEST_F(SimFaultInjectorTest, IamExemptionAndLatency) {
  FaultProfile profile;
  profile.rates.server_error = 1.0;
  profile.latency_min = std::chrono::milliseconds(5);
  profile.latency_max = std::chrono::milliseconds(9);
  FaultInjector injector(3, profile, clock_);
  EXPECT_EQ(injector.decide("POST", "/v3/auth/tokens", true).fault, FaultClass::None);
  for (int i = 0; i < 50; ++i) {
    const auto d = injector.decide("GET", "/a", false);
    EXPECT_EQ(d.fault, FaultClass::ServerError);
    EXPECT_GE(d.latency.count(), 5);
    EXPECT_LE(d.latency.count(), 9);
  }
}

// Profiles from JSON: named base, then field overrides; bad input is refused with a reason.
TEST_F(SimFaultInjectorTest, ProfilesFromJson) {
  auto profile = apply_json(FaultProfile{}, nlohmann::json::parse(
                                                R"({"profile":"throttled","hold_ms":250,
                                                    "rates":{"reset_after":0.5}})"));
  ASSERT_TRUE(profile) << profile.error().message();
  EXPECT_EQ(profile->rate_limit_rps, 20);
  EXPECT_EQ(profile->hold.count(), 250);
  EXPECT_EQ(profile->rates.reset_after, 0.5);
  EXPECT_FALSE(apply_json(FaultProfile{}, nlohmann::json::parse(R"({"rates":{"bogus":0.1}})")));
  EXPECT_FALSE(apply_json(FaultProfile{}, nlohmann::json::parse(R"({"rates":{"reset_after":0.7,
                                                                  "reset_before":0.7}})")));
  EXPECT_FALSE(apply_json(FaultProfile{}, nlohmann::json::parse(R"({"profile":"nope"})")));
  for (const char* name : {"none", "flaky", "chaos", "throttled", "slow"}) {
    EXPECT_TRUE(named_fault_profile(name)) << name;
  }
}

class SimPasswordRulesTest : public ::testing::Test {};

// §7 v1 rules: 8–26 characters, 3 of 4 classes, the v1 specials only, no user names.
TEST_F(SimPasswordRulesTest, EnforcesV1Rules) {
  EXPECT_EQ(check_password_v1("Kluw-Pq7.Zx9y"), "");
  EXPECT_NE(check_password_v1("Str0ng-Pass.w0rd"), "");  // "Str": case-insensitive
  EXPECT_EQ(check_password_v1("Abcdef1!"), "");
  EXPECT_NE(check_password_v1("Ab1!"), "");                          // too short
  EXPECT_NE(check_password_v1("Abcdefghijklmnopqrstuvwxyz1!"), "");  // too long
  EXPECT_NE(check_password_v1("abcdefgh12"), "");                    // two classes
  EXPECT_NE(check_password_v1("Abcdef1$x"), "");                     // '$' not allowed in v1
  EXPECT_NE(check_password_v1("Abcd ef1!"), "");                     // space
  EXPECT_NE(check_password_v1("xRoot-123A"), "");                    // user name
  EXPECT_NE(check_password_v1("xtOOr-123A"), "");                    // reversed, any case
  EXPECT_NE(check_password_v1("Pq-1-MIN-xz"), "");                   // 3 chars of Administrator
}

}  // namespace
}  // namespace rotor::sim
