#pragma once
// Test-only failpoints for the chaos harness (docs/chaos.md). In a build with
// ROTOR_TEST_FAILPOINTS, ROTOR_FAILPOINT=STEP:N (STEP one of read, pending_written, reset_sent,
// committed, rebooted; N >= 1) makes the process SIGKILL itself the Nth time any rotator of the
// process passes STEP: a crash between two protocol steps, at a point a test chooses. Without the
// compile option (Release, the package) this reads nothing and installs nothing.

#include <optional>
#include <string_view>

#include "common/error.h"
#include "engine/rotator.h"

namespace rotor::daemon {

struct FailpointSpec {
  engine::Step step = engine::Step::Read;
  long hit = 1;  // SIGKILL at this pass of `step` (1-based)
};

// Parses "STEP:N"; an error says what is wrong with the text.
[[nodiscard]] Result<FailpointSpec> parse_failpoint(std::string_view text);

// Installs the failpoint named by ROTOR_FAILPOINT on `rotator` (the count of passes is shared by
// every rotator of the process). Unset: nothing. Malformed: an error (the daemon refuses to start
// rather than run a chaos test without its kill).
Result<void> install_test_failpoint(engine::Rotator& rotator);

}  // namespace rotor::daemon
