// Parsing every documented error body style and classifying answers into verdicts.
#include "ecs/errors.h"

#include <gtest/gtest.h>

#include "tests/support/scripted_transport.h"

namespace rotor::ecs {
namespace {

const auto kNow = std::chrono::system_clock::from_time_t(1767571200);

CallStatus classify_answer(int status, std::string_view body, bool renewable = false,
                           std::vector<HttpHeader> headers = {}) {
  const Result<HttpResponse> result(testing::make_response(status, body, headers));
  const ClassifyContext ctx{"PUT /v1/p/cloudservers/s/os-reset-password", renewable, {}};
  return classify(result, ctx, kNow);
}

CallStatus classify_failure(ErrorCode code) {
  const Result<HttpResponse> result(fail(code, "PUT https://x/y: boom"));
  const ClassifyContext ctx{"PUT /y", false, {}};
  return classify(result, ctx, kNow);
}

// §2.1 native ECS error object.
TEST(ErrorBodyTest, ParsesNativeError) {
  auto error = parse_error_body(
      R"({"error":{"code":"Ecs.0005","message":"Invalid parameter values.","details":[]}})");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "Ecs.0005");
  EXPECT_EQ(error->message, "Invalid parameter values.");
}

// §2.2 Nova fault: a fault name around an integer HTTP code (no service code).
TEST(ErrorBodyTest, ParsesNovaFault) {
  auto error = parse_error_body(
      R"({"itemNotFound":{"message":"Instance x could not be found.","code":404}})");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "");
  EXPECT_EQ(error->fault, "itemNotFound");
  EXPECT_EQ(error->message, "Instance x could not be found.");
  // A Huawei code inside a Nova-style wrapper is kept.
  auto huawei = parse_error_body(R"({"badRequest":{"message":"locked","code":"Ecs.0605"}})");
  ASSERT_TRUE(huawei);
  EXPECT_EQ(huawei->code, "Ecs.0605");
  // A dot-less string code is a native name, not a service code (old Huawei SDK heuristic).
  auto native = parse_error_body(R"({"conflictingRequest":{"message":"x","code":"InUse"}})");
  ASSERT_TRUE(native);
  EXPECT_EQ(native->code, "");
  EXPECT_EQ(native->fault, "InUse");
}

// §2.4 gateway shape with a request id.
TEST(ErrorBodyTest, ParsesGatewayError) {
  auto error = parse_error_body(
      R"({"error_msg":"Incorrect IAM authentication information: verify aksk signature fail",)"
      R"("error_code":"APIGW.0301","request_id":"abc123"})");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "APIGW.0301");
  EXPECT_EQ(error->request_id, "abc123");
}

// §2.5 Keystone shape: integer code, title.
TEST(ErrorBodyTest, ParsesKeystoneError) {
  auto error = parse_error_body(
      R"({"error":{"code":401,"message":"The request you have made requires authentication.",)"
      R"("title":"Unauthorized"}})");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "");
  EXPECT_EQ(error->fault, "Unauthorized");
}

// §6.2 job query failure: code and message at the top level.
TEST(ErrorBodyTest, ParsesTopLevelCodeMessage) {
  auto error =
      parse_error_body(R"({"code":"Common.0011","message":"Failed to query system tasks."})");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "Common.0011");
}

// Bodies without an error, and garbage, give nothing.
TEST(ErrorBodyTest, IgnoresNonErrors) {
  EXPECT_FALSE(parse_error_body(R"({"response":[{"id":"a"}]})"));
  EXPECT_FALSE(parse_error_body("<html>bad gateway</html>"));
  EXPECT_FALSE(parse_error_body(""));
}

// Codes compare case-insensitively.
TEST(ErrorBodyTest, CodesCompareCaseInsensitively) {
  EXPECT_TRUE(code_equals("ECS.0114", "Ecs.0114"));
  EXPECT_FALSE(code_equals("Ecs.0114", "Ecs.0614"));
}

// 2xx answers are accepted, but Common.0024 at 202 is throttling, not acceptance.
TEST(ClassifyTest, TwoXxAndThrottlingAt202) {
  EXPECT_EQ(classify_answer(200, "").verdict, Verdict::Accepted);
  EXPECT_EQ(classify_answer(202, "").verdict, Verdict::Accepted);
  EXPECT_EQ(classify_answer(204, "").verdict, Verdict::Accepted);
  auto throttled =
      classify_answer(202, R"({"error":{"code":"common.0024","message":"Flow limit exceeded."}})");
  EXPECT_EQ(throttled.verdict, Verdict::RejectedTransient);
  EXPECT_EQ(throttled.outcome(), Outcome::Rejected);
  ASSERT_TRUE(throttled.error);
  EXPECT_EQ(throttled.error->code(), ErrorCode::Throttled);
  EXPECT_EQ(throttled.error->http_status(), 202);
  EXPECT_EQ(throttled.error->remote_code(), "common.0024");
  // Another error inside a 2xx: we cannot tell what happened.
  EXPECT_EQ(classify_answer(200, R"({"error":{"code":"Ecs.1000","message":"x"}})").verdict,
            Verdict::Unknown);
}

