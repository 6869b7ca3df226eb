// Unit tests of the Vault client against a scripted transport: request shapes, every error shape
// of spec §1.5/§2.8, CAS conflicts, KV v1 detection, token renewal and re-login timing on a manual
// clock, sealed back-off, and secret hygiene in logs and error texts.

#include "vault/client.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "tests/support/log_capture.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scripted_transport.h"
#include "tests/support/seeded_random.h"
#include "vault/json_util.h"

namespace rotor::vault {
namespace {

using nlohmann::json;
using rotor::testing::LogCapture;
using rotor::testing::ManualClock;
using rotor::testing::ScriptedTransport;
using rotor::testing::SeededRandom;
using namespace std::chrono_literals;

constexpr const char* kToken = "hvs.TESTTOKENabcdef123456";
constexpr const char* kPassword = "Tr0ub4dor&3<>x";

std::string envelope(const json& data, const json& warnings = nullptr, const json& auth = nullptr) {
  json body = {{"request_id", "8a0b7c2e-1111-2222-3333-444455556666"},
               {"lease_id", ""},
               {"renewable", false},
               {"lease_duration", 0},
               {"data", data},
               {"wrap_info", nullptr},
               {"warnings", warnings},
               {"auth", auth},
               {"mount_type", "kv"}};
  return body.dump() + "\n";
}

// Go's encoder escapes <, > and & (spec §1.4).
std::string go_escape(std::string text) {
  std::string out;
  for (const char c : text) {
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string lookup_self_body(std::int64_t ttl, bool renewable) {
  return envelope({{"accessor", "acc"},
                   {"creation_ttl", ttl},
                   {"id", kToken},
                   {"policies", {"default", "rotor"}},
                   {"renewable", renewable},
                   {"ttl", ttl},
                   {"type", "service"}});
}

std::string login_body(const std::string& token, std::int64_t ttl, bool renewable = true) {
  return envelope(nullptr, nullptr,
                  {{"client_token", token},
                   {"accessor", "acc"},
                   {"policies", {"default", "rotor"}},
                   {"lease_duration", ttl},
                   {"renewable", renewable}});
}

std::string mounts_body(const std::string& version) {
  return envelope({{"path", "secret/"}, {"type", "kv"}, {"options", {{"version", version}}}});
}

std::string health_body(bool sealed, bool standby = false) {
  return json({{"initialized", true},
               {"sealed", sealed},
               {"standby", standby},
               {"performance_standby", false},
               {"version", "1.16.0"}})
             .dump() +
         "\n";
}

class VaultClientTest : public ::testing::Test {
 protected:
  VaultClientTest() { config_.address = "https://vault.test:8200/"; }

  VaultClient token_client() {
    return VaultClient(config_, token_from_value(kToken), transport_, clock_, random_);
  }
  VaultClient approle_client() {
    return VaultClient(config_, AppRoleAuth{"role-1", Secret::from("secret-id-XYZ")}, transport_,
                       clock_, random_);
  }
  // The replies of a successful start with a token: health, lookup-self, mount check.
  void script_token_start(std::int64_t ttl = 3600, bool renewable = true) {
    transport_.reply(200, health_body(false));
    transport_.reply(200, lookup_self_body(ttl, renewable));
    transport_.reply(200, mounts_body("2"));
  }

  VaultConfig config_;
  ScriptedTransport transport_;
  ManualClock clock_;
  SeededRandom random_;
  LogCapture logs_;
};

// A read decodes Go's \u0026/\u003c/\u003e escapes and sorts fields into secret and plain ones.
TEST_F(VaultClientTest, ReadDecodesEscapesAndSplitsSensitiveFields) {
  auto client = token_client();
  transport_.reply(200, envelope({{"data",
                                   {{"password", kPassword},
                                    {"previous_password", "old<pw>"},
                                    {"username", "root"},
                                    {"attempts", 2}}},
                                  {"metadata",
                                   {{"created_time", "2024-05-01T10:00:00.123456789Z"},
                                    {"custom_metadata", {{"state", "current"}}},
                                    {"deletion_time", ""},
                                    {"destroyed", false},
                                    {"version", 7}}}}));
  // Make sure the wire body really carries the escapes.
  const auto sent = transport_.requests();
  auto result = client.read("servers/db01");
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->version, 7U);
  ASSERT_NE(result->data.secret("password"), nullptr);
  EXPECT_EQ(result->data.secret("password")->reveal(), kPassword);
  EXPECT_EQ(result->data.secret("previous_password")->reveal(), "old<pw>");
  ASSERT_NE(result->data.text("username"), nullptr);
  EXPECT_EQ(*result->data.text("username"), "root");
  EXPECT_EQ(*result->data.text("attempts"), "2");
  EXPECT_EQ(result->data.text("password"), nullptr);
  EXPECT_EQ(result->custom_metadata.at("state"), "current");
  EXPECT_FALSE(result->deleted);
  EXPECT_FALSE(logs_.contains(kPassword));
}

// The raw Go-escaped body (as Vault sends it) decodes to the original characters.
TEST_F(VaultClientTest, GoEscapedBodyDecodes) {
  auto client = token_client();
  const std::string body =
      go_escape(envelope({{"data", {{"password", kPassword}}},
                          {"metadata", {{"version", 1}, {"deletion_time", ""}}}}));
  ASSERT_NE(body.find("\\u0026"), std::string::npos);
  transport_.reply(200, body);
  auto result = client.read("a");
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->data.secret("password")->reveal(), kPassword);
}

// Every request carries X-Vault-Request: true and the token; the namespace only when configured.
TEST_F(VaultClientTest, RequestHeaders) {
  {
    auto client = token_client();
    transport_.reply(404, "{\"errors\":[]}\n");
    (void)client.read("x");
  }
  config_.vault_namespace = "team-a/";
  {
    auto client = token_client();
    transport_.reply(404, "{\"errors\":[]}\n");
    (void)client.read("x", 3);
  }
  const auto requests = transport_.requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].url, "https://vault.test:8200/v1/secret/data/x");
  EXPECT_EQ(requests[0].header("X-Vault-Request"), "true");
  EXPECT_EQ(requests[0].header("X-Vault-Token"), kToken);
  EXPECT_EQ(requests[0].header("X-Vault-Namespace"), "");
  EXPECT_EQ(requests[1].url, "https://vault.test:8200/v1/secret/data/x?version=3");
  EXPECT_EQ(requests[1].header("X-Vault-Namespace"), "team-a/");
}

