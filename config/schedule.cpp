#include "config/schedule.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <exception>
#include <vector>

namespace rotor::config {

namespace {

using LocalSeconds = date::local_seconds;
using LocalMinutes = date::local_time<std::chrono::minutes>;
using Unexpected = tl::unexpected<std::string>;

LocalSeconds to_local(const date::time_zone* zone, SysSeconds time) {
  if (zone == nullptr) {
    return LocalSeconds{time.time_since_epoch()};
  }
  return zone->to_local(time);
}

// Local wall time to an instant: a skipped local time becomes the transition instant; a repeated
// one becomes its first occurrence, or its second when `latest`.
SysSeconds to_sys(const date::time_zone* zone, LocalSeconds local, bool latest) {
  if (zone == nullptr) {
    return SysSeconds{local.time_since_epoch()};
  }
  const date::local_info info = zone->get_info(local);
  switch (info.result) {
    case date::local_info::nonexistent: return info.second.begin;
    case date::local_info::ambiguous:
      return SysSeconds{local.time_since_epoch() -
                        (latest ? info.second.offset : info.first.offset)};
    case date::local_info::unique:
    default: return SysSeconds{local.time_since_epoch() - info.first.offset};
  }
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t begin = 0;
  while (true) {
    const std::size_t at = text.find(separator, begin);
    if (at == std::string_view::npos) {
      parts.push_back(text.substr(begin));
      return parts;
    }
    parts.push_back(text.substr(begin, at - begin));
    begin = at + 1;
  }
}

std::vector<std::string_view> split_whitespace(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
      ++i;
    }
    const std::size_t begin = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') {
      ++i;
    }
    if (i > begin) {
      parts.push_back(text.substr(begin, i - begin));
    }
  }
  return parts;
}

// A small unsigned decimal (at most 4 digits); nullopt when `text` is not one.
std::optional<int> small_number(std::string_view text) {
  if (text.empty() || text.size() > 4) {
    return std::nullopt;
  }
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

constexpr std::array<std::string_view, 12> kMonthNames{"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames{"sun", "mon", "tue", "wed",
                                                    "thu", "fri", "sat"};

struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  const std::string_view* names;  // names[i] is the value min + i (months) or i (weekdays)
  std::size_t name_count;
  int name_base;
};

tl::expected<int, std::string> field_value(const FieldSpec& spec, std::string_view text) {
  if (const auto number = small_number(text)) {
    if (*number < spec.min || *number > spec.max) {
      return Unexpected(std::string(spec.name) + ": " + std::to_string(*number) + " not within " +
                        std::to_string(spec.min) + ".." + std::to_string(spec.max));
    }
    return *number;
  }
  const std::string name = lower(text);
  for (std::size_t i = 0; i < spec.name_count; ++i) {
    if (spec.names[i] == name) {
      return spec.name_base + static_cast<int>(i);
    }
  }
  if (text.empty()) {
    return Unexpected(std::string(spec.name) + ": missing value");
  }
  return Unexpected(std::string(spec.name) + ": '" + std::string(text) + "' is not a " +
                    (spec.name_count > 0 ? "number or name" : "number"));
}