// Each 4xx maps to its verdict and error code.
TEST(ClassifyTest, ClientErrors) {
  auto complexity =
      classify_answer(400, R"({"error":{"code":"Ecs.0011","message":"Ensure the password..."}})");
  EXPECT_EQ(complexity.verdict, Verdict::RejectedFinal);
  EXPECT_EQ(complexity.error->remote_code(), "Ecs.0011");
  EXPECT_EQ(complexity.error->http_status(), 400);
  EXPECT_EQ(classify_answer(403, R"({"error":{"code":"Ecs.0003","message":"x"}})").error->code(),
            ErrorCode::PermissionDenied);
  auto gone = classify_answer(404, R"({"error":{"code":"Ecs.0114","message":"no"}})");
  EXPECT_EQ(gone.verdict, Verdict::RejectedFinal);
  EXPECT_EQ(gone.error->code(), ErrorCode::NotFound);
  EXPECT_EQ(classify_answer(404, R"({"itemNotFound":{"message":"x","code":404}})").error->code(),
            ErrorCode::NotFound);
  EXPECT_EQ(classify_answer(404, R"({"error_code":"APIGW.0101","error_msg":"API not found"})")
                .error->code(),
            ErrorCode::Unsupported);
  EXPECT_EQ(classify_answer(405, "").error->code(), ErrorCode::Unsupported);
}

// 401 is transient with a renewable token and final with AK/SK.
TEST(ClassifyTest, UnauthorizedDependsOnRenewability) {
  const std::string body = R"({"error_code":"APIGW.0301","error_msg":"decrypt token fail"})";
  EXPECT_EQ(classify_answer(401, body, true).verdict, Verdict::RejectedTransient);
  EXPECT_EQ(classify_answer(401, body, false).verdict, Verdict::RejectedFinal);
  EXPECT_EQ(classify_answer(401, body, true).error->code(), ErrorCode::Unauthorized);
}

// Throttling in every form is a passing rejection, with Retry-After kept.
TEST(ClassifyTest, ThrottlingForms) {
  auto plain = classify_answer(429, "", false, {{"Retry-After", "30"}});
  EXPECT_EQ(plain.verdict, Verdict::RejectedTransient);
  ASSERT_TRUE(plain.retry_after);
  EXPECT_EQ(*plain.retry_after, std::chrono::seconds(30));
  EXPECT_EQ(classify_answer(503, R"({"error":{"code":"Common.1503","message":"Api flow control"}})")
                .verdict,
            Verdict::RejectedTransient);
  EXPECT_EQ(classify_answer(429, R"({"error_code":"IAM.0012","error_msg":"x"})").verdict,
            Verdict::RejectedTransient);
  EXPECT_EQ(classify_answer(403, R"({"error_code":"APIGW.0305",)"
                                 R"("error_msg":"AK access failed to reach the limit, forbidden"})")
                .error->code(),
            ErrorCode::Throttled);
}

// 5xx is unknown, except "another command running" (Ecs.0603), which did not run.
TEST(ClassifyTest, ServerErrors) {
  EXPECT_EQ(classify_answer(500, "").verdict, Verdict::Unknown);
  EXPECT_EQ(classify_answer(502, "<html/>").verdict, Verdict::Unknown);
  EXPECT_EQ(classify_answer(500, R"({"error":{"code":"Ecs.0615","message":"x"}})").outcome(),
            Outcome::Unknown);
  EXPECT_EQ(classify_answer(501, R"({"error":{"code":"Ecs.0603","message":"x"}})").verdict,
            Verdict::RejectedTransient);
  EXPECT_EQ(classify_answer(302, "").verdict, Verdict::Unknown);
}

// Transport failures: nothing sent is a passing rejection; anything else is unknown.
TEST(ClassifyTest, TransportFailures) {
  EXPECT_EQ(classify_failure(ErrorCode::ConnectFailed).verdict, Verdict::RejectedTransient);
  EXPECT_EQ(classify_failure(ErrorCode::TlsFailed).verdict, Verdict::RejectedTransient);
  EXPECT_EQ(classify_failure(ErrorCode::Timeout).verdict, Verdict::Unknown);
  EXPECT_EQ(classify_failure(ErrorCode::ConnectionLost).verdict, Verdict::Unknown);
  EXPECT_EQ(classify_failure(ErrorCode::ResponseTooLarge).verdict, Verdict::Unknown);
  EXPECT_EQ(classify_failure(ErrorCode::InvalidArgument).verdict, Verdict::RejectedFinal);
}

// Per-server codes of a batch answer.
TEST(ClassifyTest, BatchItems) {
  const ClassifyContext ctx{"PUT /v1/p/cloudservers/os-reset-passwords", false, {}};
  EXPECT_EQ(classify_item("ECS.0114", "gone", 400, ctx).error->code(), ErrorCode::NotFound);
  EXPECT_EQ(classify_item("Ecs.0613", "no plug-in", 400, ctx).error->code(),
            ErrorCode::Unsupported);
  EXPECT_EQ(classify_item("Ecs.0613", "no plug-in", 400, ctx).verdict, Verdict::RejectedFinal);
  EXPECT_EQ(classify_item("Ecs.0610", "reset failed", 400, ctx).verdict, Verdict::Unknown);
  EXPECT_EQ(classify_item("Common.0024", "flow", 400, ctx).verdict, Verdict::RejectedTransient);
  EXPECT_EQ(classify_item("Ecs.0605", "locked", 400, ctx).verdict, Verdict::RejectedFinal);
}

// A secret echoed by the server never reaches the error text; long messages are capped.
TEST(ClassifyTest, ScrubsSecretsFromRemoteMessages) {
  const std::string_view secrets[] = {"Hunter2-Pw!x"};
  const ClassifyContext ctx{"PUT /y", false, secrets};
  const Result<HttpResponse> result(testing::make_response(
      400, R"({"error":{"code":"Ecs.0011","message":"password Hunter2-Pw!x is weak"}})"));
  auto status = classify(result, ctx, kNow);
  ASSERT_TRUE(status.error);
  EXPECT_EQ(status.error->to_string().find("Hunter2-Pw!x"), std::string::npos);
  EXPECT_NE(status.error->to_string().find("[redacted]"), std::string::npos);
  EXPECT_LE(scrub(std::string(5000, 'a'), {}).size(), 310U);
}

}  // namespace
}  // namespace rotor::ecs