// A CAS write sends options.cas and the fields; the answer's version comes back.
TEST_F(VaultClientTest, WriteSendsCasAndFields) {
  auto client = token_client();
  transport_.reply(200, envelope({{"created_time", "2024-05-01T10:00:00Z"},
                                  {"custom_metadata", nullptr},
                                  {"deletion_time", ""},
                                  {"destroyed", false},
                                  {"version", 4}}));
  KvData data;
  data.secrets.emplace("password", Secret::from(kPassword));
  data.plain.emplace("state", "pending");
  data.plain.emplace("quote", "a\"b\\c\n");
  auto result = client.write("servers/db01", data, Cas::expect(3));
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->version, 4U);
  const auto requests = transport_.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].method, HttpMethod::Post);
  const json sent = json::parse(requests[0].body);
  EXPECT_EQ(sent["options"]["cas"], 3);
  EXPECT_EQ(sent["data"]["password"], kPassword);
  EXPECT_EQ(sent["data"]["state"], "pending");
  EXPECT_EQ(sent["data"]["quote"], "a\"b\\c\n");
  EXPECT_FALSE(logs_.contains(kPassword));
}

// Without CAS no options are sent; cas 0 means create-only and is sent as 0.
TEST_F(VaultClientTest, WriteWithoutCasAndCreateOnly) {
  auto client = token_client();
  transport_.reply(200, envelope({{"version", 1}}));
  transport_.reply(200, envelope({{"version", 1}}));
  KvData data;
  data.plain.emplace("k", "v");
  ASSERT_TRUE(client.write("a", data, Cas::none()));
  ASSERT_TRUE(client.write("b", data, Cas::expect(0)));
  const auto requests = transport_.requests();
  EXPECT_FALSE(json::parse(requests[0].body).contains("options"));
  EXPECT_EQ(json::parse(requests[1].body)["options"]["cas"], 0);
}

// A CAS mismatch is ErrorCode::Conflict with method, path and status — never the value.
TEST_F(VaultClientTest, CasConflictIsConflict) {
  auto client = token_client();
  transport_.reply(
      400, "{\"errors\":[\"check-and-set parameter did not match the current version\"]}\n");
  KvData data;
  data.secrets.emplace("password", Secret::from(kPassword));
  auto result = client.write("servers/db01", data, Cas::expect(1));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::Conflict);
  EXPECT_EQ(result.error().http_status(), 400);
  const auto text = result.error().to_string();
  EXPECT_NE(text.find("POST /v1/secret/data/servers/db01: HTTP 400 check-and-set"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(kPassword), std::string::npos);
  EXPECT_EQ(transport_.requests().size(), 1U);  // a conflict is final
}

// cas_required without cas is an invalid request, not a conflict.
TEST_F(VaultClientTest, CasRequiredIsInvalidArgument) {
  auto client = token_client();
  transport_.reply(400, "{\"errors\":[\"check-and-set parameter required for this call\"]}\n");
  KvData data;
  data.plain.emplace("k", "v");
  auto result = client.write("a", data, Cas::none());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::InvalidArgument);
}

