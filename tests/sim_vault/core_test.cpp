// The Vault simulator's logic, request by request (no sockets): exact bodies and statuses of
// spec §2 (KV v2), §3 (tokens, AppRole), §4 (health), sealed mode, policies, persistence.

#include "sim/vault/core.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "tests/support/manual_clock.h"

namespace rotor::sim {
namespace {

using nlohmann::json;
using rotor::testing::ManualClock;
using namespace std::chrono_literals;

constexpr const char* kRoot = "hvs.root-token-for-tests";

class VaultCoreTest : public ::testing::Test {
 protected:
  VaultCoreTest() {
    options_.approles.push_back(AppRoleSpec{"role-1", "sid-1"});
    core_ = std::make_unique<VaultCore>(options_, clock_);
  }

  VaultResponse call(const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& token = kRoot,
                     const std::string& content_type = "application/json") {
    VaultRequest request;
    request.method = method;
    const auto q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string query = target.substr(q + 1);
      std::size_t start = 0;
      while (start < query.size()) {
        auto end = query.find('&', start);
        if (end == std::string::npos) {
          end = query.size();
        }
        const auto pair = query.substr(start, end - start);
        const auto eq = pair.find('=');
        request.query.emplace(pair.substr(0, eq),
                              eq == std::string::npos ? "" : pair.substr(eq + 1));
        start = end + 1;
      }
    }
    request.token = token;
    request.body = body;
    request.content_type = content_type;
    return core_->handle(request);
  }

  static json parse(const VaultResponse& response) { return json::parse(response.body); }

  VaultSimOptions options_;
  ManualClock clock_;
  std::unique_ptr<VaultCore> core_;
};

// Spec §7.1: create-only write, the same again conflicts, cas 1 makes version 2.
TEST_F(VaultCoreTest, WriteReadAndCas) {
  auto created =
      call("POST", "/v1/secret/data/servers/db01",
           R"({"options":{"cas":0},"data":{"username":"root","password":"Tr0ub4dor&3"}})");
  ASSERT_EQ(created.status, 200);
  const auto body = parse(created);
  EXPECT_EQ(body["data"]["version"], 1);
  EXPECT_EQ(body["data"]["deletion_time"], "");
  EXPECT_EQ(body["data"]["custom_metadata"], nullptr);
  EXPECT_EQ(body["mount_type"], "kv");
  EXPECT_EQ(created.body.back(), '\n');
  EXPECT_EQ(created.body.rfind("{\"request_id\":", 0), 0U);

  auto read = call("GET", "/v1/secret/data/servers/db01");
  ASSERT_EQ(read.status, 200);
  EXPECT_NE(read.body.find(R"("password":"Tr0ub4dor\u00263")"), std::string::npos) << read.body;
  EXPECT_EQ(parse(read)["data"]["data"]["password"], "Tr0ub4dor&3");

  auto again = call("POST", "/v1/secret/data/servers/db01",
                    R"({"options":{"cas":0},"data":{"password":"x"}})");
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.body,
            "{\"errors\":[\"check-and-set parameter did not match the current version\"]}\n");

  auto second = call("POST", "/v1/secret/data/servers/db01",
                     R"({"options":{"cas":"1"},"data":{"password":"y"}})");
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(parse(second)["data"]["version"], 2);

  auto bad_cas = call("POST", "/v1/secret/data/servers/db01",
                      R"({"options":{"cas":"two"},"data":{"password":"y"}})");
  EXPECT_EQ(bad_cas.body, "{\"errors\":[\"error parsing check-and-set parameter\"]}\n");
  auto no_data = call("POST", "/v1/secret/data/servers/db01", R"({"options":{"cas":2}})");
  EXPECT_EQ(no_data.body, "{\"errors\":[\"no data provided\"]}\n");

