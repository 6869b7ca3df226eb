// The policy runner and the operator commands' back ends, from a YAML configuration to both
// simulators (in-process, loopback HTTP).
#include "daemon/runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <algorithm>
#include <set>

#include "daemon/runtime.h"
#include "daemon/status.h"
#include "engine/store.h"
#include "tests/support/log_capture.h"
#include "tests/support/seeded_random.h"
#include "tests/support/simulated_cloud.h"

namespace rotor::daemon {
namespace {

class RunnerTest : public ::testing::Test {
 protected:
  std::string add(const std::string& env, sim::OsType os, bool plugin = true, bool locked = false) {
    return cloud_.add(env, os, plugin, locked);
  }

  std::unique_ptr<Runtime> runtime() {
    return cloud_.runtime(cloud_.yaml(R"(  - name: prod-linux
    cloud: sim
    select: { tags: { env: prod }, os: linux }
    max_age: 30d
  - name: prod-windows
    cloud: sim
    select: { tags: { env: prod }, os: windows }
    max_age: 30d
    password: { length: 16 }
  - name: staging
    cloud: sim
    select: { tags: { env: staging } }
    mode: shared
    max_age: 7d
)",
                                      "{}", "{ requests_per_second: 500, max_batch: 2 }"),
                          clock_, random_);
  }

  static std::map<std::string, const engine::Report*> by_server(
      const std::vector<PolicyRun>& runs) {
    std::map<std::string, const engine::Report*> out;
    for (const auto& run : runs) {
      for (const auto& report : run.reports) {
        out[report.server_id] = &report;
      }
    }
    return out;
  }

