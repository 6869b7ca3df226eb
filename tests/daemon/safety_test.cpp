// The daemon's safety rails against both simulators in-process on one ManualClock: the canary
// ramp and error budget with the policy hold, head_start, the back-off of skipped servers, the
// reconcile pass, and the faults the issue lists (CAS conflicts with a one-shot run, throttling,
// a sealed Vault, an expired token, a server without the plug-in, a server deleted mid-rotation).
// Every test checks I1: each password the ECS simulator says a server accepts now or after its
// restart is in the server's Vault record.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon/hold.h"
#include "daemon/runner.h"
#include "daemon/scheduler.h"
#include "daemon/status.h"
#include "engine/record.h"
#include "tests/support/log_capture.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/seeded_random.h"
#include "tests/support/simulated_cloud.h"

namespace rotor::daemon {
namespace {

using namespace std::chrono_literals;
using rotor::testing::SimulatedCloud;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kFleetPolicy = R"(  - name: fleet
    cloud: sim
    select: { tags: { env: fleet } }
    max_age: 7d
)";

class SafetyTest : public ::testing::Test {
 protected:
  std::vector<std::string> add(std::size_t n, const std::string& env = "fleet") {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(cloud_.add(env));
      ids_.push_back(out.back());
    }
    return out;
  }

  std::unique_ptr<Runtime> runtime(const std::string& policies = kFleetPolicy) {
    return cloud_.runtime(cloud_.yaml(policies), clock_, random_);
  }

  SchedulerOptions options() {
    SchedulerOptions out;
    out.tick_interval = std::chrono::seconds(1h);
    out.state_file = dir_ / "schedule.json";
    out.on_report = [this](const std::string&, const engine::Report& report,
                           std::chrono::duration<double>) { reports_.push_back(report); };
    out.on_halt = [this](const std::string& policy) { halts_.push_back(policy); };
    return out;
  }

  std::size_t resets(const std::string& id) {
    const auto snapshot = cloud_.ecs().server(id);
    return snapshot ? snapshot->history.size() : 0;
  }

  engine::ServerRecord record(Runtime& rt, const std::string& id) {
    auto loaded = rt.store().load(SimulatedCloud::path(id));
    EXPECT_TRUE(loaded.has_value()) << loaded.error().to_string();
    return loaded ? std::move(loaded->record) : engine::ServerRecord{};
  }

  std::string custom(Runtime& rt, const std::string& id, const std::string& key) {
    auto metadata = rt.vault().read_metadata(SimulatedCloud::path(id));
    if (!metadata) {
      return {};
    }
    auto found = metadata->custom_metadata.find(key);
    return found == metadata->custom_metadata.end() ? std::string() : found->second;
  }

  // Leaves `id` pending: its reset was sent, then the process "crashed".
  void crash_after_reset(Runtime& rt, const std::string& id) {
    auto listing = rt.cloud("sim")->list_servers();
    ASSERT_TRUE(listing.has_value());
    engine::Target target;
    for (const auto& server : *listing) {
      if (server.id == id) {
        target.server = server;
      }
    }
    target.vault_path = SimulatedCloud::path(id);
    rt.rotator("sim")->set_failpoint([](engine::Step step, const std::string&) {
      if (step == engine::Step::ResetSent) {
        throw std::runtime_error("simulated crash");
      }
    });
    EXPECT_THROW(rt.rotator("sim")->rotate(rotation_policy(rt.config().policies.front()), target),
                 std::runtime_error);
    rt.rotator("sim")->set_failpoint({});
    ASSERT_EQ(record(rt, id).state, engine::State::Pending);
  }

  // Every rotation of the runtime's rotator fails for good: the server is deleted just before its
  // reset is sent (the cloud then answers 404).
  void delete_before_reset(Runtime& rt) {
    rt.rotator("sim")->set_failpoint([this](engine::Step step, const std::string& id) {
      if (step == engine::Step::PendingWritten) {
        cloud_.ecs().delete_server(id);
      }
    });
  }

  void expect_no_lockout(Runtime& rt) { EXPECT_THAT(cloud_.lockouts(rt, ids_), IsEmpty()); }

  std::size_t count(engine::Outcome outcome) const {
    return static_cast<std::size_t>(std::count_if(
        reports_.begin(), reports_.end(), [&](const auto& r) { return r.outcome == outcome; }));
  }

