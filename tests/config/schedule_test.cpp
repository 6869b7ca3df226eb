// Durations, cron expressions, maintenance windows and jitter: grammar, errors and the due-time
// arithmetic in time zones, including the Europe/Berlin DST transitions of 2026
// (29 March 01:00 UTC: 02:00 CET -> 03:00 CEST; 25 October 01:00 UTC: 03:00 CEST -> 02:00 CET).

#include <date/date.h>
#include <gtest/gtest.h>

#include <set>

#include "config/config.h"
#include "config/duration.h"
#include "config/schedule.h"

namespace rotor::config {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

SysSeconds utc(int year, unsigned month, unsigned day, int hour, int minute = 0) {
  const date::sys_days days = date::year{year} / date::month{month} / date::day{day};
  return SysSeconds{days} + hours{hour} + minutes{minute};
}

Zone zone(std::string_view name) {
  auto located = Zone::locate(name);
  EXPECT_TRUE(located.has_value()) << name;
  return located ? *located : Zone{};
}

CronExpr cron(std::string_view text) {
  auto parsed = CronExpr::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << (parsed ? "" : parsed.error());
  return parsed ? *parsed : *CronExpr::parse("* * * * *");
}

Window window(std::string_view text) {
  auto parsed = Window::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << (parsed ? "" : parsed.error());
  return parsed ? *parsed : *Window::parse("* 00:00-24:00");
}

std::string cron_error(std::string_view text) {
  auto parsed = CronExpr::parse(text);
  return parsed ? "accepted" : parsed.error();
}

std::string window_error(std::string_view text) {
  auto parsed = Window::parse(text);
  return parsed ? "accepted" : parsed.error();
}

std::string duration_error(std::string_view text) {
  auto parsed = parse_duration(text);
  return parsed ? "accepted" : parsed.error();
}

class DurationTest : public ::testing::Test {};

// Each unit, combinations largest first, and zero.
TEST_F(DurationTest, ParsesUnitsAndCombinations) {
  EXPECT_EQ(parse_duration("90s"), seconds{90});
  EXPECT_EQ(parse_duration("15m"), minutes{15});
  EXPECT_EQ(parse_duration("2h"), hours{2});
  EXPECT_EQ(parse_duration("30d"), hours{30 * 24});
  EXPECT_EQ(parse_duration("1w"), hours{7 * 24});
  EXPECT_EQ(parse_duration("1h30m"), minutes{90});
  EXPECT_EQ(parse_duration("1w2d3h4m5s"), seconds{9 * 86400 + 3 * 3600 + 4 * 60 + 5});
  EXPECT_EQ(parse_duration("0s"), seconds{0});
  EXPECT_EQ(parse_duration("3650d"), kMaxDuration);
}

// Malformed durations are refused with a reason.
TEST_F(DurationTest, RefusesMalformedDurations) {
  EXPECT_EQ(duration_error(""), "empty");
  EXPECT_EQ(duration_error("30"), "missing unit (s, m, h, d or w)");
  EXPECT_EQ(duration_error("30x"), "unknown unit 'x' (expected s, m, h, d or w)");
  EXPECT_EQ(duration_error("30m2h"), "units must go from largest to smallest, each once");
  EXPECT_EQ(duration_error("1h1h"), "units must go from largest to smallest, each once");
  EXPECT_EQ(duration_error("h"), "expected a number before each unit");
  EXPECT_EQ(duration_error("-1h"), "expected a number before each unit");
  EXPECT_EQ(duration_error("1 h"), "unknown unit ' ' (expected s, m, h, d or w)");
  EXPECT_EQ(duration_error("3651d"), "longer than 3650d");
  EXPECT_EQ(duration_error("9999999999s"), "too many digits");
}

// The canonical spelling uses the largest units and never weeks.
TEST_F(DurationTest, FormatsCanonically) {
  EXPECT_EQ(format_duration(seconds{0}), "0s");
  EXPECT_EQ(format_duration(seconds{90}), "1m30s");
  EXPECT_EQ(format_duration(minutes{90}), "1h30m");
  EXPECT_EQ(format_duration(hours{30 * 24}), "30d");
  EXPECT_EQ(format_duration(hours{7 * 24}), "7d");
}

class CronTest : public ::testing::Test {};

// A monthly schedule in UTC.
TEST_F(CronTest, NextDueInUtc) {
  const CronExpr expr = cron("0 3 1 * *");
  EXPECT_EQ(expr.next_after(utc(2026, 1, 15, 0), Zone{}), utc(2026, 2, 1, 3));
  EXPECT_EQ(expr.next_after(utc(2026, 2, 1, 3), Zone{}), utc(2026, 3, 1, 3));
  EXPECT_EQ(expr.next_after(utc(2026, 2, 1, 2, 59), Zone{}), utc(2026, 2, 1, 3));
}

// Lists, ranges, steps and names (case-insensitive); 7 is Sunday like 0.
TEST_F(CronTest, ListsRangesStepsAndNames) {
  const CronExpr expr = cron("*/20 1-2 * jan,JUL Mon-fri");
  // 2026-07-01 is a Wednesday.
  EXPECT_EQ(expr.next_after(utc(2026, 6, 30, 12), Zone{}), utc(2026, 7, 1, 1, 0));
  EXPECT_EQ(expr.next_after(utc(2026, 7, 1, 1, 0), Zone{}), utc(2026, 7, 1, 1, 20));
  EXPECT_EQ(expr.next_after(utc(2026, 7, 1, 2, 40), Zone{}), utc(2026, 7, 2, 1, 0));
  EXPECT_EQ(cron("0 0 * * 7").next_after(utc(2026, 11, 16, 0), Zone{}),
            cron("0 0 * * 0").next_after(utc(2026, 11, 16, 0), Zone{}));
  EXPECT_EQ(cron("0 0 * * 7").next_after(utc(2026, 11, 16, 0), Zone{}), utc(2026, 11, 22, 0));
  EXPECT_EQ(cron("5/20 * * * *").next_after(utc(2026, 1, 1, 0, 30), Zone{}),
            utc(2026, 1, 1, 0, 45));
}

// Vixie semantics: both day fields restricted means either; a '*' field means both must match.
TEST_F(CronTest, DayOfMonthAndDayOfWeek) {
  const CronExpr either = cron("0 0 10 * 5");  // the 10th, or any Friday
  EXPECT_EQ(either.next_after(utc(2026, 11, 6, 0), Zone{}), utc(2026, 11, 10, 0));
  EXPECT_EQ(either.next_after(utc(2026, 11, 10, 0), Zone{}), utc(2026, 11, 13, 0));
  const CronExpr both = cron("0 0 */2 * 1");  // odd days that are Mondays
  EXPECT_EQ(both.next_after(utc(2026, 6, 1, 0), Zone{}), utc(2026, 6, 15, 0));
}

// Macros stand for their 5-field equivalents.
TEST_F(CronTest, Macros) {
  EXPECT_EQ(cron("@hourly").next_after(utc(2026, 1, 1, 10, 1), Zone{}), utc(2026, 1, 1, 11));
  EXPECT_EQ(cron("@daily").next_after(utc(2026, 1, 1, 10), Zone{}), utc(2026, 1, 2, 0));
  EXPECT_EQ(cron("@weekly").next_after(utc(2026, 11, 16, 0), Zone{}), utc(2026, 11, 22, 0));
  EXPECT_EQ(cron("@monthly").next_after(utc(2026, 1, 15, 0), Zone{}), utc(2026, 2, 1, 0));
  EXPECT_EQ(cron("@yearly").next_after(utc(2026, 1, 15, 0), Zone{}), utc(2027, 1, 1, 0));
}

// February 29 waits for the next leap year; February 30 never comes.
TEST_F(CronTest, LeapDayAndNever) {
  EXPECT_EQ(cron("0 0 29 2 *").next_after(utc(2026, 3, 1, 0), Zone{}), utc(2028, 2, 29, 0));
  EXPECT_EQ(cron("0 0 30 2 *").next_after(utc(2026, 3, 1, 0), Zone{}), std::nullopt);
}

// A local time in a zone: 03:00 Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
TEST_F(CronTest, NextDueInZone) {
  const Zone berlin = zone("Europe/Berlin");
  const CronExpr expr = cron("0 3 * * *");
  EXPECT_EQ(expr.next_after(utc(2026, 1, 10, 12), berlin), utc(2026, 1, 11, 2));
  EXPECT_EQ(expr.next_after(utc(2026, 7, 10, 12), berlin), utc(2026, 7, 11, 1));
}

// Spring forward: 02:30 does not exist on 29 March; the job runs once, at the transition.
TEST_F(CronTest, BerlinSpringForwardRunsSkippedTimeAtTransition) {
  const Zone berlin = zone("Europe/Berlin");
  const CronExpr expr = cron("30 2 * * *");
  const auto first = expr.next_after(utc(2026, 3, 28, 12), berlin);
  EXPECT_EQ(first, utc(2026, 3, 29, 1));  // 03:00 CEST
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(expr.next_after(*first, berlin), utc(2026, 3, 30, 0, 30));  // 02:30 CEST
  // Every quarter hour: the skipped hour collapses onto the transition instant, once.
  const CronExpr quarter = cron("*/15 * * * *");
  EXPECT_EQ(quarter.next_after(utc(2026, 3, 29, 0, 45), berlin), utc(2026, 3, 29, 1));
  EXPECT_EQ(quarter.next_after(utc(2026, 3, 29, 1), berlin), utc(2026, 3, 29, 1, 15));
}

// Fall back: 02:30 exists twice on 25 October; the job runs once, at the first.
TEST_F(CronTest, BerlinFallBackRunsRepeatedTimeOnce) {
  const Zone berlin = zone("Europe/Berlin");
  const CronExpr expr = cron("30 2 * * *");
  const auto first = expr.next_after(utc(2026, 10, 24, 12), berlin);
  EXPECT_EQ(first, utc(2026, 10, 25, 0, 30));  // 02:30 CEST
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(expr.next_after(*first, berlin), utc(2026, 10, 26, 1, 30));  // 02:30 CET next day
  // From inside the repeated hour (02:10 CET), the next quarter is 03:00 CET.
  EXPECT_EQ(cron("*/15 * * * *").next_after(utc(2026, 10, 25, 1, 10), berlin),
            utc(2026, 10, 25, 2));
}

// Malformed expressions are refused with the field and the reason.
TEST_F(CronTest, RefusesMalformedExpressions) {
  EXPECT_EQ(cron_error("0 3 1 * * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 6");
  EXPECT_EQ(cron_error(""),
            "expected 5 fields (minute hour day-of-month month day-of-week), got 0");
  EXPECT_EQ(cron_error("60 * * * *"), "minute: 60 not within 0..59");
  EXPECT_EQ(cron_error("* 24 * * *"), "hour: 24 not within 0..23");
  EXPECT_EQ(cron_error("* * 0 * *"), "day-of-month: 0 not within 1..31");
  EXPECT_EQ(cron_error("* * * 13 *"), "month: 13 not within 1..12");
  EXPECT_EQ(cron_error("* * * * 8"), "day-of-week: 8 not within 0..7");
  EXPECT_EQ(cron_error("* * * * FRY"), "day-of-week: 'FRY' is not a number or name");
  EXPECT_EQ(cron_error("* * * foo *"), "month: 'foo' is not a number or name");
  EXPECT_EQ(cron_error("x * * * *"), "minute: 'x' is not a number");
  EXPECT_EQ(cron_error("*/0 * * * *"), "minute: step '0' not within 1..59");
  EXPECT_EQ(cron_error("0 22-2 * * *"), "hour: range '22-2' goes backwards");
  EXPECT_EQ(cron_error("1,,2 * * * *"), "minute: empty list item");
  EXPECT_EQ(cron_error("@reboot"),
            "unknown macro '@reboot' (expected @yearly, @monthly, @weekly, @daily or @hourly)");
}

class WindowTest : public ::testing::Test {};

// A Sunday-night window in Berlin: open inside, closed at its end, next one a week later.
TEST_F(WindowTest, WeeklyWindowInZone) {
  const Window w = window("Sun 01:00-05:00 Europe/Berlin");
  EXPECT_TRUE(w.in_window(utc(2026, 11, 22, 0, 30)));  // 01:30 CET
  EXPECT_TRUE(w.in_window(utc(2026, 11, 22, 0, 0)));   // opens at 01:00 CET
  EXPECT_FALSE(w.in_window(utc(2026, 11, 22, 4, 0)));  // closes at 05:00 CET
  EXPECT_FALSE(w.in_window(utc(2026, 11, 21, 23, 59)));
  EXPECT_EQ(w.next_window_open(utc(2026, 11, 22, 0, 30)), utc(2026, 11, 22, 0, 30));
  EXPECT_EQ(w.next_window_open(utc(2026, 11, 22, 4, 0)), utc(2026, 11, 29, 0, 0));
  EXPECT_EQ(w.next_window(utc(2026, 11, 22, 1)),
            (WindowSpan{utc(2026, 11, 22, 0), utc(2026, 11, 22, 4)}));
  EXPECT_EQ(w.length(), hours{4});
}

// A window whose end is before its start closes on the next day.
TEST_F(WindowTest, CrossesMidnight) {
  const Window w = window("Sat 22:00-02:00");
  EXPECT_EQ(w.length(), hours{4});
  EXPECT_FALSE(w.in_window(utc(2026, 11, 21, 21, 59)));
  EXPECT_TRUE(w.in_window(utc(2026, 11, 21, 22, 0)));
  EXPECT_TRUE(w.in_window(utc(2026, 11, 22, 1, 59)));  // Sunday, still Saturday's window
  EXPECT_FALSE(w.in_window(utc(2026, 11, 22, 2, 0)));
  EXPECT_FALSE(w.in_window(utc(2026, 11, 22, 22, 30)));  // Sunday evening: no window opens
  EXPECT_EQ(w.next_window_open(utc(2026, 11, 22, 2, 0)), utc(2026, 11, 28, 22, 0));
  EXPECT_EQ(window("Mon 22:00-00:00").length(), hours{2});
}

// Day ranges wrap over the end of the week; lists and '*' work; 24:00 ends a whole day.
TEST_F(WindowTest, DayRangesListsAndWholeDays) {
  const Window w = window("fri-MON 10:00-11:00");
  EXPECT_TRUE(w.in_window(utc(2026, 11, 20, 10, 30)));   // Friday
  EXPECT_TRUE(w.in_window(utc(2026, 11, 22, 10, 30)));   // Sunday
  EXPECT_TRUE(w.in_window(utc(2026, 11, 23, 10, 30)));   // Monday
  EXPECT_FALSE(w.in_window(utc(2026, 11, 24, 10, 30)));  // Tuesday
  const Window list = window("Tue,Thu 10:00-11:00");
  EXPECT_TRUE(list.in_window(utc(2026, 11, 24, 10, 30)));
  EXPECT_FALSE(list.in_window(utc(2026, 11, 25, 10, 30)));
  const Window always = window("* 00:00-24:00");
  EXPECT_TRUE(always.in_window(utc(2026, 11, 25, 0, 0)));
  EXPECT_TRUE(always.in_window(utc(2026, 11, 25, 23, 59)));
}

// Spring forward: a window that opens in the skipped hour opens at the transition, and a window
// across the gap is one hour shorter that night.
TEST_F(WindowTest, BerlinSpringForward) {
  EXPECT_EQ(window("Sun 02:30-04:00 Europe/Berlin").next_window(utc(2026, 3, 28, 12)),
            (WindowSpan{utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)}));
  EXPECT_EQ(window("Sun 01:30-03:30 Europe/Berlin").next_window(utc(2026, 3, 28, 12)),
            (WindowSpan{utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30)}));
  // A window entirely inside the skipped hour does not happen that night.
  EXPECT_EQ(window("Sun 02:00-02:59 Europe/Berlin").next_window(utc(2026, 3, 28, 12)),
            (WindowSpan{utc(2026, 4, 5, 0), utc(2026, 4, 5, 0, 59)}));
}

