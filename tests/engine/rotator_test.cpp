// The rotation protocol against both simulators, in-process over loopback HTTP, with a manual
// clock shared by everything (back-off waits take no time).
#include "engine/rotator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <set>

#include "http/curl_transport.h"
#include "password/validator.h"
#include "sim/ecs/simulator.h"
#include "sim/vault/simulator.h"
#include "tests/support/log_capture.h"
#include "tests/support/manual_clock.h"
#include "tests/support/seeded_random.h"

namespace rotor::engine {
namespace {

constexpr const char* kInitial = "Initial-Passw0rd";

struct SimulatedCrash {
  Step step;
};

class RotatorTest : public ::testing::Test {
 protected:
  RotatorTest() {
    sim::EcsSimulatorOptions ecs_options;
    ecs_options.access_keys = {{"AKTEST", "sk-test-secret"}};
    ecs_options.clock = &clock_;
    ecs_sim_ = std::make_unique<sim::EcsSimulator>(std::move(ecs_options));
    ecs_sim_->start();

    sim::VaultSimulatorOptions vault_options;
    vault_options.clock = &clock_;
    vault_sim_ = std::make_unique<sim::VaultSimulator>(std::move(vault_options));

    ecs::CloudConfig cloud;
    cloud.name = "test";
    cloud.flavor = ecs::Flavor::Otc;
    cloud.region = "eu-de";
    cloud.project_id = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";
    cloud.ecs_endpoint = ecs_sim_->base_url();
    cloud.iam_endpoint = ecs_sim_->base_url() + "/v3";
    cloud.aksk.access_key = "AKTEST";
    cloud.aksk.secret_key = Secret::from("sk-test-secret");
    cloud.limits.requests_per_second = 10000;
    cloud.limits.burst = 10000;
    cloud.limits.request_timeout = std::chrono::milliseconds(2000);
    cloud.limits.retry.max_attempts = 1;  // the engine's own loop retries
    ecs_ = std::make_unique<ecs::EcsClient>(std::move(cloud), transport_, clock_, random_);

    vault::VaultConfig vault_config;
    vault_config.address = vault_sim_->address();
    vault_ = std::make_unique<vault::VaultClient>(
        vault_config, vault::TokenAuth{Secret::from(vault_sim_->core().root_token())}, transport_,
        clock_, random_);
    EXPECT_TRUE(vault_->start().has_value());
    store_ = std::make_unique<RecordStore>(*vault_);
    rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_);

    policy_.name = "linux-prod";
    policy_.password = password::Policy::for_os(password::OsFamily::Linux, 20);
    policy_.backoff_initial = std::chrono::milliseconds(100);
  }

  Target add_server(sim::OsType os = sim::OsType::Linux, bool plugin = true,
                    std::string status = "ACTIVE") {
    sim::ServerSpec spec;
    spec.os_type = os;
    spec.plugin = plugin;
    spec.status = status;
    spec.password = kInitial;
    const std::string id = ecs_sim_->add_server(spec);
    Target target;
    target.server.id = id;
    target.server.name = ecs_sim_->server(id)->name;
    target.server.os_type = os == sim::OsType::Windows ? "Windows" : "Linux";
    target.server.status = status;
    target.vault_path = "ecs/test/" + id;
    return target;
  }

  ServerRecord record_of(const Target& target) {
    auto loaded = store_->load(target.vault_path);
    EXPECT_TRUE(loaded.has_value());
    return loaded ? std::move(loaded->record) : ServerRecord{};
  }