  SystemClock clock_;
  testing::SeededRandom random_{5};
  testing::SimulatedCloud cloud_{nullptr};
};

// Each policy rotates what its selector picks, and nothing else; a locked server is skipped with
// a reason; a shared policy uses one password per batch (max_batch 2 here).
TEST_F(RunnerTest, RotatesWhatThePoliciesSelect) {
  const auto linux1 = add("prod", sim::OsType::Linux);
  const auto linux2 = add("prod", sim::OsType::Linux);
  const auto locked = add("prod", sim::OsType::Linux, true, true);
  const auto windows = add("prod", sim::OsType::Windows);
  std::vector<std::string> staging;
  for (int i = 0; i < 3; ++i) {
    staging.push_back(add("staging", i == 0 ? sim::OsType::Windows : sim::OsType::Linux));
  }
  const auto dev = add("dev", sim::OsType::Linux);

  auto rt = runtime();
  const auto runs = run_policies(*rt, {});
  ASSERT_EQ(runs.size(), 3U);
  const auto reports = by_server(runs);
  for (const auto& id : {linux1, linux2, windows}) {
    ASSERT_TRUE(reports.count(id));
    EXPECT_EQ(reports.at(id)->outcome, engine::Outcome::Rotated) << reports.at(id)->detail;
  }
  EXPECT_EQ(reports.at(locked)->outcome, engine::Outcome::Skipped);
  EXPECT_THAT(reports.at(locked)->detail, ::testing::HasSubstr("locked"));
  EXPECT_EQ(reports.count(dev), 0U);
  EXPECT_TRUE(cloud_.ecs().server(dev)->history.empty());

  std::map<std::string, int> shared_passwords;
  for (const auto& id : staging) {
    EXPECT_EQ(reports.at(id)->outcome, engine::Outcome::Rotated) << reports.at(id)->detail;
    ++shared_passwords[cloud_.ecs().server(id)->after_restart_password];
  }
  // Three servers in batches of at most two: two passwords, one shared by a pair.
  EXPECT_EQ(shared_passwords.size(), 2U);
  EXPECT_EQ(cloud_.ecs().server(windows)->after_restart_password.size(), 16U);
}

// Rotations start while the listing is still coming: when the listing's later pages fail, the
// servers of its first page have been rotated all the same, and the run says the listing failed.
TEST_F(RunnerTest, ServersListedBeforeAFailingPageAreRotated) {
  std::vector<std::string> ids;
  for (int i = 0; i < 150; ++i) {  // two pages of 100
    ids.push_back(add("prod", sim::OsType::Linux));
  }
  auto rt = runtime();
  // The first listing request passes; every later one fails, retries included.
  cloud_.ecs().force_fault({sim::FaultClass::ServerError, "GET", "/cloudservers/detail", 1000, 1});
  RunOptions options;
  options.policy = "prod-linux";
  const auto runs = run_policies(*rt, options);
  ASSERT_EQ(runs.size(), 1U);
  ASSERT_TRUE(runs[0].error);
  EXPECT_EQ(runs[0].reports.size(), 100U);
  for (const auto& report : runs[0].reports) {
    EXPECT_EQ(report.outcome, engine::Outcome::Rotated) << report.detail;
  }
  const auto rotated = std::count_if(ids.begin(), ids.end(), [&](const std::string& id) {
    return !cloud_.ecs().server(id)->history.empty();
  });
  EXPECT_EQ(rotated, 100);
}

// A dry run writes nothing and resets nothing.
TEST_F(RunnerTest, DryRunChangesNothing) {
  const auto id = add("prod", sim::OsType::Linux);
  auto rt = runtime();
  RunOptions options;
  options.dry_run = true;
  const auto runs = run_policies(*rt, options);
  const auto reports = by_server(runs);
  ASSERT_TRUE(reports.count(id));
  EXPECT_THAT(reports.at(id)->detail, ::testing::HasSubstr("would accept"));
  EXPECT_TRUE(cloud_.ecs().server(id)->history.empty());
  EXPECT_EQ(rt->store().load(testing::SimulatedCloud::path(id))->version, 0U);
}

// status reads states from metadata; a quarantined server shows why; resume lifts it and the
// next run rotates it.
TEST_F(RunnerTest, StatusQuarantineAndResume) {
  const auto good = add("prod", sim::OsType::Linux);
  const auto no_plugin = add("prod", sim::OsType::Linux, false);
  auto rt = runtime();
  testing::LogCapture capture;
  RunOptions only_linux;
  only_linux.policy = "prod-linux";
  run_policies(*rt, only_linux);

  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(clock_.now());
  std::map<std::string, ServerStatus> rows;
  for (auto& row : collect_status(*rt, std::string("prod-linux"), now)) {
    rows[row.server_id] = row;
  }
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[good].state, "awaiting_restart");
  ASSERT_TRUE(rows[good].rotated_at.has_value());
  EXPECT_GT(rows[good].next_due, now + std::chrono::hours(24 * 29));
  EXPECT_THAT(rows[no_plugin].quarantined, ::testing::HasSubstr("CloudResetPwdAgent"));
  EXPECT_FALSE(rows[good].stale);

  // A process that died between a record's write and its mirror leaves the mirror behind:
  // status says so instead of presenting the old state as the truth.
  const auto good_path = testing::SimulatedCloud::path(good);
  auto metadata = rt->vault().read_metadata(good_path);
  ASSERT_TRUE(metadata.has_value());
  vault::KvMetadataUpdate behind;
  behind.custom_metadata = metadata->custom_metadata;
  (*behind.custom_metadata)[engine::RecordStore::kMirrorsVersion] =
      std::to_string(metadata->current_version - 1);
  ASSERT_TRUE(rt->vault().write_metadata(good_path, behind).has_value());
  for (auto& row : collect_status(*rt, std::string("prod-linux"), now)) {
    EXPECT_EQ(row.stale, row.server_id == good) << row.server_id;
  }

  ASSERT_TRUE(cloud_.ecs().service().set_plugin(no_plugin, true));
  ASSERT_TRUE(resume(*rt, no_plugin).has_value());
  const auto runs = run_policies(*rt, only_linux);
  EXPECT_EQ(by_server(runs).at(no_plugin)->outcome, engine::Outcome::Rotated);
  EXPECT_FALSE(resume(*rt, "not-a-server").has_value());

  for (const auto& server : cloud_.ecs().servers()) {
    for (const auto& entry : server.history) {
      EXPECT_FALSE(capture.contains(entry.password));
    }
  }
  EXPECT_FALSE(capture.contains("sk-simulated-cloud-secret"));
}

}  // namespace
}  // namespace rotor::daemon