  rotor::testing::ManualClock clock_;
  rotor::testing::SeededRandom random_{23};
  SimulatedCloud cloud_{&clock_};
  rotor::testing::ScratchDir scratch_{"safety-test"};
  std::filesystem::path dir_ = scratch_.path();
  std::vector<std::string> ids_;
  std::vector<engine::Report> reports_;
  std::vector<std::string> halts_;
  std::atomic<bool> stop_{false};
};

// A broken fleet (every reset refused for good): the canary spends the 5% budget, the run halts
// with an error log, a halt callback (the metric) and the other servers untouched; the policy
// stays held on the next ticks, and `rotor resume --policy` lets the next tick rotate the rest.
TEST_F(SafetyTest, CanaryHaltHoldsThePolicyUntilResumed) {
  rotor::testing::LogCapture logs;
  add(10);
  auto rt = runtime();
  Scheduler scheduler(*rt, options());
  delete_before_reset(*rt);

  auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.failed, 2U);  // 1 failure of 1 is within 5% (rounded up); 2 of 2 is not
  EXPECT_EQ(summary.untouched, 8U);
  EXPECT_EQ(summary.halted, std::vector<std::string>{"fleet"});
  EXPECT_EQ(halts_, std::vector<std::string>{"fleet"});
  EXPECT_TRUE(
      logs.contains("policy run halted: 2 definite failures among 2 servers exceed the "
                    "error budget (5%); 8 due servers left untouched"));
  std::size_t untouched = 0;
  for (const auto& id : ids_) {
    untouched += cloud_.ecs().server(id) && resets(id) == 0 ? 1U : 0U;
  }
  EXPECT_EQ(untouched, 8U);
  auto hold = read_hold(rt->vault(), "fleet");
  ASSERT_TRUE(hold.has_value());
  ASSERT_TRUE(hold->has_value());
  EXPECT_THAT((*hold)->reason, HasSubstr("exceed the error budget"));
  expect_no_lockout(*rt);

  // Held: the next ticks start nothing, even with the cause gone.
  rt->rotator("sim")->set_failpoint({});
  clock_.advance(1h);
  summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.due, 0U);
  EXPECT_THAT(scheduler.policies().front().held, HasSubstr("exceed the error budget"));

  const auto held = held_policies(*rt, std::nullopt);  // what `rotor status` prints
  ASSERT_EQ(held.size(), 1U);
  EXPECT_EQ(held[0].policy, "fleet");
  EXPECT_THAT(held[0].reason, HasSubstr("exceed the error budget"));

  auto lifted = resume_policy(*rt, "fleet");
  ASSERT_TRUE(lifted.has_value()) << lifted.error().to_string();
  EXPECT_TRUE(*lifted);
  clock_.advance(1h);
  summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 8U);
  EXPECT_TRUE(summary.halted.empty());
  EXPECT_TRUE(scheduler.policies().front().held.empty());
  EXPECT_TRUE(held_policies(*rt, std::nullopt).empty());
  expect_no_lockout(*rt);
  for (const auto& password : cloud_.passwords(ids_)) {
    EXPECT_FALSE(logs.contains(password));
  }
}

// A held policy still resumes its pending rotation (I4); a change of the policy's configuration
// lifts the hold.
TEST_F(SafetyTest, HeldPolicyResumesPendingAndAConfigChangeLiftsIt) {
  rotor::testing::LogCapture logs;
  add(4);
  auto rt = runtime();
  crash_after_reset(*rt, ids_[0]);
  Hold hold;
  hold.reason = "a test hold";
  hold.since = engine::format_time(clock_.now());
  hold.fingerprint = policy_fingerprint(rt->config(), rt->config().policies.front());
  ASSERT_TRUE(write_hold(rt->vault(), "fleet", hold).has_value());

  Scheduler scheduler(*rt, options());
  auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 1U);  // the resume, and nothing else
  EXPECT_EQ(record(*rt, ids_[0]).state, engine::State::AwaitingRestart);
  for (std::size_t i = 1; i < ids_.size(); ++i) {
    EXPECT_EQ(resets(ids_[i]), 0U);
  }
  expect_no_lockout(*rt);

  // The same policy with a larger canary: a configuration change.
  auto changed = runtime(std::string(kFleetPolicy) + "    canary: 5\n");
  scheduler.set_runtime(*changed);
  clock_.advance(1h);
  summary = scheduler.tick(stop_);
  EXPECT_TRUE(logs.contains("policy hold lifted: the policy's configuration changed"));
  EXPECT_EQ(summary.rotated, 3U);
  expect_no_lockout(*changed);
}