  auto old = call("GET", "/v1/secret/data/servers/db01?version=1");
  EXPECT_EQ(parse(old)["data"]["data"]["password"], "Tr0ub4dor&3");
  EXPECT_EQ(parse(old)["data"]["metadata"]["version"], 1);
}

// cas_required on the mount config and on the key metadata (spec §2.3).
TEST_F(VaultCoreTest, CasRequired) {
  ASSERT_EQ(call("POST", "/v1/secret/metadata/a", R"({"cas_required":true})").status, 204);
  auto refused = call("POST", "/v1/secret/data/a", R"({"data":{"k":"v"}})");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body, "{\"errors\":[\"check-and-set parameter required for this call\"]}\n");
  // Metadata without versions: current_version is 0, so cas 0 creates.
  EXPECT_EQ(call("POST", "/v1/secret/data/a", R"({"options":{"cas":0},"data":{"k":"v"}})").status,
            200);

  ASSERT_EQ(call("POST", "/v1/secret/config", R"({"cas_required":true})").status, 204);
  EXPECT_EQ(call("POST", "/v1/secret/data/b", R"({"data":{"k":"v"}})").status, 400);
  EXPECT_EQ(parse(call("GET", "/v1/secret/config"))["data"]["cas_required"], true);
  auto warned = call("POST", "/v1/secret/metadata/b", R"({"cas_required":false})");
  EXPECT_EQ(warned.status, 200);
  EXPECT_EQ(parse(warned)["warnings"][0],
            "\"cas_required\" set to false, but is mandated by backend config. This value will "
            "be ignored.");
}

// max_versions pruning and oldest_version exactly as the plugin's AddVersion (spec §2.5).
TEST_F(VaultCoreTest, MaxVersionsPruning) {
  ASSERT_EQ(call("POST", "/v1/secret/metadata/p", R"({"max_versions":3})").status, 204);
  for (int i = 1; i <= 2; ++i) {
    ASSERT_EQ(call("POST", "/v1/secret/data/p", R"({"data":{"n":"x"}})").status, 200);
  }
  EXPECT_EQ(parse(call("GET", "/v1/secret/metadata/p"))["data"]["oldest_version"], 0);
  ASSERT_EQ(call("POST", "/v1/secret/data/p", R"({"data":{"n":"x"}})").status, 200);
  auto meta = parse(call("GET", "/v1/secret/metadata/p"))["data"];
  EXPECT_EQ(meta["oldest_version"], 1);
  EXPECT_EQ(meta["versions"].size(), 3U);
  ASSERT_EQ(call("POST", "/v1/secret/data/p", R"({"data":{"n":"x"}})").status, 200);
  meta = parse(call("GET", "/v1/secret/metadata/p"))["data"];
  EXPECT_EQ(meta["oldest_version"], 2);
  EXPECT_EQ(meta["current_version"], 4);
  EXPECT_FALSE(meta["versions"].contains("1"));
  EXPECT_TRUE(meta["versions"].contains("2"));
  EXPECT_EQ(call("GET", "/v1/secret/data/p?version=1").body, "{\"errors\":[]}\n");
}

// Default max is 10: the 11th write prunes version 1.
TEST_F(VaultCoreTest, DefaultMaxVersionsIsTen) {
  for (int i = 1; i <= 11; ++i) {
    ASSERT_EQ(call("POST", "/v1/secret/data/d", R"({"data":{"n":"x"}})").status, 200);
  }
  auto meta = parse(call("GET", "/v1/secret/metadata/d"))["data"];
  EXPECT_EQ(meta["oldest_version"], 2);
  EXPECT_EQ(meta["versions"].size(), 10U);
}

