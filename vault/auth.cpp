#include "vault/auth.h"

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace rotor::vault {

Result<Secret> read_secret_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return fail(ErrorCode::IoError, "cannot open credential file {}", path.string());
  }
  std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!content.empty() && content.back() == '\n') {
    content.pop_back();
    if (!content.empty() && content.back() == '\r') {
      content.pop_back();
    }
  }
  if (content.empty()) {
    return fail(ErrorCode::InvalidConfig, "credential file {} is empty", path.string());
  }
  return Secret::take(std::move(content));
}

Result<Secret> read_systemd_credential(const std::string& name) {
  const char* directory = std::getenv("CREDENTIALS_DIRECTORY");
  if (directory == nullptr || *directory == '\0') {
    return fail(ErrorCode::InvalidConfig,
                "systemd credential '{}' requested but CREDENTIALS_DIRECTORY is not set", name);
  }
  if (name.empty() || name.find('/') != std::string::npos) {
    return fail(ErrorCode::InvalidConfig, "invalid systemd credential name '{}'", name);
  }
  return read_secret_file(std::filesystem::path(directory) / name);
}

Result<TokenAuth> token_from_file(const std::filesystem::path& path) {
  auto secret = read_secret_file(path);
  if (!secret) {
    return fail(secret.error());
  }
  return TokenAuth{std::move(*secret)};
}

Result<TokenAuth> token_from_credential(const std::string& name) {
  auto secret = read_systemd_credential(name);
  if (!secret) {
    return fail(secret.error());
  }
  return TokenAuth{std::move(*secret)};
}

TokenAuth token_from_value(std::string_view value) {
  return TokenAuth{Secret::from(value)};
}

Result<AppRoleAuth> approle_from_files(const std::filesystem::path& role_id_file,
                                       const std::filesystem::path& secret_id_file) {
  auto role = read_secret_file(role_id_file);
  if (!role) {
    return fail(role.error());
  }
  auto secret_id = read_secret_file(secret_id_file);
  if (!secret_id) {
    return fail(secret_id.error());
  }
  return AppRoleAuth{std::string(role->reveal()), std::move(*secret_id)};
}

}  // namespace rotor::vault