// Parses one field into a bit mask over spec.min..spec.max.
tl::expected<std::uint64_t, std::string> parse_field(const FieldSpec& spec, std::string_view text) {
  std::uint64_t mask = 0;
  for (std::string_view item : split(text, ',')) {
    if (item.empty()) {
      return Unexpected(std::string(spec.name) + ": empty list item");
    }
    int step = 1;
    const std::size_t slash = item.find('/');
    std::string_view base = item.substr(0, slash);
    if (slash != std::string_view::npos) {
      const auto parsed = small_number(item.substr(slash + 1));
      if (!parsed || *parsed < 1 || *parsed > spec.max) {
        return Unexpected(std::string(spec.name) + ": step '" +
                          std::string(item.substr(slash + 1)) + "' not within 1.." +
                          std::to_string(spec.max));
      }
      step = *parsed;
    }
    int first = spec.min;
    int last = spec.max;
    if (base != "*") {
      const std::size_t dash = base.find('-');
      auto low = field_value(spec, base.substr(0, dash));
      if (!low) {
        return Unexpected(low.error());
      }
      first = *low;
      if (dash != std::string_view::npos) {
        auto high = field_value(spec, base.substr(dash + 1));
        if (!high) {
          return Unexpected(high.error());
        }
        last = *high;
        if (last < first) {
          return Unexpected(std::string(spec.name) + ": range '" + std::string(base) +
                            "' goes backwards");
        }
      } else if (slash == std::string_view::npos) {
        last = first;
      }
    }
    for (int value = first; value <= last; value += step) {
      mask |= std::uint64_t{1} << static_cast<unsigned>(value);
    }
  }
  return mask;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Zone

Zone::Zone() : name_("UTC") {
  try {
    zone_ = date::locate_zone("UTC");
  } catch (const std::exception&) {
    zone_ = nullptr;  // treated as UTC
  }
}

tl::expected<Zone, std::string> Zone::locate(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Unexpected("unknown time zone '" + std::string(name) + "'");
  }
  Zone zone;
  try {
    zone.zone_ = date::locate_zone(name);
  } catch (const std::exception&) {
    return Unexpected("unknown time zone '" + std::string(name) + "'");
  }
  zone.name_ = std::string(name);
  return zone;
}

std::string Zone::format(SysSeconds time) const {
  if (zone_ == nullptr) {
    return date::format("%Y-%m-%d %H:%M UTC", time);
  }
  return date::format("%Y-%m-%d %H:%M %Z", date::make_zoned(zone_, time));
}

// ---------------------------------------------------------------------------------------------
// CronExpr

tl::expected<CronExpr, std::string> CronExpr::parse(std::string_view text) {
  std::string_view spec = text;
  const std::string macro = lower(text);
  if (macro == "@yearly" || macro == "@annually") {
    spec = "0 0 1 1 *";
  } else if (macro == "@monthly") {
    spec = "0 0 1 * *";
  } else if (macro == "@weekly") {
    spec = "0 0 * * 0";
  } else if (macro == "@daily" || macro == "@midnight") {
    spec = "0 0 * * *";
  } else if (macro == "@hourly") {
    spec = "0 * * * *";
  } else if (!macro.empty() && macro[0] == '@') {
    return Unexpected("unknown macro '" + std::string(text) +
                      "' (expected @yearly, @monthly, @weekly, @daily or @hourly)");
  }
  const auto fields = split_whitespace(spec);
  if (fields.size() != 5) {
    return Unexpected("expected 5 fields (minute hour day-of-month month day-of-week), got " +
                      std::to_string(fields.size()));
  }
  static const FieldSpec kMinute{"minute", 0, 59, nullptr, 0, 0};
  static const FieldSpec kHour{"hour", 0, 23, nullptr, 0, 0};
  static const FieldSpec kDay{"day-of-month", 1, 31, nullptr, 0, 0};
  static const FieldSpec kMonth{"month", 1, 12, kMonthNames.data(), kMonthNames.size(), 1};
  static const FieldSpec kWeekday{"day-of-week", 0, 7, kDayNames.data(), kDayNames.size(), 0};

  CronExpr expr;
  expr.text_ = std::string(text);
  auto minutes = parse_field(kMinute, fields[0]);
  if (!minutes) {
    return Unexpected(minutes.error());
  }
  auto hours = parse_field(kHour, fields[1]);
  if (!hours) {
    return Unexpected(hours.error());
  }
  auto days = parse_field(kDay, fields[2]);
  if (!days) {
    return Unexpected(days.error());
  }
  auto months = parse_field(kMonth, fields[3]);
  if (!months) {
    return Unexpected(months.error());
  }
  auto weekdays = parse_field(kWeekday, fields[4]);
  if (!weekdays) {
    return Unexpected(weekdays.error());
  }
  expr.minutes_ = std::bitset<60>(*minutes);
  expr.hours_ = std::bitset<24>(*hours);
  expr.days_ = std::bitset<32>(*days);
  expr.months_ = std::bitset<13>(*months);
  std::uint64_t week = *weekdays;
  if ((week & (std::uint64_t{1} << 7U)) != 0) {
    week = (week | 1U) & 0x7FU;  // 7 is Sunday, like 0
  }
  expr.weekdays_ = std::bitset<7>(week);
  expr.days_star_ = fields[2].front() == '*';
  expr.weekdays_star_ = fields[4].front() == '*';
  return expr;
}

