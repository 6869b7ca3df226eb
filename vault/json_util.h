#pragma once
// JSON helpers for the Vault client (internal). Parsed documents that may hold secrets are wiped
// before they die (ScopedJson); request bodies carrying secrets are written straight into a
// WipingBuffer, never through a std::string.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/secret.h"
#include "common/wiped_json.h"

namespace rotor::vault::detail {

// Vault answers are parsed as common/wiped_json.h documents: the parser's token buffer and every
// node and string (object keys included) use the wiping allocator, so nothing the parser saw
// lingers in freed memory. Short strings live inline and are wiped by wipe_json().
using rotor::WipedString;
using Json = rotor::WipedJson;

// A JSON string value (or any string_t) as a std::string, for values that are not secrets.
inline std::string to_std(const WipedString& text) {
  return std::string(text.data(), text.size());
}
inline std::string to_std(const Json& value) {
  return value.is_string() ? to_std(value.get_ref<const WipedString&>()) : to_std(value.dump());
}

// Overwrites every string (values and object keys' values) inside `value` in place.
void wipe_json(Json& value) noexcept;

// A parsed document that wipes its strings on destruction.
class ScopedJson {
 public:
  ScopedJson() = default;
  explicit ScopedJson(Json value) : value_(std::move(value)) {}
  ScopedJson(const ScopedJson&) = delete;
  ScopedJson& operator=(const ScopedJson&) = delete;
  ScopedJson(ScopedJson&& other) noexcept : value_(std::move(other.value_)) {}
  ScopedJson& operator=(ScopedJson&&) = delete;
  ~ScopedJson() { wipe_json(value_); }
  [[nodiscard]] Json& get() noexcept { return value_; }
  [[nodiscard]] const Json& get() const noexcept { return value_; }

 private:
  Json value_;
};

// Parses a body; an empty body parses to null. Errors never quote the body.
Result<ScopedJson> parse_body(std::string_view body);

// Appends `text` as a JSON string literal (with quotes) to `out`.
void append_json_string(WipingBuffer& out, std::string_view text);

// Vault error texts from {"errors":[...]}: multierror wrapping removed, joined with "; ",
// control characters dropped, capped in length. Empty when there are none.
std::string error_text(const Json& body);

// Removes Go multierror formatting: "1 error occurred:\n\t* permission denied\n\n" ->
// "permission denied"; several items are joined with "; ".
std::string strip_multierror(std::string_view text);

// Optional field helpers that never throw.
std::optional<std::string> get_string(const Json& object, std::string_view key);
std::optional<std::int64_t> get_int(const Json& object, std::string_view key);
std::optional<bool> get_bool(const Json& object, std::string_view key);

}  // namespace rotor::vault::detail
