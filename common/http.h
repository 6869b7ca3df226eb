#pragma once
// The HTTP seam. The ECS and Vault clients build HttpRequests and hand them to an HttpTransport;
// production uses the libcurl transport in http/, tests use scripted transports. Bodies live in
// wiping buffers and header values are wiped when the request or response dies, because both can
// carry a password or a token.

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/secret.h"

namespace rotor {

enum class HttpMethod { Get, Head, Post, Put, Patch, Delete, List };
std::string_view to_string(HttpMethod method) noexcept;

struct HttpHeader {
  std::string name;
  std::string value;
};

// Headers in order; lookups are case-insensitive. Values are wiped on destruction.
class HttpHeaders {
 public:
  HttpHeaders() = default;
  HttpHeaders(const HttpHeaders&) = delete;
  HttpHeaders& operator=(const HttpHeaders&) = delete;
  HttpHeaders(HttpHeaders&&) noexcept = default;
  HttpHeaders& operator=(HttpHeaders&&) noexcept = default;
  ~HttpHeaders();

  // Adds a header, or replaces the value of an existing one with the same name.
  void set(std::string_view name, std::string_view value);
  void add(std::string_view name, std::string_view value);
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const;
  [[nodiscard]] const std::vector<HttpHeader>& all() const noexcept { return headers_; }
  [[nodiscard]] bool empty() const noexcept { return headers_.empty(); }

 private:
  std::vector<HttpHeader> headers_;
};

struct HttpRequest {
  HttpMethod method = HttpMethod::Get;
  std::string url;  // absolute: scheme, host, port, path and query
  HttpHeaders headers;
  WipingBuffer body;
  // The whole exchange must end within this; 0 means the transport's default.
  std::chrono::milliseconds timeout{0};
  // True when sending the request twice has the same effect as once (a password reset to the
  // same value is); only such requests are retried after an unknown outcome.
  bool idempotent = false;

  // "PUT https://host/v1/secret/data/x" (never the body or the headers).
  [[nodiscard]] std::string describe() const;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  WipingBuffer body;
};

// What a call did to the remote side; the rotation protocol depends on telling these apart.
enum class Outcome {
  Accepted,  // 2xx: the peer took the request
  Rejected,  // the peer definitely did not act (4xx, 429, nothing was sent)
  Unknown,   // the peer may have acted (timeout after sending, reset while waiting, 5xx, garbage)
};
std::string_view to_string(Outcome outcome) noexcept;

// The outcome implied by a transport error or by an HTTP status.
[[nodiscard]] Outcome outcome_of(const Error& error) noexcept;
[[nodiscard]] Outcome outcome_of_status(int status) noexcept;

class HttpTransport {
 public:
  HttpTransport() = default;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;
  virtual ~HttpTransport() = default;

  // Sends one request. A value is returned for every HTTP status, 2xx or not; an Error only when
  // no complete HTTP answer arrived (its code says whether anything was sent).
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;

  // Sends the requests concurrently, as far as the transport can, and returns one result per
  // request in the same order. The default sends them one after the other.
  virtual std::vector<Result<HttpResponse>> send_all(std::span<const HttpRequest> requests);
};

}  // namespace rotor
