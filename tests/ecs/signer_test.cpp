// SDK-HMAC-SHA256 signing reproduces the published vectors V1–V6 of ecs-api.md §3.2.6.
#include "ecs/signer.h"

#include <gtest/gtest.h>

#include "tests/support/log_capture.h"

namespace rotor::ecs {
namespace {

constexpr std::string_view kEmptyHash = kEmptyPayloadHash;

HttpRequest request_for(HttpMethod method, std::string url, std::string_view body = {}) {
  HttpRequest request;
  request.method = method;
  request.url = std::move(url);
  request.body.append(body);
  return request;
}

// V1 (Go SDK test1): only X-Sdk-Date is signed; the canonical request is exact.
TEST(SignerTest, VectorV1GoGet) {
  const std::vector<HttpHeader> headers = {{"X-Sdk-Date", "20060102T150405Z"}};
  const std::string canonical = canonical_request({"GET", "/path", "limit=1", headers, kEmptyHash});
  EXPECT_EQ(canonical, std::string("GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\n"
                                   "x-sdk-date\n") +
                           std::string(kEmptyHash));
  EXPECT_EQ(sha256_hex(canonical),
            "85c3b7730f308aee452b16138a42a914397e43a8f0d732dfa521c0ef2afa98a4");
  const std::string signature =
      hmac_sha256_hex("SecretKey", string_to_sign("20060102T150405Z", canonical));
  EXPECT_EQ(authorization_header("AccessKey", signed_header_names(headers), signature),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, "
            "Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624");
}

// V2 (Go SDK test2): POST with a JSON body ending in a newline; the body hash is of those bytes.
TEST(SignerTest, VectorV2GoPostWithBody) {
  const std::string body = "{\"Name\":\"test\",\"Id\":1}\n";
  EXPECT_EQ(sha256_hex(body), "a29d7b4c5efd1a22011d69fd7b7aee76fe51e4083c609244228de258afd61289");
  const std::vector<HttpHeader> headers = {{"X-Sdk-Date", "20060102T150405Z"}};
  const std::string canonical =
      canonical_request({"POST", "/path", "key=value", headers, sha256_hex(body)});
  EXPECT_EQ(hmac_sha256_hex("SecretKey", string_to_sign("20060102T150405Z", canonical)),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59");
}

// V3 (Python SDK test_signer1): sign_request adds Host and signs host;x-sdk-date.
TEST(SignerTest, VectorV3PythonGetThroughSignRequest) {
  testing::LogCapture logs;
  HttpRequest request =
      request_for(HttpMethod::Get, "https://service.endpoint.myhuaweicloud.com/resources?size=1");
  request.headers.set("X-Sdk-Date", "20200608T023900Z");
  const Secret sk = Secret::from("SecretKey");
  ASSERT_TRUE(sign_request(request, "AccessKey", sk, {}));
  EXPECT_EQ(request.headers.get("Host").value_or(""), "service.endpoint.myhuaweicloud.com");
  EXPECT_EQ(request.headers.get("Authorization").value_or(""),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
            "Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842");
  const std::vector<HttpHeader> headers = {{"Host", "service.endpoint.myhuaweicloud.com"},
                                           {"X-Sdk-Date", "20200608T023900Z"}};
  EXPECT_EQ(canonical_request({"GET", "/resources", "size=1", headers, kEmptyHash}),
            std::string("GET\n/resources/\nsize=1\nhost:service.endpoint.myhuaweicloud.com\n"
                        "x-sdk-date:20200608T023900Z\n\nhost;x-sdk-date\n") +
                std::string(kEmptyHash));
  EXPECT_FALSE(logs.contains("SecretKey"));
}

// V4 (Python SDK test_signer2): as V3, but a POST with a body.
TEST(SignerTest, VectorV4PythonPost) {
  HttpRequest request =
      request_for(HttpMethod::Post, "https://service.endpoint.myhuaweicloud.com/resources?size=1",
                  R"({"name":"test","id":1})");
  request.headers.set("X-Sdk-Date", "20200608T023900Z");
  ASSERT_TRUE(sign_request(request, "AccessKey", Secret::from("SecretKey"), {}));
  EXPECT_EQ(request.headers.get("Authorization").value_or(""),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
            "Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f");
}

// V5 (Huawei signing guide): Content-Type, Host and X-Sdk-Date signed, two query parameters.
TEST(SignerTest, VectorV5SigningGuide) {
  HttpRequest request = request_for(
      HttpMethod::Get,
      "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&"
      "marker=13551d6b-755d-4757-b956-536f674975c0");
  request.headers.set("Content-Type", "application/json");
  request.headers.set("Host", "service.region.example.com");
  request.headers.set("X-Sdk-Date", "20191115T033655Z");
  const std::vector<HttpHeader> headers = {{"Content-Type", "application/json"},
                                           {"Host", "service.region.example.com"},
                                           {"X-Sdk-Date", "20191115T033655Z"}};
  EXPECT_EQ(sha256_hex(canonical_request({"GET", "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
                                          "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
                                          headers, kEmptyHash})),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a");
  ASSERT_TRUE(sign_request(request, "QTWAOYTTINDUT2QVKYUC",
                           Secret::from("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"), {}));
  EXPECT_EQ(request.headers.get("Authorization").value_or(""),
            "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, "
            "SignedHeaders=content-type;host;x-sdk-date, "
            "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe");
}

// V6 (Go and Python SDKs): query canonicalisation: sorting, repeated keys, UTF-8, reserved bytes.
TEST(SignerTest, VectorV6QueryCanonicalisation) {
  const std::string expected =
      "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&"
      "test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29";
  EXPECT_EQ(canonical_query({{"limit", "1"},
                             {"enable", "true"},
                             {"test", "一 (&=?!#%.*)"},
                             {"path", "/tmp/123"},
                             {"multi", "1"},
                             {"multi", "2"},
                             {"multi", "3"}}),
            expected);
  // The same parameters as a raw, encoded query string in another order give the same text.
  const std::string raw = "multi=3&test=" + uri_encode("一 (&=?!#%.*)") +
                          "&multi=1&path=%2Ftmp%2F123&limit=1&multi=2&enable=true";
  EXPECT_EQ(canonical_query(raw), expected);
}

// The canonical URI always ends in '/', and '/a/b' signs like '/a/b/'.
TEST(SignerTest, CanonicalUriAddsTrailingSlash) {
  EXPECT_EQ(canonical_uri(""), "/");
  EXPECT_EQ(canonical_uri("/"), "/");
  EXPECT_EQ(canonical_uri("/a/b"), "/a/b/");
  EXPECT_EQ(canonical_uri("/a/b/"), "/a/b/");
  EXPECT_EQ(canonical_uri("/a b/c%2Bd"), "/a%20b/c%2Bd/");
}

// Host keeps a non-default port and drops the default one.
TEST(SignerTest, SplitUrlNormalisesHost) {
  auto with_port = split_url("https://127.0.0.1:8443/v1/p?x=1");
  ASSERT_TRUE(with_port);
  EXPECT_EQ(with_port->host, "127.0.0.1:8443");
  EXPECT_EQ(with_port->path, "/v1/p");
  EXPECT_EQ(with_port->query, "x=1");
  auto default_port = split_url("https://ECS.example.com:443");
  ASSERT_TRUE(default_port);
  EXPECT_EQ(default_port->host, "ecs.example.com");
  EXPECT_EQ(default_port->path, "/");
  EXPECT_FALSE(split_url("ftp://x/"));
  EXPECT_FALSE(split_url("https://user@host/"));
}

// X-Sdk-Date is UTC in the compact ISO form.
TEST(SignerTest, FormatsSdkDate) {
  EXPECT_EQ(format_sdk_date(std::chrono::system_clock::from_time_t(1573789015)),
            "20191115T033655Z");
}

// Headers with '_' are not signed; X-Sdk-Content-Sha256 replaces the body hash.
TEST(SignerTest, SkipsUnderscoreHeadersAndHonoursContentSha) {
  HttpRequest request =
      request_for(HttpMethod::Get, "https://example.huaweicloud.com/path?limit=1");
  request.headers.set("X-Sdk-Date", "20060102T150405Z");
  request.headers.set("TEST_UNDERSCORE", "x");
  ASSERT_TRUE(sign_request(request, "AccessKey", Secret::from("SecretKey"), {}));
  EXPECT_NE(request.headers.get("Authorization")->find("SignedHeaders=host;x-sdk-date,"),
            std::string_view::npos);
  HttpRequest unsigned_payload =
      request_for(HttpMethod::Put, "https://example.huaweicloud.com/path", "binary");
  unsigned_payload.headers.set("X-Sdk-Date", "20060102T150405Z");
  unsigned_payload.headers.set("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD");
  HttpRequest same = request_for(HttpMethod::Put, "https://example.huaweicloud.com/path", "other");
  same.headers.set("X-Sdk-Date", "20060102T150405Z");
  same.headers.set("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD");
  ASSERT_TRUE(sign_request(unsigned_payload, "AK", Secret::from("SecretKey"), {}));
  ASSERT_TRUE(sign_request(same, "AK", Secret::from("SecretKey"), {}));
  EXPECT_EQ(unsigned_payload.headers.get("Authorization"), same.headers.get("Authorization"));
}

}  // namespace
}  // namespace rotor::ecs
