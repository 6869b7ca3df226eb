// RetryPolicy, Backoff and send_with_retry against a scripted transport and a manual clock.
#include "http/retry.h"

#include <gtest/gtest.h>

#include "tests/support/manual_clock.h"
#include "tests/support/scripted_transport.h"
#include "tests/support/seeded_random.h"

namespace rotor::http {
namespace {

using namespace std::chrono_literals;
using testing::ManualClock;
using testing::ScriptedTransport;
using testing::SeededRandom;

HttpRequest put(bool idempotent) {
  HttpRequest request;
  request.method = HttpMethod::Put;
  request.url = "https://ecs.example/v1/p/cloudservers/s/os-reset-password";
  request.idempotent = idempotent;
  return request;
}

RetryPolicy quick_policy() {
  RetryPolicy policy;
  policy.max_attempts = 4;
  policy.base_delay = 1s;
  policy.max_delay = 8s;
  policy.max_elapsed = 10min;
  return policy;
}

class RetryTest : public ::testing::Test {
 protected:
  ScriptedTransport transport_;
  ManualClock clock_;
  SeededRandom random_;
};

// A 429 with Retry-After is retried after at least the asked delay, then succeeds.
TEST_F(RetryTest, HonoursRetryAfterOn429) {
  transport_.reply(429, "", {{"Retry-After", "7"}});
  transport_.reply(200, "ok");
  auto result = send_with_retry(transport_, put(false), quick_policy(), clock_, random_);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(transport_.requests().size(), 2U);
  EXPECT_GE(clock_.slept(), 7s);
}

// Retry-After larger than the policy's cap is capped.
TEST_F(RetryTest, CapsRetryAfter) {
  RetryPolicy policy = quick_policy();
  policy.max_retry_after = 30s;
  transport_.reply(429, "", {{"Retry-After", "3600"}});
  transport_.reply(200);
  ASSERT_TRUE(send_with_retry(transport_, put(false), policy, clock_, random_));
  EXPECT_EQ(clock_.slept(), 30s);
}

// An unknown outcome (timeout after sending) is not retried for a non-idempotent request.
TEST_F(RetryTest, UnknownOutcomeIsNotRetriedWhenNotIdempotent) {
  transport_.fail_with(Error(ErrorCode::Timeout, "stalled"));
  auto result = send_with_retry(transport_, put(false), quick_policy(), clock_, random_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::Timeout);
  EXPECT_EQ(transport_.requests().size(), 1U);
}

// An unknown outcome is retried for an idempotent request (a reset to the same password).
TEST_F(RetryTest, UnknownOutcomeIsRetriedWhenIdempotent) {
  transport_.fail_with(Error(ErrorCode::ConnectionLost, "reset"));
  transport_.reply(502);
  transport_.reply(204);
  auto result = send_with_retry(transport_, put(true), quick_policy(), clock_, random_);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 204);
  EXPECT_EQ(transport_.requests().size(), 3U);
}

// A connection refused before sending is retried even for a non-idempotent request.
TEST_F(RetryTest, ConnectFailedIsRetriedAlways) {
  transport_.fail_with(Error(ErrorCode::ConnectFailed, "refused"));
  transport_.reply(200);
  ASSERT_TRUE(send_with_retry(transport_, put(false), quick_policy(), clock_, random_));
  EXPECT_EQ(transport_.requests().size(), 2U);
}

// Final answers (400, 404, TLS failures) are never retried.
TEST_F(RetryTest, FinalAnswersAreNotRetried) {
  transport_.reply(400);
  EXPECT_EQ(send_with_retry(transport_, put(true), quick_policy(), clock_, random_)->status, 400);
  transport_.fail_with(Error(ErrorCode::TlsFailed, "bad cert"));
  EXPECT_FALSE(send_with_retry(transport_, put(true), quick_policy(), clock_, random_));
  EXPECT_EQ(transport_.requests().size(), 2U);
  EXPECT_EQ(clock_.slept(), 0ns);
}

// The attempt bound holds: a service that stays down sees exactly max_attempts requests.
TEST_F(RetryTest, StopsAfterMaxAttempts) {
  transport_.on_request(
      [](const HttpRequest&) -> Result<HttpResponse> { return testing::make_response(503); });
  auto result = send_with_retry(transport_, put(true), quick_policy(), clock_, random_);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 503);
  EXPECT_EQ(transport_.requests().size(), 4U);
}

