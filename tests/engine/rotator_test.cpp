// The rotation protocol against both simulators, in-process over loopback HTTP, with a manual
// clock shared by everything (back-off waits take no time).
#include "engine/rotator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "http/curl_transport.h"
#include "password/validator.h"
#include "sim/ecs/simulator.h"
#include "sim/vault/simulator.h"
#include "tests/support/log_capture.h"
#include "tests/support/manual_clock.h"
#include "tests/support/record_passwords.h"
#include "tests/support/seeded_random.h"

namespace rotor::engine {
namespace {

constexpr const char* kInitial = "Initial-Passw0rd";

struct SimulatedCrash {
  Step step;
};

// A verification hook runner that answers from a script and records what it was given.
class FakeVerifier final : public Verifier {
 public:
  Result<void> verify(const VerifyHook& hook, const VerifyContext& context,
                      const Secret& password) override {
    std::lock_guard lock(mutex_);
    commands.push_back(hook.command);
    contexts.push_back(context);
    passwords.emplace_back(password.reveal());
    if (failures > 0) {
      --failures;
      return fail(ErrorCode::PermissionDenied,
                  "the verification hook /usr/lib/rotor/verify-ssh exited with status 1");
    }
    return {};
  }

  int failures = 0;  // calls that fail before they succeed
  std::vector<std::vector<std::string>> commands;
  std::vector<VerifyContext> contexts;
  std::vector<std::string> passwords;

 private:
  std::mutex mutex_;
};

// Hands every request to `before` (which may answer it instead of the simulator), then to the
// real transport.
class InterceptingTransport final : public HttpTransport {
 public:
  using Hook = std::function<std::optional<Result<HttpResponse>>(const HttpRequest&)>;
  explicit InterceptingTransport(HttpTransport& inner) : inner_(inner) {}
  Result<HttpResponse> send(const HttpRequest& request) override {
    if (before) {
      if (auto answer = before(request)) {
        return std::move(*answer);
      }
    }
    return inner_.send(request);
  }
  Hook before;

 private:
  HttpTransport& inner_;
};

bool is_reset(const HttpRequest& request) {
  return request.method == HttpMethod::Put &&
         request.url.find("/os-reset-password") != std::string::npos;
}

// A definite validation refusal of a v2.1 reset, as OTC answers it.
Result<HttpResponse> bad_request() {
  HttpResponse response;
  response.status = 400;
  response.headers.set("Content-Type", "application/json");
  response.body.append(R"({"badRequest":{"code":400,"message":"Invalid password"}})");
  return response;
}

// Counts the requests under way at once, overall and per kind (the record reads, the plug-in
// probes, the pending writes before the batch reset, the commits after it), and holds the first
// `gate` requests of each kind until that many are under way together: a batch that runs its
// per-server steps side by side shows exactly `gate` at once, one that runs them one by one
// waits out the safety deadline and shows 1. No timing is measured.
class ConcurrencyProbe final : public HttpTransport {
 public:
  ConcurrencyProbe(HttpTransport& inner, std::size_t gate) : inner_(inner), gate_(gate) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    std::unique_lock lock(mutex_);
    const std::string kind = kind_of(request);
    if (kind == "reset") {
      reset_seen_ = true;
      pending_done_at_reset.push_back(kinds_["pending"].done);
      pending_active_at_reset.push_back(kinds_["pending"].active);
    }
    Kind* counted = kind.empty() ? nullptr : &kinds_[kind];
    most = std::max(most, ++active_);
    if (counted != nullptr) {
      counted->most = std::max(counted->most, ++counted->active);
      if (armed && kind != "reset" && counted->arrived < gate_) {  // one reset per batch
        ++counted->arrived;
        changed_.notify_all();
        changed_.wait_for(lock, std::chrono::seconds(10),
                          [&] { return counted->arrived >= gate_; });
      }
    }
    lock.unlock();
    auto answer = before ? before(request) : std::nullopt;
    if (!answer) {
      answer = inner_.send(request);
    }
    lock.lock();
    --active_;
    if (counted != nullptr) {
      --counted->active;
      ++counted->done;
    }
    return std::move(*answer);
  }

  // The most requests of `kind` under way at once.
  std::size_t most_of(const std::string& kind) {
    const std::lock_guard lock(mutex_);
    return kinds_[kind].most;
  }

  bool armed = false;  // set once the fixture is built: only the batch's requests are held
  InterceptingTransport::Hook before;  // may answer a request instead of the inner transport
  std::size_t most = 0;                // every request, gated or not
  std::vector<std::size_t> pending_done_at_reset;    // pending writes finished at each reset
  std::vector<std::size_t> pending_active_at_reset;  // pending writes still under way then

