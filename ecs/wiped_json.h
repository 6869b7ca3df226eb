#pragma once
// Internal: the ECS client parses every answer as a common/wiped_json.h document.

#include <string>

#include "common/wiped_json.h"

namespace rotor::ecs::detail {

using rotor::parse_wiped;
using rotor::WipedJson;
using rotor::WipedString;

// A string value as std::string, for values that are not secrets ("" when not a string).
inline std::string to_std(const WipedJson& value) {
  if (!value.is_string()) {
    return {};
  }
  const auto& text = value.get_ref<const WipedString&>();
  return std::string(text.data(), text.size());
}

}  // namespace rotor::ecs::detail