  // I1: every password the server accepts now or after its next restart is in its record
  // (the operator's initial password excepted: Rotor never knew it).
  void expect_no_lockout(const Target& target) {
    const auto snapshot = ecs_sim_->server(target.server.id);
    ASSERT_TRUE(snapshot.has_value());
    const ServerRecord record = record_of(target);
    std::set<std::string> in_vault;
    for (const Secret* s :
         {&record.password, &record.previous_password, &record.pending_password}) {
      if (!s->empty()) {
        in_vault.emplace(s->reveal());
      }
    }
    for (const auto& s : record.earlier) {
      in_vault.emplace(s.reveal());
    }
    for (const auto& accepted : {snapshot->current_password, snapshot->after_restart_password}) {
      if (accepted != kInitial) {
        EXPECT_TRUE(in_vault.count(accepted) == 1)
            << "server " << target.server.id << " accepts a password that is not in Vault";
      }
    }
  }

  testing::ManualClock clock_;
  testing::SeededRandom random_{11};
  password::Generator generator_{random_};
  // The simulators outlive the transport, so its idle keep-alive connections are closed before
  // the servers stop (else each server waits out its keep-alive timeout).
  std::unique_ptr<sim::EcsSimulator> ecs_sim_;
  std::unique_ptr<sim::VaultSimulator> vault_sim_;
  http::CurlTransport transport_;
  std::unique_ptr<ecs::EcsClient> ecs_;
  std::unique_ptr<vault::VaultClient> vault_;
  std::unique_ptr<RecordStore> store_;
  std::unique_ptr<Rotator> rotator_;
  RotationPolicy policy_;
};

// A first rotation stores the password, sets it, and leaves the server awaiting its restart;
// after the restart the server accepts exactly the password in Vault. Passwords are unique (I2).
TEST_F(RotatorTest, UniqueRotationOfAFleet) {
  std::vector<Target> targets;
  for (int i = 0; i < 6; ++i) {
    targets.push_back(add_server(i % 2 == 0 ? sim::OsType::Linux : sim::OsType::Windows));
  }
  std::set<std::string> passwords;
  for (const auto& target : targets) {
    const Report report = rotator_->rotate(policy_, target);
    EXPECT_EQ(report.outcome, Outcome::Rotated) << report.detail;
    EXPECT_EQ(report.state, State::AwaitingRestart);
    expect_no_lockout(target);
    const ServerRecord record = record_of(target);
    EXPECT_EQ(record.username, target.server.os_type == "Windows" ? "Administrator" : "root");
    EXPECT_TRUE(record.pending_password.empty());
    EXPECT_EQ(ecs_sim_->server(target.server.id)->after_restart_password, record.password.reveal());
    passwords.emplace(record.password.reveal());
    ASSERT_TRUE(ecs_sim_->restart_server(target.server.id));
    EXPECT_EQ(ecs_sim_->server(target.server.id)->current_password, record.password.reveal());
  }
  EXPECT_EQ(passwords.size(), targets.size());
}

// Two rotations without a restart keep every password the server may still accept.
TEST_F(RotatorTest, RotationsWithoutRestartKeepOlderPasswords) {
  const Target target = add_server();
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Rotated);
  const std::string first(record_of(target).password.reveal());
  ASSERT_TRUE(ecs_sim_->restart_server(target.server.id));  // now accepts `first`
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Rotated);
  const std::string second(record_of(target).password.reveal());
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Rotated);  // no restart between
  const ServerRecord record = record_of(target);
  EXPECT_EQ(record.previous_password.reveal(), second);
  ASSERT_EQ(record.earlier.size(), 1U);
  EXPECT_EQ(record.earlier[0].reveal(), first);
  expect_no_lockout(target);
  // A fourth rotation without a confirmed restart would need a third older password: refused.
  policy_.max_unconfirmed_restarts = 2;
  const Report refused = rotator_->rotate(policy_, target);
  EXPECT_EQ(refused.outcome, Outcome::Skipped);
  EXPECT_THAT(refused.detail, ::testing::HasSubstr("without a confirmed restart"));
}