 private:
  struct Kind {
    std::size_t active = 0;
    std::size_t most = 0;
    std::size_t arrived = 0;  // held so far (at most the gate)
    std::size_t done = 0;
  };
  std::string kind_of(const HttpRequest& request) const {
    const bool record = request.url.find("/data/ecs/test/") != std::string::npos;
    if (request.url.find("/os-reset-passwords") != std::string::npos) {
      return "reset";
    }
    if (request.url.find("/os-resetpwd-flag") != std::string::npos) {
      return "probe";
    }
    if (record && request.method == HttpMethod::Get) {
      return "read";
    }
    if (record) {
      return reset_seen_ ? "commit" : "pending";
    }
    return {};
  }

  HttpTransport& inner_;
  const std::size_t gate_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Kind> kinds_;
  std::size_t active_ = 0;
  bool reset_seen_ = false;
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

    ecs_ = make_ecs(transport_);
    vault_ = make_vault(transport_);
    store_ = std::make_unique<RecordStore>(*vault_);
    rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_);

    policy_.name = "linux-prod";
    policy_.password = password::Policy::for_os(password::OsFamily::Linux, 20);
    policy_.backoff_initial = std::chrono::milliseconds(100);
  }

  std::unique_ptr<ecs::EcsClient> make_ecs(HttpTransport& transport,
                                           ecs::Flavor flavor = ecs::Flavor::Otc) {
    ecs::CloudConfig cloud;
    cloud.name = "test";
    cloud.flavor = flavor;
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
    return std::make_unique<ecs::EcsClient>(std::move(cloud), transport, clock_, random_);
  }

  std::unique_ptr<vault::VaultClient> make_vault(HttpTransport& transport) {
    vault::VaultConfig vault_config;
    vault_config.address = vault_sim_->address();
    auto vault = std::make_unique<vault::VaultClient>(
        vault_config, vault::TokenAuth{Secret::from(vault_sim_->core().root_token())}, transport,
        clock_, random_);
    EXPECT_TRUE(vault->start().has_value());
    return vault;
  }

  // A policy that reboots after the reset and verifies with the fake hook.
  void use_verification() {
    policy_.after_reset = AfterReset::RebootSoft;
    VerifyHook hook;
    hook.command = {"/usr/lib/rotor/verify-ssh", "--port", "22"};
    policy_.verify = hook;
    RotatorSeams seams;
    seams.verifier = &verifier_;
    rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_, seams);
  }

  std::size_t resets_sent(const Target& target) {
    return ecs_sim_->server(target.server.id)->history.size();
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
    const std::set<std::string> in_vault = rotor::testing::passwords_in(record);
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
  FakeVerifier verifier_;
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
// even when the cloud later refuses it for good: the first refusal keeps it pending, the same
// refusal again retires it into the chain of older passwords (still in Vault) and a fresh
// password is tried, which — never set — is dropped when refused. The failures quarantine.
TEST_F(RotatorTest, MaybeAppliedPasswordIsKeptThroughRefusals) {
  const Target target = add_server();
  policy_.push_attempts = 1;
  ecs_sim_->force_fault({sim::FaultClass::ServerErrorAfter, "PUT", "os-reset-password", 1});
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::StillPending);
  const std::string pending(record_of(target).pending_password.reveal());
  ASSERT_FALSE(pending.empty());
  ASSERT_TRUE(ecs_sim_->delete_server(target.server.id));  // from now on: 404, refused for good
  policy_.probe_plugin = false;

  const Report first = rotator_->rotate(policy_, target);
  EXPECT_EQ(first.outcome, Outcome::Failed);
  ServerRecord record = record_of(target);
  EXPECT_EQ(record.pending_password.reveal(), pending);
  EXPECT_EQ(record.failed_cycles, 1);

  const Report second = rotator_->rotate(policy_, target);
  EXPECT_EQ(second.outcome, Outcome::Failed);
  EXPECT_THAT(second.detail, ::testing::HasSubstr("retired"));
  record = record_of(target);
  EXPECT_TRUE(record.pending_password.empty()) << "the fresh password was never set: dropped";
  ASSERT_EQ(record.earlier.size(), 1U);
  EXPECT_EQ(record.earlier[0].reveal(), pending) << "the maybe-set password stays readable";
  EXPECT_EQ(record.failed_cycles, 2);

  const Report third = rotator_->rotate(policy_, target);
  EXPECT_EQ(third.outcome, Outcome::Failed);
  record = record_of(target);
  EXPECT_EQ(record.earlier.at(0).reveal(), pending);
  EXPECT_THAT(record.quarantined, ::testing::HasSubstr("rotor resume"));
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

// Shared mode keeps the same limit as unique mode: a server whose restarts went unconfirmed
// `max_unconfirmed_restarts` times is left out of the next batch, the others are rotated.
TEST_F(RotatorTest, SharedModeLeavesOutAServerWithTooManyUnconfirmedRestarts) {
  policy_.mode = Mode::Shared;
  policy_.max_unconfirmed_restarts = 2;
  const Target old_server = add_server();
  for (int round = 0; round < 3; ++round) {  // no confirmed restart in between
    const auto reports = rotator_->rotate_shared(policy_, std::vector<Target>{old_server});
    ASSERT_EQ(reports.at(0).outcome, Outcome::Rotated) << reports[0].detail;
  }
  // The server now holds the current password, the previous one and one older: a further
  // rotation would need a fourth. A server new to the group is still rotated in the same call.
  ASSERT_EQ(record_of(old_server).earlier.size(), 1U);
  const std::string kept(record_of(old_server).password.reveal());
  const std::vector<Target> targets = {old_server, add_server(sim::OsType::Windows)};
  const auto reports = rotator_->rotate_shared(policy_, targets);
  ASSERT_EQ(reports.size(), 2U);
  EXPECT_EQ(reports[0].outcome, Outcome::Skipped);
  EXPECT_THAT(reports[0].detail, ::testing::HasSubstr("without a confirmed restart"));
  EXPECT_EQ(record_of(old_server).password.reveal(), kept);  // untouched
  EXPECT_EQ(reports[1].outcome, Outcome::Rotated) << reports[1].detail;
  for (const auto& target : targets) {
    expect_no_lockout(target);
  }
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

// The verification path logs no password either: not when the hook says yes, not when it fails.
TEST_F(RotatorTest, NoSecretInVerificationLogs) {
  testing::LogCapture capture;
  use_verification();
  const Target a = add_server();
  const Target b = add_server(sim::OsType::Windows);
  rotator_->rotate(policy_, a);
  verifier_.failures = 1;
  rotator_->rotate(policy_, b);
  const std::string logs = capture.joined();
  EXPECT_THAT(logs, ::testing::HasSubstr("password verified"));
  EXPECT_THAT(logs, ::testing::HasSubstr("verification failed"));
  ASSERT_EQ(verifier_.passwords.size(), 2U);
  for (const auto& password : verifier_.passwords) {
    EXPECT_EQ(logs.find(password), std::string::npos);
  }
}

// With a hook, a server becomes current only after the confirmed reboot and the hook's yes; the
// hook gets the new password and the server's context, and older passwords are retired only then.
TEST_F(RotatorTest, VerifiedAfterConfirmedReboot) {
  use_verification();
  Target target = add_server();
  target.server.addresses = {"192.0.2.10", "2001:db8::10"};
  const Report report = rotator_->rotate(policy_, target);
  EXPECT_EQ(report.outcome, Outcome::Rotated) << report.detail;
  EXPECT_EQ(report.state, State::Current);
  EXPECT_FALSE(report.alert);
  const ServerRecord record = record_of(target);
  EXPECT_EQ(record.state, State::Current);
  EXPECT_FALSE(record.verified_at.empty());
  EXPECT_TRUE(record.restarted_at.empty());
  ASSERT_EQ(verifier_.passwords.size(), 1U);
  EXPECT_EQ(verifier_.passwords[0], record.password.reveal());
  EXPECT_EQ(ecs_sim_->server(target.server.id)->current_password, record.password.reveal());
  EXPECT_EQ(verifier_.contexts[0].server_id, target.server.id);
  EXPECT_EQ(verifier_.contexts[0].server_name, target.server.name);
  EXPECT_EQ(verifier_.contexts[0].username, "root");
  EXPECT_EQ(verifier_.contexts[0].policy, policy_.name);
  EXPECT_EQ(verifier_.contexts[0].rotation_id, record.rotation_id);
  EXPECT_EQ(verifier_.contexts[0].addresses,
            (std::vector<std::string>{"192.0.2.10", "2001:db8::10"}));  // ROTOR_ADDRESSES
  EXPECT_EQ(verifier_.commands[0], policy_.verify->command);
  expect_no_lockout(target);
}

// A failed verification keeps every older password, records the error, alerts, and is retried
// on the next run without a new reset; a later yes makes the server current.
TEST_F(RotatorTest, FailedVerificationKeepsPasswordsAndIsRetried) {
  use_verification();
  const Target target = add_server();
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Rotated);
  const std::string first(record_of(target).password.reveal());
  verifier_.failures = 2;
  const Report failed = rotator_->rotate(policy_, target);
  EXPECT_EQ(failed.outcome, Outcome::Failed);
  EXPECT_TRUE(failed.alert);
  EXPECT_EQ(failed.state, State::AwaitingRestart);
  EXPECT_THAT(failed.detail, ::testing::HasSubstr("exited with status 1"));
  ServerRecord record = record_of(target);
  EXPECT_EQ(record.state, State::AwaitingRestart);
  EXPECT_TRUE(record.awaiting_verification());
  EXPECT_EQ(record.previous_password.reveal(), first);
  EXPECT_THAT(record.last_error, ::testing::HasSubstr("verification failed"));
  EXPECT_EQ(record.failed_cycles, 1);
  EXPECT_EQ(record.metadata().count("unverified_since"), 1U);
  expect_no_lockout(target);
  const std::string second(record.password.reveal());
  const std::size_t resets = resets_sent(target);

  const Report again = rotator_->rotate(policy_, target);  // still failing
  EXPECT_EQ(again.outcome, Outcome::Failed);
  EXPECT_TRUE(again.resumed);
  EXPECT_EQ(resets_sent(target), resets) << "a retried verification sends no reset";
  EXPECT_EQ(record_of(target).failed_cycles, 2);

  const Report verified = rotator_->rotate(policy_, target);
  EXPECT_EQ(verified.outcome, Outcome::Rotated) << verified.detail;
  EXPECT_EQ(verified.state, State::Current);
  EXPECT_EQ(resets_sent(target), resets);
  record = record_of(target);
  EXPECT_EQ(record.state, State::Current);
  EXPECT_EQ(record.password.reveal(), second);
  EXPECT_EQ(record.failed_cycles, 0);
  EXPECT_TRUE(record.last_error.empty());
  EXPECT_EQ(verifier_.passwords.size(), 4U);
  expect_no_lockout(target);
}

// Verification failures in a row quarantine the server with the passwords kept; the resume
// path (reconcile) retries a verification too.
TEST_F(RotatorTest, VerificationFailuresQuarantine) {
  use_verification();
  const Target target = add_server();
  verifier_.failures = 10;
  EXPECT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Failed);
  EXPECT_EQ(rotator_->resume(policy_, target).outcome, Outcome::Failed);
  const Report third = rotator_->rotate(policy_, target);
  EXPECT_EQ(third.outcome, Outcome::Failed);
  EXPECT_THAT(third.detail, ::testing::HasSubstr("quarantined"));
  const ServerRecord record = record_of(target);
  EXPECT_THAT(record.quarantined, ::testing::HasSubstr("rotor resume"));
  EXPECT_FALSE(record.password.empty());
  EXPECT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Skipped);
  EXPECT_EQ(verifier_.passwords.size(), 3U);
  expect_no_lockout(target);
}

