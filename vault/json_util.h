#pragma once
// JSON helpers for the Vault client (internal). Parsed documents that may hold secrets are wiped
// before they die (ScopedJson); request bodies carrying secrets are written straight into a
// WipingBuffer, never through a std::string.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/secret.h"

namespace rotor::vault::detail {

// Overwrites every string (values and object keys' values) inside `value` in place.
void wipe_json(nlohmann::json& value) noexcept;

// A parsed document that wipes its strings on destruction.
class ScopedJson {
 public:
  ScopedJson() = default;
  explicit ScopedJson(nlohmann::json value) : value_(std::move(value)) {}
  ScopedJson(const ScopedJson&) = delete;
  ScopedJson& operator=(const ScopedJson&) = delete;
  ScopedJson(ScopedJson&& other) noexcept : value_(std::move(other.value_)) {}
  ScopedJson& operator=(ScopedJson&&) = delete;
  ~ScopedJson() { wipe_json(value_); }
  [[nodiscard]] nlohmann::json& get() noexcept { return value_; }
  [[nodiscard]] const nlohmann::json& get() const noexcept { return value_; }

 private:
  nlohmann::json value_;
};

// Parses a body; an empty body parses to null. Errors never quote the body.
Result<ScopedJson> parse_body(std::string_view body);

// Appends `text` as a JSON string literal (with quotes) to `out`.
void append_json_string(WipingBuffer& out, std::string_view text);

// Vault error texts from {"errors":[...]}: multierror wrapping removed, joined with "; ",
// control characters dropped, capped in length. Empty when there are none.
std::string error_text(const nlohmann::json& body);

// Removes Go multierror formatting: "1 error occurred:\n\t* permission denied\n\n" ->
// "permission denied"; several items are joined with "; ".
std::string strip_multierror(std::string_view text);

// Optional field helpers that never throw.
std::optional<std::string> get_string(const nlohmann::json& object, std::string_view key);
std::optional<std::int64_t> get_int(const nlohmann::json& object, std::string_view key);
std::optional<bool> get_bool(const nlohmann::json& object, std::string_view key);

}  // namespace rotor::vault::detail
