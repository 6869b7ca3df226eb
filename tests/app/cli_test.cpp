// Runs the built `rotor` binary as an operator would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "password/validator.h"

namespace rotor {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
};

// Runs `rotor ARGS` with stderr folded into stdout when `with_stderr` is set.
RunResult run_rotor(const std::string& args, bool with_stderr = false) {
  const std::string command =
      std::string(ROTOR_BINARY) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  RunResult run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return run;
  }
  std::array<char, 4096> buffer{};
  std::size_t got = 0;
  while ((got = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    run.out.append(buffer.data(), got);
  }
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    out.push_back(line);
  }
  return out;
}

// The acceptance check: 5 compliant Windows passwords for the batch API.
TEST(CliTest, GenerateWindowsBatch) {
  const RunResult run = run_rotor("generate --count 5 --os windows --api batch");
  ASSERT_EQ(run.exit_code, 0);
  const auto passwords = lines(run.out);
  ASSERT_EQ(passwords.size(), 5U);
  const auto policy =
      password::Policy::for_os(password::OsFamily::Windows, 20, password::ApiProfile::EcsV1);
  for (const auto& p : passwords) {
    EXPECT_THAT(password::check(p, policy), ::testing::IsEmpty()) << "a generated password failed";
  }
}

// --length and --exclude are honoured.
TEST(CliTest, GenerateHonoursLengthAndExclusions) {
  const RunResult run = run_rotor("generate --count 20 --length 9 --exclude 0O1lI --api single");
  ASSERT_EQ(run.exit_code, 0);
  for (const auto& p : lines(run.out)) {
    EXPECT_EQ(p.size(), 9U);
    EXPECT_EQ(p.find_first_of("0O1lI"), std::string::npos);
  }
}

// An impossible policy exits 1 with the reason; nothing is printed on stdout.
TEST(CliTest, ImpossiblePolicyExitsOne) {
  const RunResult quiet = run_rotor("generate --length 30");
  EXPECT_EQ(quiet.exit_code, 1);
  EXPECT_EQ(quiet.out, "");
  const RunResult loud = run_rotor("generate --length 30", true);
  EXPECT_THAT(loud.out, ::testing::HasSubstr("length 30 not within 8..26"));
}

// Usage errors exit 2; --version and --help exit 0.
TEST(CliTest, ExitCodes) {
  EXPECT_EQ(run_rotor("").exit_code, 2);
  EXPECT_EQ(run_rotor("generate --os plan9").exit_code, 2);
  const RunResult version = run_rotor("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, ::testing::StartsWith("rotor "));
  EXPECT_EQ(run_rotor("--help").exit_code, 0);
}

}  // namespace
}  // namespace rotor
