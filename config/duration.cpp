#include "config/duration.h"

#include <array>
#include <cstdint>

namespace rotor::config {

namespace {

struct Unit {
  char symbol;
  std::int64_t seconds;
};
constexpr std::array<Unit, 5> kUnits{
    {{'w', std::int64_t{7} * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};

}  // namespace

tl::expected<std::chrono::seconds, std::string> parse_duration(std::string_view text) {
  if (text.empty()) {
    return tl::unexpected<std::string>("empty");
  }
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // index into kUnits of the largest unit still allowed
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t value = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (digits == 9) {
        return tl::unexpected<std::string>("too many digits");
      }
      value = value * 10 + (text[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) {
      return tl::unexpected<std::string>("expected a number before each unit");
    }
    if (i == text.size()) {
      return tl::unexpected<std::string>("missing unit (s, m, h, d or w)");
    }
    const char symbol = text[i++];
    std::size_t unit = 0;
    while (unit < kUnits.size() && kUnits[unit].symbol != symbol) {
      ++unit;
    }
    if (unit == kUnits.size()) {
      return tl::unexpected<std::string>(std::string("unknown unit '") + symbol +
                                         "' (expected s, m, h, d or w)");
    }
    if (unit < next_unit) {
      return tl::unexpected<std::string>("units must go from largest to smallest, each once");
    }
    next_unit = unit + 1;
    total += value * kUnits[unit].seconds;
    if (total > kMaxDuration.count()) {
      return tl::unexpected<std::string>("longer than 3650d");
    }
  }
  return std::chrono::seconds{total};
}

std::string format_duration(std::chrono::seconds duration) {
  std::int64_t rest = duration.count();
  if (rest <= 0) {
    return "0s";
  }
  std::string out;
  for (const Unit& unit : kUnits) {
    if (unit.symbol == 'w') {
      continue;
    }
    if (rest >= unit.seconds) {
      out += std::to_string(rest / unit.seconds);
      out += unit.symbol;
      rest %= unit.seconds;
    }
  }
  return out;
}

}  // namespace rotor::config
