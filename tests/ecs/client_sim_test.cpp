// EcsClient against the ECS simulator (sim/ecs) over loopback HTTPS with signature and token
// checks on, both flavors. Besides the answers, each test checks the simulator's recorded state:
// a call the client calls Rejected must not have changed any password (the safety that the
// rotation protocol builds on); an Accepted one must have.
#include <gtest/gtest.h>

#include <algorithm>

#include "ecs/client.h"
#include "http/curl_transport.h"
#include "sim/ecs/simulator.h"
#include "tests/support/log_capture.h"
#include "tests/support/manual_clock.h"
#include "tests/support/seeded_random.h"
#include "tests/support/test_tls.h"

namespace rotor::ecs {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kAk = "SIMCLIENTAK0001";
constexpr std::string_view kSk = "sim-client-secret-key-0001";
constexpr std::string_view kIamPassword = "Sim-Iam-Pa55word!";
constexpr std::string_view kProject = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";

bool history_has(const sim::ServerSnapshot& server, std::string_view password) {
  return std::any_of(server.history.begin(), server.history.end(),
                     [&](const sim::PasswordRecord& r) { return r.password == password; });
}

class EcsSimTest : public ::testing::Test {
 protected:
  void start(sim::Flavor flavor, std::size_t fleet = 5) {
    pki_ = testing::make_test_pki();
    sim::EcsSimulatorOptions options;
    options.tls = sim::TlsFiles{pki_.server_cert.string(), pki_.server_key.string()};
    options.flavor = flavor;
    options.project_id = std::string(kProject);
    options.access_keys = {{std::string(kAk), std::string(kSk)}};
    options.iam_users = {{"dom", "rotor", std::string(kIamPassword)}};
    options.fleet.count = fleet;
    options.fleet.no_plugin_share = 0.0;
    options.faults.hold = 2000ms;
    options.clock = &clock_;
    options.threads = 8;
    sim_ = std::make_unique<sim::EcsSimulator>(std::move(options));
    port_ = sim_->start();
    http::CurlOptions curl;
    curl.proxy = "";
    curl.ca_file = pki_.ca_cert;
    curl.connect_timeout = 2s;
    transport_ = std::make_unique<http::CurlTransport>(curl);
  }
  void TearDown() override {
    transport_.reset();  // close kept-alive connections first: the simulator stops at once
    if (sim_) {
      sim_->stop();
    }
    testing::remove_test_pki(pki_);
    for (const auto secret : {kSk, kIamPassword}) {
      EXPECT_FALSE(logs_.contains(secret));
    }
    for (const auto& password : passwords_) {
      EXPECT_FALSE(logs_.contains(password)) << "a password reached the log";
    }
  }

  std::unique_ptr<EcsClient> client(Flavor flavor, AuthMode auth = AuthMode::AkSk,
                                    int attempts = 1) {
    CloudConfig config;
    config.name = "sim";
    config.flavor = flavor;
    config.project_id = std::string(kProject);
    config.ecs_endpoint = fmt::format("https://127.0.0.1:{}", port_);
    config.iam_endpoint = fmt::format("https://127.0.0.1:{}/v3", port_);
    config.auth = auth;
    config.aksk.access_key = std::string(kAk);
    config.aksk.secret_key = Secret::from(kSk);
    config.iam.user = "rotor";
    config.iam.domain = "dom";
    config.iam.password = Secret::from(kIamPassword);
    config.limits.retry.max_attempts = attempts;
    config.limits.max_batch = 2;
    config.limits.page_size = 2;
    config.limits.request_timeout = 400ms;
    return std::make_unique<EcsClient>(std::move(config), *transport_, clock_, random_);
  }
  Secret new_password(std::string_view tag) {
    passwords_.push_back(fmt::format("Sim-{}-Pw!{}", tag, passwords_.size()));
    return Secret::from(passwords_.back());
  }
  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const auto& server : sim_->servers()) {
      out.push_back(server.id);
    }
    return out;
  }
  // The protocol's safety: Rejected ⇒ not applied; Accepted ⇒ pending after restart.
  void expect_consistent(const std::string& id, const CallStatus& status,
                         std::string_view password) {
    if (status.error) {
      EXPECT_EQ(status.error->to_string().find(password), std::string::npos);
    }
    const auto server = sim_->server(id);
    ASSERT_TRUE(server) << id;
    if (status.outcome() == Outcome::Rejected) {
      EXPECT_FALSE(history_has(*server, password)) << id << " rejected but applied";
    }
    if (status.accepted() && server->plugin) {
      EXPECT_EQ(server->after_restart_password, password) << id;
    }
  }

  testing::LogCapture logs_;
  testing::ManualClock clock_{std::chrono::system_clock::now()};
  testing::SeededRandom random_;
  testing::TestPki pki_;
  std::unique_ptr<sim::EcsSimulator> sim_;
  std::unique_ptr<http::CurlTransport> transport_;
  int port_ = 0;
  std::vector<std::string> passwords_;
};

