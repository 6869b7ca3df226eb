#pragma once
// Secrets in the configuration are references, never values:
//  - `NAME_file: /path` (a file holding the secret; `${CREDENTIALS_DIRECTORY}` is expanded so that
//    systemd's LoadCredential= works), refused unless it is a regular file that neither the group
//    nor others may access;
//  - `NAME: env:VARIABLE` (an environment variable).
// The configuration only holds the reference; resolve_secret() reads it into a Secret when the
// daemon needs it (and check-config calls it to prove the secret is readable, printing nothing).

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/secret.h"

namespace rotor::config {

// How the loader reads the environment: returns the value of a variable, or nullopt when unset.
// Tests pass their own function instead of changing the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
[[nodiscard]] EnvLookup process_env();
// A fixed environment, for tests and the fuzzer.
[[nodiscard]] EnvLookup fixed_env(std::vector<std::pair<std::string, std::string>> variables);

// Where a value was written: "file:line:col" (1-based). Not part of a config's equality.
struct Position {
  std::string file;
  int line = 0;
  int column = 0;
  [[nodiscard]] std::string to_string() const;
  bool operator==(const Position&) const = default;
};

struct SecretRef {
  enum class Kind { File, Env };
  Kind kind = Kind::File;
  // The parameter as written: "secret_key_file" or "secret_key".
  std::string parameter;
  // As written: "${CREDENTIALS_DIRECTORY}/otc-sk" for a file, "OTC_SK" for env:OTC_SK.
  std::string text;
  // The file after expansion (Kind::File only).
  std::filesystem::path path;
  Position where;

  bool operator==(const SecretRef& other) const {
    return kind == other.kind && parameter == other.parameter && text == other.text &&
           path == other.path;
  }
};

// Reads the secret a reference points to. Refuses a file that is not regular, that the group or
// others may access, that is empty or larger than 64 KiB; refuses an unset or empty variable and a
// placeholder value. One trailing newline is dropped. Errors name the path or variable, never the
// content.
[[nodiscard]] Result<Secret> resolve_secret(const SecretRef& ref, const EnvLookup& env);

// True for values such as "changeme", "xxx", "<your key>", "TODO", "..." that stand in for a real
// value in an example.
[[nodiscard]] bool is_placeholder(std::string_view value);

}  // namespace rotor::config