// Fall back: a repeated start is its first occurrence, a repeated end its second.
TEST_F(WindowTest, BerlinFallBack) {
  EXPECT_EQ(window("Sun 02:00-03:00 Europe/Berlin").next_window(utc(2026, 10, 24, 12)),
            (WindowSpan{utc(2026, 10, 25, 0), utc(2026, 10, 25, 2)}));
  EXPECT_EQ(window("Sun 01:00-02:30 Europe/Berlin").next_window(utc(2026, 10, 24, 12)),
            (WindowSpan{utc(2026, 10, 24, 23), utc(2026, 10, 25, 1, 30)}));
  EXPECT_TRUE(window("Sun 02:00-03:00 Europe/Berlin").in_window(utc(2026, 10, 25, 1, 30)));
}

// Sets of windows: open when any is open; an empty set is always open.
TEST_F(WindowTest, WindowSets) {
  const std::vector<Window> set{window("Sun 01:00-02:00"), window("Wed 01:00-02:00")};
  EXPECT_TRUE(in_any_window(set, utc(2026, 11, 25, 1, 30)));
  EXPECT_FALSE(in_any_window(set, utc(2026, 11, 24, 1, 30)));
  EXPECT_EQ(next_window_open(set, utc(2026, 11, 23, 0)), utc(2026, 11, 25, 1));
  EXPECT_EQ(next_window_open(set, utc(2026, 11, 26, 0)), utc(2026, 11, 29, 1));
  EXPECT_TRUE(in_any_window({}, utc(2026, 11, 24, 1, 30)));
  EXPECT_EQ(next_window_open({}, utc(2026, 11, 24, 1, 30)), utc(2026, 11, 24, 1, 30));
  EXPECT_EQ(next_window({}, utc(2026, 11, 24, 1, 30)), std::nullopt);
}

