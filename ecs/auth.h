#pragma once
// How ECS requests are authenticated: AK/SK signatures (§3.2) or an IAM token (§3.1).
// The ECS client calls authorize() on each finished request just before sending it, and renew()
// after a 401 that a fresh credential might cure.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/http.h"
#include "common/random.h"
#include "common/secret.h"
#include "ecs/config.h"

namespace rotor::ecs {

class Authenticator {
 public:
  Authenticator() = default;
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;
  virtual ~Authenticator() = default;

  // Adds credentials to a request whose URL, headers and body are final. Returns the generation
  // of the credential used (pass it to renew()). An error means nothing can be sent now.
  virtual Result<std::uint64_t> authorize(HttpRequest& request) = 0;
  // The cloud answered 401 to a request made with credential `generation`: drop it if it is still
  // the current one. True when retrying with a new credential may succeed.
  virtual bool renew(std::uint64_t generation) = 0;
  // Long-lived secrets to keep out of error texts (the SK, the IAM password).
  [[nodiscard]] virtual std::vector<std::string_view> secrets() const = 0;
};

// Signs every request with SDK-HMAC-SHA256 and sends X-Project-Id (signed).
class AkSkAuthenticator final : public Authenticator {
 public:
  // `credentials` must outlive this object.
  AkSkAuthenticator(const AkSkCredentials& credentials, std::string project_id, Clock& clock);
  Result<std::uint64_t> authorize(HttpRequest& request) override;
  bool renew(std::uint64_t generation) override;
  [[nodiscard]] std::vector<std::string_view> secrets() const override;

 private:
  const AkSkCredentials& credentials_;
  std::string project_id_;
  Clock& clock_;
};

// Obtains a project-scoped token with IAM password authentication, caches it, replaces it before
// it expires (token_refresh_margin, max_token_age) and after a 401. Thread-safe.
class TokenAuthenticator final : public Authenticator {
 public:
  // `credentials` must outlive this object. `iam_endpoint` ends in /v3.
  TokenAuthenticator(HttpTransport& transport, Clock& clock, Random& random,
                     const IamCredentials& credentials, std::string iam_endpoint,
                     std::string project_id, const CloudLimits& limits);
  Result<std::uint64_t> authorize(HttpRequest& request) override;
  bool renew(std::uint64_t generation) override;
  [[nodiscard]] std::vector<std::string_view> secrets() const override;

  // Tokens fetched so far (for tests and metrics).
  [[nodiscard]] std::uint64_t fetches() const;

 private:
  Result<void> fetch_locked();

  HttpTransport& transport_;
  Clock& clock_;
  Random& random_;
  const IamCredentials& credentials_;
  std::string iam_endpoint_;
  std::string project_id_;
  CloudLimits limits_;
  mutable std::mutex mutex_;
  Secret token_;
  std::chrono::system_clock::time_point refresh_at_{};
  std::uint64_t generation_ = 0;
};

// Parses an IAM time such as "2015-11-09T01:42:57.527363Z" (UTC).
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parse_iam_time(
    std::string_view text);

// The body of POST /v3/auth/tokens, built in a wiping buffer.
[[nodiscard]] WipingBuffer token_request_body(const IamCredentials& credentials,
                                              std::string_view project_id);

}  // namespace rotor::ecs