// A crash after the restart was recorded, or after the verdict, loses nothing: the next run
// verifies (again) and I1 holds throughout.
TEST_F(RotatorTest, CrashAroundVerificationResumes) {
  use_verification();
  for (Step crash_at : {Step::Rebooted, Step::Verified}) {
    const Target target = add_server();
    verifier_.failures = crash_at == Step::Verified ? 1 : 0;
    rotator_->set_failpoint([crash_at](Step step, const std::string&) {
      if (step == crash_at) {
        throw SimulatedCrash{step};
      }
    });
    EXPECT_THROW(rotator_->rotate(policy_, target), SimulatedCrash);
    expect_no_lockout(target);
    EXPECT_TRUE(record_of(target).awaiting_verification());
    rotator_->set_failpoint(nullptr);
    const std::size_t resets = resets_sent(target);
    const Report report = rotator_->rotate(policy_, target);
    EXPECT_EQ(report.outcome, Outcome::Rotated) << report.detail;
    EXPECT_EQ(record_of(target).state, State::Current);
    EXPECT_EQ(resets_sent(target), resets);
    expect_no_lockout(target);
  }
}

// Shared mode: after the batch's reboot each server is verified on its own; one that fails
// alerts alone and is verified again on its next run, without a new batch reset.
TEST_F(RotatorTest, SharedModeVerifiesEachServer) {
  use_verification();
  policy_.mode = Mode::Shared;
  std::vector<Target> targets;
  for (int i = 0; i < 3; ++i) {
    targets.push_back(add_server());
  }
  verifier_.failures = 1;  // the first server's verification fails
  const auto reports = rotator_->rotate_shared(policy_, targets);
  ASSERT_EQ(reports.size(), 3U);
  EXPECT_EQ(reports[0].outcome, Outcome::Failed);
  EXPECT_TRUE(reports[0].alert);
  for (std::size_t i = 1; i < targets.size(); ++i) {
    EXPECT_EQ(reports[i].outcome, Outcome::Rotated) << reports[i].detail;
    EXPECT_EQ(record_of(targets[i]).state, State::Current);
  }
  EXPECT_TRUE(record_of(targets[0]).awaiting_verification());
  for (const auto& target : targets) {
    expect_no_lockout(target);
  }
  const std::size_t resets = resets_sent(targets[0]);
  const auto again = rotator_->rotate_shared(policy_, std::span(targets.data(), 1));
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].outcome, Outcome::Rotated) << again[0].detail;
  EXPECT_TRUE(again[0].resumed);
  EXPECT_EQ(record_of(targets[0]).state, State::Current);
  EXPECT_EQ(resets_sent(targets[0]), resets);
  EXPECT_EQ(verifier_.passwords.size(), 4U);
  expect_no_lockout(targets[0]);
}

