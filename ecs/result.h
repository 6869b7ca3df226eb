#pragma once
// What an ECS call did, in the terms of the rotation protocol (rotation-protocol.md, "Facts"):
//  - Accepted:          2xx (and not a throttling answer in disguise, like Common.0024 at 202).
//  - RejectedTransient: the cloud did not act, for a passing reason: throttled (429, Common.0024,
//                       Common.1503, IAM.0012, gateway rate texts), refused or failed before
//                       sending (ConnectFailed, TlsFailed, no token obtainable), 401 with a
//                       renewable token, "another command is running" (Ecs.0603). Retry later
//                       with the same password.
//  - RejectedFinal:     the cloud refused for good: 400 validation, 403, 404 (server gone),
//                       405/404 "no such API" (Unsupported), 401 on AK/SK. Do not retry until
//                       something changes.
//  - Unknown:           the cloud may have acted: timeout after sending, connection lost while
//                       waiting, 5xx, 3xx, an unparsable 2xx. Retry with the same password.
// The error (code, HTTP status, remote code such as Ecs.0114) never holds a secret.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/http.h"

namespace rotor::ecs {

enum class Verdict { Accepted, RejectedTransient, RejectedFinal, Unknown };
std::string_view to_string(Verdict verdict) noexcept;

struct CallStatus {
  Verdict verdict = Verdict::Unknown;
  std::optional<Error> error;  // set unless accepted
  // The wait the cloud asked for (Retry-After), if any.
  std::optional<std::chrono::nanoseconds> retry_after;
  int attempts = 0;  // HTTP requests made for this call

  [[nodiscard]] bool accepted() const noexcept { return verdict == Verdict::Accepted; }
  [[nodiscard]] Outcome outcome() const noexcept {
    switch (verdict) {
      case Verdict::Accepted: return Outcome::Accepted;
      case Verdict::RejectedTransient:
      case Verdict::RejectedFinal: return Outcome::Rejected;
      case Verdict::Unknown: return Outcome::Unknown;
    }
    return Outcome::Unknown;
  }
  // Rejected for a passing reason: keep the pending password and try again after back-off.
  [[nodiscard]] bool retryable() const noexcept {
    return verdict == Verdict::RejectedTransient || verdict == Verdict::Unknown;
  }

  static CallStatus ok(int attempts = 1) {
    CallStatus status;
    status.verdict = Verdict::Accepted;
    status.attempts = attempts;
    return status;
  }
  static CallStatus failed(Verdict verdict, Error error) {
    CallStatus status;
    status.verdict = verdict;
    status.error = std::move(error);
    return status;
  }
};

// A single-server reset.
using ResetResult = CallStatus;

struct ServerResetResult {
  std::string server_id;
  CallStatus status;
};

// A batch reset: one entry per requested server, in request order, whatever the chunking.
struct BatchResetResult {
  std::vector<ServerResetResult> servers;
  std::size_t requests = 0;  // batch calls made (chunks)
};

}  // namespace rotor::ecs
