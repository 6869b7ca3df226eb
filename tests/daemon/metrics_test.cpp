// The metrics table, the endpoint templates of the metering transport, and a scrape over loopback.
#include "daemon/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/support/scripted_transport.h"

namespace rotor::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string scrape(int port, const std::string& path = "/metrics") {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto answer = client.Get(path.c_str());
  EXPECT_TRUE(answer) << "no answer from the metrics endpoint";
  if (!answer) {
    return {};
  }
  EXPECT_EQ(answer->status, 200);
  return answer->body;
}

// Ids, numbers and the project id become placeholders; the query never appears; Vault keys
// collapse into {path}.
TEST(MetricsTest, EndpointTemplatesHaveBoundedCardinality) {
  EXPECT_EQ(
      endpoint_template("https://ecs.eu-de.otc.t-systems.com/v1/0a1b2c3d4e5f40718293a4b5c6d7e8f9/"
                        "cloudservers/61cdf7ef-c8a5-41ca-8c2e-7a721a44dad3/os-reset-password",
                        "ecs"),
      "/v1/{project_id}/cloudservers/{id}/os-reset-password");
  EXPECT_EQ(endpoint_template("http://127.0.0.1:8080/v1/0a1b2c3d4e5f40718293a4b5c6d7e8f9/"
                              "cloudservers/detail?limit=100&offset=2&name=db01",
                              "ecs"),
            "/v1/{project_id}/cloudservers/detail");
  EXPECT_EQ(
      endpoint_template("http://127.0.0.1/v1/{p}/jobs/ff8080828a1e2b3c018a1e2b3c4d0001", "ecs"),
      "/v1/{p}/jobs/{id}");
  EXPECT_EQ(endpoint_template(
                "https://vault:8200/v1/secret/data/ecs/sim/0a1b2c3d4e5f40718293a4b5c6d7e8f9/"
                "61cdf7ef-c8a5-41ca-8c2e-7a721a44dad3",
                "vault"),
            "/v1/secret/data/{path}");
  EXPECT_EQ(endpoint_template("https://vault:8200/v1/secret/metadata/ecs/db01?version=3", "vault"),
            "/v1/secret/metadata/{path}");
  EXPECT_EQ(endpoint_template("https://vault:8200/v1/sys/health?standbyok=true", "vault"),
            "/v1/sys/health");
  EXPECT_EQ(endpoint_template("https://vault:8200/v1/auth/token/lookup-self", "vault"),
            "/v1/auth/token/lookup-self");
}

// The decorator counts by service, endpoint and code (or "error"), times each request, and counts
// IAM paths on a cloud transport as service iam.
TEST(MetricsTest, MeteringTransportCountsRequests) {
  Metrics metrics;
  testing::ScriptedTransport inner;
  inner.reply(200, "{}");
  inner.reply(404, "{}");
  inner.fail_with(Error(ErrorCode::Timeout, "timed out"));
  inner.reply(201, "{}");
  MeteringTransport metered(inner, metrics, "ecs");
  HttpRequest request;
  request.url = "https://ecs/v1/0a1b2c3d4e5f40718293a4b5c6d7e8f9/cloudservers/detail?offset=1";
  EXPECT_TRUE(metered.send(request));
  EXPECT_TRUE(metered.send(request));
  EXPECT_FALSE(metered.send(request));
  HttpRequest login;
  login.url = "https://iam/v3/auth/tokens";
  EXPECT_TRUE(metered.send(login));

  auto server = MetricsServer::start("127.0.0.1:0", metrics);
  ASSERT_TRUE(server.has_value()) << server.error().to_string();
  const auto text = scrape((*server)->port());
  EXPECT_THAT(text, HasSubstr("rotor_api_requests_total{code=\"200\",endpoint=\"/v1/{project_id}/"
                              "cloudservers/detail\",service=\"ecs\"} 1"));
  EXPECT_THAT(text, HasSubstr("code=\"404\""));
  EXPECT_THAT(text, HasSubstr("code=\"error\""));
  EXPECT_THAT(text, HasSubstr("endpoint=\"/v3/auth/tokens\",service=\"iam\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_api_request_duration_seconds_count{endpoint=\"/v1/"
                              "{project_id}/cloudservers/detail\",service=\"ecs\"} 3"));
  EXPECT_THAT(text, Not(HasSubstr("offset")));
}