// A stopped server cannot be verified: with a hook it is not called current at commit.
TEST_F(RotatorTest, StoppedServerWithHookIsNotCurrent) {
  use_verification();
  const Target target = add_server(sim::OsType::Linux, true, "SHUTOFF");
  const Report report = rotator_->rotate(policy_, target);
  EXPECT_EQ(report.outcome, Outcome::Rotated) << report.detail;
  EXPECT_EQ(record_of(target).state, State::AwaitingRestart);
  EXPECT_TRUE(verifier_.passwords.empty());
  expect_no_lockout(target);
}

// A pending password that may have been set and is refused twice for the same reason is kept in
// the chain of older passwords and replaced by a fresh one, which the cloud accepts.
TEST_F(RotatorTest, PendingRefusedTwiceIsRetiredAndReplaced) {
  InterceptingTransport intercept(transport_);
  ecs_ = make_ecs(intercept);
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_);
  const Target target = add_server();
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Rotated);
  ASSERT_TRUE(ecs_sim_->restart_server(target.server.id));  // current: accepts the first one
  policy_.push_attempts = 1;
  ecs_sim_->force_fault({sim::FaultClass::ServerErrorAfter, "PUT", "os-reset-password", 1});
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::StillPending);
  const std::string maybe_set(record_of(target).pending_password.reveal());
  ASSERT_FALSE(maybe_set.empty());
  ASSERT_TRUE(ecs_sim_->restart_server(target.server.id));  // unseen: accepts it now

  int refusals = 2;
  intercept.before = [&](const HttpRequest& request) -> std::optional<Result<HttpResponse>> {
    if (is_reset(request) && refusals > 0) {
      --refusals;
      return bad_request();
    }
    return std::nullopt;
  };
  const Report first = rotator_->rotate(policy_, target);  // refused once: kept pending
  EXPECT_EQ(first.outcome, Outcome::Failed);
  EXPECT_EQ(record_of(target).pending_password.reveal(), maybe_set);
  EXPECT_EQ(record_of(target).last_refusal, "HTTP 400");
  expect_no_lockout(target);

  int retired_at = 0;
  rotator_->set_failpoint([&](Step step, const std::string&) {
    if (step == Step::Retired) {
      ++retired_at;
      const ServerRecord at = record_of(target);
      EXPECT_TRUE(at.pending_password.empty());
      ASSERT_FALSE(at.earlier.empty());
      EXPECT_EQ(at.earlier.front().reveal(), maybe_set);
      expect_no_lockout(target);
    }
  });
  const Report second = rotator_->rotate(policy_, target);  // refused again: retired, fresh one
  EXPECT_EQ(second.outcome, Outcome::Rotated) << second.detail;
  EXPECT_THAT(second.detail, ::testing::HasSubstr("retired"));
  EXPECT_EQ(retired_at, 1);
  const ServerRecord record = record_of(target);
  EXPECT_NE(record.password.reveal(), maybe_set);
  bool kept = false;
  for (const auto& older : record.earlier) {
    kept = kept || older.reveal() == maybe_set;
  }
  EXPECT_TRUE(kept || record.previous_password.reveal() == maybe_set)
      << "the retired password must stay until a restart is confirmed";
  EXPECT_EQ(record.state, State::AwaitingRestart);
  expect_no_lockout(target);
}