// The elapsed-time bound holds even with attempts to spare.
TEST_F(RetryTest, StopsAtMaxElapsed) {
  RetryPolicy policy = quick_policy();
  policy.max_attempts = 100;
  policy.max_elapsed = 20s;
  transport_.on_request([](const HttpRequest&) -> Result<HttpResponse> {
    return testing::make_response(429, "", {{"Retry-After", "6"}});
  });
  (void)send_with_retry(transport_, put(false), policy, clock_, random_);
  EXPECT_EQ(transport_.requests().size(), 4U);  // at 0, 6, 12, 18 s; 24 s would exceed 20 s
  EXPECT_LE(clock_.slept(), 20s);
}

// Full jitter: every delay lies in [0, min(max_delay, base * 2^(n-1))).
TEST_F(RetryTest, BackoffDelaysStayInTheJitterWindow) {
  RetryPolicy policy;
  policy.max_attempts = 12;
  policy.base_delay = 100ms;
  policy.max_delay = 1s;
  policy.max_elapsed = 1h;
  Backoff backoff(policy, clock_, random_);
  std::chrono::nanoseconds window = 100ms;
  std::chrono::nanoseconds total{0};
  for (int retry = 1; retry < policy.max_attempts; ++retry) {
    const auto delay = backoff.next_delay();
    ASSERT_TRUE(delay);
    EXPECT_GE(delay->count(), 0);
    EXPECT_LT(*delay, window);
    total += *delay;
    window = std::min<std::chrono::nanoseconds>(window * 2, 1s);
  }
  EXPECT_GT(total, 0ns);  // jitter is not always zero
  EXPECT_FALSE(backoff.next_delay());
  EXPECT_EQ(backoff.attempts(), policy.max_attempts);
}

// RetryPolicy::none() makes exactly one attempt.
TEST_F(RetryTest, NonePolicyMakesOneAttempt) {
  transport_.reply(429);
  EXPECT_EQ(send_with_retry(transport_, put(true), RetryPolicy::none(), clock_, random_)->status,
            429);
  EXPECT_EQ(transport_.requests().size(), 1U);
}

// The decorator retries the same way, and the token bucket paces attempts.
TEST_F(RetryTest, RetryingTransportUsesTheBucket) {
  TokenBucket bucket(1.0, 1.0, clock_);
  RetryingTransport retrying(transport_, quick_policy(), clock_, random_, &bucket);
  transport_.reply(429, "", {{"Retry-After", "0"}});
  transport_.reply(200);
  auto result = retrying.send(put(false));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_GE(clock_.slept(), 1s);  // the second attempt waited for a token
}

// Retry-After parsing: seconds, HTTP dates, and garbage.
TEST(RetryAfterTest, ParsesSecondsAndDates) {
  const auto now = std::chrono::system_clock::from_time_t(1767571200);  // 2026-01-05 00:00:00
  EXPECT_EQ(parse_retry_after("120", now), std::chrono::seconds(120));
  EXPECT_EQ(parse_retry_after(" 0 ", now), std::chrono::seconds(0));
  EXPECT_EQ(parse_retry_after("Mon, 05 Jan 2026 00:01:30 GMT", now), std::chrono::seconds(90));
  EXPECT_EQ(parse_retry_after("Sun, 04 Jan 2026 00:00:00 GMT", now), std::chrono::seconds(0));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("", now));
}

// The retry classes of every kind of result.
TEST(RetryClassTest, ClassifiesResults) {
  auto status = [](int code) { return Result<HttpResponse>(testing::make_response(code)); };
  auto error = [](ErrorCode code) { return Result<HttpResponse>(fail(code, "x")); };
  EXPECT_EQ(retry_class(status(200)), RetryClass::Final);
  EXPECT_EQ(retry_class(status(404)), RetryClass::Final);
  EXPECT_EQ(retry_class(status(429)), RetryClass::Passing);
  EXPECT_EQ(retry_class(status(500)), RetryClass::Unknown);
  EXPECT_EQ(retry_class(error(ErrorCode::ConnectFailed)), RetryClass::Passing);
  EXPECT_EQ(retry_class(error(ErrorCode::Timeout)), RetryClass::Unknown);
  EXPECT_EQ(retry_class(error(ErrorCode::ConnectionLost)), RetryClass::Unknown);
  EXPECT_EQ(retry_class(error(ErrorCode::TlsFailed)), RetryClass::Final);
  EXPECT_EQ(retry_class(error(ErrorCode::ResponseTooLarge)), RetryClass::Final);
  EXPECT_TRUE(should_retry(RetryClass::Passing, false));
  EXPECT_FALSE(should_retry(RetryClass::Unknown, false));
  EXPECT_TRUE(should_retry(RetryClass::Unknown, true));
  EXPECT_FALSE(should_retry(RetryClass::Final, true));
}

}  // namespace
}  // namespace rotor::http