// Malformed windows are refused with a reason.
TEST_F(WindowTest, RefusesMalformedWindows) {
  EXPECT_EQ(window_error("Sun"),
            "expected 'DAYS HH:MM-HH:MM [ZONE]', e.g. 'Sun 01:00-05:00 Europe/Berlin'");
  EXPECT_EQ(window_error("Sunday 01:00-05:00"),
            "unknown day 'Sunday' (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as "
            "Mon-Fri, or *)");
  EXPECT_EQ(window_error("Sun 01:00"), "time range '01:00' is not HH:MM-HH:MM");
  EXPECT_EQ(window_error("Sun 1-5"), "time '1' is not HH:MM");
  EXPECT_EQ(window_error("Sun 01:00-25:00"), "time '25:00' not within 00:00..24:00");
  EXPECT_EQ(window_error("Sun 24:00-05:00"), "time '24:00' not within 00:00..23:59");
  EXPECT_EQ(window_error("Sun 05:00-05:00"),
            "start and end are equal (use 00:00-24:00 for a whole day)");
  EXPECT_EQ(window_error("Sun 01:00-05:00 Mars/Olympus"), "unknown time zone 'Mars/Olympus'");
}

class JitterTest : public ::testing::Test {};

// The offset is deterministic per server, within [0, jitter], and spreads a fleet.
TEST_F(JitterTest, DeterministicAndBounded) {
  EXPECT_EQ(jitter_offset("a", seconds{0}), seconds{0});
  EXPECT_EQ(jitter_offset("1bd0eb17", hours{2}), jitter_offset("1bd0eb17", hours{2}));
  std::set<std::int64_t> seen;
  for (int i = 0; i < 100; ++i) {
    const seconds offset = jitter_offset("server-" + std::to_string(i), hours{2});
    EXPECT_GE(offset, seconds{0});
    EXPECT_LE(offset, hours{2});
    seen.insert(offset.count());
  }
  EXPECT_GT(seen.size(), 90U);
}