// `rotor rotate` (run_policies) halts the same way, says why, and leaves the policy held for the
// daemon; a held policy's one-shot run rotates nothing new and says how to lift the hold.
TEST_F(SafetyTest, OneShotRunHaltsAndHolds) {
  add(6);
  auto rt = runtime(std::string(kFleetPolicy) + "    canary: 2\n    error_budget: 0\n");
  delete_before_reset(*rt);
  auto runs = run_policies(*rt, {});
  ASSERT_EQ(runs.size(), 1U);
  ASSERT_TRUE(runs[0].halted.has_value());
  EXPECT_THAT(*runs[0].halted, HasSubstr("1 definite failures among 1 servers exceed the error "
                                         "budget (0)"));
  EXPECT_THAT(*runs[0].halted, HasSubstr("rotor resume --policy fleet"));
  EXPECT_EQ(runs[0].untouched, 5U);
  EXPECT_EQ(runs[0].reports.size(), 1U);

  rt->rotator("sim")->set_failpoint({});
  runs = run_policies(*rt, {});
  ASSERT_TRUE(runs[0].halted.has_value());
  EXPECT_THAT(*runs[0].halted, HasSubstr("is held since"));
  EXPECT_TRUE(runs[0].reports.empty());
  expect_no_lockout(*rt);
}