// A crash (kill -9) after any step leaves a record from which the next run resumes with the
// same password, and I1 holds at the moment of the crash and afterwards.
TEST_F(RotatorTest, CrashAfterEveryStepResumes) {
  for (Step crash_at : {Step::Read, Step::PendingWritten, Step::ResetSent, Step::Committed}) {
    const Target target = add_server();
    rotator_->set_failpoint([crash_at](Step step, const std::string&) {
      if (step == crash_at) {
        throw SimulatedCrash{step};
      }
    });
    EXPECT_THROW(rotator_->rotate(policy_, target), SimulatedCrash);
    expect_no_lockout(target);
    const ServerRecord at_crash = record_of(target);
    const std::string pending(at_crash.pending_password.reveal());

    rotator_->set_failpoint(nullptr);  // the restarted process
    const Report report = rotator_->rotate(policy_, target);
    EXPECT_EQ(report.outcome, crash_at == Step::Committed ? Outcome::Rotated : Outcome::Rotated)
        << report.detail;
    expect_no_lockout(target);
    const ServerRecord after = record_of(target);
    if (!pending.empty()) {
      EXPECT_TRUE(report.resumed);
      EXPECT_EQ(after.password.reveal(), pending) << "a resumed rotation must keep its password";
    }
    EXPECT_EQ(ecs_sim_->server(target.server.id)->after_restart_password, after.password.reveal());
  }
}

// An unknown outcome (the reset was applied, the answer lost) keeps the pending password; the
// next run sends the same password again and commits it.
TEST_F(RotatorTest, UnknownOutcomeKeepsTheSamePassword) {
  const Target target = add_server();
  policy_.push_attempts = 2;
  // Applied, then a 502: the client cannot know whether the password was set.
  ecs_sim_->force_fault({sim::FaultClass::ServerErrorAfter, "PUT", "os-reset-password", 2});
  const Report first = rotator_->rotate(policy_, target);
  EXPECT_EQ(first.outcome, Outcome::StillPending) << first.detail;
  EXPECT_EQ(first.attempts, 2);
  expect_no_lockout(target);
  const ServerRecord pending = record_of(target);
  ASSERT_EQ(pending.state, State::Pending);
  EXPECT_EQ(pending.unknown_outcomes, 2);
  const std::string password(pending.pending_password.reveal());
  EXPECT_EQ(ecs_sim_->server(target.server.id)->after_restart_password, password);

  const Report second = rotator_->rotate(policy_, target);
  EXPECT_EQ(second.outcome, Outcome::Rotated) << second.detail;
  EXPECT_TRUE(second.resumed);
  EXPECT_EQ(record_of(target).password.reveal(), password);
  expect_no_lockout(target);
}

// A server that is gone is a definite failure: the pending password is dropped, the error kept,
// and after three such cycles the server is quarantined.
TEST_F(RotatorTest, DefiniteRefusalDropsPendingThenQuarantines) {
  const Target target = add_server();
  ASSERT_TRUE(ecs_sim_->delete_server(target.server.id));
  policy_.probe_plugin = false;
  for (int cycle = 1; cycle <= 3; ++cycle) {
    const Report report = rotator_->rotate(policy_, target);
    EXPECT_EQ(report.outcome, Outcome::Failed);
    const ServerRecord record = record_of(target);
    EXPECT_TRUE(record.pending_password.empty());
    EXPECT_EQ(record.state, State::Unrotated);
    EXPECT_EQ(record.failed_cycles, cycle);
    EXPECT_THAT(record.last_error, ::testing::HasSubstr("404"));
  }
  EXPECT_THAT(record_of(target).quarantined, ::testing::HasSubstr("rotor resume"));
  EXPECT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Skipped);
}

