#include "daemon/watchdog.h"

#include <gtest/gtest.h>

#include <chrono>

namespace rotor::daemon {
namespace {

using std::chrono::minutes;
using Clock = ProgressWatchdog::Clock;

const Clock::time_point kStart{std::chrono::hours(1)};

// Pings go on while progress is recent, stop once it is older than the limit (said once), and
// resume with the next progress.
TEST(ProgressWatchdogTest, StopsPingingAfterTheStallLimitAndResumesWithProgress) {
  ProgressWatchdog watchdog(kStart, minutes(30));
  EXPECT_TRUE(watchdog.should_ping(kStart + minutes(29)));
  EXPECT_FALSE(watchdog.stalled_now());
  watchdog.progress(kStart + minutes(29));
  EXPECT_TRUE(watchdog.should_ping(kStart + minutes(58)));  // measured from the last progress
  EXPECT_FALSE(watchdog.should_ping(kStart + minutes(60)));
  EXPECT_TRUE(watchdog.stalled_now());
  EXPECT_FALSE(watchdog.should_ping(kStart + minutes(61)));
  EXPECT_FALSE(watchdog.stalled_now());  // one stall, one report
  watchdog.progress(kStart + minutes(62));
  EXPECT_TRUE(watchdog.should_ping(kStart + minutes(63)));
  EXPECT_FALSE(watchdog.should_ping(kStart + minutes(93)));
  EXPECT_TRUE(watchdog.stalled_now());  // a new stall is reported again
}

// A report that arrives late (an older time from a slow worker) never moves the mark back.
TEST(ProgressWatchdogTest, ProgressNeverMovesBackwards) {
  ProgressWatchdog watchdog(kStart, minutes(30));
  watchdog.progress(kStart + minutes(20));
  watchdog.progress(kStart + minutes(5));
  EXPECT_TRUE(watchdog.should_ping(kStart + minutes(49)));
}

}  // namespace
}  // namespace rotor::daemon