// Spec §2.8: every not-found variant with its exact body.
TEST_F(VaultCoreTest, NotFoundVariants) {
  auto missing = call("GET", "/v1/secret/data/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "{\"errors\":[]}\n");

  call("POST", "/v1/secret/data/k", R"({"data":{"password":"p1"}})");
  EXPECT_EQ(call("GET", "/v1/secret/data/k?version=7").body, "{\"errors\":[]}\n");

  ASSERT_EQ(call("DELETE", "/v1/secret/data/k").status, 204);
  auto deleted = call("GET", "/v1/secret/data/k");
  EXPECT_EQ(deleted.status, 404);
  auto body = parse(deleted);
  EXPECT_FALSE(body.contains("errors"));
  EXPECT_EQ(body["data"]["data"], nullptr);
  EXPECT_NE(body["data"]["metadata"]["deletion_time"], "");
  EXPECT_EQ(body["data"]["metadata"]["version"], 1);
  EXPECT_EQ(body["mount_type"], "");
  // A soft-deleted key keeps its current_version: cas must match it.
  EXPECT_EQ(call("POST", "/v1/secret/data/k", R"({"options":{"cas":0},"data":{"a":"b"}})").status,
            400);
  EXPECT_EQ(call("POST", "/v1/secret/undelete/k", R"({"versions":[1]})").status, 204);
  EXPECT_EQ(call("GET", "/v1/secret/data/k").status, 200);

  EXPECT_EQ(call("POST", "/v1/secret/destroy/k", R"({"versions":[1]})").status, 204);
  auto destroyed = parse(call("GET", "/v1/secret/data/k"));
  EXPECT_EQ(destroyed["data"]["metadata"]["destroyed"], true);
  EXPECT_EQ(call("POST", "/v1/secret/destroy/k", R"({"versions":[]})").body,
            "{\"errors\":[\"no version number provided\"]}\n");
  EXPECT_EQ(call("POST", "/v1/secret/delete/k", R"({})").body,
            "{\"errors\":[\"No version number provided\"]}\n");

  auto v1_style = call("GET", "/v1/secret/foo");
  EXPECT_EQ(v1_style.status, 404);
  EXPECT_EQ(parse(v1_style)["warnings"][0],
            "Invalid path for a versioned K/V secrets engine. See the API docs for the "
            "appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for "
            "this operation.");
  auto root = call("GET", "/v1/secret/data/");
  EXPECT_EQ(parse(root)["warnings"][0],
            "Non-listing operations on the root of a K/V v2 mount are not supported.");

  ASSERT_EQ(call("DELETE", "/v1/secret/metadata/k").status, 204);
  EXPECT_EQ(call("GET", "/v1/secret/metadata/k").body, "{\"errors\":[]}\n");
  EXPECT_EQ(call("POST", "/v1/secret/data/k", R"({"options":{"cas":0},"data":{"a":"b"}})").status,
            200);

  auto patch_missing = call("PATCH", "/v1/secret/data/none", R"({"data":{"a":"b"}})", kRoot,
                            "application/merge-patch+json");
  EXPECT_EQ(patch_missing.status, 404);
  EXPECT_EQ(patch_missing.body, "");
}

// Metadata with custom_metadata (spec §7.2), validation, PATCH.
TEST_F(VaultCoreTest, Metadata) {
  call("POST", "/v1/secret/data/servers/db01", R"({"data":{"password":"a"}})");
  call("POST", "/v1/secret/data/servers/db01", R"({"data":{"password":"b"}})");
  ASSERT_EQ(
      call(
          "POST", "/v1/secret/metadata/servers/db01",
          R"({"max_versions":5,"cas_required":true,"custom_metadata":{"rotated_by":"pwrotd","host":"db01"}})")
          .status,
      204);
  auto meta = call("GET", "/v1/secret/metadata/servers/db01");
  ASSERT_EQ(meta.status, 200);
  auto data = parse(meta)["data"];
  EXPECT_EQ(data["cas_required"], true);
  EXPECT_EQ(data["current_version"], 2);
  EXPECT_EQ(data["max_versions"], 5);
  EXPECT_EQ(data["delete_version_after"], "0s");
  EXPECT_EQ(data["custom_metadata"], json({{"host", "db01"}, {"rotated_by", "pwrotd"}}));
  EXPECT_EQ(data["versions"]["2"]["destroyed"], false);
  // custom_metadata also comes back with the data read.
  EXPECT_EQ(
      parse(call("GET",
                 "/v1/secret/data/servers/db01"))["data"]["metadata"]["custom_metadata"]["host"],
      "db01");

  auto bad = call("POST", "/v1/secret/metadata/servers/db01",
                  R"({"custom_metadata":{"k":")" + std::string(600, 'x') + "\"}}");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(
      parse(bad)["errors"][0].get<std::string>().rfind("custom_metadata validation failed: ", 0),
      0U);

  auto wrong_type = call("PATCH", "/v1/secret/metadata/servers/db01", R"({"max_versions":1})");
  EXPECT_EQ(wrong_type.status, 415);
  EXPECT_EQ(parse(wrong_type)["errors"][0],
            "PATCH requires Content-Type of application/merge-patch+json, provided "
            "application/json");
  ASSERT_EQ(call("PATCH", "/v1/secret/metadata/servers/db01",
                 R"({"custom_metadata":{"host":null,"state":"pending"}})", kRoot,
                 "application/merge-patch+json")
                .status,
            204);
  data = parse(call("GET", "/v1/secret/metadata/servers/db01"))["data"];
  EXPECT_EQ(data["custom_metadata"], json({{"rotated_by", "pwrotd"}, {"state", "pending"}}));
}