// Every family of docs/metrics.md is served, with the labels the table names; /healthz answers.
TEST(MetricsTest, ServesEveryDocumentedFamily) {
  Metrics metrics;
  engine::Report report;
  report.server_id = "s1";
  report.outcome = engine::Outcome::Rotated;
  metrics.rotation("prod", report, std::chrono::duration<double>(1.5));
  const auto now = config::SysSeconds(std::chrono::seconds(1'800'000'000));
  ServerView a;
  a.policy = "prod";
  a.server_id = "s1";
  a.state = "current";
  a.rotated_at = now - std::chrono::seconds(3600);
  ServerView b = a;
  b.server_id = "s2";
  b.state = "pending";
  b.alert = true;
  b.rotated_at = now - std::chrono::seconds(7200);
  PolicyView policy;
  policy.name = "prod";
  policy.next_run = now + std::chrono::seconds(60);
  policy.last_success = now;
  policy.held = "3 definite failures among 3 servers exceed the error budget (5%)";
  policy.gone = 2;
  ServerView c = a;  // another policy's, first in id order: the policies' servers interleave
  c.policy = "dev";
  c.server_id = "s0";
  c.quarantined = "3 failed resets";
  ServerTable servers;
  servers.add(a);
  servers.add(b);
  servers.add(c);
  servers.seal();
  metrics.schedule(servers, {policy}, now);
  metrics.policy_halted("prod");
  metrics.log_suppressed(7);
  metrics.api_request("vault", "/v1/sys/health", "200", std::chrono::duration<double>(0.01));
  metrics.vault_token_ttl(3600);
  metrics.reload(false, now);

  auto server = MetricsServer::start("127.0.0.1:0", metrics);
  ASSERT_TRUE(server.has_value()) << server.error().to_string();
  const auto text = scrape((*server)->port());
  for (const char* family :
       {"rotor_build_info", "rotor_rotations_total", "rotor_rotation_duration_seconds",
        "rotor_servers", "rotor_password_age_oldest_seconds", "rotor_pending_alerts",
        "rotor_last_success_timestamp_seconds", "rotor_next_run_timestamp_seconds",
        "rotor_api_requests_total", "rotor_api_request_duration_seconds",
        "rotor_vault_token_ttl_seconds", "rotor_config_reloads_total",
        "rotor_config_last_reload_success", "rotor_config_last_reload_timestamp_seconds",
        "rotor_policy_halts_total", "rotor_policy_held", "rotor_servers_gone",
        "rotor_log_messages_suppressed_total"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + family + " ")) << family;
  }
  EXPECT_THAT(text, HasSubstr("rotor_rotations_total{policy=\"prod\",result=\"rotated\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_servers{policy=\"prod\",state=\"pending\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_servers{policy=\"prod\",state=\"quarantined\"} 0"));
  EXPECT_THAT(text, HasSubstr("rotor_servers{policy=\"prod\",state=\"current\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_servers{policy=\"dev\",state=\"quarantined\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_servers{policy=\"dev\",state=\"current\"} 0"));
  EXPECT_THAT(text, HasSubstr("rotor_password_age_oldest_seconds{policy=\"prod\"} 7200"));
  EXPECT_THAT(text, HasSubstr("rotor_pending_alerts{policy=\"prod\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_config_reloads_total{result=\"failure\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_config_last_reload_success 0"));
  EXPECT_THAT(text, HasSubstr("rotor_vault_token_ttl_seconds 3600"));
  EXPECT_THAT(text, HasSubstr("rotor_policy_halts_total{policy=\"prod\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_policy_held{policy=\"prod\"} 1"));
  EXPECT_THAT(text, HasSubstr("rotor_servers_gone{policy=\"prod\"} 2"));
  EXPECT_THAT(text, HasSubstr("rotor_log_messages_suppressed_total 7"));
  EXPECT_EQ(scrape((*server)->port(), "/healthz").find("rotor_"), std::string::npos);

  // A policy gone after a reload loses its per-policy series.
  metrics.schedule(ServerTable{}, {}, now);
  const auto after = scrape((*server)->port());
  EXPECT_THAT(after, Not(HasSubstr("rotor_servers{policy=\"prod\"")));
  EXPECT_THAT(after, Not(HasSubstr("rotor_policy_held{policy=\"prod\"")));
}

}  // namespace
}  // namespace rotor::daemon
