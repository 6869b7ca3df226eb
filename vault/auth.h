#pragma once
// How the client proves who it is (spec §3): a token given by the operator (a file, a systemd
// credential, or the VAULT_TOKEN value the caller read), or an AppRole role_id + secret_id.
// Only AppRole can log in again after the token dies; a plain token can only be renewed.

#include <filesystem>
#include <string>
#include <variant>

#include "common/error.h"
#include "common/secret.h"

namespace rotor::vault {

struct TokenAuth {
  Secret token;
};

struct AppRoleAuth {
  std::string role_id;  // an identifier, not a secret (Vault docs treat it like a username)
  Secret secret_id;
};

using Credentials = std::variant<TokenAuth, AppRoleAuth>;

// Reads a secret from a file: the whole content with one trailing newline (\n or \r\n) removed.
// An empty file is an error. The file content never appears in the error.
Result<Secret> read_secret_file(const std::filesystem::path& path);

// Reads a systemd credential: $CREDENTIALS_DIRECTORY/<name> (LoadCredential= in the unit).
Result<Secret> read_systemd_credential(const std::string& name);

// A token from a file, a systemd credential or a VAULT_TOKEN value (the caller reads the
// environment; the value is copied into a Secret and the caller should wipe its copy).
Result<TokenAuth> token_from_file(const std::filesystem::path& path);
Result<TokenAuth> token_from_credential(const std::string& name);
TokenAuth token_from_value(std::string_view value);

// role_id from a file (plain), secret_id from a file (secret).
Result<AppRoleAuth> approle_from_files(const std::filesystem::path& role_id_file,
                                       const std::filesystem::path& secret_id_file);

}  // namespace rotor::vault