// Spec §2.8: never written, missing version, empty body → NotFound; deleted and destroyed
// versions → a KvSecret that says so and carries the version for the next CAS.
TEST_F(VaultClientTest, NotFoundVariants) {
  auto client = token_client();
  transport_.reply(404, "{\"errors\":[]}\n");
  auto missing = client.read("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::NotFound);
  EXPECT_EQ(missing.error().http_status(), 404);

  transport_.reply(404, "{\"errors\":[]}\n");
  auto no_version = client.read("a", 9);
  ASSERT_FALSE(no_version);
  EXPECT_EQ(no_version.error().code(), ErrorCode::NotFound);
  EXPECT_NE(no_version.error().message().find("no version 9"), std::string::npos);

  transport_.reply(404, "");
  auto empty = client.read("a");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), ErrorCode::NotFound);

  json deleted = json::parse(envelope({{"data", nullptr},
                                       {"metadata",
                                        {{"created_time", "2024-01-01T00:00:00Z"},
                                         {"custom_metadata", nullptr},
                                         {"deletion_time", "2024-01-02T00:00:00.000000000Z"},
                                         {"destroyed", false},
                                         {"version", 3}}}}));
  deleted["mount_type"] = "";
  transport_.reply(404, deleted.dump());
  auto soft = client.read("a");
  ASSERT_TRUE(soft) << soft.error().to_string();
  EXPECT_TRUE(soft->deleted);
  EXPECT_FALSE(soft->destroyed);
  EXPECT_EQ(soft->version, 3U);
  EXPECT_TRUE(soft->data.secrets.empty());

  deleted["data"]["metadata"]["destroyed"] = true;
  deleted["data"]["metadata"]["deletion_time"] = "";
  transport_.reply(404, deleted.dump());
  auto destroyed = client.read("a");
  ASSERT_TRUE(destroyed);
  EXPECT_TRUE(destroyed->destroyed);
  EXPECT_EQ(destroyed->version, 3U);

  transport_.reply(404, "{\"errors\":[]}\n");
  auto meta = client.read_metadata("nope");
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().code(), ErrorCode::NotFound);
}

// Error bodies of spec §1.5/§7.7 become typed errors; multierror wrapping is removed.
TEST_F(VaultClientTest, ErrorShapes) {
  config_.retry.max_attempts = 1;
  auto client = token_client();
  struct Case {
    int status;
    std::string body;
    ErrorCode code;
    std::string text;
  };
  const std::vector<Case> cases = {
      {403, "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}",
       ErrorCode::PermissionDenied, "HTTP 403 permission denied"},
      {403, "{\"errors\":[\"permission denied\"]}", ErrorCode::PermissionDenied,
       "HTTP 403 permission denied"},
      {403,
       "{\"errors\":[\"2 errors occurred:\\n\\t* permission denied\\n\\t* invalid token\\n\\n\"]}",
       ErrorCode::Unauthorized, "permission denied; invalid token"},
      {405, "{\"errors\":[\"1 error occurred:\\n\\t* unsupported operation\\n\\n\"]}",
       ErrorCode::Unsupported, "HTTP 405 unsupported operation"},
      {400, "{\"errors\":[\"no data provided\"]}", ErrorCode::InvalidArgument,
       "HTTP 400 no data provided"},
      {413, "{\"errors\":[\"http: request body too large\"]}", ErrorCode::HttpError, "HTTP 413"},
      {429, "{\"errors\":[\"request path \\\"secret/data/x\\\": rate limit quota exceeded\"]}",
       ErrorCode::Throttled, "rate limit quota exceeded"},
      {500, "{\"errors\":[\"internal error\"]}", ErrorCode::ServiceUnavailable, "HTTP 500"},
      {502, "not json at all", ErrorCode::ServiceUnavailable, "HTTP 502"},
      {503, "{\"errors\":[\"Vault is sealed\"]}", ErrorCode::ServiceUnavailable,
       "HTTP 503 Vault is sealed"},
  };
  config_.retry.sealed_max_wait = 0ms;
  auto strict = token_client();
  for (const auto& c : cases) {
    transport_.reply(c.status, c.body);
    if (c.status >= 500 && c.body.find("sealed") == std::string::npos) {
      transport_.reply(200, health_body(false));  // the health probe after a server error
    }
    auto result = strict.read_metadata("servers/x");
    ASSERT_FALSE(result) << c.status;
    EXPECT_EQ(result.error().code(), c.code) << c.body;
    EXPECT_EQ(result.error().http_status(), c.status);
    EXPECT_NE(result.error().to_string().find("GET /v1/secret/metadata/servers/x"),
              std::string::npos);
    EXPECT_NE(result.error().to_string().find(c.text), std::string::npos)
        << result.error().to_string();
  }
  EXPECT_EQ(transport_.queued(), 0U);
  (void)client;
}

