// The real verification-hook runner against small shell scripts: the password reaches the hook on
// stdin only, the environment is built from scratch, exit statuses, signals and timeouts.
#include "engine/verifier.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include "tests/support/scratch_dir.h"

namespace rotor::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr const char* kPassword = "Hook-Test-Passw0rd!";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Sets an environment variable for the test's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {  // NOLINT(concurrency-mt-unsafe)
      old_ = old;
    }
    ::setenv(name, value, 1);  // NOLINT(concurrency-mt-unsafe)
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      ::unsetenv(name_.c_str());  // NOLINT(concurrency-mt-unsafe)
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

class VerifierTest : public ::testing::Test {
 protected:
  VerifierTest() {
    context_.server_id = "3f1c0e2a-9b1d-4c55-8a55-0c2d7e6f9a10";
    context_.server_name = "web-01";
    context_.username = "root";
    context_.os_type = "Linux";
    context_.policy = "linux-prod";
    context_.rotation_id = "00112233445566778899aabbccddeeff";
  }

  // Writes an executable /bin/sh script; its directory is $DIR inside (passed as an argument).
  std::string script(const std::string& name, const std::string& body) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(path, fs::perms::owner_all);
    return path.string();
  }

  Result<void> run(const std::string& program,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
    VerifyHook hook;
    hook.command = {program, dir_.string()};
    hook.timeout = timeout;
    const Secret password = Secret::from(kPassword);
    return verifier_.verify(hook, context_, password);
  }

  rotor::testing::ScratchDir scratch_{"verifier"};
  fs::path dir_ = scratch_.path();
  VerifyContext context_;
  ProcessVerifier verifier_;
};

// The password arrives on stdin, one line; neither argv nor the environment holds it, the
// daemon's own environment is not inherited, and the context is there.
TEST_F(VerifierTest, PasswordOnStdinOnly) {
  const ScopedEnv parent("ROTOR_TEST_PARENT_VARIABLE", "from-the-daemon");
  const std::string hook = script("capture", R"(cat > "$1/stdin"
printf '%s\n' "$0" "$@" > "$1/argv"
env > "$1/env"
tr '\0' '\n' < /proc/$$/cmdline > "$1/cmdline"
exit 0)");
  ASSERT_TRUE(run(hook).has_value());
  EXPECT_EQ(read_file(dir_ / "stdin"), std::string(kPassword) + "\n");
  for (const char* file : {"argv", "env", "cmdline"}) {
    const std::string text = read_file(dir_ / file);
    EXPECT_FALSE(text.empty()) << file;
    EXPECT_EQ(text.find(kPassword), std::string::npos) << file;
  }
  const std::string env = read_file(dir_ / "env");
  EXPECT_THAT(env, HasSubstr("ROTOR_SERVER_ID=3f1c0e2a-9b1d-4c55-8a55-0c2d7e6f9a10\n"));
  EXPECT_THAT(env, HasSubstr("ROTOR_SERVER_NAME=web-01\n"));
  EXPECT_THAT(env, HasSubstr("ROTOR_USERNAME=root\n"));
  EXPECT_THAT(env, HasSubstr("ROTOR_POLICY=linux-prod\n"));
  EXPECT_THAT(env, HasSubstr("ROTOR_OS_TYPE=Linux\n"));
  EXPECT_EQ(env.find("ROTOR_TEST_PARENT_VARIABLE"), std::string::npos);
}

// A non-zero exit is a failed verification that names the status, never the output.
TEST_F(VerifierTest, NonZeroExitFails) {
  const std::string hook = script("deny", "echo \"$(cat)\"; echo \"denied $(cat)\" >&2; exit 3");
  const auto result = run(hook);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().to_string(), HasSubstr("exited with status 3"));
  EXPECT_EQ(result.error().to_string().find(kPassword), std::string::npos);
}

// A hook that does not read its stdin and exits at once neither hangs nor kills the caller with
// SIGPIPE.
TEST_F(VerifierTest, HookThatIgnoresStdin) {
  EXPECT_TRUE(run(script("ignore", "exit 0")).has_value());
  EXPECT_FALSE(run(script("ignore-fail", "exit 1")).has_value());
}

// A hook killed by a signal is a failure naming the signal.
TEST_F(VerifierTest, KilledBySignal) {
  const auto result = run(script("suicide", "kill -KILL $$"));
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().to_string(), HasSubstr("killed by signal 9"));
}

// A hook that does not finish in time is killed with everything it started.
TEST_F(VerifierTest, TimeoutKillsTheProcessGroup) {
  const std::string hook = script("hang", R"(sleep 600 &
echo $! > "$1/child.tmp" && mv "$1/child.tmp" "$1/child"
wait)");
  const auto result = run(hook, std::chrono::milliseconds(1500));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::Timeout);
  EXPECT_THAT(result.error().to_string(), HasSubstr("did not finish within 1500ms"));
  // The background child got SIGKILL too: wait (bounded) until it is gone or a zombie.
  const std::string child = read_file(dir_ / "child");
  ASSERT_FALSE(child.empty());
  const fs::path stat = fs::path("/proc") / child.substr(0, child.find('\n')) / "stat";
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    const std::string text = read_file(stat);
    const auto close = text.rfind(')');
    gone = text.empty() || (close != std::string::npos && text.size() > close + 2 &&
                            (text[close + 2] == 'Z' || text[close + 2] == 'X'));
    if (!gone) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_TRUE(gone) << "the hook's child survived the timeout";
}

// A program that cannot be started, or a relative path, is a clear error.
TEST_F(VerifierTest, CannotStart) {
  const auto missing = run((dir_ / "no-such-hook").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().to_string(), HasSubstr("cannot start the verification hook"));
  const auto relative = run("verify-ssh");
  ASSERT_FALSE(relative.has_value());
  EXPECT_THAT(relative.error().to_string(), HasSubstr("absolute"));
}

// The environment holds PATH, the locale and the context, nothing else.
TEST_F(VerifierTest, EnvironmentIsBuiltFromScratch) {
  context_.addresses = {"192.0.2.10", "2001:db8::10"};
  const auto env = hook_environment(context_);
  EXPECT_THAT(env, ::testing::Contains("ROTOR_ADDRESSES=192.0.2.10 2001:db8::10"));
  EXPECT_THAT(env, ::testing::Contains("LC_ALL=C"));
  for (const auto& entry : env) {
    EXPECT_TRUE(entry.rfind("ROTOR_", 0) == 0 || entry.rfind("PATH=", 0) == 0 ||
                entry.rfind("LC_ALL=", 0) == 0)
        << entry;
  }
}

}  // namespace
}  // namespace rotor::engine