// Listing over two-server pages, then a signed OTC single reset that becomes pending.
TEST_F(EcsSimTest, OtcListAndSingleReset) {
  start(sim::Flavor::Otc);
  auto ecs = client(Flavor::Otc);
  auto servers = ecs->list_servers();
  ASSERT_TRUE(servers) << servers.error().to_string();
  ASSERT_EQ(servers->size(), 5U);
  for (const auto& server : *servers) {
    EXPECT_TRUE(server.os_type == "Linux" || server.os_type == "Windows") << server.os_type;
    EXPECT_FALSE(server.name.empty());
    // One fixed address in the simulated VPC, the same in every listing.
    ASSERT_EQ(server.addresses.size(), 1U);
    EXPECT_TRUE(server.addresses[0].starts_with("192.168.")) << server.addresses[0];
  }
  auto again = ecs->list_servers();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->front().addresses, servers->front().addresses);
  const Secret password = new_password("otc");
  const std::string id = servers->front().id;
  auto result = ecs->reset_password(id, password);
  ASSERT_TRUE(result.accepted()) << result.error->to_string();
  expect_consistent(id, result, password.reveal());
  EXPECT_NE(sim_->server(id)->current_password, password.reveal());  // only after a restart
}

// Huawei: v1 single reset, dry run and chunked batch reset, reboot job making it effective.
TEST_F(EcsSimTest, HuaweiBatchResetAndReboot) {
  start(sim::Flavor::Huawei);
  auto ecs = client(Flavor::Huawei);
  const auto all = ids();
  const Secret single = new_password("single");
  EXPECT_TRUE(ecs->reset_password(all[0], single).accepted());
  expect_consistent(all[0], ecs->reset_password(all[0], single), single.reveal());

  auto dry = ecs->batch_reset_password(all, nullptr, true);
  for (const auto& server : dry.servers) {
    EXPECT_TRUE(server.status.accepted()) << server.status.error->to_string();
  }
  const Secret shared = new_password("batch");
  auto batch = ecs->batch_reset_password(all, &shared, false);
  EXPECT_EQ(batch.requests, 3U);  // 5 servers, max_batch 2
  ASSERT_EQ(batch.servers.size(), all.size());
  for (const auto& server : batch.servers) {
    EXPECT_TRUE(server.status.accepted()) << server.server_id;
    expect_consistent(server.server_id, server.status, shared.reveal());
  }

  auto job = ecs->reboot(std::vector<std::string>{all[1]}, RebootType::Soft);
  ASSERT_TRUE(job.status.accepted()) << job.status.error->to_string();
  auto done = ecs->wait_for_job(job.job_id, 1s, 5min);
  ASSERT_TRUE(done) << done.error().to_string();
  EXPECT_EQ(done->state, JobState::Success);
  EXPECT_EQ(sim_->server(all[1])->current_password, shared.reveal());
}

// A batch naming a server that does not exist: that one is rejected for good, and whatever the
// verdict of the others, no rejected server got the password.
TEST_F(EcsSimTest, BatchWithMissingServerIsPerServer) {
  start(sim::Flavor::Huawei, 2);
  auto ecs = client(Flavor::Huawei);
  std::vector<std::string> targets = ids();
  targets.push_back("00000000-0000-0000-0000-000000000000");
  const Secret password = new_password("partial");
  auto result = ecs->batch_reset_password(targets, &password, false);
  ASSERT_EQ(result.servers.size(), 3U);
  EXPECT_EQ(result.servers[2].status.verdict, Verdict::RejectedFinal);
  for (std::size_t i = 0; i < 2; ++i) {
    expect_consistent(result.servers[i].server_id, result.servers[i].status, password.reveal());
  }
}

// The reset-flag probe tells servers with and without the plug-in apart.
TEST_F(EcsSimTest, ResetFlagProbe) {
  start(sim::Flavor::Otc, 1);
  sim::ServerSpec spec;
  spec.plugin = false;
  const std::string without = sim_->add_server(spec);
  auto ecs = client(Flavor::Otc);
  EXPECT_EQ(ecs->reset_supported(ids().front() == without ? ids().back() : ids().front()), true);
  EXPECT_EQ(ecs->reset_supported(without), false);
}

// Tag query on both flavors' paths.
TEST_F(EcsSimTest, TagQueryFindsTaggedServers) {
  start(sim::Flavor::Otc, 3);
  sim::ServerSpec spec;
  spec.tags = {"rotor-test=yes"};
  const std::string tagged = sim_->add_server(spec);
  auto ecs = client(Flavor::Otc);
  const std::vector<TagFilter> filter = {{"rotor-test", {"yes"}}};
  auto found = ecs->servers_by_tags(filter);
  ASSERT_TRUE(found) << found.error().to_string();
  ASSERT_EQ(found->size(), 1U);
  EXPECT_EQ(found->front().id, tagged);
}

