// EcsClient over the real CurlTransport against an in-process HTTPS server (127.0.0.1, test PKI)
// that verifies AK/SK signatures from the bytes it received: proves that what libcurl sends is
// what was signed, and that the outcome classes hold end to end.
#include <gtest/gtest.h>
#include <httplib.h>

#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.h"
#include "ecs/client.h"
#include "ecs/signer.h"
#include "http/curl_transport.h"
#include "tests/support/log_capture.h"
#include "tests/support/seeded_random.h"
#include "tests/support/test_tls.h"

namespace rotor::ecs {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::string_view kSk = "loopback-SK-0123456789abcdef";
constexpr std::string_view kPassword = "Loop-Pa55word!z";
constexpr std::string_view kIamPassword = "Loop-Iam-secret!";
constexpr std::string_view kToken = "loopback-token-0123456789";

// Checks the Authorization header of a received request; returns an error text or "".
std::string verify_signature(const httplib::Request& req) {
  const std::string authorization = req.get_header_value("Authorization");
  const std::string prefix = "SDK-HMAC-SHA256 Access=AKLOOP, SignedHeaders=";
  if (authorization.rfind(prefix, 0) != 0) {
    return "bad Authorization prefix";
  }
  const auto names_end = authorization.find(", Signature=");
  if (names_end == std::string::npos) {
    return "no Signature";
  }
  const std::string names = authorization.substr(prefix.size(), names_end - prefix.size());
  const std::string signature = authorization.substr(names_end + 12);
  std::vector<HttpHeader> headers;
  std::size_t start = 0;
  while (start <= names.size()) {
    const auto semicolon = names.find(';', start);
    const std::string name = names.substr(start, semicolon - start);
    if (!req.has_header(name.c_str())) {
      return "signed header missing: " + name;
    }
    headers.push_back({name, req.get_header_value(name.c_str())});
    if (semicolon == std::string::npos) {
      break;
    }
    start = semicolon + 1;
  }
  if (names.find("x-sdk-date") == std::string::npos || names.find("host") == std::string::npos) {
    return "x-sdk-date and host must be signed";
  }
  const auto question = req.target.find('?');
  const std::string query = question == std::string::npos ? "" : req.target.substr(question + 1);
  const std::string canonical =
      canonical_request({req.method, req.path, query, headers, sha256_hex(req.body)});
  const std::string expected =
      hmac_sha256_hex(kSk, string_to_sign(req.get_header_value("X-Sdk-Date"), canonical));
  return expected == signature ? "" : "signature mismatch";
}

class EcsLoopbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = testing::make_test_pki();
    server_ =
        std::make_unique<httplib::SSLServer>(pki_.server_cert.c_str(), pki_.server_key.c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Put(R"(/v1/proj1/cloudservers/([\w-]+)/os-reset-password)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   if (!authorized(req, res)) {
                     return;
                   }
                   const auto body = json::parse(req.body);
                   std::lock_guard lock(mutex_);
                   passwords_[req.matches[1]] = body["reset-password"]["new_password"];
                   res.status = 204;
                 });
    server_->Get("/v1/proj1/cloudservers/detail", [this](const httplib::Request& req,
                                                         httplib::Response& res) {
      if (!authorized(req, res)) {
        return;
      }
      const int page = std::stoi(req.get_param_value("offset"));
      json servers = json::array();
      if (page <= 2) {
        servers.push_back({{"id", fmt::format("s{}", page)},
                           {"name", "n"},
                           {"status", "ACTIVE"},
                           {"tags", {req.get_param_value("tags")}},
                           {"metadata", {{"os_type", "Linux"}}}});
      }
      res.set_content(json{{"count", 2}, {"servers", servers}}.dump(), "application/json");
    });
    server_->Post("/v3/auth/tokens", [](const httplib::Request& req, httplib::Response& res) {
      const auto body = json::parse(req.body);
      if (body["auth"]["identity"]["password"]["user"]["password"] != kIamPassword) {
        res.status = 401;
        res.set_content(R"({"error_msg":"wrong password","error_code":"IAM.0062"})",
                        "application/json");
        return;
      }
      res.status = 201;
      res.set_header("X-Subject-Token", std::string(kToken));
      res.set_content(R"({"token":{"expires_at":"2099-01-01T00:00:00.000000Z"}})",
                      "application/json");
    });
    server_->Put(R"(/v2.1/proj1/servers/stall/os-reset-password)",
                 [this](const httplib::Request&, httplib::Response& res) {
                   release_.wait();
                   res.status = 204;
                 });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) {
      std::this_thread::yield();
    }
    http::CurlOptions options;
    options.proxy = "";
    options.ca_file = pki_.ca_cert;
    options.connect_timeout = 2s;
    transport_ = std::make_unique<http::CurlTransport>(options);
  }
  void TearDown() override {
    release_promise_.set_value();
    server_->stop();
    thread_.join();
    testing::remove_test_pki(pki_);
    for (const auto secret : {kSk, kPassword, kIamPassword, kToken}) {
      EXPECT_FALSE(logs_.contains(secret)) << secret;
    }
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("X-Auth-Token")) {
      if (req.get_header_value("X-Auth-Token") == kToken) {
        return true;
      }
    } else if (std::string problem = verify_signature(req); problem.empty()) {
      return true;
    } else {
      std::lock_guard lock(mutex_);
      problems_.push_back(std::move(problem));
    }
    res.status = 401;
    res.set_content(R"({"error_msg":"verify aksk signature fail","error_code":"APIGW.0301"})",
                    "application/json");
    return false;
  }

  CloudConfig config(Flavor flavor, AuthMode auth) {
    CloudConfig config;
    config.name = "loopback";
    config.flavor = flavor;
    config.project_id = "proj1";
    config.ecs_endpoint = fmt::format("https://127.0.0.1:{}", port_);
    config.iam_endpoint = fmt::format("https://127.0.0.1:{}/v3", port_);
    config.auth = auth;
    config.aksk.access_key = "AKLOOP";
    config.aksk.secret_key = Secret::from(kSk);
    config.iam.user = "rotor";
    config.iam.domain = "dom";
    config.iam.password = Secret::from(kIamPassword);
    config.limits.retry.max_attempts = 1;
    config.limits.page_size = 1;
    config.limits.request_timeout = 5s;
    return config;
  }

  testing::LogCapture logs_;
  testing::TestPki pki_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::unique_ptr<http::CurlTransport> transport_;
  SystemClock clock_;
  testing::SeededRandom random_;
  std::mutex mutex_;
  std::map<std::string, std::string> passwords_;
  std::vector<std::string> problems_;  // signature checks that failed on the server
  std::promise<void> release_promise_;
  std::shared_future<void> release_ = release_promise_.get_future().share();
};

