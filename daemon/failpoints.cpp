#include "daemon/failpoints.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>

namespace rotor::daemon {
namespace {

constexpr std::pair<std::string_view, engine::Step> kSteps[] = {
    {"read", engine::Step::Read},
    {"pending_written", engine::Step::PendingWritten},
    {"reset_sent", engine::Step::ResetSent},
    {"committed", engine::Step::Committed},
    {"rebooted", engine::Step::Rebooted},
};

}  // namespace

Result<FailpointSpec> parse_failpoint(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  FailpointSpec spec;
  bool known = false;
  for (const auto& [step_name, step] : kSteps) {
    if (step_name == name) {
      spec.step = step;
      known = true;
    }
  }
  if (!known || colon == std::string_view::npos) {
    return fail(ErrorCode::InvalidConfig,
                "ROTOR_FAILPOINT ({}) must be STEP:N with STEP one of read, pending_written, "
                "reset_sent, committed, rebooted",
                text);
  }
  const std::string count(text.substr(colon + 1));
  char* end = nullptr;
  errno = 0;
  spec.hit = std::strtol(count.c_str(), &end, 10);
  if (count.empty() || end == nullptr || *end != '\0' || errno != 0 || spec.hit < 1) {
    return fail(ErrorCode::InvalidConfig, "ROTOR_FAILPOINT ({}): N must be a number >= 1", text);
  }
  return spec;
}

Result<void> install_test_failpoint([[maybe_unused]] engine::Rotator& rotator) {
#ifdef ROTOR_TEST_FAILPOINTS
  const char* text = std::getenv("ROTOR_FAILPOINT");
  if (text == nullptr || *text == '\0') {
    return {};
  }
  auto spec = parse_failpoint(text);
  if (!spec) {
    return fail(spec.error());
  }
  // One count per process: a reload builds new rotators, the Nth pass is still the Nth.
  static std::atomic<long> passes{0};
  rotator.set_failpoint([wanted = *spec](engine::Step step, const std::string&) {
    if (step == wanted.step && passes.fetch_add(1) + 1 == wanted.hit) {
      std::raise(SIGKILL);
    }
  });
#endif
  return {};
}

}  // namespace rotor::daemon
