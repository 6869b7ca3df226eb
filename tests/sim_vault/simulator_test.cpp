// The Vault simulator over loopback with an independent HTTP client (httplib): plain HTTP and
// HTTPS, the /_sim controls, and a connection dropped after a write that was applied.

#include "sim/vault/simulator.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "tests/support/manual_clock.h"
#include "tests/support/test_tls.h"

namespace rotor::sim {
namespace {

using nlohmann::json;

constexpr const char* kRoot = "hvs.root-token-for-tests";

httplib::Headers token_headers() {
  return {{"X-Vault-Token", kRoot}, {"X-Vault-Request", "true"}};
}

// Health, write and read over plain HTTP; the body on the wire is Go-escaped.
TEST(VaultSimulatorTest, ServesOverHttp) {
  rotor::testing::ManualClock clock;
  VaultSimulatorOptions options;
  options.clock = &clock;
  VaultSimulator simulator(options);
  EXPECT_EQ(simulator.address(), "http://127.0.0.1:" + std::to_string(simulator.port()));
  httplib::Client client("127.0.0.1", simulator.port());
  auto health = client.Get("/v1/sys/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->get_header_value("Content-Type"), "application/json");

  auto written =
      client.Post("/v1/secret/data/servers/db01", token_headers(),
                  R"({"options":{"cas":0},"data":{"password":"a<b>&c"}})", "application/json");
  ASSERT_TRUE(written);
  EXPECT_EQ(written->status, 200);
  auto read = client.Get("/v1/secret/data/servers/db01", token_headers());
  ASSERT_TRUE(read);
  EXPECT_NE(read->body.find(R"("password":"a\u003cb\u003e\u0026c")"), std::string::npos);
  EXPECT_EQ(read->get_header_value("Cache-Control"), "no-store");
  auto listed = client.Get("/v1/secret/metadata/servers/?list=true", token_headers());
  ASSERT_TRUE(listed);
  EXPECT_EQ(json::parse(listed->body)["data"]["keys"], json({"db01"}));

  // Control endpoints over HTTP.
  ASSERT_TRUE(client.Post("/_sim/seal", "", "application/json"));
  auto sealed = client.Get("/v1/secret/data/servers/db01", token_headers());
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->status, 503);
  ASSERT_TRUE(client.Post("/_sim/unseal", "", "application/json"));
  auto dump = client.Get("/_sim/dump");
  ASSERT_TRUE(dump);
  EXPECT_EQ(json::parse(dump->body)["mounts"]["secret"]["secrets"]["servers/db01"]["versions"]["1"]
                                   ["data"]["password"],
            "a<b>&c");
}

// HTTPS with the test PKI; the CA verifies the simulator's certificate.
TEST(VaultSimulatorTest, ServesOverHttps) {
  const auto pki = rotor::testing::make_test_pki();
  VaultSimulatorOptions options;
  options.tls_cert = pki.server_cert;
  options.tls_key = pki.server_key;
  {
    VaultSimulator simulator(options);
    EXPECT_EQ(simulator.address().rfind("https://127.0.0.1:", 0), 0U);
    httplib::SSLClient client("127.0.0.1", simulator.port());
    client.set_ca_cert_path(pki.ca_cert.c_str());
    client.enable_server_certificate_verification(true);
    auto health = client.Get("/v1/sys/health");
    ASSERT_TRUE(health) << httplib::to_string(health.error());
    EXPECT_EQ(health->status, 200);
  }
  rotor::testing::remove_test_pki(pki);
}

// A write with reset-after-write: the client gets no complete answer, yet the write happened.
TEST(VaultSimulatorTest, ConnectionDroppedAfterWriteWasApplied) {
  VaultSimulatorOptions options;
  VaultFaults faults;
  faults.enabled = true;
  faults.reset_after_write_rate = 1.0;
  options.vault.faults = faults;
  VaultSimulator simulator(options);
  httplib::Client client("127.0.0.1", simulator.port());
  auto written = client.Post("/v1/secret/data/a", token_headers(), R"({"data":{"k":"v"}})",
                             "application/json");
  EXPECT_FALSE(written);  // truncated answer
  simulator.core().set_faults_enabled(false);
  auto read = client.Get("/v1/secret/data/a", token_headers());
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(json::parse(read->body)["data"]["metadata"]["version"], 1);
}

// A second simulator cannot take a port in use; stop() is idempotent.
TEST(VaultSimulatorTest, PortInUseAndStop) {
  VaultSimulator first(VaultSimulatorOptions{});
  VaultSimulatorOptions same;
  same.port = first.port();
  EXPECT_THROW(VaultSimulator{same}, std::runtime_error);
  first.stop();
  first.stop();
}

}  // namespace
}  // namespace rotor::sim
