// Remote text other than the message is scrubbed too (found by tests/fuzz/ecs_response_fuzz.cpp):
// a Nova-style fault name or a service code that echoes a secret must not reach the Error.

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "ecs/errors.h"

namespace rotor::ecs {
namespace {

// The SK echoed as a fault name (an object key) and as a code is redacted.
TEST(ScrubTest, FaultNameAndCodeAreScrubbed) {
  constexpr std::string_view kSk = "SKsecret0123456789";
  const std::array<std::string_view, 1> secrets = {kSk};
  const ClassifyContext ctx{"GET /v1/p/cloudservers/detail", false, secrets, false};
  for (const std::string& body :
       {R"({"item)" + std::string(kSk) + R"(": {"message": "gone", "code": 404}})",
        R"({"error": {"code": "Ecs.)" + std::string(kSk) + R"(", "message": "x"}})"}) {
    HttpResponse response;
    response.status = 404;
    response.body.append(body);
    const CallStatus status = classify(Result<HttpResponse>(std::move(response)), ctx, {});
    ASSERT_TRUE(status.error.has_value());
    EXPECT_EQ(status.error->to_string().find(kSk), std::string::npos) << status.error->to_string();
  }
  const CallStatus item = classify_item(std::string("Ecs.") + std::string(kSk), "m", 200, ctx);
  ASSERT_TRUE(item.error.has_value());
  EXPECT_EQ(item.error->to_string().find(kSk), std::string::npos) << item.error->to_string();
}

}  // namespace
}  // namespace rotor::ecs