// 5xx, 429 and 412 are retried with back-off (through the clock); 429's Retry-After is honoured.
TEST_F(VaultClientTest, RetriesTransientStatuses) {
  auto client = token_client();
  transport_.reply(500, "{\"errors\":[\"internal error\"]}");
  transport_.reply(429, "{\"errors\":[\"rate limit quota exceeded\"]}", {{"Retry-After", "3"}});
  transport_.reply(412, "{\"errors\":[\"required index state not present\"]}");
  transport_.reply(200, envelope({{"data", {{"k", "v"}}}, {"metadata", {{"version", 2}}}}));
  auto result = client.read("a");
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(transport_.requests().size(), 4U);
  EXPECT_GE(clock_.slept(), 3s);
}

// The number of attempts is bounded.
TEST_F(VaultClientTest, RetriesAreBounded) {
  config_.retry.max_attempts = 3;
  auto client = token_client();
  for (int i = 0; i < 3; ++i) {
    transport_.reply(502, "{\"errors\":[\"upstream\"]}");
  }
  transport_.reply(200, health_body(false));
  auto result = client.read("a");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::ServiceUnavailable);
  const auto requests = transport_.requests();
  ASSERT_EQ(requests.size(), 4U);  // 3 attempts, then one sys/health probe that says "fine"
  EXPECT_EQ(requests.back().url, "https://vault.test:8200/v1/sys/health");
}

// When the retries are spent on server errors and sys/health then says "sealed", the client waits
// until Vault is unsealed and sends the (idempotent) request once more.
TEST_F(VaultClientTest, HealthAfterFailuresWaitsOutSeal) {
  config_.retry.max_attempts = 2;
  auto client = token_client();
  transport_.reply(500, "{\"errors\":[\"internal error\"]}");
  transport_.reply(500, "{\"errors\":[\"internal error\"]}");
  transport_.reply(503, health_body(true));  // probe
  transport_.reply(503, health_body(true));  // wait_until_ready
  transport_.reply(200, health_body(false));
  transport_.reply(200, envelope({{"data", {{"k", "v"}}}, {"metadata", {{"version", 4}}}}));
  auto result = client.read("a");
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->version, 4U);
  EXPECT_EQ(transport_.requests().size(), 6U);

  // A write without CAS is never sent again after an unknown outcome, health or not.
  transport_.reply(500, "{\"errors\":[\"internal error\"]}");
  KvData data;
  data.plain.emplace("k", "v");
  auto write = client.write("a", data, Cas::none());
  ASSERT_FALSE(write);
  EXPECT_EQ(transport_.requests().size(), 7U);
}

// A write without CAS is not retried after an unknown outcome (it could apply twice); a CAS
// write is (a second application is impossible: it would be a conflict).
TEST_F(VaultClientTest, UnknownOutcomeRetriedOnlyForCasWrites) {
  auto client = token_client();
  KvData data;
  data.plain.emplace("k", "v");
  transport_.fail_with(Error(ErrorCode::ConnectionLost, "reset"));
  auto plain = client.write("a", data, Cas::none());
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code(), ErrorCode::ConnectionLost);
  EXPECT_EQ(transport_.requests().size(), 1U);

  transport_.fail_with(Error(ErrorCode::ConnectionLost, "reset"));
  transport_.reply(400,
                   "{\"errors\":[\"check-and-set parameter did not match the current version\"]}");
  auto cas = client.write("a", data, Cas::expect(1));
  ASSERT_FALSE(cas);
  EXPECT_EQ(cas.error().code(), ErrorCode::Conflict);
  EXPECT_EQ(transport_.requests().size(), 3U);

  // Nothing sent: always retried.
  transport_.fail_with(Error(ErrorCode::ConnectFailed, "refused"));
  transport_.reply(200, envelope({{"version", 5}}));
  auto retried = client.write("a", data, Cas::none());
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->version, 5U);
}

// Spec §2.11: options.version "2" is v2; "1", missing options, or a 404 is v1 and refused.
TEST_F(VaultClientTest, DetectsKvV1AndRefusesIt) {
  auto client = token_client();
  transport_.reply(200, mounts_body("2"));
  EXPECT_TRUE(client.require_kv_v2());

  transport_.reply(200, mounts_body("1"));
  auto v1 = client.require_kv_v2();
  ASSERT_FALSE(v1);
  EXPECT_EQ(v1.error().code(), ErrorCode::Unsupported);
  EXPECT_NE(v1.error().message().find("is version 1: rotation needs KV version 2"),
            std::string::npos)
      << v1.error().message();

  transport_.reply(200, envelope({{"path", "old/"}, {"type", "kv"}, {"options", nullptr}}));
  auto no_options = client.mount_info("old");
  ASSERT_TRUE(no_options);
  EXPECT_EQ(no_options->version, KvVersion::V1);
  EXPECT_EQ(no_options->path, "old/");

  transport_.reply(404, "{\"errors\":[]}");
  auto ancient = client.mount_info();
  ASSERT_TRUE(ancient);
  EXPECT_EQ(ancient->version, KvVersion::V1);

  transport_.reply(403,
                   "{\"errors\":[\"preflight capability check returned 403, please ensure "
                   "client's policies grant access to path \\\"nope/\\\"\"]}");
  auto denied = client.mount_info("nope");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code(), ErrorCode::PermissionDenied);
  EXPECT_EQ(transport_.requests().back().url,
            "https://vault.test:8200/v1/sys/internal/ui/mounts/nope");
}

