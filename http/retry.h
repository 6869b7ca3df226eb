#pragma once
// Retries with exponential back-off and full jitter (delay drawn uniformly from
// [0, min(max_delay, base_delay * 2^(retry-1)))), bounded by a number of attempts and by the time
// elapsed since the first attempt. A Retry-After answer is honoured (the wait is at least what the
// server asked, capped by max_retry_after). Waiting goes through the Clock seam, jitter through the
// Random seam.
//
// What is retried: a request the peer definitely did not act on for a passing reason (429,
// connection refused before sending) always; a request whose outcome is unknown (timeout after
// sending, reset, 5xx) only when the request is idempotent. Everything else is final.
//
// Pieces, smallest first: Backoff (the schedule), retry_class() (the HTTP-level verdict),
// send_with_retry() (the loop), RetryingTransport (the loop as an HttpTransport decorator).
// Clients with their own notion of "throttled" (the ECS client: Common.0024 at HTTP 202) use
// Backoff with their own classification.

#include <chrono>
#include <optional>
#include <string_view>

#include "common/clock.h"
#include "common/http.h"
#include "common/random.h"
#include "http/token_bucket.h"

namespace rotor::http {

struct RetryPolicy {
  int max_attempts = 4;  // attempts in total, the first one included; 1 means no retry
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{30'000};
  std::chrono::milliseconds max_elapsed{120'000};
  std::chrono::milliseconds max_retry_after{300'000};

  [[nodiscard]] static RetryPolicy none() {
    RetryPolicy policy;
    policy.max_attempts = 1;
    return policy;
  }
};

class Backoff {
 public:
  // Starts counting: the first attempt is about to be made.
  Backoff(const RetryPolicy& policy, Clock& clock, Random& random);

  // After a failed attempt: the wait before the next one, or nullopt when the attempts or the
  // elapsed-time budget are spent. Counts the next attempt.
  [[nodiscard]] std::optional<std::chrono::nanoseconds> next_delay(
      std::optional<std::chrono::nanoseconds> retry_after = std::nullopt);
  // next_delay() and then sleep through the clock; false when the budget is spent.
  bool wait(std::optional<std::chrono::nanoseconds> retry_after = std::nullopt);

  // Attempts made or about to be made (1 before the first retry).
  [[nodiscard]] int attempts() const noexcept { return attempts_; }

 private:
  RetryPolicy policy_;
  Clock& clock_;
  Random& random_;
  std::chrono::steady_clock::time_point start_;
  int attempts_ = 1;
};

enum class RetryClass {
  Final,    // success, or a failure that retrying will not change
  Passing,  // rejected for a passing reason (429, nothing sent): retry anything
  Unknown,  // the peer may have acted: retry only idempotent requests
};

[[nodiscard]] RetryClass retry_class(const Result<HttpResponse>& result) noexcept;
[[nodiscard]] bool should_retry(RetryClass retry, bool idempotent) noexcept;

// Parses a Retry-After value: delta-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2026 07:28:00 GMT", measured from `now`). Negative or garbage gives nullopt.
[[nodiscard]] std::optional<std::chrono::seconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);
// The Retry-After of a response, if it has a usable one.
[[nodiscard]] std::optional<std::chrono::nanoseconds> retry_after_of(
    const HttpResponse& response, std::chrono::system_clock::time_point now);

// Sends `request`, retrying per `policy`. `bucket` (optional) is drawn from before every attempt.
// Returns the last result.
Result<HttpResponse> send_with_retry(HttpTransport& transport, const HttpRequest& request,
                                     const RetryPolicy& policy, Clock& clock, Random& random,
                                     TokenBucket* bucket = nullptr);

// send_with_retry() as a decorator. send_all() sends the batch through the inner transport's
// send_all() and then retries the ones that need it one by one.
class RetryingTransport final : public HttpTransport {
 public:
  RetryingTransport(HttpTransport& inner, RetryPolicy policy, Clock& clock, Random& random,
                    TokenBucket* bucket = nullptr);
  Result<HttpResponse> send(const HttpRequest& request) override;
  std::vector<Result<HttpResponse>> send_all(std::span<const HttpRequest> requests) override;

 private:
  HttpTransport& inner_;
  RetryPolicy policy_;
  Clock& clock_;
  Random& random_;
  TokenBucket* bucket_;
};

}  // namespace rotor::http