// A signed Huawei reset over HTTPS passes the server's signature check and lands.
TEST_F(EcsLoopbackTest, SignedResetIsVerifiedByTheServer) {
  EcsClient client(config(Flavor::Huawei, AuthMode::AkSk), *transport_, clock_, random_);
  const Secret password = Secret::from(kPassword);
  auto result = client.reset_password("srv-1", password);
  ASSERT_TRUE(result.accepted()) << (result.error ? result.error->to_string() : "");
  std::lock_guard lock(mutex_);
  EXPECT_EQ(passwords_["srv-1"], kPassword);
  EXPECT_TRUE(problems_.empty());
}

// A signed, paginated listing with a URL-encoded filter verifies on the server.
TEST_F(EcsLoopbackTest, SignedListingWithQueryVerifies) {
  EcsClient client(config(Flavor::Huawei, AuthMode::AkSk), *transport_, clock_, random_);
  ServerFilter filter;
  filter.tags = "rotor=yes";
  auto servers = client.list_servers(filter);
  ASSERT_TRUE(servers) << servers.error().to_string();
  ASSERT_EQ(servers->size(), 2U);
  EXPECT_EQ((*servers)[1].id, "s2");
  EXPECT_EQ((*servers)[0].tags, std::vector<std::string>{"rotor=yes"});
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(problems_.empty());
}

// A wrong SK is refused by the server: a final rejection (AK/SK 401), no secret in the error.
TEST_F(EcsLoopbackTest, WrongSecretKeyIsRefused) {
  CloudConfig bad = config(Flavor::Huawei, AuthMode::AkSk);
  bad.aksk.secret_key = Secret::from("not-the-right-SK-000");
  EcsClient client(std::move(bad), *transport_, clock_, random_);
  const Secret password = Secret::from(kPassword);
  auto result = client.reset_password("srv-1", password);
  EXPECT_EQ(result.verdict, Verdict::RejectedFinal);
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code(), ErrorCode::Unauthorized);
  EXPECT_EQ(result.error->remote_code(), "APIGW.0301");
  EXPECT_EQ(result.error->to_string().find(kPassword), std::string::npos);
  std::lock_guard lock(mutex_);
  EXPECT_EQ(problems_, std::vector<std::string>{"signature mismatch"});
  EXPECT_TRUE(passwords_.empty());
}

// Token mode end to end: IAM over HTTPS, then the reset with X-Auth-Token.
TEST_F(EcsLoopbackTest, TokenModeEndToEnd) {
  EcsClient client(config(Flavor::Huawei, AuthMode::Token), *transport_, clock_, random_);
  const Secret password = Secret::from(kPassword);
  auto result = client.reset_password("srv-2", password);
  ASSERT_TRUE(result.accepted()) << (result.error ? result.error->to_string() : "");
}

// A server that stalls after reading the reset: Unknown, never Accepted or Rejected.
TEST_F(EcsLoopbackTest, StalledResetIsUnknown) {
  CloudConfig quick = config(Flavor::Otc, AuthMode::AkSk);
  quick.limits.request_timeout = 300ms;
  EcsClient client(std::move(quick), *transport_, clock_, random_);
  const Secret password = Secret::from(kPassword);
  auto result = client.reset_password("stall", password);
  EXPECT_EQ(result.verdict, Verdict::Unknown);
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code(), ErrorCode::Timeout);
}

// Nothing listening: a passing rejection.
TEST_F(EcsLoopbackTest, RefusedConnectionIsTransientRejection) {
  CloudConfig nowhere = config(Flavor::Otc, AuthMode::AkSk);
  nowhere.ecs_endpoint = "https://127.0.0.1:1";
  EcsClient client(std::move(nowhere), *transport_, clock_, random_);
  const Secret password = Secret::from(kPassword);
  auto result = client.reset_password("srv-1", password);
  EXPECT_EQ(result.verdict, Verdict::RejectedTransient);
  EXPECT_EQ(result.error->code(), ErrorCode::ConnectFailed);
}

}  // namespace
}  // namespace rotor::ecs