// A password that may have been set (an earlier call's outcome was unknown) is never dropped,
// even when the cloud later refuses it for good; the refusals still lead to quarantine.
TEST_F(RotatorTest, MaybeAppliedPasswordIsKeptThroughRefusals) {
  const Target target = add_server();
  policy_.push_attempts = 1;
  ecs_sim_->force_fault({sim::FaultClass::ServerErrorAfter, "PUT", "os-reset-password", 1});
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::StillPending);
  const std::string pending(record_of(target).pending_password.reveal());
  ASSERT_FALSE(pending.empty());
  ASSERT_TRUE(ecs_sim_->delete_server(target.server.id));  // from now on: 404, refused for good
  for (int cycle = 1; cycle <= 3; ++cycle) {
    EXPECT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Failed);
    const ServerRecord record = record_of(target);
    EXPECT_EQ(record.pending_password.reveal(), pending) << "cycle " << cycle;
    EXPECT_EQ(record.failed_cycles, cycle);
  }
  EXPECT_THAT(record_of(target).quarantined, ::testing::HasSubstr("may already have set"));
  EXPECT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Skipped);
}

// A server without the reset plug-in would silently keep its password: it is quarantined before
// any reset is sent.
TEST_F(RotatorTest, MissingPluginIsQuarantinedBeforeAnyReset) {
  const Target target = add_server(sim::OsType::Linux, false);
  const Report report = rotator_->rotate(policy_, target);
  EXPECT_EQ(report.outcome, Outcome::Skipped);
  EXPECT_THAT(report.detail, ::testing::HasSubstr("CloudResetPwdAgent"));
  EXPECT_TRUE(ecs_sim_->server(target.server.id)->history.empty());
  EXPECT_FALSE(record_of(target).quarantined.empty());
}

// Another writer between read and write loses nothing: the rotator re-reads and goes on.
TEST_F(RotatorTest, CasConflictRereads) {
  const Target target = add_server();
  int reads = 0;
  rotator_->set_failpoint([&](Step step, const std::string&) {
    if (step == Step::Read && ++reads == 1) {
      ServerRecord other;
      other.policy = "someone-else";
      ASSERT_TRUE(store_->save(target.vault_path, other, 0).has_value());
    }
  });
  const Report report = rotator_->rotate(policy_, target);
  EXPECT_EQ(report.outcome, Outcome::Rotated) << report.detail;
  EXPECT_GE(reads, 2);
  expect_no_lockout(target);
}

// Shared mode: one batch call, one password for the group, valid for both OSes; a server that is
// gone fails alone.
TEST_F(RotatorTest, SharedModeOneBatch) {
  policy_.mode = Mode::Shared;
  std::vector<Target> targets;
  for (int i = 0; i < 5; ++i) {
    targets.push_back(add_server(i % 2 == 0 ? sim::OsType::Linux : sim::OsType::Windows));
  }
  const auto reports = rotator_->rotate_shared(policy_, targets);
  ASSERT_EQ(reports.size(), targets.size());
  std::set<std::string> passwords;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    EXPECT_EQ(reports[i].outcome, Outcome::Rotated) << reports[i].detail;
    expect_no_lockout(targets[i]);
    passwords.emplace(record_of(targets[i]).password.reveal());
  }
  EXPECT_EQ(passwords.size(), 1U);
  const auto policy =
      password::Policy::for_os(password::OsFamily::Windows, 20, password::ApiProfile::EcsV1);
  EXPECT_TRUE(password::complies(*passwords.begin(), policy));
}

// Nothing a rotation handles reaches a log line: not the new passwords, not the SK, not the token.
TEST_F(RotatorTest, NoSecretInLogs) {
  testing::LogCapture capture;
  const Target a = add_server();
  const Target b = add_server(sim::OsType::Windows);
  ecs_sim_->force_fault({sim::FaultClass::ResetAfter, "PUT", "os-reset-password", 1});
  rotator_->rotate(policy_, a);
  rotator_->rotate(policy_, b);
  const std::string logs = capture.joined();
  EXPECT_FALSE(logs.empty());
  for (const auto& server : ecs_sim_->servers()) {
    for (const auto& entry : server.history) {
      EXPECT_EQ(logs.find(entry.password), std::string::npos);
    }
  }
  EXPECT_EQ(logs.find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(logs.find(vault_sim_->core().root_token()), std::string::npos);
}

}  // namespace
}  // namespace rotor::engine