// LIST via ?list=true and the LIST verb; folders end in '/'; nothing → 404 {"errors":[]}.
TEST_F(VaultCoreTest, List) {
  call("POST", "/v1/secret/data/servers/db01", R"({"data":{"a":"b"}})");
  call("POST", "/v1/secret/data/servers/web/w1", R"({"data":{"a":"b"}})");
  auto listed = call("GET", "/v1/secret/metadata/servers?list=true");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(parse(listed)["data"]["keys"], json({"db01", "web/"}));
  EXPECT_EQ(parse(call("LIST", "/v1/secret/metadata/servers/web/"))["data"]["keys"], json({"w1"}));
  auto empty = call("GET", "/v1/secret/metadata/empty/?list=true");
  EXPECT_EQ(empty.status, 404);
  EXPECT_EQ(empty.body, "{\"errors\":[]}\n");
}

// Tokens: missing → permission denied; unknown/expired → invalid token; lookup-self fields.
TEST_F(VaultCoreTest, TokenErrorsAndLookup) {
  auto none = call("GET", "/v1/secret/data/x", "", "");
  EXPECT_EQ(none.status, 403);
  EXPECT_EQ(none.body, "{\"errors\":[\"permission denied\"]}\n");
  auto bogus = call("GET", "/v1/secret/data/x", "", "hvs.bogus");
  EXPECT_EQ(bogus.status, 403);
  EXPECT_EQ(bogus.body,
            "{\"errors\":[\"2 errors occurred:\\n\\t* permission denied\\n\\t* invalid "
            "token\\n\\n\"]}\n");

  auto root = parse(call("GET", "/v1/auth/token/lookup-self"))["data"];
  EXPECT_EQ(root["ttl"], 0);
  EXPECT_EQ(root["expire_time"], nullptr);
  EXPECT_EQ(root["policies"], json({"root"}));
  EXPECT_EQ(root["path"], "auth/token/root");

  const auto token = core_->create_token({"rotor"}, 60, 0, true);
  auto looked = parse(call("GET", "/v1/auth/token/lookup-self", "", token))["data"];
  EXPECT_EQ(looked["ttl"], 60);
  EXPECT_EQ(looked["renewable"], true);
  clock_.advance(61s);
  EXPECT_EQ(call("GET", "/v1/auth/token/lookup-self", "", token).status, 403);
}