bool CronExpr::day_matches(int day_of_month, int month, int weekday) const {
  if (!months_.test(static_cast<std::size_t>(month))) {
    return false;
  }
  const bool by_day = days_.test(static_cast<std::size_t>(day_of_month));
  const bool by_weekday = weekdays_.test(static_cast<std::size_t>(weekday));
  // Vixie cron: either field unrestricted means both must match, else either may.
  return (days_star_ || weekdays_star_) ? (by_day && by_weekday) : (by_day || by_weekday);
}

std::optional<SysSeconds> CronExpr::next_after(SysSeconds after, const Zone& zone) const {
  const date::time_zone* tz = zone.get();
  const LocalMinutes first = date::floor<std::chrono::minutes>(to_local(tz, after));
  const date::local_days first_day = date::floor<date::days>(first);
  constexpr int kSearchDays = 9 * 366 + 1;
  for (int offset = 0; offset < kSearchDays; ++offset) {
    const date::local_days day = first_day + date::days{offset};
    const date::year_month_day ymd{day};
    const date::weekday weekday{day};
    if (!day_matches(static_cast<int>(static_cast<unsigned>(ymd.day())),
                     static_cast<int>(static_cast<unsigned>(ymd.month())),
                     static_cast<int>(weekday.c_encoding()))) {
      continue;
    }
    for (std::size_t hour = 0; hour < 24; ++hour) {
      if (!hours_.test(hour)) {
        continue;
      }
      for (std::size_t minute = 0; minute < 60; ++minute) {
        if (!minutes_.test(minute)) {
          continue;
        }
        const LocalMinutes candidate =
            day + std::chrono::hours{hour} + std::chrono::minutes{minute};
        if (candidate < first) {
          continue;
        }
        const SysSeconds due = to_sys(tz, LocalSeconds{candidate}, false);
        if (due > after) {
          return due;
        }
      }
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Window

namespace {

tl::expected<int, std::string> parse_clock(std::string_view text, bool allow_24) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() != colon + 3) {
    return Unexpected("time '" + std::string(text) + "' is not HH:MM");
  }
  const auto hour = small_number(text.substr(0, colon));
  const auto minute = small_number(text.substr(colon + 1));
  if (!hour || !minute) {
    return Unexpected("time '" + std::string(text) + "' is not HH:MM");
  }
  if (allow_24 && *hour == 24 && *minute == 0) {
    return 24 * 60;
  }
  if (*hour > 23 || *minute > 59) {
    return Unexpected("time '" + std::string(text) + "' not within 00:00.." +
                      (allow_24 ? "24:00" : "23:59"));
  }
  return *hour * 60 + *minute;
}

tl::expected<int, std::string> parse_weekday(std::string_view text) {
  const std::string name = lower(text);
  for (std::size_t i = 0; i < kDayNames.size(); ++i) {
    if (kDayNames[i] == name) {
      return static_cast<int>(i);
    }
  }
  return Unexpected("unknown day '" + std::string(text) + "' (expected Mon, Tue, Wed, Thu, Fri, " +
                    "Sat, Sun, a range such as Mon-Fri, or *)");
}

}  // namespace

tl::expected<Window, std::string> Window::parse(std::string_view text) {
  const auto parts = split_whitespace(text);
  if (parts.size() < 2 || parts.size() > 3) {
    return Unexpected("expected 'DAYS HH:MM-HH:MM [ZONE]', e.g. 'Sun 01:00-05:00 Europe/Berlin'");
  }
  Window window;
  window.text_ = std::string(text);
  if (parts[0] == "*") {
    window.days_.set();
  } else {
    for (std::string_view item : split(parts[0], ',')) {
      const std::size_t dash = item.find('-');
      auto first = parse_weekday(item.substr(0, dash));
      if (!first) {
        return Unexpected(first.error());
      }
      int last = *first;
      if (dash != std::string_view::npos) {
        auto parsed = parse_weekday(item.substr(dash + 1));
        if (!parsed) {
          return Unexpected(parsed.error());
        }
        last = *parsed;
      }
      // A range may wrap over the end of the week (Fri-Mon).
      for (int day = *first;; day = (day + 1) % 7) {
        window.days_.set(static_cast<std::size_t>(day));
        if (day == last) {
          break;
        }
      }
    }
  }
  const std::size_t dash = parts[1].find('-');
  if (dash == std::string_view::npos) {
    return Unexpected("time range '" + std::string(parts[1]) + "' is not HH:MM-HH:MM");
  }
  auto start = parse_clock(parts[1].substr(0, dash), false);
  if (!start) {
    return Unexpected(start.error());
  }
  auto end = parse_clock(parts[1].substr(dash + 1), true);
  if (!end) {
    return Unexpected(end.error());
  }
  if (*start == *end) {
    return Unexpected("start and end are equal (use 00:00-24:00 for a whole day)");
  }
  window.start_ = *start;
  window.end_ = *end;
  if (parts.size() == 3) {
    auto zone = Zone::locate(parts[2]);
    if (!zone) {
      return Unexpected(zone.error());
    }
    window.zone_ = std::move(*zone);
  }
  return window;
}

std::chrono::minutes Window::length() const {
  return std::chrono::minutes{end_ > start_ ? end_ - start_ : end_ + 24 * 60 - start_};
}

std::optional<WindowSpan> Window::opening_on(std::int64_t local_day) const {
  const date::local_days day{date::days{local_day}};
  if (!days_.test(date::weekday{day}.c_encoding())) {
    return std::nullopt;
  }
  const auto open_local = LocalSeconds{day + std::chrono::minutes{start_}};
  const auto close_local = LocalSeconds{day + std::chrono::minutes{start_} + length()};
  WindowSpan span{to_sys(zone_.get(), open_local, false), to_sys(zone_.get(), close_local, true)};
  if (span.close <= span.open) {
    return std::nullopt;  // swallowed by a clock change
  }
  return span;
}

WindowSpan Window::next_window(SysSeconds now) const {
  const auto today = date::floor<date::days>(to_local(zone_.get(), now)).time_since_epoch().count();
  for (std::int64_t day = today - 2; day < today + 400; ++day) {
    if (auto span = opening_on(day); span && span->close > now) {
      return *span;
    }
  }
  // Unreachable for a parsed window (it opens at least once a week).
  return WindowSpan{now, now};
}

bool Window::in_window(SysSeconds now) const {
  const WindowSpan span = next_window(now);
  return span.open <= now && now < span.close;
}

SysSeconds Window::next_window_open(SysSeconds now) const {
  return std::max(next_window(now).open, now);
}

bool in_any_window(std::span<const Window> windows, SysSeconds now) {
  if (windows.empty()) {
    return true;
  }
  return std::any_of(windows.begin(), windows.end(),
                     [now](const Window& window) { return window.in_window(now); });
}

std::optional<WindowSpan> next_window(std::span<const Window> windows, SysSeconds now) {
  std::optional<WindowSpan> best;
  for (const Window& window : windows) {
    const WindowSpan span = window.next_window(now);
    if (!best || span.open < best->open) {
      best = span;
    }
  }
  return best;
}

SysSeconds next_window_open(std::span<const Window> windows, SysSeconds now) {
  const auto span = next_window(windows, now);
  return span ? std::max(span->open, now) : now;
}

std::chrono::seconds jitter_offset(std::string_view server_id, std::chrono::seconds jitter) {
  if (jitter.count() <= 0) {
    return std::chrono::seconds{0};
  }
  std::uint64_t hash = 14695981039346656037ULL;
  for (char c : server_id) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return std::chrono::seconds{
      static_cast<std::int64_t>(hash % (static_cast<std::uint64_t>(jitter.count()) + 1))};
}

}  // namespace rotor::config