// Injected faults map to the right verdicts, and the simulator's state agrees with them.
TEST_F(EcsSimTest, FaultsGiveSafeVerdicts) {
  start(sim::Flavor::Otc, 1);
  auto ecs = client(Flavor::Otc);
  const std::string id = ids().front();
  // A connection reset on a reused connection may be retried by libcurl itself for an
  // idempotent reset (then the answer is the retry's: Accepted), so resets allow either verdict.
  struct Allowed {
    sim::FaultClass fault;
    std::vector<Verdict> verdicts;
  };
  for (const auto& c :
       {Allowed{sim::FaultClass::Throttle, {Verdict::RejectedTransient}},
        Allowed{sim::FaultClass::ServerError, {Verdict::Unknown}},
        Allowed{sim::FaultClass::ServerErrorAfter, {Verdict::Unknown}},
        Allowed{sim::FaultClass::ResetBefore, {Verdict::Unknown, Verdict::Accepted}},
        Allowed{sim::FaultClass::ResetAfter, {Verdict::Unknown, Verdict::Accepted}},
        Allowed{sim::FaultClass::TimeoutBefore, {Verdict::Unknown}},
        Allowed{sim::FaultClass::TimeoutAfter, {Verdict::Unknown}}}) {
    sim_->force_fault({c.fault, "PUT", "os-reset-password", 1});
    const Secret password = new_password(sim::to_string(c.fault));
    auto result = ecs->reset_password(id, password);
    EXPECT_NE(std::find(c.verdicts.begin(), c.verdicts.end(), result.verdict), c.verdicts.end())
        << sim::to_string(c.fault) << " " << to_string(result.verdict) << " "
        << (result.error ? result.error->to_string() : "");
    expect_consistent(id, result, password.reveal());
    if (sim::applies_change(c.fault)) {
      EXPECT_TRUE(history_has(*sim_->server(id), password.reveal())) << sim::to_string(c.fault);
    }
  }
}

// A reboot (not idempotent) whose connection is reset after the simulator acted is Unknown:
// neither the client nor libcurl re-sends it.
TEST_F(EcsSimTest, ResetAfterRebootIsUnknownAndNotResent) {
  start(sim::Flavor::Huawei, 1);
  auto ecs = client(Flavor::Huawei, AuthMode::AkSk, 3);
  const std::vector<std::string> target = ids();
  ASSERT_TRUE(ecs->list_servers());  // leaves a kept-alive connection behind
  sim_->force_fault({sim::FaultClass::ResetAfter, "POST", "cloudservers/action", 1});
  auto job = ecs->reboot(target, RebootType::Hard);
  EXPECT_EQ(job.status.verdict, Verdict::Unknown);
  EXPECT_EQ(job.status.attempts, 1);
  const auto stats = sim_->stats();
  std::uint64_t sent = 0;
  for (const auto& [route, statuses] : stats.by_route) {
    if (route.find("cloudservers/action") != std::string::npos) {
      for (const auto& [status, count] : statuses) {
        sent += count;
      }
    }
  }
  EXPECT_LE(sent, 1U);  // the simulator saw the reboot once (or counted no status for it)
  EXPECT_EQ(stats.faults.count("reset_after") == 1 ? stats.faults.at("reset_after") : 0U, 1U);
}

// With retries, an unknown outcome is resolved by resending the same password.
TEST_F(EcsSimTest, RetriesResolveUnknownWithTheSamePassword) {
  start(sim::Flavor::Otc, 1);
  auto ecs = client(Flavor::Otc, AuthMode::AkSk, 3);
  const std::string id = ids().front();
  sim_->force_fault({sim::FaultClass::ResetAfter, "PUT", "os-reset-password", 1});
  sim_->force_fault({sim::FaultClass::Throttle, "PUT", "os-reset-password", 1});
  const Secret password = new_password("retry");
  auto result = ecs->reset_password(id, password);
  EXPECT_TRUE(result.accepted()) << (result.error ? result.error->to_string() : "");
  EXPECT_EQ(result.attempts, 3);
  expect_consistent(id, result, password.reveal());
}

// Token mode against the simulator's IAM; a wrong SK is refused and changes nothing.
TEST_F(EcsSimTest, TokenModeAndWrongSecretKey) {
  start(sim::Flavor::Huawei, 1);
  const std::string id = ids().front();
  auto token_client = client(Flavor::Huawei, AuthMode::Token);
  const Secret password = new_password("token");
  auto result = token_client->reset_password(id, password);
  ASSERT_TRUE(result.accepted()) << result.error->to_string();

  CloudConfig bad;
  bad.flavor = Flavor::Huawei;
  bad.project_id = std::string(kProject);
  bad.ecs_endpoint = fmt::format("https://127.0.0.1:{}", port_);
  bad.aksk.access_key = std::string(kAk);
  bad.aksk.secret_key = Secret::from("definitely-not-the-SK");
  bad.limits.retry.max_attempts = 1;
  EcsClient wrong(std::move(bad), *transport_, clock_, random_);
  const Secret other = new_password("wrong-sk");
  auto refused = wrong.reset_password(id, other);
  EXPECT_EQ(refused.verdict, Verdict::RejectedFinal);
  EXPECT_EQ(refused.error->code(), ErrorCode::Unauthorized);
  expect_consistent(id, refused, other.reveal());
}

}  // namespace
}  // namespace rotor::ecs