// renew-self extends the TTL, caps it at max TTL with Vault's warning, then refuses (spec §3.3).
TEST_F(VaultCoreTest, RenewSelfCapsAtMaxTtl) {
  const auto token = core_->create_token({"rotor"}, 1200, 1500, true);
  clock_.advance(600s);
  auto renewed = call("POST", "/v1/auth/token/renew-self", R"({"increment":"20m"})", token);
  ASSERT_EQ(renewed.status, 200);
  auto body = parse(renewed);
  EXPECT_EQ(body["auth"]["lease_duration"], 900);
  EXPECT_EQ(body["auth"]["client_token"], token);
  EXPECT_EQ(body["warnings"][0],
            "TTL of \"20m0s\" exceeded the effective max_ttl of \"15m0s\"; TTL value is capped "
            "accordingly");
  clock_.advance(900s);
  EXPECT_EQ(call("POST", "/v1/auth/token/renew-self", "", token).status, 403);  // expired

  const auto fixed = core_->create_token({"rotor"}, 60, 0, false);
  auto refused = call("POST", "/v1/auth/token/renew-self", "", fixed);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body, "{\"errors\":[\"lease is not renewable\"]}\n");
}

// AppRole login (spec §3.4, §7.3) and its failures; secret_id uses are counted.
TEST_F(VaultCoreTest, AppRoleLogin) {
  auto ok =
      call("POST", "/v1/auth/approle/login", R"({"role_id":"role-1","secret_id":"sid-1"})", "");
  ASSERT_EQ(ok.status, 200);
  auto auth = parse(ok)["auth"];
  EXPECT_EQ(auth["lease_duration"], 1200);
  EXPECT_EQ(auth["renewable"], true);
  EXPECT_EQ(auth["policies"], json({"default", "rotor"}));
  EXPECT_EQ(auth["metadata"]["role_name"], "rotor");
  EXPECT_EQ(parse(ok)["data"], nullptr);
  const std::string token = auth["client_token"];
  EXPECT_EQ(token.rfind("hvs.", 0), 0U);
  EXPECT_EQ(call("GET", "/v1/secret/data/x", "", token).status, 404);

  EXPECT_EQ(
      call("POST", "/v1/auth/approle/login", R"({"role_id":"role-1","secret_id":"bad"})", "").body,
      "{\"errors\":[\"invalid role or secret ID\"]}\n");
  EXPECT_EQ(call("POST", "/v1/auth/approle/login", R"({"secret_id":"sid-1"})", "").body,
            "{\"errors\":[\"missing role_id\"]}\n");
  EXPECT_EQ(call("POST", "/v1/auth/approle/login", R"({"role_id":"role-1"})", "").body,
            "{\"errors\":[\"missing secret_id\"]}\n");

  VaultSimOptions limited;
  AppRoleSpec spec{"r2", "s2"};
  spec.secret_id_num_uses = 1;
  spec.secret_id_ttl = 100;
  limited.approles.push_back(spec);
  limited.approles.push_back(AppRoleSpec{"r3", "s3", "r3", {"rotor"}, 60, 120, true, 0, 100});
  core_ = std::make_unique<VaultCore>(limited, clock_);
  EXPECT_EQ(
      call("POST", "/v1/auth/approle/login", R"({"role_id":"r2","secret_id":"s2"})", "").status,
      200);
  EXPECT_EQ(
      call("POST", "/v1/auth/approle/login", R"({"role_id":"r2","secret_id":"s2"})", "").status,
      400);
  clock_.advance(101s);
  EXPECT_EQ(
      call("POST", "/v1/auth/approle/login", R"({"role_id":"r3","secret_id":"s3"})", "").status,
      400);
}