// head_start: a 30-day policy with a 7-day head start rotates on day 23, and in a window the
// rotation waits for the first window opening after that.
TEST_F(SafetyTest, HeadStartRotatesBeforeTheDeadline) {
  const auto cfg = cloud_.config(cloud_.yaml(R"(  - name: early
    cloud: sim
    select: { all: true }
    max_age: 30d
    head_start: 7d
  - name: early-windowed
    cloud: sim
    select: { all: true }
    max_age: 30d
    head_start: 7d
    window: "Sat 02:00-06:00"
)"));
  ASSERT_EQ(cfg.policies.size(), 2U);
  const config::SysSeconds monday{std::chrono::seconds(1'767'571'200)};  // 2026-01-05 00:00 UTC
  EXPECT_EQ(config::due_at(cfg.policies[0], monday, "s1", monday), monday + 23 * 24h);
  // Day 23 is a Wednesday (2026-01-28): the next window opens on Saturday 2026-01-31 02:00.
  EXPECT_EQ(config::due_at(cfg.policies[1], monday, "s1", monday), monday + 26 * 24h + 2h);
}

// A server the engine skips (here: three rotations without a confirmed restart) is not retried,
// and re-logged, every tick: the tries back off 1 h, 2 h, 4 h, 8 h, 16 h.
TEST_F(SafetyTest, SkippedServerIsBackedOff) {
  add(1);
  auto rt = runtime(R"(  - name: fleet
    cloud: sim
    select: { tags: { env: fleet } }
    max_age: 1d
)");
  Scheduler scheduler(*rt, options());
  std::vector<config::SysSeconds> skips;
  const auto tick = [&] {
    const std::size_t before = reports_.size();
    scheduler.tick(stop_);
    for (std::size_t i = before; i < reports_.size(); ++i) {
      if (reports_[i].outcome == engine::Outcome::Skipped) {
        skips.push_back(std::chrono::time_point_cast<std::chrono::seconds>(clock_.now()));
      }
    }
  };
  // Daily until the engine refuses a further rotation, then hourly.
  for (int day = 0; day < 10; ++day) {
    tick();
    if (!skips.empty()) {
      break;
    }
    clock_.advance(24h);
  }
  ASSERT_EQ(skips.size(), 1U);
  for (int hour = 0; hour < 16; ++hour) {
    clock_.advance(1h);
    tick();
  }
  ASSERT_EQ(skips.size(), 5U);
  for (std::size_t i = 1; i < skips.size(); ++i) {
    EXPECT_EQ(skips[i] - skips[i - 1], std::chrono::seconds(std::chrono::hours(1 << (i - 1))))
        << "skip " << i;
  }
  EXPECT_EQ(count(engine::Outcome::Rotated), resets(ids_[0]));
  expect_no_lockout(*rt);
}

// A failed verification is retried by the scheduler without a new reset: not at every tick but
// after the skip back-off (1 h), and once the hook passes the server becomes current.
TEST_F(SafetyTest, FailedVerificationIsRetriedAfterTheBackOff) {
  const std::string id = add(1).front();
  const auto hook = dir_ / "verify.sh";
  const auto verified_flag = dir_ / "ok";
  {
    std::ofstream script(hook);
    script << "#!/bin/sh\ncat >/dev/null\n[ -e '" << verified_flag.string()
           << "' ] && exit 0\nexit 1\n";
  }
  std::filesystem::permissions(hook, std::filesystem::perms::owner_all);
  auto rt = runtime(R"(  - name: fleet
    cloud: sim
    select: { tags: { env: fleet } }
    max_age: 7d
    window: "* 00:00-24:00"
    after_reset: reboot-soft
    verify: { command: [ ")" +
                    hook.string() + R"(" ], timeout: 10s }
)");
  Scheduler scheduler(*rt, options());
  scheduler.tick(stop_);
  ASSERT_EQ(reports_.size(), 1U);
  EXPECT_EQ(reports_.back().outcome, engine::Outcome::Failed);
  EXPECT_FALSE(custom(*rt, id, "unverified_since").empty());
  EXPECT_EQ(resets(id), 1U);
  expect_no_lockout(*rt);

  std::ofstream(verified_flag).put('1');
  clock_.advance(30min);
  scheduler.tick(stop_);
  EXPECT_EQ(reports_.size(), 1U) << "retried before the back-off ended";

  clock_.advance(31min);
  scheduler.tick(stop_);
  ASSERT_EQ(reports_.size(), 2U);
  EXPECT_EQ(reports_.back().outcome, engine::Outcome::Rotated) << reports_.back().detail;
  EXPECT_EQ(record(*rt, id).state, engine::State::Current);
  EXPECT_TRUE(custom(*rt, id, "unverified_since").empty());
  EXPECT_EQ(resets(id), 1U) << "a verification retry must not reset the password again";
  expect_no_lockout(*rt);
}

// The reconcile pass marks the record of a server deleted from the cloud (custom_metadata
// gone_since), logs it once, counts it, never deletes it — and a pending record of a deleted
// server keeps its pending password and is not resumed.
TEST_F(SafetyTest, ReconcileMarksGoneServersOnce) {
  rotor::testing::LogCapture logs;
  add(3);
  auto rt = runtime();
  Scheduler scheduler(*rt, options());
  EXPECT_TRUE(scheduler.tick(stop_).reconciled);
  const std::string gone = ids_[0];
  const std::string gone_pending = cloud_.add("other");
  crash_after_reset(*rt, gone_pending);
  const std::string pending_password(record(*rt, gone_pending).pending_password.reveal());
  ASSERT_TRUE(cloud_.ecs().delete_server(gone));
  ASSERT_TRUE(cloud_.ecs().delete_server(gone_pending));

  clock_.advance(2h);
  auto summary = scheduler.tick(stop_);
  EXPECT_TRUE(summary.reconciled);
  EXPECT_EQ(summary.due, 0U);  // the pending one is gone: nothing to resume
  EXPECT_EQ(custom(*rt, gone, "gone_since"), engine::format_time(clock_.now()));
  EXPECT_FALSE(custom(*rt, gone_pending, "gone_since").empty());
  EXPECT_EQ(record(*rt, gone).state, engine::State::AwaitingRestart);  // kept, untouched
  EXPECT_EQ(record(*rt, gone_pending).pending_password.reveal(), pending_password);
  EXPECT_EQ(scheduler.policies().front().gone, 2U);
  const auto marked = [&] {
    const auto lines = logs.lines();
    return std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
      return line.find("server gone from the cloud") != std::string::npos;
    });
  };
  EXPECT_EQ(marked(), 2);
  EXPECT_TRUE(logs.contains("its pending password stays in Vault"));

  clock_.advance(2h);
  summary = scheduler.tick(stop_);
  EXPECT_TRUE(summary.reconciled);
  EXPECT_EQ(marked(), 2);  // once
  EXPECT_EQ(scheduler.policies().front().gone, 2U);
  EXPECT_FALSE(logs.contains(pending_password));
}

// A pending rotation whose server no policy selects any more (here: excluded by a reload) is
// still found by the reconcile pass and resumed with its pending password (I4).
TEST_F(SafetyTest, PendingRecordOutsideTheSelectionIsResumed) {
  add(2);
  auto rt = runtime();
  crash_after_reset(*rt, ids_[0]);
  const std::string sent(record(*rt, ids_[0]).pending_password.reveal());
  auto excluded = runtime(R"(  - name: fleet
    cloud: sim
    select: { tags: { env: fleet }, exclude_ids: [")" +
                          ids_[0] + R"("] }
    max_age: 7d
)");
  Scheduler scheduler(*excluded, options());
  const auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 2U);  // the other server, and the resume
  const auto resumed = record(*excluded, ids_[0]);
  EXPECT_EQ(resumed.state, engine::State::AwaitingRestart);
  EXPECT_EQ(resumed.password.reveal(), sent);
  EXPECT_EQ(cloud_.ecs().server(ids_[0])->history.back().password, sent);
  expect_no_lockout(*excluded);
}