// Metadata: the write sends only what is set; the read parses versions and custom_metadata.
TEST_F(VaultClientTest, MetadataReadAndWrite) {
  auto client = token_client();
  transport_.reply(204);
  KvMetadataUpdate update;
  update.max_versions = 5;
  update.cas_required = true;
  update.custom_metadata = std::map<std::string, std::string>{{"state", "pending"}};
  ASSERT_TRUE(client.write_metadata("servers/db01", update));
  const json sent = json::parse(transport_.requests().back().body);
  EXPECT_EQ(sent, json({{"max_versions", 5},
                        {"cas_required", true},
                        {"custom_metadata", {{"state", "pending"}}}}));

  transport_.reply(
      200,
      envelope({{"cas_required", true},
                {"created_time", "2024-05-01T10:00:00.123456789Z"},
                {"current_version", 12},
                {"custom_metadata", {{"host", "db01"}, {"rotated_by", "rotor"}}},
                {"delete_version_after", "0s"},
                {"max_versions", 5},
                {"oldest_version", 8},
                {"updated_time", "2024-05-01T11:00:00.5Z"},
                {"versions",
                 {{"10", {{"created_time", "t10"}, {"deletion_time", ""}, {"destroyed", false}}},
                  {"9", {{"created_time", "t9"}, {"deletion_time", "x"}, {"destroyed", true}}}}}}));
  auto meta = client.read_metadata("servers/db01");
  ASSERT_TRUE(meta) << meta.error().to_string();
  EXPECT_EQ(meta->current_version, 12U);
  EXPECT_EQ(meta->oldest_version, 8U);
  EXPECT_EQ(meta->max_versions, 5U);
  EXPECT_TRUE(meta->cas_required);
  EXPECT_EQ(meta->custom_metadata.at("rotated_by"), "rotor");
  ASSERT_EQ(meta->versions.size(), 2U);
  EXPECT_TRUE(meta->versions.at(9).destroyed);
  EXPECT_EQ(meta->versions.at(10).created_time, "t10");
}

// List uses GET ?list=true on metadata/; a 404 is an empty folder.
TEST_F(VaultClientTest, List) {
  auto client = token_client();
  transport_.reply(200, envelope({{"keys", {"db01", "web/"}}}));
  auto keys = client.list("servers");
  ASSERT_TRUE(keys);
  EXPECT_EQ(*keys, (std::vector<std::string>{"db01", "web/"}));
  EXPECT_EQ(transport_.requests().back().url,
            "https://vault.test:8200/v1/secret/metadata/servers/?list=true");
  transport_.reply(404, "{\"errors\":[]}");
  auto empty = client.list("empty/");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

// The LIST answer is read from the parser's events: only data.keys' strings count (not other
// members' arrays, nested values or a "keys" elsewhere); a repeated member counts as the
// document's last; a broken or too deep answer is a BadResponse; an empty one an empty folder.
TEST_F(VaultClientTest, ListReadsOnlyTheDataKeys) {
  auto client = token_client();
  transport_.reply(200,
                   R"({"keys":["root"],"data":{"other":["x"],"keys":["a",7,["b"],{"keys":["c"]},)"
                   R"("d/"],"more":{"keys":["e"]}},"wrap_info":{"keys":["f"]}})");
  auto keys = client.list("servers");
  ASSERT_TRUE(keys) << keys.error().to_string();
  EXPECT_EQ(*keys, (std::vector<std::string>{"a", "d/"}));

  transport_.reply(200, R"({"data":{"keys":["old"]},"data":{"keys":["new"]}})");
  keys = client.list("servers");
  ASSERT_TRUE(keys) << keys.error().to_string();
  EXPECT_EQ(*keys, (std::vector<std::string>{"new"}));

  transport_.reply(200, R"({"data":{"keys":["a","b"]},"data":5})");
  keys = client.list("servers");
  ASSERT_TRUE(keys) << keys.error().to_string();
  EXPECT_TRUE(keys->empty());

  transport_.reply(200, R"({"data":{"keys":["a",)");
  keys = client.list("servers");
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code(), ErrorCode::BadResponse);

  transport_.reply(200, std::string(200, '[') + std::string(200, ']'));
  keys = client.list("servers");
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code(), ErrorCode::BadResponse);

  transport_.reply(200, " \n");
  keys = client.list("servers");
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->empty());
}