// A policy with "deny" on a path gives 403 permission denied (multierror) to non-root tokens.
TEST_F(VaultCoreTest, PolicyDenial) {
  core_->set_policy("locked", {{"secret/data/locked/*", {"deny"}}});
  const auto token = core_->create_token({"rotor", "locked"}, 600, 0, true);
  auto denied = call("POST", "/v1/secret/data/locked/a", R"({"data":{"k":"v"}})", token);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body, "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}\n");
  EXPECT_EQ(call("POST", "/v1/secret/data/open/a", R"({"data":{"k":"v"}})", token).status, 200);
  const auto reader = core_->create_token({"default"}, 600, 0, true);
  EXPECT_EQ(call("GET", "/v1/secret/data/open/a", "", reader).status, 403);
  EXPECT_EQ(call("GET", "/v1/auth/token/lookup-self", "", reader).status, 200);
}

// sys/health status codes (spec §4, §7.6) and sealed mode.
TEST_F(VaultCoreTest, HealthAndSeal) {
  auto active = call("GET", "/v1/sys/health", "", "");
  EXPECT_EQ(active.status, 200);
  EXPECT_TRUE(parse(active).contains("cluster_name"));

  core_->set_standby(true, false);
  EXPECT_EQ(call("GET", "/v1/sys/health", "", "").status, 429);
  EXPECT_EQ(call("GET", "/v1/sys/health?standbyok=true", "", "").status, 200);
  EXPECT_EQ(parse(call("GET", "/v1/sys/health", "", ""))["standby"], true);
  core_->set_standby(false, true);
  EXPECT_EQ(call("GET", "/v1/sys/health?standbyok=true", "", "").status, 473);
  EXPECT_EQ(call("GET", "/v1/sys/health?perfstandbyok=true", "", "").status, 200);
  EXPECT_EQ(call("GET", "/v1/sys/health?standbycode=abc", "", "").body, "{\"errors\":[]}\n");
  core_->set_standby(false, false);
  EXPECT_EQ(call("GET", "/v1/sys/health?activecode=299", "", "").status, 299);

  core_->seal();
  auto sealed = call("GET", "/v1/sys/health", "", "");
  EXPECT_EQ(sealed.status, 503);
  EXPECT_EQ(parse(sealed)["sealed"], true);
  EXPECT_FALSE(parse(sealed).contains("cluster_name"));
  EXPECT_EQ(call("GET", "/v1/sys/health?sealedcode=200", "", "").status, 200);
  auto refused = call("GET", "/v1/secret/data/x");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.body, "{\"errors\":[\"Vault is sealed\"]}\n");
  EXPECT_EQ(
      call("POST", "/v1/auth/approle/login", R"({"role_id":"role-1","secret_id":"sid-1"})", "")
          .status,
      503);
  EXPECT_EQ(parse(call("GET", "/v1/sys/seal-status", "", ""))["sealed"], true);
  core_->unseal();
  EXPECT_EQ(call("GET", "/v1/secret/data/x").status, 404);
}

// The rarer health states in Vault's first-match order (spec §4), with their override params.
TEST_F(VaultCoreTest, RareHealthStates) {
  core_->set_health_state(true, false, false, false);
  auto uninit = call("GET", "/v1/sys/health", "", "");
  EXPECT_EQ(uninit.status, 501);
  EXPECT_EQ(parse(uninit)["initialized"], false);
  EXPECT_EQ(call("GET", "/v1/sys/health?uninitcode=299", "", "").status, 299);
  EXPECT_EQ(call("GET", "/v1/secret/data/x").status, 503);
  core_->set_health_state(false, true, false, false);
  auto removed = call("GET", "/v1/sys/health", "", "");
  EXPECT_EQ(removed.status, 530);
  EXPECT_EQ(parse(removed)["removed_from_cluster"], true);
  core_->set_health_state(false, false, true, false);
  core_->set_standby(true, false);
  auto unhealthy = call("GET", "/v1/sys/health?standbyok=true", "", "");
  EXPECT_EQ(unhealthy.status, 474);
  EXPECT_EQ(parse(unhealthy)["ha_connection_healthy"], false);
  core_->set_standby(false, false);
  core_->set_health_state(false, false, false, true);
  auto dr = call("GET", "/v1/sys/health", "", "");
  EXPECT_EQ(dr.status, 472);
  EXPECT_EQ(parse(dr)["replication_dr_mode"], "secondary");
  EXPECT_EQ(call("POST", "/_sim/health-state", "{}", "").status, 204);
  EXPECT_EQ(call("GET", "/v1/sys/health", "", "").status, 200);
}

