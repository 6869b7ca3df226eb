#include "common/http.h"

#include <gtest/gtest.h>

namespace rotor {
namespace {

// Statuses map to the three outcomes the rotation protocol distinguishes.
TEST(HttpTest, StatusOutcomes) {
  EXPECT_EQ(outcome_of_status(200), Outcome::Accepted);
  EXPECT_EQ(outcome_of_status(204), Outcome::Accepted);
  EXPECT_EQ(outcome_of_status(400), Outcome::Rejected);
  EXPECT_EQ(outcome_of_status(404), Outcome::Rejected);
  EXPECT_EQ(outcome_of_status(429), Outcome::Rejected);
  EXPECT_EQ(outcome_of_status(500), Outcome::Unknown);
  EXPECT_EQ(outcome_of_status(503), Outcome::Unknown);
}

// Transport errors: nothing sent means rejected; anything after sending is unknown.
TEST(HttpTest, TransportErrorOutcomes) {
  EXPECT_EQ(outcome_of(Error(ErrorCode::ConnectFailed, "refused")), Outcome::Rejected);
  EXPECT_EQ(outcome_of(Error(ErrorCode::TlsFailed, "bad cert")), Outcome::Rejected);
  EXPECT_EQ(outcome_of(Error(ErrorCode::Timeout, "30s")), Outcome::Unknown);
  EXPECT_EQ(outcome_of(Error(ErrorCode::ConnectionLost, "reset")), Outcome::Unknown);
  EXPECT_EQ(outcome_of(Error(ErrorCode::BadResponse, "garbage")), Outcome::Unknown);
  EXPECT_EQ(outcome_of(Error(ErrorCode::ServiceUnavailable, "503")), Outcome::Unknown);
  EXPECT_EQ(outcome_of(Error(ErrorCode::Throttled, "429")), Outcome::Rejected);
}

// Header lookup ignores case; set() replaces.
TEST(HttpTest, HeadersAreCaseInsensitive) {
  HttpHeaders headers;
  headers.add("Content-Type", "application/json");
  headers.set("content-type", "text/plain");
  EXPECT_EQ(headers.get("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(headers.all().size(), 1U);
  EXPECT_FALSE(headers.get("X-Missing").has_value());
}

// describe() names the method and URL only.
TEST(HttpTest, DescribeOmitsBodyAndHeaders) {
  HttpRequest request;
  request.method = HttpMethod::Put;
  request.url = "https://127.0.0.1:8200/v1/secret/data/x";
  request.headers.set("X-Vault-Token", "hvs.secret-token");
  request.body.append("{\"password\":\"p\"}");
  EXPECT_EQ(request.describe(), "PUT https://127.0.0.1:8200/v1/secret/data/x");
}

}  // namespace
}  // namespace rotor
