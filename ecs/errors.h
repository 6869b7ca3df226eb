#pragma once
// Reading ECS, IAM and API-gateway error bodies (ecs-api.md §2) and classifying answers.
// Accepted shapes:
//   §2.1 native   {"error": {"code": "Ecs.0005", "message": "...", "details": [...]}}
//   §2.2 Nova     {"itemNotFound": {"message": "...", "code": 404}}
//   §2.4 gateway  {"error_msg": "...", "error_code": "APIGW.0301", "request_id": "..."}
//   §2.5 Keystone {"error": {"code": 401, "message": "...", "title": "Unauthorized"}}
//   §6.2 job      {"code": "Common.0011", "message": "..."}
// and, as the Huawei SDK does, the first code/message pair found in a nested object.

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.h"
#include "ecs/result.h"

namespace rotor::ecs {

struct RemoteError {
  std::string code;     // "Ecs.0114", "APIGW.0301", or "" when the service gave none
  std::string message;  // as sent, possibly long; scrub before use (wiped on destruction)
  std::string fault;    // Nova fault name ("itemNotFound") or Keystone title, when present
  std::string request_id;

  RemoteError() = default;
  RemoteError(std::string code_, std::string message_, std::string fault_ = {},
              std::string request_id_ = {})
      : code(std::move(code_)),
        message(std::move(message_)),
        fault(std::move(fault_)),
        request_id(std::move(request_id_)) {}
  RemoteError(const RemoteError&) = default;
  RemoteError& operator=(const RemoteError&) = default;
  RemoteError(RemoteError&&) noexcept = default;
  RemoteError& operator=(RemoteError&&) noexcept = default;
  ~RemoteError() { secure_wipe(message); }
};

// Parses an error body; nullopt when the body holds no recognisable error.
[[nodiscard]] std::optional<RemoteError> parse_error_body(std::string_view body);

// Case-insensitive comparison of service codes ("ECS.0114" == "Ecs.0114").
[[nodiscard]] bool code_equals(std::string_view a, std::string_view b) noexcept;

// True for throttling answers: Common.0024, Common.1503, IAM.0012, APIGW.0308 and the gateway's
// rate-limit texts.
[[nodiscard]] bool is_throttling(const RemoteError& error) noexcept;

// Replaces every occurrence of each non-empty secret in `text` with "[redacted]" and caps the
// length, so that a message echoed by a server cannot carry a password or token into an Error.
[[nodiscard]] std::string scrub(std::string text, std::span<const std::string_view> secrets);

struct ClassifyContext {
  std::string_view what;        // "PUT /v1/p/cloudservers/s/os-reset-password" (no secrets)
  bool auth_renewable = false;  // a 401 can be cured by a new token
  std::span<const std::string_view> secrets;  // scrubbed from remote messages
  // The answer carries per-item results (batch reset): a 2xx with an error inside is left to
  // the caller instead of being called Unknown.
  bool per_item_body = false;
};

// The verdict and typed error for an HTTP answer or a transport failure.
[[nodiscard]] CallStatus classify(const Result<HttpResponse>& result, const ClassifyContext& ctx,
                                  std::chrono::system_clock::time_point now);
// The verdict for one server's entry in a batch answer's internalError list.
[[nodiscard]] CallStatus classify_item(std::string_view code, std::string_view message,
                                       int http_status, const ClassifyContext& ctx);

}  // namespace rotor::ecs