// A crash right after the retirement: the next run starts the fresh rotation, I1 holds.
TEST_F(RotatorTest, CrashAfterRetirementResumes) {
  InterceptingTransport intercept(transport_);
  ecs_ = make_ecs(intercept);
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_);
  const Target target = add_server();
  policy_.push_attempts = 1;
  ecs_sim_->force_fault({sim::FaultClass::ServerErrorAfter, "PUT", "os-reset-password", 1});
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::StillPending);
  const std::string maybe_set(record_of(target).pending_password.reveal());
  int refusals = 2;
  intercept.before = [&](const HttpRequest& request) -> std::optional<Result<HttpResponse>> {
    if (is_reset(request) && refusals > 0) {
      --refusals;
      return bad_request();
    }
    return std::nullopt;
  };
  EXPECT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Failed);
  rotator_->set_failpoint([](Step step, const std::string&) {
    if (step == Step::Retired) {
      throw SimulatedCrash{step};
    }
  });
  EXPECT_THROW(rotator_->rotate(policy_, target), SimulatedCrash);
  expect_no_lockout(target);
  rotator_->set_failpoint(nullptr);
  const Report report = rotator_->rotate(policy_, target);
  EXPECT_EQ(report.outcome, Outcome::Rotated) << report.detail;
  EXPECT_FALSE(report.resumed);
  const ServerRecord record = record_of(target);
  ASSERT_FALSE(record.earlier.empty());
  EXPECT_EQ(record.earlier.front().reveal(), maybe_set);
  expect_no_lockout(target);
}

