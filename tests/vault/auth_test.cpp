// Credential sources: token files, systemd credentials, AppRole files.

#include "vault/auth.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

namespace rotor::vault {
namespace {

class VaultAuthTest : public ::testing::Test {
 protected:
  VaultAuthTest() {
    char pattern[] = "/tmp/rotor-vault-auth-XXXXXX";
    dir_ = mkdtemp(pattern);
  }
  ~VaultAuthTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::filesystem::path write(const std::string& name, const std::string& content) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::filesystem::path dir_;
};

// A token file loses one trailing newline; the content is kept as a Secret.
TEST_F(VaultAuthTest, TokenFromFile) {
  auto token = token_from_file(write("token", "hvs.abc\n"));
  ASSERT_TRUE(token);
  EXPECT_EQ(token->token.reveal(), "hvs.abc");
  auto crlf = token_from_file(write("token2", "hvs.def\r\n"));
  ASSERT_TRUE(crlf);
  EXPECT_EQ(crlf->token.reveal(), "hvs.def");
}

// Missing and empty files are errors that name the file, not its content.
TEST_F(VaultAuthTest, MissingAndEmptyFiles) {
  auto missing = token_from_file(dir_ / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::IoError);
  auto empty = token_from_file(write("empty", "\n"));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), ErrorCode::InvalidConfig);
}

// systemd credentials come from $CREDENTIALS_DIRECTORY (restored afterwards).
TEST_F(VaultAuthTest, SystemdCredential) {
  write("vault-token", "hvs.fromsystemd");
  const char* previous = std::getenv("CREDENTIALS_DIRECTORY");
  const std::string saved = previous != nullptr ? previous : "";
  setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  auto token = token_from_credential("vault-token");
  auto bad = token_from_credential("../etc/passwd");
  if (previous != nullptr) {
    setenv("CREDENTIALS_DIRECTORY", saved.c_str(), 1);
  } else {
    unsetenv("CREDENTIALS_DIRECTORY");
  }
  ASSERT_TRUE(token);
  EXPECT_EQ(token->token.reveal(), "hvs.fromsystemd");
  EXPECT_FALSE(bad);
}

// AppRole from two files; VAULT_TOKEN values are copied into a Secret.
TEST_F(VaultAuthTest, AppRoleFilesAndTokenValue) {
  auto approle = approle_from_files(write("role", "role-1\n"), write("sid", "sid-1\n"));
  ASSERT_TRUE(approle);
  EXPECT_EQ(approle->role_id, "role-1");
  EXPECT_EQ(approle->secret_id.reveal(), "sid-1");
  EXPECT_EQ(token_from_value("hvs.env").token.reveal(), "hvs.env");
}

}  // namespace
}  // namespace rotor::vault
