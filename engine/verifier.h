#pragma once
// The verification hook (rotation-protocol.md, "With a verification hook configured"): after the
// restart that makes a new password effective, an operator-supplied program checks that the
// password logs in. Exit 0 = verified.
//
// The password reaches the program on its standard input only (one line), never in argv or the
// environment, which other local users can read through /proc. The environment is built from
// scratch (the daemon's own may hold a Vault token) and holds only non-secret context. The
// program's output is discarded: it could echo the password, so only its exit status is reported.

#include <chrono>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/secret.h"

namespace rotor::engine {

struct VerifyHook {
  // argv: an absolute path, then its arguments. Never run through a shell.
  std::vector<std::string> command;
  std::chrono::milliseconds timeout{60'000};  // then the program's process group is killed
};

// Non-secret facts about the server, passed as ROTOR_* environment variables.
struct VerifyContext {
  std::string server_id;               // ROTOR_SERVER_ID
  std::string server_name;             // ROTOR_SERVER_NAME
  std::string username;                // ROTOR_USERNAME
  std::string os_type;                 // ROTOR_OS_TYPE ("Linux", "Windows" or empty)
  std::string policy;                  // ROTOR_POLICY
  std::string rotation_id;             // ROTOR_ROTATION_ID
  std::vector<std::string> addresses;  // ROTOR_ADDRESSES, space-separated (empty when unknown)
};

// The seam: the engine asks a Verifier, tests give it a fake.
class Verifier {
 public:
  Verifier() = default;
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;
  virtual ~Verifier() = default;

  // Success when the hook confirmed that `password` logs in; an error saying why not (exit
  // status, signal, timeout, cannot start) otherwise. Never a secret in the error.
  virtual Result<void> verify(const VerifyHook& hook, const VerifyContext& context,
                              const Secret& password) = 0;
};

// Runs the hook as a child process (posix_spawn, its own process group, no shell), the password
// on a pipe to its stdin, stdout and stderr to /dev/null, file descriptors above 2 closed, signal
// mask and dispositions reset. Thread-safe.
class ProcessVerifier final : public Verifier {
 public:
  Result<void> verify(const VerifyHook& hook, const VerifyContext& context,
                      const Secret& password) override;
};

// The environment a hook runs with ("NAME=value" strings), for tests and the docs.
[[nodiscard]] std::vector<std::string> hook_environment(const VerifyContext& context);

}  // namespace rotor::engine
