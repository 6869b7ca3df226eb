#include "http/retry.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <iomanip>
#include <sstream>

namespace rotor::http {

using std::chrono::nanoseconds;

Backoff::Backoff(const RetryPolicy& policy, Clock& clock, Random& random)
    : policy_(policy), clock_(clock), random_(random), start_(clock.monotonic()) {}

std::optional<nanoseconds> Backoff::next_delay(std::optional<nanoseconds> retry_after) {
  if (attempts_ >= policy_.max_attempts) {
    return std::nullopt;
  }
  // Full jitter over an exponentially growing window (doubling capped well before overflow).
  const int doublings = std::min(attempts_ - 1, 30);
  const double window =
      std::min(static_cast<double>(nanoseconds(policy_.max_delay).count()),
               static_cast<double>(nanoseconds(policy_.base_delay).count()) *
                   static_cast<double>(std::uint64_t{1} << static_cast<unsigned>(doublings)));
  nanoseconds delay(static_cast<nanoseconds::rep>(random_.unit() * window));
  if (retry_after) {
    const auto asked = std::min<nanoseconds>(*retry_after, policy_.max_retry_after);
    delay = std::max(delay, asked);
  }
  const auto elapsed = clock_.monotonic() - start_;
  if (elapsed + delay > policy_.max_elapsed) {
    return std::nullopt;
  }
  ++attempts_;
  return delay;
}

bool Backoff::wait(std::optional<nanoseconds> retry_after) {
  const auto delay = next_delay(retry_after);
  if (!delay) {
    return false;
  }
  if (delay->count() > 0) {
    clock_.sleep_for(*delay);
  }
  return true;
}

RetryClass retry_class(const Result<HttpResponse>& result) noexcept {
  if (!result) {
    switch (result.error().code()) {
      case ErrorCode::ConnectFailed: return RetryClass::Passing;
      case ErrorCode::Timeout:
      case ErrorCode::ConnectionLost:
      case ErrorCode::TransportFailed:
      case ErrorCode::BadResponse: return RetryClass::Unknown;
      default: return RetryClass::Final;  // TLS failures, bad URLs, oversized answers
    }
  }
  const int status = result->status;
  if (status == 429) {
    return RetryClass::Passing;
  }
  if (status >= 500 || (status > 0 && status < 200) || (status >= 300 && status < 400)) {
    return RetryClass::Unknown;
  }
  return RetryClass::Final;
}

bool should_retry(RetryClass retry, bool idempotent) noexcept {
  switch (retry) {
    case RetryClass::Passing: return true;
    case RetryClass::Unknown: return idempotent;
    case RetryClass::Final: return false;
  }
  return false;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  while (!value.empty() && value.back() == ' ') {
    value.remove_suffix(1);
  }
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t seconds = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (error != std::errc{} || end != value.data() + value.size()) {
      return std::nullopt;
    }
    return std::chrono::seconds(seconds);
  }
  std::tm parts{};
  std::istringstream in{std::string(value)};
  in.imbue(std::locale::classic());
  in >> std::get_time(&parts, "%a, %d %b %Y %H:%M:%S GMT");
  if (in.fail()) {
    return std::nullopt;
  }
  const std::time_t when = timegm(&parts);
  const auto at = std::chrono::system_clock::from_time_t(when);
  if (at <= now) {
    return std::chrono::seconds(0);
  }
  return std::chrono::ceil<std::chrono::seconds>(at - now);
}

std::optional<nanoseconds> retry_after_of(const HttpResponse& response,
                                          std::chrono::system_clock::time_point now) {
  const auto header = response.headers.get("Retry-After");
  if (!header) {
    return std::nullopt;
  }
  const auto seconds = parse_retry_after(*header, now);
  if (!seconds) {
    return std::nullopt;
  }
  return nanoseconds(*seconds);
}

Result<HttpResponse> send_with_retry(HttpTransport& transport, const HttpRequest& request,
                                     const RetryPolicy& policy, Clock& clock, Random& random,
                                     TokenBucket* bucket) {
  Backoff backoff(policy, clock, random);
  for (;;) {
    if (bucket != nullptr) {
      bucket->acquire();
    }
    auto result = transport.send(request);
    if (!should_retry(retry_class(result), request.idempotent)) {
      return result;
    }
    const auto after = result ? retry_after_of(*result, clock.now()) : std::nullopt;
    if (!backoff.wait(after)) {
      return result;
    }
  }
}

RetryingTransport::RetryingTransport(HttpTransport& inner, RetryPolicy policy, Clock& clock,
                                     Random& random, TokenBucket* bucket)
    : inner_(inner), policy_(policy), clock_(clock), random_(random), bucket_(bucket) {}

Result<HttpResponse> RetryingTransport::send(const HttpRequest& request) {
  return send_with_retry(inner_, request, policy_, clock_, random_, bucket_);
}

std::vector<Result<HttpResponse>> RetryingTransport::send_all(
    std::span<const HttpRequest> requests) {
  if (bucket_ != nullptr) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      bucket_->acquire();
    }
  }
  auto results = inner_.send_all(requests);
  for (std::size_t i = 0; i < requests.size() && i < results.size(); ++i) {
    if (should_retry(retry_class(results[i]), requests[i].idempotent) && policy_.max_attempts > 1) {
      RetryPolicy rest = policy_;
      rest.max_attempts = policy_.max_attempts - 1;
      Backoff backoff(policy_, clock_, random_);
      const auto after = results[i] ? retry_after_of(*results[i], clock_.now()) : std::nullopt;
      if (backoff.wait(after)) {
        results[i] = send_with_retry(inner_, requests[i], rest, clock_, random_, bucket_);
      }
    }
  }
  return results;
}

}  // namespace rotor::http