// Two policies of one cloud write into one folder: the reconcile pass knows the second one's
// servers (listed again, marked in the first one's kept listing) as covered, so its pending
// record is resumed once, by its policy, not again as one outside every selection.
TEST_F(SafetyTest, SecondPolicyOfACloudCoversItsRecords) {
  rotor::testing::LogCapture logs;
  add(2, "web");
  const auto db = add(2, "db");
  const std::string policies = R"(  - name: web
    cloud: sim
    select: { tags: { env: web } }
    max_age: 7d
  - name: db
    cloud: sim
    select: { tags: { env: db } }
    max_age: 7d
)";
  auto db_first = runtime(R"(  - name: db
    cloud: sim
    select: { tags: { env: db } }
    max_age: 7d
)");
  crash_after_reset(*db_first, db[0]);
  auto rt = runtime(policies);
  Scheduler scheduler(*rt, options());
  const auto summary = scheduler.tick(stop_);
  EXPECT_TRUE(summary.reconciled);
  EXPECT_EQ(summary.rotated, 4U);
  const auto runs_of = [&](const std::string& id) {
    return std::count_if(reports_.begin(), reports_.end(),
                         [&](const auto& report) { return report.server_id == id; });
  };
  EXPECT_EQ(runs_of(db[0]), 1);
  EXPECT_EQ(runs_of(db[1]), 1);
  EXPECT_FALSE(logs.contains("outside every policy's selection"));
  EXPECT_EQ(scheduler.policies().back().gone, 0U);
  expect_no_lockout(*rt);
}

// Fails the ECS listing's second page (403) while `fail` is set; counts the first pages asked for.
class FailingSecondPage final : public HttpTransport {
 public:
  FailingSecondPage(HttpTransport& inner, const std::atomic<bool>& fail,
                    std::atomic<int>& first_pages)
      : inner_(inner), fail_(fail), first_pages_(first_pages) {}
  Result<HttpResponse> send(const HttpRequest& request) override {
    if (request.url.find("/cloudservers/detail?") != std::string::npos) {
      if (request.url.find("offset=1&") != std::string::npos) {
        ++first_pages_;
      }
      if (fail_ && request.url.find("offset=2&") != std::string::npos) {
        HttpResponse denied;
        denied.status = 403;
        denied.body = WipingBuffer(std::string(R"({"error":{"code":"Ecs.0110","message":"no"}})"));
        return denied;
      }
    }
    return inner_.send(request);
  }

 private:
  HttpTransport& inner_;
  const std::atomic<bool>& fail_;
  std::atomic<int>& first_pages_;
};

// The listing is consumed page by page; one that fails half way abandons that policy's tick as
// one that fails at once did: no rotation or resume from the pages seen, no view of the partial
// listing, the error shown, and the reconcile pass marks nothing gone. The next good listing
// runs them all.
TEST_F(SafetyTest, ListingFailingHalfWayAbandonsThePolicysTick) {
  add(101);  // two pages of the client's 100
  std::atomic<bool> fail{false};
  std::atomic<int> first_pages{0};
  const TransportDecorator decorate =
      [&](HttpTransport& inner, std::string_view service) -> std::unique_ptr<HttpTransport> {
    if (service != "ecs") {
      return nullptr;
    }
    return std::make_unique<FailingSecondPage>(inner, fail, first_pages);
  };
  auto built = Runtime::create(std::make_shared<const config::Config>(
                                   cloud_.config(cloud_.yaml(kFleetPolicy, "{ concurrency: 8 }"))),
                               clock_, random_, cloud_.env(), decorate);
  ASSERT_TRUE(built) << built.error().to_string();
  auto& rt = **built;
  crash_after_reset(rt, ids_.front());
  crash_after_reset(rt, ids_.back());
  const std::size_t before = resets(ids_.front()) + resets(ids_.back());

  fail = true;
  first_pages = 0;
  Scheduler scheduler(rt, options());
  auto summary = scheduler.tick(stop_);
  EXPECT_TRUE(summary.reconciled);
  EXPECT_EQ(first_pages.load(), 1);
  EXPECT_EQ(summary.due, 0U);
  EXPECT_EQ(resets(ids_.front()) + resets(ids_.back()), before);
  EXPECT_TRUE(scheduler.servers().empty());
  ASSERT_EQ(scheduler.policies().size(), 1U);
  EXPECT_THAT(scheduler.policies().front().error, HasSubstr("Ecs.0110"));
  EXPECT_EQ(scheduler.policies().front().gone, 0U);
  for (const auto& id : {ids_.front(), ids_.back()}) {
    EXPECT_EQ(record(rt, id).state, engine::State::Pending);
    EXPECT_EQ(custom(rt, id, "gone_since"), "");
  }

  fail = false;
  clock_.advance(2h);
  summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.due, 101U);  // both resumes and every fresh server
  EXPECT_EQ(summary.rotated, 101U);
  EXPECT_EQ(scheduler.servers().size(), 101U);
  EXPECT_EQ(scheduler.policies().front().error, "");
  EXPECT_EQ(scheduler.policies().front().gone, 0U);
  expect_no_lockout(rt);
}

