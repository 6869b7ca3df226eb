#pragma once
// Writes JSON text straight into a WipingBuffer, for request bodies that carry a password: no
// intermediate std::string or json object ever holds the secret.

#include <string_view>

#include "common/secret.h"

namespace rotor::ecs {

// Appends `text` as a JSON string literal (quotes included), escaping '"', '\\' and control
// characters; other bytes (UTF-8) are copied as they are.
void append_json_string(WipingBuffer& out, std::string_view text);

}  // namespace rotor::ecs