class DueAtTest : public ::testing::Test {
 protected:
  static Policy policy_with(std::optional<seconds> max_age, std::optional<std::string> schedule,
                            std::vector<std::string> windows, seconds jitter) {
    Policy policy;
    policy.max_age = max_age;
    if (schedule) {
      policy.schedule = cron(*schedule);
      policy.timezone = zone("Europe/Berlin");
    }
    for (const std::string& text : windows) {
      policy.windows.push_back(window(text));
    }
    policy.jitter = jitter;
    return policy;
  }
};

// A server never rotated is due now (plus its jitter); max_age counts from the last rotation.
TEST_F(DueAtTest, MaxAgeWithoutWindow) {
  const Policy policy = policy_with(hours{24 * 30}, std::nullopt, {}, seconds{0});
  const SysSeconds now = utc(2026, 11, 18, 12);
  EXPECT_EQ(due_at(policy, std::nullopt, "a", now), now);
  EXPECT_EQ(due_at(policy, utc(2026, 11, 1, 0), "a", now), utc(2026, 12, 1, 0));
  const Policy jittered = policy_with(hours{24 * 30}, std::nullopt, {}, hours{2});
  EXPECT_EQ(due_at(jittered, utc(2026, 11, 1, 0), "a", now),
            utc(2026, 12, 1, 0) + jitter_offset("a", hours{2}));
}