// A one-shot `rotor rotate` in its own runtime (its own clients) races the daemon's tick on the
// same servers: check-and-set makes one of them re-read, and no record lies.
TEST_F(SafetyTest, ConcurrentOneShotRunAndTick) {
  add(6);
  auto daemon_rt = cloud_.runtime(cloud_.yaml(kFleetPolicy, "{ concurrency: 3 }"), clock_, random_);
  rotor::testing::SeededRandom other_random{99};
  auto oneshot_rt =
      cloud_.runtime(cloud_.yaml(kFleetPolicy, "{ concurrency: 3 }"), clock_, other_random);
  Scheduler scheduler(*daemon_rt, options());
  std::vector<PolicyRun> runs;
  {
    std::jthread oneshot([&] { runs = run_policies(*oneshot_rt, {}); });
    scheduler.tick(stop_);
  }
  ASSERT_EQ(runs.size(), 1U);
  for (const auto& report : runs[0].reports) {
    EXPECT_NE(report.outcome, engine::Outcome::Failed) << report.detail;
  }
  EXPECT_EQ(count(engine::Outcome::Failed), 0U);
  for (const auto& id : ids_) {
    EXPECT_EQ(record(*daemon_rt, id).state, engine::State::AwaitingRestart);
    EXPECT_GE(resets(id), 1U);
  }
  expect_no_lockout(*daemon_rt);
}

// The same race, made deterministic: the daemon's tick runs between the one-shot run's pending
// write and its reset, resumes and commits the pending password; the one-shot's commit then meets
// a check-and-set conflict, re-reads and goes on from the record as it is now.
TEST_F(SafetyTest, OneShotLosesTheCheckAndSetRaceToATick) {
  add(1);
  auto daemon_rt = runtime();
  rotor::testing::SeededRandom other_random{77};
  auto oneshot_rt = cloud_.runtime(cloud_.yaml(kFleetPolicy), clock_, other_random);
  Scheduler scheduler(*daemon_rt, options());
  bool raced = false;
  TickSummary raced_tick;
  oneshot_rt->rotator("sim")->set_failpoint([&](engine::Step step, const std::string&) {
    if (step == engine::Step::PendingWritten && !raced) {
      raced = true;
      raced_tick = scheduler.tick(stop_);
    }
  });
  const auto runs = run_policies(*oneshot_rt, {});
  ASSERT_TRUE(raced);
  EXPECT_EQ(raced_tick.rotated, 1U);  // the daemon resumed the one-shot's pending password
  ASSERT_EQ(runs.size(), 1U);
  ASSERT_EQ(runs[0].reports.size(), 1U);
  EXPECT_NE(runs[0].reports[0].outcome, engine::Outcome::Failed) << runs[0].reports[0].detail;
  const auto final_record = record(*daemon_rt, ids_[0]);
  EXPECT_EQ(final_record.state, engine::State::AwaitingRestart);
  EXPECT_EQ(final_record.password.reveal(), cloud_.ecs().server(ids_[0])->after_restart_password);
  expect_no_lockout(*daemon_rt);
}

