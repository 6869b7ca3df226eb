// `rotor generate`: prints compliant passwords, one per line. This is the one place where Rotor
// prints a password, and only because the operator asked for it.
#include <fmt/format.h>
#include <unistd.h>
#include <cstdio>
#include <memory>
#include <string>

#include "app/commands.h"
#include "common/random.h"
#include "password/count.h"
#include "password/generator.h"

namespace rotor::app {
namespace {

struct GenerateOptions {
  std::size_t length = 20;
  std::string os = "linux";
  std::string api = "safe";
  std::size_t count = 1;
  std::string exclude;
  bool verbose = false;
};

int generate(const GenerateOptions& options) {
  using password::ApiProfile;
  using password::OsFamily;
  const OsFamily os = options.os == "windows" ? OsFamily::Windows : OsFamily::Linux;
  const ApiProfile api = options.api == "single"  ? ApiProfile::OtcSingle
                         : options.api == "batch" ? ApiProfile::EcsV1
                                                  : ApiProfile::Safe;
  auto policy = password::Policy::for_os(os, options.length, api);
  policy.exclude_chars = options.exclude;

  SystemRandom random;
  password::Generator generator(random);
  if (options.verbose) {
    std::fprintf(stderr, "# %zu characters for %s (%s), %s API: %.1f bits of entropy each\n",
                 policy.length, policy.username.c_str(), std::string(to_string(os)).c_str(),
                 std::string(to_string(api)).c_str(), password::entropy_bits(policy));
  }
  for (std::size_t i = 0; i < options.count; ++i) {
    auto secret = generator.generate(policy);
    if (!secret) {
      std::fprintf(stderr, "rotor generate: %s\n", secret.error().message().c_str());
      return 1;
    }
    // Written with write(2) so that no stdio buffer keeps a copy after the secret is wiped.
    const std::string_view text = secret->reveal();
    if (::write(STDOUT_FILENO, text.data(), text.size()) < 0 ||
        ::write(STDOUT_FILENO, "\n", 1) < 0) {
      std::perror("rotor generate: write");
      return 1;
    }
  }
  return 0;
}

}  // namespace

CommandRunner add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  auto* command = app.add_subcommand(
      "generate",
      "Print passwords that the cloud accepts, one per line (only on explicit request)");
  command->add_option("--length", options->length, "Characters per password (8..26)")
      ->capture_default_str();
  command->add_option("--os", options->os, "The server's OS: decides the username rules")
      ->check(CLI::IsMember({"linux", "windows"}))
      ->capture_default_str();
  command
      ->add_option("--api", options->api,
                   "The API that carries it: single (OTC v2.1), batch (v1), or safe (passes all)")
      ->check(CLI::IsMember({"single", "batch", "safe"}))
      ->capture_default_str();
  command->add_option("--count", options->count, "How many passwords")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->capture_default_str();
  command->add_option("--exclude", options->exclude, "Characters never to use, e.g. 0O1lI");
  command->add_flag("-v,--verbose", options->verbose, "Print the policy and its entropy on stderr");
  return [options] { return generate(*options); };
}

}  // namespace rotor::app
