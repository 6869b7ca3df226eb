#pragma once
// Durations in the configuration: one or more groups of digits followed by a unit, largest unit
// first, each unit at most once, no spaces: `90s`, `15m`, `2h`, `30d`, `1w`, `1h30m`, `0s`.
// Units: w (7 days), d (24 hours), h, m, s. A day is always 24 hours (no calendar arithmetic).

#include <chrono>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace rotor::config {

// The longest duration the grammar accepts (ten years); every parameter has a narrower range.
inline constexpr std::chrono::seconds kMaxDuration{3650LL * 24 * 3600};

// Parses a duration; the error is a reason without the parameter name ("missing unit").
[[nodiscard]] tl::expected<std::chrono::seconds, std::string> parse_duration(std::string_view text);

// The canonical spelling: the largest units first, weeks never used (`30d`, `1h30m`, `0s`).
[[nodiscard]] std::string format_duration(std::chrono::seconds duration);

}  // namespace rotor::config