// A 400 for a password that was never set is not retried until the policy's password settings
// (or the server's image) change; `rotor resume` (failed cycles back to 0) also lifts it.
TEST_F(RotatorTest, BadRequestIsNotRetriedUntilSettingsChange) {
  InterceptingTransport intercept(transport_);
  ecs_ = make_ecs(intercept);
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_);
  const Target target = add_server();
  int requests = 0;
  intercept.before = [&](const HttpRequest& request) -> std::optional<Result<HttpResponse>> {
    if (is_reset(request)) {
      ++requests;
      if (policy_.password.length == 20) {
        return bad_request();
      }
    }
    return std::nullopt;
  };
  EXPECT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Failed);
  ServerRecord record = record_of(target);
  EXPECT_TRUE(record.pending_password.empty());
  EXPECT_FALSE(record.refused_fingerprint.empty());
  EXPECT_EQ(record.refused_fingerprint.find(std::to_string(policy_.password.length)),
            std::string::npos);  // a hash, not the settings
  const Report skipped = rotator_->rotate(policy_, target);
  EXPECT_EQ(skipped.outcome, Outcome::Skipped);
  EXPECT_THAT(skipped.detail, ::testing::HasSubstr("HTTP 400"));
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(record_of(target).failed_cycles, 1) << "a skip is not another failure";

  // An operator's `rotor resume` resets the failed cycles: tried again (and refused again).
  record = record_of(target);
  record.failed_cycles = 0;
  ASSERT_TRUE(store_->save(target.vault_path, record, store_->load(target.vault_path)->version));
  EXPECT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::Failed);
  EXPECT_EQ(requests, 2);

  policy_.password.length = 24;  // the policy changed: tried again, accepted
  const Report rotated = rotator_->rotate(policy_, target);
  EXPECT_EQ(rotated.outcome, Outcome::Rotated) << rotated.detail;
  EXPECT_TRUE(record_of(target).refused_fingerprint.empty());
  expect_no_lockout(target);
}

// One rotation per server at a time inside a process: a second worker that asks while the first
// is inside the reset call is told so and does nothing; the first finishes.
TEST_F(RotatorTest, SingleFlightAcrossThreads) {
  InterceptingTransport intercept(transport_);
  ecs_ = make_ecs(intercept);
  InFlight in_flight;
  RotatorSeams seams;
  seams.in_flight = &in_flight;
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_, seams);
  Rotator other(*store_, *ecs_, generator_, clock_, random_, seams);  // e.g. another cloud's
  const Target target = add_server();

  std::mutex mutex;
  std::condition_variable changed;
  bool inside = false;
  bool release = false;
  intercept.before = [&](const HttpRequest& request) -> std::optional<Result<HttpResponse>> {
    if (is_reset(request)) {
      std::unique_lock lock(mutex);
      inside = true;
      changed.notify_all();
      changed.wait(lock, [&] { return release; });
    }
    return std::nullopt;
  };
  Report first;
  std::thread worker([&] { first = rotator_->rotate(policy_, target); });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return inside; });
  }
  EXPECT_TRUE(in_flight.busy("test/" + target.server.id));
  const Report second = other.rotate(policy_, target);
  const std::vector<Report> shared = rotator_->rotate_shared(policy_, std::span(&target, 1));
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  worker.join();
  EXPECT_EQ(second.outcome, Outcome::Skipped);
  EXPECT_THAT(second.detail, ::testing::HasSubstr("already being rotated"));
  ASSERT_EQ(shared.size(), 1U);
  EXPECT_EQ(shared[0].outcome, Outcome::Skipped);
  EXPECT_EQ(first.outcome, Outcome::Rotated) << first.detail;
  EXPECT_FALSE(in_flight.busy("test/" + target.server.id));
  EXPECT_EQ(resets_sent(target), 1U);
  expect_no_lockout(target);
}

// Two processes (a daemon and a one-shot `rotor rotate`) resume the same pending password at
// once. The one that commits second loses the check-and-set, re-reads, sees its rotation
// committed, and ends as rotated without starting another rotation.
TEST_F(RotatorTest, CasRaceLoserEndsWithoutASecondRotation) {
  const Target target = add_server();
  policy_.push_attempts = 1;
  ecs_sim_->force_fault({sim::FaultClass::ServerErrorAfter, "PUT", "os-reset-password", 1});
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::StillPending);
  const std::string pending(record_of(target).pending_password.reveal());

  // The second process: its own transport, Vault session, store, ECS client and rotator.
  http::CurlTransport other_transport;
  auto other_vault = make_vault(other_transport);
  RecordStore other_store(*other_vault);
  auto other_ecs = make_ecs(other_transport);
  Rotator other(other_store, *other_ecs, generator_, clock_, random_);

  InterceptingTransport intercept(transport_);
  ecs_ = make_ecs(intercept);
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_);
  Report other_report;
  bool interleaved = false;
  intercept.before = [&](const HttpRequest& request) -> std::optional<Result<HttpResponse>> {
    if (is_reset(request) && !interleaved) {
      interleaved = true;  // the other process runs its whole resume while this one is sending
      other_report = other.rotate(policy_, target);
    }
    return std::nullopt;
  };
  const Report report = rotator_->rotate(policy_, target);
  ASSERT_TRUE(interleaved);
  EXPECT_EQ(other_report.outcome, Outcome::Rotated) << other_report.detail;
  EXPECT_TRUE(other_report.resumed);
  EXPECT_EQ(report.outcome, Outcome::Rotated) << report.detail;
  EXPECT_THAT(report.detail, ::testing::HasSubstr("another process"));
  const ServerRecord record = record_of(target);
  EXPECT_EQ(record.password.reveal(), pending) << "one rotation, one password";
  EXPECT_EQ(record.state, State::AwaitingRestart);
  const auto snapshot = ecs_sim_->server(target.server.id);
  ASSERT_TRUE(snapshot.has_value());
  for (const auto& entry : snapshot->history) {
    EXPECT_EQ(entry.password, pending) << "no second rotation was started";
  }
  expect_no_lockout(target);
}

