#pragma once
// Time in the configuration: IANA time zones (the system tz database in /usr/share/zoneinfo, via
// Howard Hinnant's date/tz), 5-field cron expressions and maintenance windows, and the helpers the
// scheduler calls: next due time of a cron schedule, whether a window is open, when it next opens,
// and a deterministic per-server jitter.
//
// Local times that do not exist (the hour skipped when clocks go forward) resolve to the instant of
// the transition; local times that exist twice (clocks go back) resolve to the first occurrence,
// except the end of a window, which resolves to the second (a window is never shortened).

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace date {
class time_zone;
}

namespace rotor::config {

using SysSeconds = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;

// A time zone by IANA name ("Europe/Berlin", "UTC"). Compared by name.
class Zone {
 public:
  // The UTC zone.
  Zone();
  [[nodiscard]] static tl::expected<Zone, std::string> locate(std::string_view name);

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const date::time_zone* get() const noexcept { return zone_; }
  bool operator==(const Zone& other) const noexcept { return name_ == other.name_; }

  // "2026-03-29 03:00 CEST" (local time and abbreviation).
  [[nodiscard]] std::string format(SysSeconds time) const;

 private:
  std::string name_;
  const date::time_zone* zone_ = nullptr;
};

// A cron expression: minute hour day-of-month month day-of-week, each field `*`, a value, a range
// `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma-separated list of those. Months accept
// JAN..DEC, weekdays SUN..SAT (0 and 7 are Sunday), case-insensitive. As in Vixie cron, when both
// day-of-month and day-of-week are restricted (neither starts with `*`), a day matches either one.
// Also accepted: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
class CronExpr {
 public:
  [[nodiscard]] static tl::expected<CronExpr, std::string> parse(std::string_view text);

  // The first due time strictly after `after`, evaluated in `zone`; nullopt if none within nine
  // years (an expression such as "0 0 30 2 *" never fires).
  [[nodiscard]] std::optional<SysSeconds> next_after(SysSeconds after, const Zone& zone) const;

  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  bool operator==(const CronExpr& other) const noexcept { return text_ == other.text_; }

 private:
  [[nodiscard]] bool day_matches(int day_of_month, int month, int weekday) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_star_ = false;
  bool weekdays_star_ = false;
};

// One occurrence of a window: [open, close).
struct WindowSpan {
  SysSeconds open;
  SysSeconds close;
  bool operator==(const WindowSpan&) const = default;
};

// A weekly maintenance window: `DAYS HH:MM-HH:MM [ZONE]`, e.g. "Sun 01:00-05:00 Europe/Berlin",
// "Mon-Fri 22:00-02:00 UTC", "Sat,Sun 00:00-24:00", "* 03:00-04:00". DAYS are the days on which
// the window opens: `*`, a day (Mon..Sun, case-insensitive), a range (Fri-Mon wraps over the week
// end), or a comma-separated list. An end at or before the start means the window closes on the
// next day; 24:00 is allowed as an end. The zone defaults to UTC.
class Window {
 public:
  [[nodiscard]] static tl::expected<Window, std::string> parse(std::string_view text);

  [[nodiscard]] bool in_window(SysSeconds now) const;
  // The occurrence that contains `now`, or else the next one to open.
  [[nodiscard]] WindowSpan next_window(SysSeconds now) const;
  // `now` when the window is open, else the next time it opens.
  [[nodiscard]] SysSeconds next_window_open(SysSeconds now) const;
  // The nominal length (end - start); a window that crosses midnight adds a day.
  [[nodiscard]] std::chrono::minutes length() const;

  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  [[nodiscard]] const Zone& zone() const noexcept { return zone_; }
  bool operator==(const Window& other) const noexcept { return text_ == other.text_; }

 private:
  [[nodiscard]] std::optional<WindowSpan> opening_on(std::int64_t local_day) const;

  std::string text_;
  std::bitset<7> days_;  // opening weekday, 0 = Sunday
  int start_ = 0;        // minutes after midnight
  int end_ = 0;          // minutes after midnight, 1..1440
  Zone zone_;
};

// Helpers over a policy's windows (an empty set means "always open").
[[nodiscard]] bool in_any_window(std::span<const Window> windows, SysSeconds now);
[[nodiscard]] SysSeconds next_window_open(std::span<const Window> windows, SysSeconds now);
// The span that contains `now` or opens next, across all windows; nullopt for an empty set.
[[nodiscard]] std::optional<WindowSpan> next_window(std::span<const Window> windows,
                                                    SysSeconds now);

// A deterministic offset in [0, jitter] for one server (FNV-1a of its id), so that a fleet is
// spread over the jitter and a restart of the daemon does not reshuffle it.
[[nodiscard]] std::chrono::seconds jitter_offset(std::string_view server_id,
                                                 std::chrono::seconds jitter);

}  // namespace rotor::config