// Throttling: a storm of Common.0024 answers, then of HTTP 429, on the reset API keeps the
// pending passwords (not a failure, no halt); once it is over the next tick finishes them with
// the same passwords.
TEST_F(SafetyTest, ThrottlingKeepsPendingUntilTheStormPasses) {
  add(3);
  auto rt = runtime();
  Scheduler scheduler(*rt, options());
  for (const auto fault : {sim::FaultClass::Throttle, sim::FaultClass::RateLimited}) {
    cloud_.ecs().force_fault({fault, "PUT", "os-reset-password", 10'000});
    reports_.clear();
    auto summary = scheduler.tick(stop_);
    EXPECT_EQ(summary.failed, 0U);
    EXPECT_TRUE(summary.halted.empty());
    EXPECT_EQ(summary.still_pending, 3U) << sim::to_string(fault);
    std::vector<std::string> pending;
    for (const auto& id : ids_) {
      EXPECT_EQ(record(*rt, id).state, engine::State::Pending);
      pending.emplace_back(record(*rt, id).pending_password.reveal());
    }
    expect_no_lockout(*rt);
    cloud_.clear_faults();
    clock_.advance(1h);
    summary = scheduler.tick(stop_);
    EXPECT_EQ(summary.rotated, 3U);
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      EXPECT_EQ(record(*rt, ids_[i]).password.reveal(), pending[i]);
    }
    expect_no_lockout(*rt);
    clock_.advance(8 * 24h);  // due again
    ASSERT_TRUE(cloud_.ecs().restart_server(ids_[0]));
  }
}

// Vault sealed right after a reset was sent: the commit cannot be written, the password stays
// pending in Vault, the other servers are not touched (their records cannot be read); once
// Vault is unsealed the next tick commits it.
TEST_F(SafetyTest, VaultSealedMidRotation) {
  add(3);
  auto rt = runtime(std::string(kFleetPolicy) + "    error_budget: 10\n");
  Scheduler scheduler(*rt, options());
  bool sealed = false;
  rt->rotator("sim")->set_failpoint([&](engine::Step step, const std::string&) {
    if (step == engine::Step::ResetSent && !sealed) {
      sealed = true;
      cloud_.vault().core().seal();
    }
  });
  auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 0U);
  rt->rotator("sim")->set_failpoint({});
  cloud_.vault().core().unseal();
  std::size_t sent = 0;
  for (const auto& id : ids_) {
    sent += resets(id);
  }
  EXPECT_EQ(sent, 1U);  // only the first server's reset went out
  expect_no_lockout(*rt);

  clock_.advance(1h);
  summary = scheduler.tick(stop_);
  for (const auto& id : ids_) {
    EXPECT_EQ(record(*rt, id).state, engine::State::AwaitingRestart) << id;
  }
  expect_no_lockout(*rt);
}

// The Vault token expires between the pending write and the commit: the commit is refused, the
// password the cloud accepted stays pending in Vault; a runtime with a fresh token resumes it.
TEST_F(SafetyTest, TokenExpiresMidRotation) {
  add(1);
  const std::string token = cloud_.vault().core().create_token({"root"}, 3600, 0, false);
  const std::string policies = kFleetPolicy;
  std::string yaml = cloud_.yaml(policies);
  config::LoadOptions load;
  load.env = config::fixed_env({{"TEST_VAULT_TOKEN", token},
                                {"TEST_AK", "AKSIMCLOUD"},
                                {"TEST_SK", "sk-simulated-cloud-secret"}});
  auto cfg = config::parse_config(yaml, "test.yaml", load);
  ASSERT_TRUE(cfg.has_value());
  auto built = Runtime::create(std::make_shared<const config::Config>(std::move(*cfg)), clock_,
                               random_, load.env);
  ASSERT_TRUE(built.has_value()) << built.error().to_string();
  auto rt = std::move(*built);
  rt->rotator("sim")->set_failpoint([&](engine::Step step, const std::string&) {
    if (step == engine::Step::ResetSent) {
      cloud_.vault().core().expire_token(token);
    }
  });
  Scheduler scheduler(*rt, options());
  auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 0U);
  ASSERT_EQ(resets(ids_[0]), 1U);

  auto fresh = runtime();
  EXPECT_EQ(record(*fresh, ids_[0]).state, engine::State::Pending);
  expect_no_lockout(*fresh);
  Scheduler restarted(*fresh, options());
  clock_.advance(1h);
  summary = restarted.tick(stop_);
  EXPECT_EQ(summary.rotated, 1U);
  EXPECT_EQ(record(*fresh, ids_[0]).password.reveal(),
            cloud_.ecs().server(ids_[0])->after_restart_password);
  expect_no_lockout(*fresh);
}