// Paths are checked and percent-encoded.
TEST_F(VaultClientTest, PathsAreValidatedAndEncoded) {
  auto client = token_client();
  EXPECT_EQ(client.read("").error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(client.read("/abs").error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(client.read("a/../b").error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(client.read("dir/").error().code(), ErrorCode::InvalidArgument);
  transport_.reply(404, "{\"errors\":[]}");
  (void)client.read("srv/my host?#");
  EXPECT_EQ(transport_.requests().back().url,
            "https://vault.test:8200/v1/secret/data/srv/my%20host%3F%23");
}

// start() with a token: health, lookup-self, mount check; renewal is scheduled at about 2/3 of
// the TTL plus a third of a 10-20% grace, and renew-self asks for the original TTL.
TEST_F(VaultClientTest, TokenStartAndRenewalTiming) {
  auto client = token_client();
  script_token_start(3600, true);
  ASSERT_TRUE(client.start());
  const auto requests = transport_.requests();
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[0].url, "https://vault.test:8200/v1/sys/health");
  EXPECT_EQ(requests[0].header("X-Vault-Token"), "");  // unauthenticated endpoint
  EXPECT_EQ(requests[1].url, "https://vault.test:8200/v1/auth/token/lookup-self");
  EXPECT_EQ(requests[2].url, "https://vault.test:8200/v1/sys/internal/ui/mounts/secret");
  EXPECT_EQ(client.token_info().ttl_seconds, 3600);

  const auto start = clock_.monotonic();
  ASSERT_TRUE(client.next_renewal());
  const auto due = *client.next_renewal() - start;
  EXPECT_GE(due, 2400s + 120s);  // 2/3 TTL + grace/3 with grace >= 10%
  EXPECT_LT(due, 2400s + 240s);  // grace < 20%

  clock_.advance(2400s);
  ASSERT_TRUE(client.maybe_renew());  // not due yet: no request
  EXPECT_EQ(transport_.requests().size(), 3U);

  clock_.advance(240s);
  transport_.reply(200, login_body(kToken, 3600));
  ASSERT_TRUE(client.maybe_renew());
  const auto renew = transport_.requests().back();
  EXPECT_EQ(renew.url, "https://vault.test:8200/v1/auth/token/renew-self");
  EXPECT_EQ(json::parse(renew.body)["increment"], 3600);
  EXPECT_GT(*client.next_renewal(), clock_.monotonic() + 2400s);
}

// A root token (ttl 0) is never renewed.
TEST_F(VaultClientTest, RootTokenNeverRenews) {
  auto client = token_client();
  script_token_start(0, false);
  ASSERT_TRUE(client.start());
  EXPECT_FALSE(client.next_renewal());
  clock_.advance(24h * 365);
  EXPECT_TRUE(client.maybe_renew());
  EXPECT_EQ(transport_.requests().size(), 3U);
}

// AppRole: login at start; when renewal is capped by max TTL (warning), the next step is a new
// login, not another renewal.
TEST_F(VaultClientTest, AppRoleReloginWhenRenewalIsCapped) {
  auto client = approle_client();
  transport_.reply(200, health_body(false));
  transport_.reply(200, login_body("hvs.FIRST", 1200));
  transport_.reply(200, lookup_self_body(1200, true));
  transport_.reply(200, mounts_body("2"));
  ASSERT_TRUE(client.start());
  auto requests = transport_.requests();
  EXPECT_EQ(requests[1].url, "https://vault.test:8200/v1/auth/approle/login");
  EXPECT_EQ(requests[1].header("X-Vault-Token"), "");
  EXPECT_EQ(json::parse(requests[1].body),
            json({{"role_id", "role-1"}, {"secret_id", "secret-id-XYZ"}}));
  EXPECT_EQ(requests[2].header("X-Vault-Token"), "hvs.FIRST");

  clock_.advance(1000s);
  transport_.reply(
      200, envelope(nullptr,
                    {"TTL of \"20m0s\" exceeded the effective max_ttl of \"5m0s\"; "
                     "TTL value is capped accordingly"},
                    {{"client_token", "hvs.FIRST"}, {"lease_duration", 300}, {"renewable", true}}));
  ASSERT_TRUE(client.maybe_renew());
  EXPECT_EQ(transport_.requests().back().url, "https://vault.test:8200/v1/auth/token/renew-self");
  EXPECT_LE(*client.next_renewal(), clock_.monotonic() + 240s);

  clock_.advance(240s);
  transport_.reply(200, login_body("hvs.SECOND", 1200));
  ASSERT_TRUE(client.maybe_renew());
  EXPECT_EQ(transport_.requests().back().url, "https://vault.test:8200/v1/auth/approle/login");

  transport_.reply(404, "{\"errors\":[]}");
  (void)client.read("x");
  EXPECT_EQ(transport_.requests().back().header("X-Vault-Token"), "hvs.SECOND");
  EXPECT_FALSE(logs_.contains("hvs.FIRST"));
  EXPECT_FALSE(logs_.contains("hvs.SECOND"));
  EXPECT_FALSE(logs_.contains("secret-id-XYZ"));
}

// A non-renewable AppRole token is replaced by a new login at ~2/3 of its TTL.
TEST_F(VaultClientTest, NonRenewableTokenLogsInAgain) {
  auto client = approle_client();
  transport_.reply(200, health_body(false));
  transport_.reply(200, login_body("hvs.BATCH", 600, false));
  transport_.reply(200, lookup_self_body(600, false));
  transport_.reply(200, mounts_body("2"));
  ASSERT_TRUE(client.start());
  clock_.advance(450s);
  transport_.reply(200, login_body("hvs.NEXT", 600, false));
  ASSERT_TRUE(client.maybe_renew());
  EXPECT_EQ(transport_.requests().back().url, "https://vault.test:8200/v1/auth/approle/login");
}

// A 403 "invalid token" mid-run: AppRole logs in again and retries the request once.
TEST_F(VaultClientTest, InvalidTokenTriggersReloginAndOneRetry) {
  auto client = approle_client();
  transport_.reply(200, health_body(false));
  transport_.reply(200, login_body("hvs.OLD", 1200));
  transport_.reply(200, lookup_self_body(1200, true));
  transport_.reply(200, mounts_body("2"));
  ASSERT_TRUE(client.start());
  transport_.reply(403,
                   "{\"errors\":[\"2 errors occurred:\\n\\t* permission denied\\n\\t* "
                   "invalid token\\n\\n\"]}");
  transport_.reply(200, login_body("hvs.NEW", 1200));
  transport_.reply(200, envelope({{"data", {{"k", "v"}}}, {"metadata", {{"version", 1}}}}));
  auto result = client.read("a");
  ASSERT_TRUE(result) << result.error().to_string();
  const auto requests = transport_.requests();
  ASSERT_EQ(requests.size(), 7U);
  EXPECT_EQ(requests[4].header("X-Vault-Token"), "hvs.OLD");
  EXPECT_EQ(requests[5].url, "https://vault.test:8200/v1/auth/approle/login");
  EXPECT_EQ(requests[6].header("X-Vault-Token"), "hvs.NEW");
}

// A plain "permission denied" never triggers a login and is not retried.
TEST_F(VaultClientTest, PermissionDeniedDoesNotLoop) {
  auto client = approle_client();
  transport_.reply(200, health_body(false));
  transport_.reply(200, login_body("hvs.OK", 1200));
  transport_.reply(200, lookup_self_body(1200, true));
  transport_.reply(200, mounts_body("2"));
  ASSERT_TRUE(client.start());
  transport_.reply(403, "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}");
  KvData data;
  data.plain.emplace("k", "v");
  auto result = client.write("locked/a", data, Cas::expect(0));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::PermissionDenied);
  EXPECT_EQ(transport_.requests().size(), 5U);
}

// With a plain token an invalid token is Unauthorized (nobody can log in again).
TEST_F(VaultClientTest, InvalidTokenWithoutAppRoleIsUnauthorized) {
  auto client = token_client();
  transport_.reply(403,
                   "{\"errors\":[\"2 errors occurred:\\n\\t* permission denied\\n\\t* "
                   "invalid token\\n\\n\"]}");
  auto result = client.read("a");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::Unauthorized);
  EXPECT_EQ(transport_.requests().size(), 1U);
}

