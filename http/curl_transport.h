#pragma once
// The production HttpTransport over libcurl.
//  - https and http only; no redirects; connect and total timeouts always set; a response size cap.
//  - TLS peer and host name verification are always on; `ca_file` replaces the system CA bundle.
//  - Proxies come from the standard environment variables (libcurl's default) unless `proxy` is
//  set.
//  - send() is thread-safe: easy handles come from a small pool and are reused, so connections are
//    kept alive between calls. send_all() drives up to `max_in_flight` transfers at once on the
//    multi interface (calls to send_all are serialised; send() may run beside them).
//  - Requests that are not idempotent (HttpRequest::idempotent false and not GET/HEAD/LIST) go on
//    a fresh connection: libcurl re-sends a request silently when a reused connection dies before
//    the answer, which must not happen to a request the peer may already have executed.
// Transport failures map to ErrorCodes that say whether anything reached the peer:
//  ConnectFailed (nothing sent) · TlsFailed (handshake failed, nothing sent) · Timeout (after the
//  connection was up: the peer may have acted) · ConnectionLost · ResponseTooLarge ·
//  TransportFailed.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/http.h"

namespace rotor::http {

struct CurlOptions {
  std::chrono::milliseconds connect_timeout{5000};
  // Used when a request does not set its own timeout.
  std::chrono::milliseconds default_timeout{30000};
  std::size_t max_response_bytes = std::size_t{8} << 20U;
  // PEM bundle of trusted CAs; empty means the system bundle.
  std::filesystem::path ca_file;
  // Unset: the http_proxy/https_proxy/no_proxy environment variables (libcurl's default).
  // An empty string: no proxy at all. Otherwise the proxy URL.
  std::optional<std::string> proxy;
  // curl "host:port:address" entries that override DNS (pinning, tests).
  std::vector<std::string> resolve;
  std::size_t max_in_flight = 16;
  // Handles kept (with their connections) between requests. A handle returned when this many
  // are idle is closed, so with more concurrent workers than this, each request beyond it paid a
  // new connection (and at 8, a 64-worker fleet run reconnected for most requests). Only as many
  // as were ever in use at once exist.
  std::size_t max_idle_handles = 64;
  std::string user_agent = "rotor/0.1";
};

class CurlTransport final : public HttpTransport {
 public:
  // Throws std::runtime_error when libcurl cannot be initialised (start-up failure).
  explicit CurlTransport(CurlOptions options = {});
  ~CurlTransport() override;

  Result<HttpResponse> send(const HttpRequest& request) override;
  std::vector<Result<HttpResponse>> send_all(std::span<const HttpRequest> requests) override;

  [[nodiscard]] const CurlOptions& options() const noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rotor::http
