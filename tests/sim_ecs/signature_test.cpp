// The simulator's SDK-HMAC-SHA256 verifier against the published vectors (ecs-api.md §3.2.6) and
// its refusals.
#include "sim/ecs/signature.h"

#include <gtest/gtest.h>

namespace rotor::sim::sig {
namespace {

using namespace std::chrono_literals;

std::chrono::system_clock::time_point at(std::string_view sdk_date) {
  return *parse_sdk_date(sdk_date);
}

class SimSignatureTest : public ::testing::Test {};

// V1: Go SDK test1 — GET with a query, only x-sdk-date signed, empty body.
TEST_F(SimSignatureTest, ReproducesVectorV1) {
  const std::string canonical = canonical_request(
      "GET", "/path", {{"limit", "1"}}, {{"X-Sdk-Date", "20060102T150405Z"}}, kEmptyBodySha256);
  EXPECT_EQ(canonical, "GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n" +
                           std::string(kEmptyBodySha256));
  const std::string to_sign = string_to_sign("20060102T150405Z", canonical);
  EXPECT_EQ(to_sign.substr(to_sign.rfind('\n') + 1),
            "85c3b7730f308aee452b16138a42a914397e43a8f0d732dfa521c0ef2afa98a4");
  EXPECT_EQ(signature("SecretKey", to_sign),
            "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624");
}

// V2: Go SDK test2 — POST with a JSON body that ends in a newline (hash what is sent).
TEST_F(SimSignatureTest, ReproducesVectorV2) {
  const std::string body = "{\"Name\":\"test\",\"Id\":1}\n";
  EXPECT_EQ(sha256_hex(body), "a29d7b4c5efd1a22011d69fd7b7aee76fe51e4083c609244228de258afd61289");
  const std::string canonical = canonical_request(
      "POST", "/path", {{"key", "value"}}, {{"x-sdk-date", "20060102T150405Z"}}, sha256_hex(body));
  EXPECT_EQ(signature("SecretKey", string_to_sign("20060102T150405Z", canonical)),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59");
}

// V3 and V4: Python SDK — host and x-sdk-date signed; GET without and POST with a body.
TEST_F(SimSignatureTest, ReproducesVectorsV3AndV4) {
  const Headers headers{{"Host", "service.endpoint.myhuaweicloud.com"},
                        {"X-Sdk-Date", "20200608T023900Z"}};
  const std::string get =
      canonical_request("GET", "/resources", {{"size", "1"}}, headers, kEmptyBodySha256);
  EXPECT_EQ(get,
            "GET\n/resources/\nsize=1\nhost:service.endpoint.myhuaweicloud.com\n"
            "x-sdk-date:20200608T023900Z\n\nhost;x-sdk-date\n" +
                std::string(kEmptyBodySha256));
  EXPECT_EQ(signature("SecretKey", string_to_sign("20200608T023900Z", get)),
            "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842");
  const std::string post = canonical_request("POST", "/resources", {{"size", "1"}}, headers,
                                             sha256_hex("{\"name\":\"test\",\"id\":1}"));
  EXPECT_EQ(signature("SecretKey", string_to_sign("20200608T023900Z", post)),
            "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f");
}

// V5: the signing guide's worked example, verified end to end through verify().
TEST_F(SimSignatureTest, VerifiesVectorV5) {
  ReceivedRequest request{
      "GET",
      "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
      {{"limit", "2"}, {"marker", "13551d6b-755d-4757-b956-536f674975c0"}},
      {{"Content-Type", "application/json"},
       {"Host", "service.region.example.com"},
       {"X-Sdk-Date", "20191115T033655Z"},
       {"Authorization",
        "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, "
        "SignedHeaders=content-type;host;x-sdk-date, "
        "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"}},
      ""};
  Headers signed_headers(request.headers.begin(), request.headers.begin() + 3);
  EXPECT_EQ(sha256_hex(canonical_request(request.method, request.path, request.query,
                                         signed_headers, kEmptyBodySha256)),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a");
  auto lookup = [](const std::string& ak) -> std::optional<std::string> {
    if (ak == "QTWAOYTTINDUT2QVKYUC")
      return "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc";
    return std::nullopt;
  };
  const Verdict ok = verify(request, lookup, at("20191115T033655Z") + 14min, 15min);
  EXPECT_TRUE(ok.ok) << ok.reason;
  const Verdict late = verify(request, lookup, at("20191115T033655Z") + 16min, 15min);
  EXPECT_FALSE(late.ok);
  EXPECT_EQ(late.refusal, Refusal::Expired);
  const Verdict early = verify(request, lookup, at("20191115T033655Z") - 16min, 15min);
  EXPECT_EQ(early.refusal, Refusal::Expired);
  EXPECT_EQ(authorization_header("QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
                                 request, {"content-type", "host", "x-sdk-date"}),
            request.headers[3].second);
}

// V6: query canonicalisation (sorting, repeated keys, UTF-8 and reserved characters).
TEST_F(SimSignatureTest, CanonicalisesQueryLikeVectorV6) {
  EXPECT_EQ(canonical_query({{"limit", "1"},
                             {"enable", "true"},
                             {"test", "\xE4\xB8\x80 (&=?!#%.*)"},
                             {"path", "/tmp/123"},
                             {"multi", "3"},
                             {"multi", "1"},
                             {"multi", "2"}}),
            "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%"
            "3D%3F%21%23%25.%2A%29");
}

// The canonical URI encodes each segment and always ends in '/'.
TEST_F(SimSignatureTest, CanonicalUriEncodesSegmentsAndAddsSlash) {
  EXPECT_EQ(canonical_uri(""), "/");
  EXPECT_EQ(canonical_uri("/"), "/");
  EXPECT_EQ(canonical_uri("/a b/c"), "/a%20b/c/");
  EXPECT_EQ(canonical_uri("/a/b/"), "/a/b/");
}

// Refusals: unknown key, wrong secret (with the canonical request in the reason), missing
// signed header, x-sdk-date not signed, malformed header.
TEST_F(SimSignatureTest, RefusesBadSignatures) {
  ReceivedRequest request{"PUT",
                          "/v1/p/cloudservers/os-reset-passwords",
                          {},
                          {{"Content-Type", "application/json"},
                           {"Host", "127.0.0.1:8443"},
                           {"X-Sdk-Date", "20260105T000000Z"},
                           {"X-Project-Id", "p"}},
                          "{\"servers\":[]}"};
  const auto now = at("20260105T000000Z");
  request.headers.emplace_back(
      "Authorization",
      authorization_header("AK", "SK", request,
                           {"content-type", "host", "x-project-id", "x-sdk-date"}));
  auto lookup = [](const std::string& ak) -> std::optional<std::string> {
    if (ak == "AK")
      return "SK";
    return std::nullopt;
  };
  EXPECT_TRUE(verify(request, lookup, now, 15min).ok);

  auto wrong_sk = [](const std::string&) -> std::optional<std::string> { return "other"; };
  const Verdict mismatch = verify(request, wrong_sk, now, 15min);
  EXPECT_EQ(mismatch.refusal, Refusal::Mismatch);
  EXPECT_NE(mismatch.reason.find("verify aksk signature fail"), std::string::npos);
  EXPECT_NE(mismatch.reason.find("PUT|/v1/p/cloudservers/os-reset-passwords/|"), std::string::npos);

  auto none = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  EXPECT_EQ(verify(request, none, now, 15min).refusal, Refusal::UnknownKey);

  ReceivedRequest tampered = request;
  tampered.body = "{\"servers\":[{}]}";
  EXPECT_EQ(verify(tampered, lookup, now, 15min).refusal, Refusal::Mismatch);

  ReceivedRequest missing = request;
  missing.headers.erase(missing.headers.begin() + 3);  // X-Project-Id was signed
  EXPECT_EQ(verify(missing, lookup, now, 15min).refusal, Refusal::MissingHeader);

  ReceivedRequest undated = request;
  undated.headers.back().second = authorization_header("AK", "SK", request, {"host"});
  EXPECT_EQ(verify(undated, lookup, now, 15min).refusal, Refusal::MissingHeader);

  ReceivedRequest garbage = request;
  garbage.headers.back().second = "SDK-HMAC-SHA256 Credential=AK/20260105/x/y/sdk_request";
  EXPECT_EQ(verify(garbage, lookup, now, 15min).refusal, Refusal::Malformed);
}

// An unsigned X-Project-Id (gophertelekomcloud adds it after signing) is accepted.
TEST_F(SimSignatureTest, AcceptsUnsignedProjectHeader) {
  ReceivedRequest request{"GET",
                          "/v1/p/cloudservers/detail",
                          {{"limit", "5"}},
                          {{"Host", "127.0.0.1:1"}, {"X-Sdk-Date", "20260105T000000Z"}},
                          ""};
  request.headers.emplace_back("Authorization",
                               authorization_header("AK", "SK", request, {"host", "x-sdk-date"}));
  request.headers.emplace_back("X-Project-Id", "p");
  auto lookup = [](const std::string&) -> std::optional<std::string> { return "SK"; };
  EXPECT_TRUE(verify(request, lookup, at("20260105T000000Z"), 15min).ok);
}

}  // namespace
}  // namespace rotor::sim::sig