// A wrong secret_id is Unauthorized at start, and the secret_id is not in the error text.
TEST_F(VaultClientTest, BadSecretIdIsUnauthorized) {
  auto client = approle_client();
  transport_.reply(200, health_body(false));
  transport_.reply(400, "{\"errors\":[\"invalid role or secret ID\"]}");
  auto result = client.start();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::Unauthorized);
  EXPECT_EQ(result.error().to_string().find("secret-id-XYZ"), std::string::npos);
}

// Sealed at start: wait with back-off (on the clock) until unsealed.
TEST_F(VaultClientTest, SealedAtStartWaitsThenProceeds) {
  auto client = token_client();
  transport_.reply(503, health_body(true));
  transport_.reply(503, health_body(true));
  script_token_start();
  ASSERT_TRUE(client.start());
  EXPECT_GT(clock_.slept(), 0s);
  EXPECT_EQ(transport_.requests().size(), 5U);
}

// Sealed for good: the wait is bounded by sealed_max_wait.
TEST_F(VaultClientTest, SealedWaitIsBounded) {
  config_.retry.sealed_max_wait = 60s;
  auto client = token_client();
  transport_.on_request([](const HttpRequest&) -> Result<HttpResponse> {
    return rotor::testing::make_response(503, health_body(true));
  });
  auto result = client.start();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::ServiceUnavailable);
  EXPECT_NE(result.error().message().find("sealed"), std::string::npos);
  EXPECT_GE(clock_.slept(), 60s);
  EXPECT_LT(clock_.slept(), 60s + config_.retry.max_backoff);
}

// A request that meets "Vault is sealed" waits and is retried when Vault comes back.
TEST_F(VaultClientTest, SealedRequestIsRetried) {
  auto client = token_client();
  for (int i = 0; i < 6; ++i) {  // more than max_attempts: the sealed budget is separate
    transport_.reply(503, "{\"errors\":[\"Vault is sealed\"]}");
  }
  transport_.reply(200, envelope({{"data", {{"k", "v"}}}, {"metadata", {{"version", 1}}}}));
  auto result = client.read("a");
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(transport_.requests().size(), 7U);
}

