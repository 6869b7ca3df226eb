#pragma once
// The one error idiom of Rotor: functions whose failure is part of normal life return
// rotor::Result<T> (tl::expected<T, Error>); exceptions are kept for start-up, configuration and
// broken invariants. An Error never carries a secret: messages name methods, paths and statuses.

#include <fmt/format.h>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace rotor {

enum class ErrorCode {
  // Caller and configuration faults.
  InvalidArgument,
  InvalidPolicy,
  InvalidConfig,
  IoError,
  Internal,
  // Transport: how a request ended before an HTTP status was seen.
  ConnectFailed,     // nothing was sent (refused, DNS, unreachable): the peer did not act
  TlsFailed,         // the TLS handshake failed before the request was sent
  Timeout,           // no complete answer in time (after sending: the peer may have acted)
  ConnectionLost,    // reset or closed while waiting for the answer
  ResponseTooLarge,  // the answer exceeded the size cap
  TransportFailed,   // any other transport failure
  // Remote answers.
  BadResponse,         // a 2xx whose body cannot be understood
  HttpError,           // a non-2xx status not covered below
  Unauthorized,        // 401, or an expired or invalid credential
  PermissionDenied,    // 403 permission denied
  NotFound,            // 404, or the resource does not exist
  Conflict,            // check-and-set mismatch, 409
  Throttled,           // 429 or a throttling code
  ServiceUnavailable,  // 5xx, Vault sealed, standby
  Unsupported,         // the peer does not offer this API
};

std::string_view to_string(ErrorCode code) noexcept;

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  // Adds the remote side's view: the HTTP status and the service's own error code (Ecs.0114).
  Error& with_http(int status, std::string remote_code = {}) {
    http_status_ = status;
    remote_code_ = std::move(remote_code);
    return *this;
  }
  // Records what caused this error; the cause is rendered after a colon.
  Error& caused_by(Error cause) {
    cause_ = std::make_shared<const Error>(std::move(cause));
    return *this;
  }

  [[nodiscard]] ErrorCode code() const noexcept { return code_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  [[nodiscard]] int http_status() const noexcept { return http_status_; }
  [[nodiscard]] const std::string& remote_code() const noexcept { return remote_code_; }
  [[nodiscard]] const Error* cause() const noexcept { return cause_.get(); }

  // "Conflict (PUT /v1/secret/data/x: HTTP 400 check-and-set parameter did not match)".
  [[nodiscard]] std::string to_string() const;

 private:
  ErrorCode code_;
  std::string message_;
  int http_status_ = 0;
  std::string remote_code_;
  std::shared_ptr<const Error> cause_;
};

template <typename T>
using Result = tl::expected<T, Error>;

// Shorthand for returning a failure: `return fail(ErrorCode::NotFound, "no secret at {}", path);`
template <typename... Args>
[[nodiscard]] tl::unexpected<Error> fail(ErrorCode code, fmt::format_string<Args...> format,
                                         Args&&... args) {
  return tl::unexpected<Error>(Error(code, fmt::format(format, std::forward<Args>(args)...)));
}
[[nodiscard]] inline tl::unexpected<Error> fail(Error error) {
  return tl::unexpected<Error>(std::move(error));
}

}  // namespace rotor

template <>
struct fmt::formatter<rotor::Error> : fmt::formatter<std::string_view> {
  auto format(const rotor::Error& error, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(error.to_string(), ctx);
  }
};