// Throttling and precondition faults: 429 with Retry-After and 412, nothing applied.
TEST_F(VaultCoreTest, ThrottleAndPreconditionFaults) {
  VaultFaults faults;
  faults.enabled = true;
  faults.throttle_rate = 1.0;
  core_->set_faults(faults);
  auto throttled = call("POST", "/v1/secret/data/a", R"({"data":{"k":"v"}})");
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(parse(throttled)["errors"][0],
            "request path \"secret/data/a\": rate limit quota exceeded");
  ASSERT_EQ(throttled.headers.size(), 1U);
  EXPECT_EQ(throttled.headers[0], std::make_pair(std::string("Retry-After"), std::string("1")));
  faults.throttle_rate = 0;
  faults.precondition_rate = 1.0;
  core_->set_faults(faults);
  EXPECT_EQ(call("POST", "/v1/secret/data/a", R"({"data":{"k":"v"}})").body,
            "{\"errors\":[\"required index state not present\"]}\n");
  core_->set_faults_enabled(false);
  EXPECT_EQ(call("GET", "/v1/secret/data/a").status, 404);
}

// KV v1 mounts: flat writes (204), lease_duration 2764800, and ui/mounts says version "1".
TEST_F(VaultCoreTest, KvV1Mount) {
  core_->add_mount("kv1", 1);
  EXPECT_EQ(call("POST", "/v1/kv1/servers/a", R"({"password":"p"})").status, 204);
  auto read = parse(call("GET", "/v1/kv1/servers/a"));
  EXPECT_EQ(read["data"]["password"], "p");
  EXPECT_EQ(read["lease_duration"], 2764800);
  EXPECT_EQ(call("POST", "/v1/kv1/servers/a", "{}").body,
            "{\"errors\":[\"missing data fields\"]}\n");
  auto v1 = parse(call("GET", "/v1/sys/internal/ui/mounts/kv1"))["data"];
  EXPECT_EQ(v1["options"]["version"], "1");
  EXPECT_EQ(v1["path"], "kv1/");
  auto v2 = parse(call("GET", "/v1/sys/internal/ui/mounts/secret/servers/a"))["data"];
  EXPECT_EQ(v2["options"]["version"], "2");
  EXPECT_EQ(call("GET", "/v1/sys/internal/ui/mounts/nomount").status, 403);
}

// The state file keeps secrets, versions and tokens across a restart; it is replaced atomically.
TEST_F(VaultCoreTest, StateFileSurvivesRestart) {
  char pattern[] = "/tmp/rotor-vault-state-XXXXXX";
  const std::filesystem::path dir = mkdtemp(pattern);
  VaultSimOptions persistent = options_;
  persistent.state_file = dir / "state.json";
  std::string token;
  {
    VaultCore first(persistent, clock_);
    core_.reset();
    VaultRequest write;
    write.method = "POST";
    write.path = "/v1/secret/data/a";
    write.token = kRoot;
    write.body = R"({"data":{"password":"keep<me>"}})";
    ASSERT_EQ(first.handle(write).status, 200);
    ASSERT_EQ(first.handle(write).status, 200);
    token = first.create_token({"rotor"}, 3600, 0, true);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "state.json.tmp"));
  core_ = std::make_unique<VaultCore>(persistent, clock_);
  auto read = call("GET", "/v1/secret/data/a", "", token);
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(parse(read)["data"]["data"]["password"], "keep<me>");
  EXPECT_EQ(parse(read)["data"]["metadata"]["version"], 2);
  std::filesystem::remove_all(dir);
}

