#pragma once
// Internal: a JSON document type for parsing ECS and IAM answers whose every allocation (nodes,
// strings, the parser's token buffer) is wiped when released. Answers are not supposed to carry
// secrets, but an error message may echo a request; nothing the parser saw lingers in freed heap.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret.h"

namespace rotor::ecs::detail {

using WipedString = std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;
using WipedJson = nlohmann::basic_json<std::map, std::vector, WipedString, bool, std::int64_t,
                                       std::uint64_t, double, WipingAllocator>;

// Parses without exceptions; a discarded value (is_discarded()) on malformed input.
inline WipedJson parse_wiped(std::string_view text) {
  return WipedJson::parse(text.begin(), text.end(), nullptr, false);
}

// A string value as std::string, for values that are not secrets ("" when not a string).
inline std::string to_std(const WipedJson& value) {
  if (!value.is_string()) {
    return {};
  }
  const auto& text = value.get_ref<const WipedString&>();
  return std::string(text.data(), text.size());
}

}  // namespace rotor::ecs::detail