// Standby (429) and performance standby (473) are usable; a DR secondary (472) is not.
TEST_F(VaultClientTest, StandbyHealthCodes) {
  auto client = token_client();
  transport_.reply(429, health_body(false, true));
  auto standby = client.wait_until_ready();
  ASSERT_TRUE(standby);
  EXPECT_TRUE(standby->standby);
  transport_.reply(473, health_body(false, true));
  EXPECT_TRUE(client.wait_until_ready());
  transport_.reply(472, health_body(false));
  auto dr = client.wait_until_ready();
  ASSERT_FALSE(dr);
  EXPECT_EQ(dr.error().http_status(), 472);
}

// Uninitialised (501) and a standby without an active node (474) are waited out; a node removed
// from the cluster (530) fails at once.
TEST_F(VaultClientTest, RareHealthCodes) {
  auto client = token_client();
  transport_.reply(501, health_body(true));
  transport_.reply(474, health_body(false, true));
  transport_.reply(200, health_body(false));
  auto ready = client.wait_until_ready();
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->http_status, 200);
  EXPECT_EQ(transport_.requests().size(), 3U);
  transport_.reply(530, health_body(false));
  auto removed = client.wait_until_ready();
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code(), ErrorCode::ServiceUnavailable);
  EXPECT_EQ(removed.error().http_status(), 530);
}

// Nothing secret reaches the logs or error texts across a whole session with failures.
TEST_F(VaultClientTest, NoSecretInLogsOrErrors) {
  rotor::log::set_level(spdlog::level::trace);
  auto client = approle_client();
  transport_.reply(200, health_body(false));
  transport_.reply(200, login_body(kToken, 1200));
  transport_.reply(200, lookup_self_body(1200, true));
  transport_.reply(200, mounts_body("2"));
  ASSERT_TRUE(client.start());
  KvData data;
  data.secrets.emplace("password", Secret::from(kPassword));
  std::vector<std::string> texts;
  transport_.reply(500, "{\"errors\":[\"boom\"]}");
  transport_.reply(400,
                   "{\"errors\":[\"check-and-set parameter did not match the current "
                   "version\"]}");
  texts.push_back(client.write("a", data, Cas::expect(1)).error().to_string());
  transport_.fail_with(Error(ErrorCode::TlsFailed, "certificate verify failed"));
  texts.push_back(client.write("a", data, Cas::expect(1)).error().to_string());
  transport_.reply(403, "{\"errors\":[\"permission denied\"]}");
  texts.push_back(client.read("a").error().to_string());
  for (const auto& text : texts) {
    EXPECT_EQ(text.find(kPassword), std::string::npos) << text;
    EXPECT_EQ(text.find(kToken), std::string::npos) << text;
    EXPECT_EQ(text.find("secret-id-XYZ"), std::string::npos) << text;
  }
  EXPECT_FALSE(logs_.contains(kPassword));
  EXPECT_FALSE(logs_.contains(kToken));
  EXPECT_FALSE(logs_.contains("secret-id-XYZ"));
  EXPECT_FALSE(logs_.lines().empty());  // the session did log (retries, login)
  rotor::log::set_level(spdlog::level::info);
}

// Parsed documents are wiped: every string in the tree is emptied.
TEST(VaultJsonTest, WipeJsonEmptiesStrings) {
  auto doc =
      detail::Json::parse(R"({"a":"secret","b":["x",{"c":"long secret value here"}],"n":1})");
  detail::wipe_json(doc);
  EXPECT_EQ(doc["a"], "");
  EXPECT_EQ(doc["b"][0], "");
  EXPECT_EQ(doc["b"][1]["c"], "");
  EXPECT_EQ(doc["n"], 1);
}

// Go multierror texts are unwrapped.
TEST(VaultJsonTest, StripMultierror) {
  EXPECT_EQ(detail::strip_multierror("1 error occurred:\n\t* permission denied\n\n"),
            "permission denied");
  EXPECT_EQ(detail::strip_multierror("2 errors occurred:\n\t* a\n\t* b\n\n"), "a; b");
  EXPECT_EQ(detail::strip_multierror("plain"), "plain");
}

// JSON strings written into wiping buffers are escaped correctly.
TEST(VaultJsonTest, AppendJsonString) {
  WipingBuffer out;
  detail::append_json_string(out, std::string("a\"b\\c\n\x01<>&", 10));
  EXPECT_EQ(out.view(), "\"a\\\"b\\\\c\\n\\u0001<>&\"");
  EXPECT_EQ(json::parse(out.view()).get<std::string>(), std::string("a\"b\\c\n\x01<>&", 10));
}

}  // namespace
}  // namespace rotor::vault
