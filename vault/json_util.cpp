#include "vault/json_util.h"

namespace rotor::vault::detail {

void wipe_json(Json& value) noexcept {
  if (value.is_string()) {
    auto& text = *value.get_ptr<WipedString*>();
    secure_wipe(text.data(), text.size());
    text.clear();
  } else if (value.is_structured()) {
    for (auto& item : value) {
      wipe_json(item);
    }
  }
}

Result<ScopedJson> parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return ScopedJson(Json());
  }
  if (nested_deeper_than(body, kMaxJsonDepth)) {
    return fail(ErrorCode::BadResponse, "body nests deeper than {} levels ({} bytes)",
                kMaxJsonDepth, body.size());
  }
  auto parsed = Json::parse(body.begin(), body.end(), nullptr, false);
  if (parsed.is_discarded()) {
    return fail(ErrorCode::BadResponse, "body is not JSON ({} bytes)", body.size());
  }
  return ScopedJson(std::move(parsed));
}

void append_json_string(WipingBuffer& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (byte < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[byte >> 4U]);
          out.push_back(kHex[byte & 0x0FU]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string strip_multierror(std::string_view text) {
  const auto header = text.find(" occurred:\n");
  if (header == std::string_view::npos) {
    return std::string(text);
  }
  std::string joined;
  std::size_t position = header;
  while ((position = text.find("\t* ", position)) != std::string_view::npos) {
    position += 3;
    auto end = text.find('\n', position);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    if (!joined.empty()) {
      joined += "; ";
    }
    joined += text.substr(position, end - position);
    position = end;
  }
  return joined.empty() ? std::string(text) : joined;
}

std::string error_text(const Json& body) {
  constexpr std::size_t kMaxLength = 300;
  std::string text;
  if (!body.is_object()) {
    return text;
  }
  const auto errors = body.find("errors");
  if (errors == body.end() || !errors->is_array()) {
    return text;
  }
  for (const auto& item : *errors) {
    if (!item.is_string()) {
      continue;
    }
    if (!text.empty()) {
      text += "; ";
    }
    text += strip_multierror(item.get_ref<const WipedString&>());
  }
  std::string clean;
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x20) {
      clean.push_back(c);
    }
  }
  if (clean.size() > kMaxLength) {
    clean.resize(kMaxLength);
    clean += "...";
  }
  return clean;
}

std::optional<std::string> get_string(const Json& object, std::string_view key) {
  if (!object.is_object()) {
    return std::nullopt;
  }
  const auto found = object.find(key);
  if (found == object.end() || !found->is_string()) {
    return std::nullopt;
  }
  return to_std(*found);
}

std::optional<std::int64_t> get_int(const Json& object, std::string_view key) {
  if (!object.is_object()) {
    return std::nullopt;
  }
  const auto found = object.find(key);
  if (found == object.end()) {
    return std::nullopt;
  }
  if (found->is_number_integer()) {
    return found->get<std::int64_t>();
  }
  if (found->is_number_float()) {
    // Out of range (or NaN) would be undefined behaviour in the cast: not an integer then.
    const double value = found->get<double>();
    constexpr double kLimit = 9223372036854775808.0;  // 2^63
    if (!(value >= -kLimit && value < kLimit)) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(value);
  }
  return std::nullopt;
}

std::optional<bool> get_bool(const Json& object, std::string_view key) {
  if (!object.is_object()) {
    return std::nullopt;
  }
  const auto found = object.find(key);
  if (found == object.end() || !found->is_boolean()) {
    return std::nullopt;
  }
  return found->get<bool>();
}

}  // namespace rotor::vault::detail