// The loser of the race finds that the other process committed this rotation and started the
// next one meanwhile: it steps aside (skipped) instead of starting a third.
TEST_F(RotatorTest, CasRaceLoserStepsAsideForANewerRotation) {
  const Target target = add_server();
  policy_.push_attempts = 1;
  ecs_sim_->force_fault({sim::FaultClass::ServerErrorAfter, "PUT", "os-reset-password", 1});
  ASSERT_EQ(rotator_->rotate(policy_, target).outcome, Outcome::StillPending);

  http::CurlTransport other_transport;
  auto other_vault = make_vault(other_transport);
  RecordStore other_store(*other_vault);
  auto other_ecs = make_ecs(other_transport);
  Rotator other(other_store, *other_ecs, generator_, clock_, random_);

  InterceptingTransport intercept(transport_);
  ecs_ = make_ecs(intercept);
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_);
  std::vector<Report> other_reports;
  intercept.before = [&](const HttpRequest& request) -> std::optional<Result<HttpResponse>> {
    if (is_reset(request) && other_reports.empty()) {
      other_reports.push_back(other.rotate(policy_, target));  // commits the pending one
      other_reports.push_back(other.rotate(policy_, target));  // and rotates once more
    }
    return std::nullopt;
  };
  const Report report = rotator_->rotate(policy_, target);
  ASSERT_EQ(other_reports.size(), 2U);
  EXPECT_EQ(other_reports[0].outcome, Outcome::Rotated) << other_reports[0].detail;
  EXPECT_EQ(other_reports[1].outcome, Outcome::Rotated) << other_reports[1].detail;
  EXPECT_EQ(report.outcome, Outcome::Skipped) << report.detail;
  EXPECT_THAT(report.detail, ::testing::HasSubstr("another process"));
  const auto snapshot = ecs_sim_->server(target.server.id);
  ASSERT_TRUE(snapshot.has_value());
  std::set<std::string> distinct;
  for (const auto& entry : snapshot->history) {
    distinct.insert(entry.password);
  }
  EXPECT_EQ(distinct.size(), 2U) << "two rotations, not three";
  expect_no_lockout(target);
}

// Huawei's v1 single reset asks the cloud to check the password rules (is_check_password).
TEST_F(RotatorTest, HuaweiSingleResetChecksPassword) {
  InterceptingTransport intercept(transport_);
  ecs_ = make_ecs(intercept, ecs::Flavor::Huawei);
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_);
  std::vector<std::string> urls;
  int checked = 0;
  intercept.before = [&](const HttpRequest& request) -> std::optional<Result<HttpResponse>> {
    if (is_reset(request)) {
      urls.push_back(request.url);
      if (request.body.view().find(R"("is_check_password":true)") != std::string_view::npos) {
        ++checked;
      }
    }
    return std::nullopt;
  };
  const Target target = add_server();
  const Report report = rotator_->rotate(policy_, target);
  EXPECT_EQ(report.outcome, Outcome::Rotated) << report.detail;
  ASSERT_EQ(urls.size(), 1U);
  EXPECT_THAT(urls[0], ::testing::HasSubstr("/v1/"));
  EXPECT_THAT(urls[0], ::testing::HasSubstr("/cloudservers/"));
  EXPECT_EQ(checked, 1);
  expect_no_lockout(target);
}

