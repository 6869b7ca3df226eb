#include "common/error.h"

#include <gtest/gtest.h>

namespace rotor {
namespace {

// An error renders as "Code (message: cause)", nesting causes.
TEST(ErrorTest, RendersWithCause) {
  Error error(ErrorCode::Conflict,
              "PUT /v1/secret/data/x: HTTP 400 check-and-set parameter did not match");
  EXPECT_EQ(error.to_string(),
            "Conflict (PUT /v1/secret/data/x: HTTP 400 check-and-set parameter did not match)");
  Error outer(ErrorCode::ServiceUnavailable, "vault write failed");
  outer.caused_by(Error(ErrorCode::Timeout, "no answer within 30s"));
  EXPECT_EQ(outer.to_string(),
            "ServiceUnavailable (vault write failed: Timeout (no answer within 30s))");
  EXPECT_EQ(fmt::format("{}", outer), outer.to_string());
}

// fail() builds an unexpected with a formatted message.
TEST(ErrorTest, FailBuildsUnexpected) {
  const Result<int> result = fail(ErrorCode::NotFound, "no secret at {}", "secret/data/a");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::NotFound);
  EXPECT_EQ(result.error().message(), "no secret at secret/data/a");
}

// The HTTP status and remote code travel with the error.
TEST(ErrorTest, CarriesHttpDetails) {
  Error error(ErrorCode::NotFound, "server gone");
  error.with_http(404, "Ecs.0114");
  EXPECT_EQ(error.http_status(), 404);
  EXPECT_EQ(error.remote_code(), "Ecs.0114");
}

}  // namespace
}  // namespace rotor
