#pragma once
// A JSON document type for parsing answers from the cloud and from Vault, whose every allocation
// (nodes, strings, the parser's token buffer) is wiped when released: a Vault answer carries
// passwords, and an ECS error message may echo a request; nothing the parser saw lingers in freed
// heap. Strings short enough to live inline are not covered by the allocator: callers holding
// secrets wipe those in place (vault/json_util.h's wipe_json).

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret.h"

namespace rotor {

using WipedString = std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;
using WipedJson = nlohmann::basic_json<std::map, std::vector, WipedString, bool, std::int64_t,
                                       std::uint64_t, double, WipingAllocator>;

// Answers nested deeper than this are refused before parsing: no ECS, IAM or Vault answer comes
// close, and a hostile one must not make anyone walk (or recursively wipe) a document thousands
// of levels deep.
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

}  // namespace rotor