// Shared mode with a concurrency of 4: the per-server steps of one batch (read and probe, the
// pending writes, the commits) run four at a time, never more; every pending write has returned
// before the one batch reset; the hooks fire once per server and step; the leases are held for
// the whole batch; the reports keep the targets' order.
TEST_F(RotatorTest, SharedModeRunsPerServerStepsConcurrently) {
  constexpr std::size_t kLimit = 4;
  ConcurrencyProbe probe(transport_, kLimit);
  ecs_ = make_ecs(probe);
  vault_ = make_vault(probe);
  store_ = std::make_unique<RecordStore>(*vault_);
  InFlight in_flight;
  RotatorSeams seams;
  seams.in_flight = &in_flight;
  seams.concurrency = kLimit;
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_, seams);
  policy_.mode = Mode::Shared;
  std::vector<Target> targets;
  for (std::size_t i = 0; i < 2 * kLimit + 1; ++i) {
    targets.push_back(add_server(i % 2 == 0 ? sim::OsType::Linux : sim::OsType::Windows));
  }
  std::mutex mutex;
  std::map<std::pair<Step, std::string>, int> hooks;
  std::size_t leases_missing = 0;
  rotator_->set_failpoint([&](Step step, const std::string& id) {
    const std::lock_guard lock(mutex);
    ++hooks[{step, id}];
    if (step == Step::ResetSent) {
      for (const auto& target : targets) {
        leases_missing += in_flight.busy("test/" + target.server.id) ? 0U : 1U;
      }
    }
  });
  probe.armed = true;
  const auto reports = rotator_->rotate_shared(policy_, targets);
  probe.armed = false;

  ASSERT_EQ(reports.size(), targets.size());
  std::set<std::string> passwords;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    EXPECT_EQ(reports[i].server_id, targets[i].server.id);
    EXPECT_EQ(reports[i].outcome, Outcome::Rotated) << reports[i].detail;
    for (auto step : {Step::Read, Step::PendingWritten, Step::ResetSent, Step::Committed}) {
      EXPECT_EQ((hooks[{step, targets[i].server.id}]), 1)
          << "step " << static_cast<int>(step) << " of server " << i;
    }
    EXPECT_FALSE(in_flight.busy("test/" + targets[i].server.id)) << "lease released at the end";
    EXPECT_EQ(resets_sent(targets[i]), 1U);
    expect_no_lockout(targets[i]);
    passwords.emplace(record_of(targets[i]).password.reveal());
  }
  EXPECT_EQ(passwords.size(), 1U);
  EXPECT_EQ(leases_missing, 0U) << "every lease is held while the batch is sent";
  for (const char* kind : {"read", "probe", "pending", "commit"}) {
    EXPECT_GT(probe.most_of(kind), 1U) << kind;
    EXPECT_EQ(probe.most_of(kind), kLimit) << kind;
  }
  EXPECT_LE(probe.most, kLimit) << "never more than the limit under way";
  EXPECT_EQ(probe.pending_done_at_reset, (std::vector<std::size_t>{targets.size()}));
  EXPECT_EQ(probe.pending_active_at_reset, (std::vector<std::size_t>{0}));
}

// Shared mode, concurrently: a server whose pending write fails is left out of the batch (never
// sent a password that is not in Vault); the others are rotated.
TEST_F(RotatorTest, SharedModeLeavesOutAServerWhosePendingWriteFailed) {
  ConcurrencyProbe probe(transport_, 1);
  ecs_ = make_ecs(probe);
  vault_ = make_vault(probe);
  store_ = std::make_unique<RecordStore>(*vault_);
  RotatorSeams seams;
  seams.concurrency = 3;
  rotator_ = std::make_unique<Rotator>(*store_, *ecs_, generator_, clock_, random_, seams);
  policy_.mode = Mode::Shared;
  std::vector<Target> targets;
  for (int i = 0; i < 6; ++i) {
    targets.push_back(add_server());
  }
  const std::string refused = "/data/ecs/test/" + targets[2].server.id;
  std::mutex mutex;
  std::vector<std::string> batch_bodies;
  probe.before = [&](const HttpRequest& request) -> std::optional<Result<HttpResponse>> {
    if (request.url.find("/os-reset-passwords") != std::string::npos) {
      const std::lock_guard lock(mutex);
      batch_bodies.emplace_back(request.body.view());
    }
    if (request.method != HttpMethod::Get && request.url.ends_with(refused)) {
      HttpResponse denied;
      denied.status = 403;
      denied.headers.set("Content-Type", "application/json");
      denied.body.append(R"({"errors":["permission denied"]})");
      return denied;
    }
    return std::nullopt;
  };
  const auto reports = rotator_->rotate_shared(policy_, targets);
  ASSERT_EQ(reports.size(), targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    EXPECT_EQ(reports[i].server_id, targets[i].server.id);
    if (i == 2) {
      EXPECT_EQ(reports[i].outcome, Outcome::Failed);
      EXPECT_THAT(reports[i].detail, ::testing::HasSubstr("cannot store the pending password"));
      EXPECT_EQ(resets_sent(targets[i]), 0U);
    } else {
      EXPECT_EQ(reports[i].outcome, Outcome::Rotated) << reports[i].detail;
      EXPECT_EQ(resets_sent(targets[i]), 1U);
    }
    expect_no_lockout(targets[i]);
  }
  ASSERT_EQ(batch_bodies.size(), 1U);
  EXPECT_EQ(batch_bodies[0].find(targets[2].server.id), std::string::npos);
  EXPECT_NE(batch_bodies[0].find(targets[0].server.id), std::string::npos);
}

}  // namespace
}  // namespace rotor::engine
