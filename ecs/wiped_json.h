#pragma once
// Internal: a JSON document type for parsing ECS and IAM answers whose every allocation (nodes,
// strings, the parser's token buffer) is wiped when released. Answers are not supposed to carry
// secrets, but an error message may echo a request; nothing the parser saw lingers in freed heap.

#include <cstddef>
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

// Answers nested deeper than this are refused before parsing: no ECS or IAM answer comes close,
// and a hostile one must not make anyone walk a document thousands of levels deep.
inline constexpr std::size_t kMaxJsonDepth = 128;

// True when `text` nests arrays or objects deeper than `limit` (string contents skipped).
inline bool nested_deeper_than(std::string_view text, std::size_t limit) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) {
        return true;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

// Parses without exceptions; a discarded value (is_discarded()) on malformed input or input
// nested deeper than kMaxJsonDepth.
inline WipedJson parse_wiped(std::string_view text) {
  if (nested_deeper_than(text, kMaxJsonDepth)) {
    return WipedJson(WipedJson::value_t::discarded);
  }
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