// A server without the reset plug-in is quarantined before any reset, is not a failure of the
// run (no halt), and is not scheduled again.
TEST_F(SafetyTest, ServerWithoutPluginIsQuarantinedNotCounted) {
  add(2);
  const std::string bare = cloud_.add("fleet", sim::OsType::Linux, false);
  ids_.push_back(bare);
  auto rt = runtime(std::string(kFleetPolicy) + "    error_budget: 0\n");
  Scheduler scheduler(*rt, options());
  auto summary = scheduler.tick(stop_);
  EXPECT_TRUE(summary.halted.empty());
  EXPECT_EQ(summary.rotated, 2U);
  EXPECT_EQ(resets(bare), 0U);
  EXPECT_FALSE(record(*rt, bare).quarantined.empty());
  clock_.advance(1h);
  summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.due, 0U);
  expect_no_lockout(*rt);
}

// A server deleted after its pending password was written: the cloud refuses the reset for
// good (404), the password was never set and is dropped, the run counts a failure, and the
// reconcile pass marks the record gone.
TEST_F(SafetyTest, ServerDeletedMidRotation) {
  add(3);
  auto rt = runtime(std::string(kFleetPolicy) + "    error_budget: 10\n");
  const std::string victim = ids_[1];
  rt->rotator("sim")->set_failpoint([&](engine::Step step, const std::string& id) {
    if (step == engine::Step::PendingWritten && id == victim) {
      cloud_.ecs().delete_server(id);
    }
  });
  Scheduler scheduler(*rt, options());
  auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.failed, 1U);
  EXPECT_EQ(summary.rotated, 2U);
  EXPECT_NE(record(*rt, victim).state, engine::State::Pending);
  clock_.advance(2h);
  scheduler.tick(stop_);
  EXPECT_FALSE(custom(*rt, victim, "gone_since").empty());
  expect_no_lockout(*rt);
}

// SIGHUP with a broken configuration: config::reload refuses it with the position of the error and
// keeps the running configuration, whose runtime goes on resuming and rotating safely.
TEST_F(SafetyTest, BrokenConfigOnReloadKeepsTheRunningOne) {
  add(2);
  const auto file = dir_ / "rotor.yaml";
  const auto write = [&](const std::string& extra) {
    std::ofstream out(file);
    out << cloud_.yaml(std::string(kFleetPolicy) + extra);
  };
  write("");
  config::LoadOptions load;
  load.env = cloud_.env();
  auto loaded = config::load_config(file, load);
  ASSERT_TRUE(loaded.has_value()) << config::to_string(loaded.error());
  auto running = std::make_shared<const config::Config>(std::move(*loaded));
  auto built = Runtime::create(running, clock_, random_, load.env);
  ASSERT_TRUE(built.has_value()) << built.error().to_string();
  auto rt = std::move(*built);
  crash_after_reset(*rt, ids_[0]);

  write("    unknown_key: 1\n");
  const auto outcome = config::reload(file, running, load);
  EXPECT_FALSE(outcome.replaced);
  EXPECT_EQ(outcome.config, running);
  ASSERT_FALSE(outcome.reasons.empty());
  EXPECT_THAT(outcome.reasons.front().to_string(), HasSubstr("unknown parameter 'unknown_key'"));
  EXPECT_THAT(outcome.reasons.front().to_string(), HasSubstr("rotor.yaml:"));

  Scheduler scheduler(*rt, options());
  const auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 2U);  // the resume and the other server
  expect_no_lockout(*rt);
}

// Repeated identical errors are logged once and counted: a sealed Vault makes every server's
// metadata unreadable, one line says so, and a later line says how many were suppressed.
TEST_F(SafetyTest, RepeatedErrorsAreLoggedOnceAndCounted) {
  rotor::testing::LogCapture logs;
  add(5);
  auto rt = runtime();
  auto opts = options();
  opts.log_repeat_window = std::chrono::seconds(24h);
  std::size_t suppressed = 0;
  opts.on_suppressed = [&](std::size_t n) { suppressed += n; };
  Scheduler scheduler(*rt, opts);
  cloud_.vault().core().seal();
  auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.due, 0U);  // unknown state: nothing is acted on
  const auto lines = logs.lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& line) {
                            return line.find("cannot read metadata") != std::string::npos;
                          }),
            1);
  cloud_.vault().core().unseal();
  clock_.advance(25h);
  summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 5U);
  EXPECT_TRUE(logs.contains("repeated message suppressed count=4 window=86400s"));
  EXPECT_GE(suppressed, 4U);
  expect_no_lockout(*rt);
}

}  // namespace
}  // namespace rotor::daemon
