// Secret references: files must be private regular files, variables must be set, placeholders are
// refused, and no error message or log line ever carries the secret.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "config/secret_ref.h"
#include "tests/support/log_capture.h"
#include "tests/support/scratch_dir.h"

namespace rotor::config {
namespace {

namespace fs = std::filesystem;

class SecretRefTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, std::string_view content, mode_t mode) {
    const fs::path path = dir_ / name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    EXPECT_EQ(::fchmod(fd, mode), 0);
    ::close(fd);
    return path;
  }

  static SecretRef file_ref(const fs::path& path) {
    return SecretRef{SecretRef::Kind::File, "token_file", path.string(), path, {}};
  }
  static SecretRef env_ref(const std::string& name) {
    return SecretRef{SecretRef::Kind::Env, "token", name, {}, {}};
  }
  static std::string error_of(const Result<Secret>& result) {
    return result ? "resolved" : result.error().message();
  }

  rotor::testing::ScratchDir scratch_{"secret"};
  fs::path dir_ = scratch_.path();
  testing::LogCapture logs_;
};

// A 0600 file is read, one trailing newline dropped, and nothing is logged.
TEST_F(SecretRefTest, ReadsPrivateFile) {
  const fs::path path = write("token", "hvs.Q2hhbmdlZEluVGVzdHM\n", 0600);
  Result<Secret> secret = resolve_secret(file_ref(path), EnvLookup{});
  ASSERT_TRUE(secret.has_value()) << secret.error().message();
  EXPECT_EQ(secret->reveal(), "hvs.Q2hhbmdlZEluVGVzdHM");
  EXPECT_TRUE(resolve_secret(file_ref(write("ro", "abc-def-ghi", 0400)), {}).has_value());
  EXPECT_FALSE(logs_.contains("hvs.Q2hhbmdlZEluVGVzdHM"));
}

// Group or world access is refused with the mode and the fix, never the content.
TEST_F(SecretRefTest, RefusesGroupOrWorldAccess) {
  const fs::path group = write("group", "TopSecretValue1", 0640);
  EXPECT_EQ(error_of(resolve_secret(file_ref(group), {})),
            "'token_file': " + group.string() +
                " is accessible by group or others (mode 0640); run chmod 600 " + group.string());
  const fs::path world = write("world", "TopSecretValue2", 0604);
  EXPECT_EQ(error_of(resolve_secret(file_ref(world), {})),
            "'token_file': " + world.string() +
                " is accessible by group or others (mode 0604); run chmod 600 " + world.string());
  EXPECT_FALSE(logs_.contains("TopSecretValue"));
}

// Directories, FIFOs and missing files are refused.
TEST_F(SecretRefTest, RefusesNonRegularAndMissingFiles) {
  EXPECT_EQ(error_of(resolve_secret(file_ref(dir_), {})),
            "'token_file': " + dir_.string() + " is not a regular file");
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of(resolve_secret(file_ref(fifo), {})),
            "'token_file': " + fifo.string() + " is not a regular file");
  const fs::path missing = dir_ / "missing";
  EXPECT_EQ(error_of(resolve_secret(file_ref(missing), {})),
            "'token_file': cannot open " + missing.string() + " (No such file or directory)");
}

// Empty files and placeholders are not credentials.
TEST_F(SecretRefTest, RefusesEmptyAndPlaceholderFiles) {
  const fs::path empty = write("empty", "\n", 0600);
  EXPECT_EQ(error_of(resolve_secret(file_ref(empty), {})),
            "'token_file': " + empty.string() + " is empty");
  const fs::path placeholder = write("placeholder", "changeme\n", 0600);
  EXPECT_EQ(error_of(resolve_secret(file_ref(placeholder), {})),
            "'token_file': " + placeholder.string() + " holds a placeholder, not a credential");
}

// env:NAME reads the injected environment; unset, empty and placeholder values are refused.
TEST_F(SecretRefTest, ResolvesEnvironmentVariables) {
  const EnvLookup env = fixed_env(
      {{"ROTOR_TEST_TOKEN", "s3cr3t-from-env"}, {"ROTOR_EMPTY", ""}, {"ROTOR_TODO", "TODO"}});
  Result<Secret> secret = resolve_secret(env_ref("ROTOR_TEST_TOKEN"), env);
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->reveal(), "s3cr3t-from-env");
  EXPECT_EQ(error_of(resolve_secret(env_ref("ROTOR_UNSET"), env)),
            "'token': environment variable ROTOR_UNSET is not set");
  EXPECT_EQ(error_of(resolve_secret(env_ref("ROTOR_EMPTY"), env)),
            "'token': environment variable ROTOR_EMPTY is not set");
  EXPECT_EQ(error_of(resolve_secret(env_ref("ROTOR_TODO"), env)),
            "'token': environment variable ROTOR_TODO holds a placeholder, not a credential");
  EXPECT_FALSE(logs_.contains("s3cr3t-from-env"));
}

// Values that stand in for real ones are recognised; real-looking ones are not.
TEST_F(SecretRefTest, RecognisesPlaceholders) {
  for (const char* value : {"changeme", "CHANGEME", "xxx", "OTC-EU-DE-000000000010000xxxxx",
                            "<your key>", "TODO", "tbd", "...", "your-access-key", "placeholder"}) {
    EXPECT_TRUE(is_placeholder(value)) << value;
  }
  for (const char* value : {"hvs.CAESIJ", "rotor-svc", "eu-de", "0123456789abcdef", "ops"}) {
    EXPECT_FALSE(is_placeholder(value)) << value;
  }
}

}  // namespace
}  // namespace rotor::config