// With a window, the jitter counts from the window's opening and never before the base time.
TEST_F(DueAtTest, WindowAndJitter) {
  const Policy policy =
      policy_with(hours{24 * 30}, std::nullopt, {"Sun 01:00-05:00 Europe/Berlin"}, hours{2});
  const SysSeconds now = utc(2026, 11, 18, 12);
  const seconds offset = jitter_offset("server-1", hours{2});
  // Due on Tuesday 1 December: waits for Sunday 6 December 01:00 CET (00:00 UTC) + jitter.
  EXPECT_EQ(due_at(policy, utc(2026, 11, 1, 0), "server-1", now), utc(2026, 12, 6, 0) + offset);
  // Due inside the window after the jittered start: at once (the base).
  const SysSeconds late_in_window = utc(2026, 12, 6, 3, 59);
  ASSERT_LE(utc(2026, 12, 6, 0) + offset, late_in_window);
  EXPECT_EQ(due_at(policy, late_in_window - hours{24 * 30}, "server-1", now), late_in_window);
}

// A cron schedule is the base; the window moves it to the next opening.
TEST_F(DueAtTest, ScheduleAndWindow) {
  const Policy policy =
      policy_with(std::nullopt, "0 3 1 * *", {"Sun 01:00-05:00 Europe/Berlin"}, seconds{0});
  // After the November run, the next is 1 December 03:00 CET (a Tuesday): the window opens on
  // Sunday 6 December 01:00 CET.
  EXPECT_EQ(due_at(policy, utc(2026, 11, 1, 2), "x", utc(2026, 11, 18, 0)), utc(2026, 12, 6, 0));
  const Policy no_window = policy_with(std::nullopt, "0 3 1 * *", {}, seconds{0});
  EXPECT_EQ(due_at(no_window, utc(2026, 11, 1, 2), "x", utc(2026, 11, 18, 0)), utc(2026, 12, 1, 2));
}

}  // namespace
}  // namespace rotor::config
