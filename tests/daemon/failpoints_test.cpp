// The test-only failpoint's specification (ROTOR_FAILPOINT=STEP:N, docs/chaos.md).
#include "daemon/failpoints.h"

#include <gtest/gtest.h>

namespace rotor::daemon {
namespace {

// Every step name parses, with its count.
TEST(FailpointTest, ParsesEveryStep) {
  const std::pair<const char*, engine::Step> cases[] = {
      {"read:1", engine::Step::Read},
      {"pending_written:2", engine::Step::PendingWritten},
      {"reset_sent:30", engine::Step::ResetSent},
      {"committed:4", engine::Step::Committed},
      {"rebooted:5", engine::Step::Rebooted},
  };
  for (const auto& [text, step] : cases) {
    auto spec = parse_failpoint(text);
    ASSERT_TRUE(spec) << text;
    EXPECT_EQ(spec->step, step);
  }
  EXPECT_EQ(parse_failpoint("reset_sent:30")->hit, 30);
}

// A malformed specification is an error that says what is expected.
TEST(FailpointTest, RefusesMalformedSpecifications) {
  for (const char* text : {"", "reset", "reset_sent", "reset_sent:", "reset_sent:0",
                           "reset_sent:-1", "reset_sent:3x", "nope:3"}) {
    auto spec = parse_failpoint(text);
    ASSERT_FALSE(spec) << text;
    EXPECT_NE(spec.error().message().find("ROTOR_FAILPOINT"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace rotor::daemon