// The dump shows every version's data; control requests go through handle() too.
TEST_F(VaultCoreTest, DumpAndControl) {
  call("POST", "/v1/secret/data/a", R"({"data":{"password":"one"}})");
  call("POST", "/v1/secret/data/a", R"({"data":{"password":"two"}})");
  auto dump = json::parse(call("GET", "/_sim/dump", "", "").body);
  const auto& versions = dump["mounts"]["secret"]["secrets"]["a"]["versions"];
  EXPECT_EQ(versions["1"]["data"]["password"], "one");
  EXPECT_EQ(versions["2"]["data"]["password"], "two");
  EXPECT_EQ(call("POST", "/_sim/seal", "", "").status, 204);
  EXPECT_EQ(call("GET", "/v1/secret/data/a").status, 503);
  EXPECT_EQ(call("POST", "/_sim/unseal", "", "").status, 204);
  auto minted = json::parse(call("POST", "/_sim/token", R"({"ttl":10})", "").body);
  const std::string token = minted["token"];
  EXPECT_EQ(call("GET", "/v1/secret/data/a", "", token).status, 200);
  EXPECT_EQ(call("POST", "/_sim/expire-token", json({{"token", token}}).dump(), "").status, 204);
  EXPECT_EQ(call("GET", "/v1/secret/data/a", "", token).status, 403);
  EXPECT_EQ(call("POST", "/_sim/advance", R"({"seconds":5})", "").status, 204);
  EXPECT_EQ(call("POST", "/_sim/nope", "", "").status, 404);
}

// Seeded faults: with error_rate 1 every /v1 request (but health) fails with 5xx and changes
// nothing; reset-after-write applies the write and asks the HTTP layer to drop the connection.
TEST_F(VaultCoreTest, Faults) {
  VaultFaults faults;
  faults.enabled = true;
  faults.error_rate = 1.0;
  core_->set_faults(faults);
  auto failed = call("POST", "/v1/secret/data/a", R"({"data":{"k":"v"}})");
  EXPECT_GE(failed.status, 500);
  EXPECT_EQ(call("GET", "/v1/sys/health", "", "").status, 200);
  faults.error_rate = 0;
  faults.reset_after_write_rate = 1.0;
  core_->set_faults(faults);
  auto dropped = call("POST", "/v1/secret/data/a", R"({"data":{"k":"v"}})");
  EXPECT_TRUE(dropped.drop_connection);
  EXPECT_FALSE(call("GET", "/v1/secret/data/a").drop_connection);  // reads are not dropped
  core_->set_faults_enabled(false);
  EXPECT_EQ(parse(call("GET", "/v1/secret/data/a"))["data"]["metadata"]["version"], 1);
  EXPECT_THROW(VaultFaults::named("bogus"), std::invalid_argument);
  EXPECT_TRUE(VaultFaults::named("flaky").enabled);
}

// Go's formats: HTML-safe escaping with a newline, RFC 3339 nanos trimmed, durations.
TEST(VaultFormatTest, GoFormats) {
  EXPECT_EQ(vault_detail::go_json(nlohmann::ordered_json{{"p", "a<b>&c"}}),
            "{\"p\":\"a\\u003cb\\u003e\\u0026c\"}\n");
  EXPECT_EQ(vault_detail::rfc3339(1714557600123456789), "2024-05-01T10:00:00.123456789Z");
  EXPECT_EQ(vault_detail::rfc3339(1714561200500000000), "2024-05-01T11:00:00.5Z");
  EXPECT_EQ(vault_detail::rfc3339(1714557600000000000), "2024-05-01T10:00:00Z");
  EXPECT_EQ(vault_detail::go_duration(3600), "1h0m0s");
  EXPECT_EQ(vault_detail::go_duration(120), "2m0s");
  EXPECT_EQ(vault_detail::go_duration(0), "0s");
  EXPECT_EQ(vault_detail::go_duration(59), "59s");
}

}  // namespace
}  // namespace rotor::sim
