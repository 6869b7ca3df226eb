// The scheduler over weeks of simulated time: both simulators in-process on the same ManualClock,
// so the engine's back-off and the schedule run in milliseconds.
#include "daemon/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/chrono.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "daemon/packed_text.h"
#include "daemon/reconcile.h"
#include "daemon/runtime.h"
#include "tests/support/log_capture.h"
#include "tests/support/manual_clock.h"
#include "tests/support/seeded_random.h"
#include "tests/support/simulated_cloud.h"

namespace rotor::daemon {
namespace {

using namespace std::chrono_literals;

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("rotor-scheduler-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~SchedulerTest() override { std::filesystem::remove_all(dir_); }

  std::string add(const std::string& env) { return cloud_.add(env); }

  std::unique_ptr<Runtime> runtime() {
    return cloud_.runtime(cloud_.yaml(R"(  - name: weekly
    cloud: sim
    select: { tags: { env: weekly } }
    max_age: 7d
  - name: windowed
    cloud: sim
    select: { tags: { env: windowed } }
    max_age: 7d
    window: "Sat 02:00-06:00"
)"),
                          clock_, random_);
  }

  SchedulerOptions options() const {
    SchedulerOptions out;
    out.tick_interval = std::chrono::seconds(24h);
    out.state_file = dir_ / "schedule.json";
    return out;
  }

  std::size_t resets(const std::string& id) { return cloud_.ecs().server(id)->history.size(); }

  // Every password any server ever accepted.
  std::vector<std::string> all_passwords() const { return cloud_.passwords(ids_); }

  std::string read_file(const std::filesystem::path& file) const {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  testing::ManualClock clock_;
  testing::SeededRandom random_{11};
  testing::SimulatedCloud cloud_{&clock_};
  std::filesystem::path dir_;
  std::vector<std::string> ids_;
  std::atomic<bool> stop_{false};
};

// Servers without a record are rotated at once; then again only once max_age has passed, never
// before, over three weeks of daily ticks; the next wake-up is the next due time. (Three: the
// engine then stops rotating servers whose restarts go unconfirmed — max_unconfirmed_restarts.)
TEST_F(SchedulerTest, RotatesWhenDueAndNotBefore) {
  testing::LogCapture logs;
  ids_ = {add("weekly"), add("weekly")};
  auto rt = runtime();
  Scheduler scheduler(*rt, options());

  auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 2U);
  for (const auto& id : ids_) {
    EXPECT_EQ(resets(id), 1U);
  }
  const auto first = summary.at;
  for (int week = 1; week <= 3; ++week) {
    // Tick every day up to just before the due time: nothing happens.
    while (clock_.now() + 24h < first + week * std::chrono::seconds(7 * 24h)) {
      clock_.advance(24h);
      summary = scheduler.tick(stop_);
      EXPECT_EQ(summary.due, 0U) << "week " << week;
    }
    for (const auto& id : ids_) {
      EXPECT_EQ(resets(id), static_cast<std::size_t>(week));
    }
    // The scheduler wakes at the due time (not a tick later) and rotates both.
    EXPECT_LE(summary.next_wake, first + week * std::chrono::seconds(7 * 24h) + 60s);
    clock_.advance(std::chrono::duration_cast<std::chrono::nanoseconds>(
        summary.next_wake - std::chrono::time_point_cast<std::chrono::seconds>(clock_.now())));
    summary = scheduler.tick(stop_);
    EXPECT_EQ(summary.rotated, 2U) << "week " << week;
    for (const auto& id : ids_) {
      EXPECT_EQ(resets(id), static_cast<std::size_t>(week + 1));
    }
  }
  for (const auto& password : all_passwords()) {
    EXPECT_FALSE(logs.contains(password));
  }
}

// A windowed policy rotates only inside its window (Saturdays 02:00-06:00 UTC), even for a server
// that has no record yet; the scheduler sleeps until the window opens.
TEST_F(SchedulerTest, RotatesOnlyInsideTheWindow) {
  ids_ = {add("windowed")};
  auto rt = runtime();
  Scheduler scheduler(*rt, options());
  // Monday 00:00: outside the window.
  auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.due, 0U);
  EXPECT_EQ(resets(ids_[0]), 0U);
  const auto saturday_two = config::SysSeconds(std::chrono::seconds(1767571200)) + 5 * 24h + 2h;
  EXPECT_EQ(summary.next_wake,
            clock_.now() < saturday_two - 24h
                ? std::chrono::time_point_cast<std::chrono::seconds>(clock_.now()) + 24h
                : saturday_two);
  // Walk the week a day (then an hour) at a time, following next_wake.
  for (int i = 0; i < 200 && resets(ids_[0]) == 0; ++i) {
    clock_.advance(std::chrono::duration_cast<std::chrono::nanoseconds>(
        summary.next_wake - std::chrono::time_point_cast<std::chrono::seconds>(clock_.now())));
    summary = scheduler.tick(stop_);
  }
  ASSERT_EQ(resets(ids_[0]), 1U);
  const auto at = cloud_.ecs().server(ids_[0])->history.front().at;
  EXPECT_GE(at, saturday_two);
  EXPECT_LT(at, saturday_two + 4h);
  // A week later the next rotation again waits for the window.
  clock_.advance(7 * 24h - 3h);  // Saturday 23:00-ish: due (7d), but outside the window
  summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.due, 0U);
  EXPECT_EQ(resets(ids_[0]), 1U);
}

// A rotation interrupted after its reset (a crash) is pending in Vault; a new scheduler (a daemon
// restart) resumes it on its first tick with the same password, and the record ends current.
TEST_F(SchedulerTest, ResumesPendingRotations) {
  testing::LogCapture logs;
  ids_ = {add("weekly")};
  auto rt = runtime();
  {
    Scheduler scheduler(*rt, options());
    rt->rotator("sim")->set_failpoint([](engine::Step step, const std::string&) {
      if (step == engine::Step::ResetSent) {
        throw std::runtime_error("simulated crash");
      }
    });
    EXPECT_THROW(scheduler.tick(stop_), std::runtime_error);
    rt->rotator("sim")->set_failpoint({});
  }
  ASSERT_EQ(resets(ids_[0]), 1U);
  const std::string sent = cloud_.ecs().server(ids_[0])->history.back().password;

  clock_.advance(1h);
  auto restarted = runtime();
  Scheduler scheduler(*restarted, options());
  const auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 1U);
  const auto view = scheduler.servers();
  ASSERT_EQ(view.size(), 1U);
  EXPECT_NE(view[0].state, "pending");
  // Resumed with the same password: the cloud saw it (again), and Vault holds it.
  const auto history = cloud_.ecs().server(ids_[0])->history;
  EXPECT_EQ(history.back().password, sent);
  auto stored = restarted->store().load(testing::SimulatedCloud::path(ids_[0]));
  ASSERT_TRUE(stored.has_value()) << stored.error().to_string();
  EXPECT_EQ(stored->record.password.reveal(), sent);
  EXPECT_FALSE(logs.contains(sent));
}

// Found by the chaos harness: a pending record whose metadata mirror is stale (its write failed,
// or the daemon died between the data and the mirror) and says "current, rotated just now" is
// still resumed on the next tick — the data is the truth — and the mirror is refreshed.
TEST_F(SchedulerTest, ResumesPendingBehindAStaleMirror) {
  ids_ = {add("weekly")};
  const std::string path = "ecs/sim/0a1b2c3d4e5f40718293a4b5c6d7e8f9/" + ids_[0];
  auto rt = runtime();
  {
    Scheduler scheduler(*rt, options());
    rt->rotator("sim")->set_failpoint([](engine::Step step, const std::string&) {
      if (step == engine::Step::PendingWritten) {
        throw std::runtime_error("simulated crash");
      }
    });
    EXPECT_THROW(scheduler.tick(stop_), std::runtime_error);
    rt->rotator("sim")->set_failpoint({});
  }
  // The mirror as a lost write would leave it: an older, innocent-looking state.
  vault::KvMetadataUpdate stale;
  stale.custom_metadata = std::map<std::string, std::string>{
      {"state", "current"},
      {"policy", "weekly"},
      {"managed_by", "rotor"},
      {"rotated_at", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                                 std::chrono::floor<std::chrono::seconds>(clock_.now()))},
      {"mirrors_version", "0"}};
  ASSERT_TRUE(rt->vault().write_metadata(path, stale).has_value());
  clock_.advance(1h);  // not due by age: only the data says it is pending

  auto restarted = runtime();
  Scheduler scheduler(*restarted, options());
  const auto summary = scheduler.tick(stop_);
  EXPECT_EQ(summary.rotated, 1U);
  auto stored = restarted->store().load(path);
  ASSERT_TRUE(stored.has_value()) << stored.error().to_string();
  EXPECT_NE(stored->record.state, engine::State::Pending);
  auto metadata = restarted->vault().read_metadata(path);
  ASSERT_TRUE(metadata.has_value());
  EXPECT_FALSE(engine::RecordStore::mirror_is_stale(*metadata));
  EXPECT_NE(metadata->custom_metadata.at("state"), "pending");
}

// The state cache holds no password; deleting it changes nothing: the next tick rebuilds the same
// view from Vault metadata and rotates nothing that is not due.
TEST_F(SchedulerTest, StateCacheHoldsNoSecretAndItsLossLosesNothing) {
  ids_ = {add("weekly"), add("weekly"), add("windowed")};
  auto rt = runtime();
  Scheduler scheduler(*rt, options());
  scheduler.tick(stop_);
  clock_.advance(2h);
  scheduler.tick(stop_);
  const auto cache = read_file(dir_ / "schedule.json");
  ASSERT_THAT(cache, ::testing::HasSubstr(ids_[0]));
  for (const auto& password : all_passwords()) {
    EXPECT_EQ(cache.find(password), std::string::npos);
  }
  EXPECT_EQ(cache.find("password"), std::string::npos);
  EXPECT_EQ(std::filesystem::status(dir_ / "schedule.json").permissions() &
                (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
  const auto before = scheduler.servers();

  std::filesystem::remove(dir_ / "schedule.json");
  Scheduler fresh(*rt, options());
  EXPECT_TRUE(fresh.servers().empty());
  clock_.advance(1h);
  const auto summary = fresh.tick(stop_);
  EXPECT_EQ(summary.due, 0U);
  const auto after = fresh.servers();
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].server_id, before[i].server_id);
    EXPECT_EQ(after[i].state, before[i].state);
    EXPECT_EQ(after[i].rotated_at, before[i].rotated_at);
    EXPECT_EQ(after[i].next_due, before[i].next_due);
  }
  EXPECT_THAT(fresh.status_line(), ::testing::HasSubstr("2 policies, 3 servers, 0 pending"));
}

// A stop request lets no new rotation start.
TEST_F(SchedulerTest, StopRequestStartsNoRotation) {
  ids_ = {add("weekly")};
  auto rt = runtime();
  Scheduler scheduler(*rt, options());
  stop_ = true;
  const auto summary = scheduler.tick(stop_);
  EXPECT_TRUE(summary.interrupted);
  EXPECT_EQ(resets(ids_[0]), 0U);
}

// The compact table keeps every field of a ServerView, in id order; of two entries with one id the
// last added wins (as assigning into a map did); put() replaces or inserts in order.
TEST(ServerTableTest, KeepsEveryFieldInIdOrder) {
  ServerView a;
  a.policy = "weekly";
  a.server_id = "b-id";
  a.server_name = "web-1";
  a.state = "current";
  a.rotated_at = config::SysSeconds(std::chrono::seconds(1'700'000'000));
  a.next_due = config::SysSeconds(std::chrono::seconds(1'700'600'000));
  ServerView b;
  b.policy = "windowed";
  b.server_id = "a-id";
  b.state = "pending";
  b.quarantined = "no plug-in";
  b.alert = true;
  b.unverified = true;
  ServerView replaced = a;
  replaced.state = "unrotated";
  ServerTable table;
  table.add(replaced);
  table.add(b);
  table.add(a);  // the same id as `replaced`, added later: wins
  table.seal();
  ASSERT_EQ(table.size(), 2U);
  EXPECT_EQ(table.id(0), "a-id");
  EXPECT_EQ(table.id(1), "b-id");
  const auto check = [](const ServerView& got, const ServerView& want) {
    EXPECT_EQ(got.policy, want.policy);
    EXPECT_EQ(got.server_id, want.server_id);
    EXPECT_EQ(got.server_name, want.server_name);
    EXPECT_EQ(got.state, want.state);
    EXPECT_EQ(got.rotated_at, want.rotated_at);
    EXPECT_EQ(got.next_due, want.next_due);
    EXPECT_EQ(got.quarantined, want.quarantined);
    EXPECT_EQ(got.alert, want.alert);
    EXPECT_EQ(got.unverified, want.unverified);
  };
  check(table.at(0), b);
  check(table.at(1), a);
  check(*table.find("b-id"), a);
  EXPECT_FALSE(table.find("c-id").has_value());
  EXPECT_EQ(table.quarantined(0), "no plug-in");
  EXPECT_EQ(table.state(1), "current");

  ServerView c = a;
  c.server_id = "ab-id";
  table.put(c);  // inserted between the two
  b.state = "current";
  table.put(b);  // replaced
  ASSERT_EQ(table.size(), 3U);
  EXPECT_EQ(table.id(1), "ab-id");
  check(*table.find("a-id"), b);
  check(*table.find("ab-id"), c);
}

class StateCacheTest : public ::testing::Test {
 protected:
  StateCacheTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("rotor-state-cache-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    file_ = dir_ / "schedule.json";
  }
  ~StateCacheTest() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& text) const { std::ofstream(file_) << text; }
  std::string read() const {
    std::ifstream in(file_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Servers with and without rotated_at and quarantine, and names that need escaping.
  static std::vector<ServerView> sample() {
    std::vector<ServerView> out(3);
    out[0].policy = "weekly";
    out[0].server_id = "0f9c6a1e-2d3b-4c5d-8e9f-0a1b2c3d4e5f";
    out[0].state = "current";
    out[0].rotated_at = config::SysSeconds(std::chrono::seconds(1'700'000'000));
    out[0].next_due = config::SysSeconds(std::chrono::seconds(1'700'600'000));
    out[1].policy = "p \"quoted\" \\ ü";
    out[1].server_id = "1-id";
    out[1].state = "unrotated";
    out[1].next_due = config::SysSeconds(std::chrono::seconds(5));
    out[2].policy = "weekly";
    out[2].server_id = "2-id";
    out[2].state = "pending";
    out[2].quarantined = "no plug-in\nfor this image";
    return out;
  }

  // The file as the document writer of version 1 made it (nlohmann::json, dump(1)).
  static std::string document(const std::vector<ServerView>& servers) {
    nlohmann::json json;
    json["version"] = 1;
    json["note"] = "a cache of the schedule; no secret; Vault metadata is the truth";
    auto& entries = json["servers"];
    entries = nlohmann::json::object();
    for (const auto& sv : servers) {
      nlohmann::json entry;
      entry["policy"] = sv.policy;
      entry["state"] = sv.state;
      if (sv.rotated_at) {
        entry["rotated_at"] = sv.rotated_at->time_since_epoch().count();
      }
      entry["next_due"] = sv.next_due.time_since_epoch().count();
      if (!sv.quarantined.empty()) {
        entry["quarantined"] = sv.quarantined;
      }
      entries[sv.server_id] = std::move(entry);
    }
    return json.dump(1) + "\n";
  }

  std::filesystem::path dir_;
  std::filesystem::path file_;
};

// The streamed file is byte for byte the version-1 document, for a fleet and for no server.
TEST_F(StateCacheTest, StreamedFileIsTheVersionOneDocument) {
  ServerTable table;
  for (const auto& sv : sample()) {
    table.add(sv);
  }
  table.seal();
  ASSERT_TRUE(write_state_cache(file_, table));
  EXPECT_EQ(read(), document(sample()));
  ASSERT_TRUE(write_state_cache(file_, ServerTable{}));
  EXPECT_EQ(read(), document({}));
}

// A file of the document writer reads back whole (unknown fields ignored); what it does not hold
// (names, alerts) reads as empty.
TEST_F(StateCacheTest, ReadsTheDocumentWritersFile) {
  auto text = document(sample());
  text.replace(text.find("\"version\""), 0, "\"extra\": {\"a\": [1, {\"b\": null}]}, ");
  write(text);
  const ServerTable table = read_state_cache(file_);
  auto want = sample();
  std::sort(want.begin(), want.end(),
            [](const auto& a, const auto& b) { return a.server_id < b.server_id; });
  ASSERT_EQ(table.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const ServerView got = table.at(i);
    EXPECT_EQ(got.server_id, want[i].server_id);
    EXPECT_EQ(got.policy, want[i].policy);
    EXPECT_EQ(got.state, want[i].state);
    EXPECT_EQ(got.rotated_at, want[i].rotated_at);
    EXPECT_EQ(got.next_due, want[i].next_due);
    EXPECT_EQ(got.quarantined, want[i].quarantined);
    EXPECT_TRUE(got.server_name.empty());
  }
}

// A broken file, one of the wrong shape, or of another version is ignored: it is only a cache.
TEST_F(StateCacheTest, IgnoresBrokenFilesAndOtherVersions) {
  testing::LogCapture logs;
  const std::string good = document(sample());
  for (const std::string& text :
       {good.substr(0, good.size() / 2), std::string("[]"), std::string("{\"version\": 1}"),
        std::string(R"({"servers": []})"), std::string(R"({"servers": {"x": 3}})"),
        std::string(R"({"servers": {"x": {"policy": 3}}})"),
        std::string(R"({"servers": {"x": {"next_due": "soon"}}})"),
        std::string(R"({"servers": {"x": {"state": ["a"]}}})"),
        std::string(R"({"servers": {"x": {"policy": "p"}}, "version": 2})")}) {
    write(text);
    EXPECT_TRUE(read_state_cache(file_).empty()) << text;
  }
  EXPECT_TRUE(logs.contains("ignoring a broken state cache"));
  EXPECT_TRUE(logs.contains("ignoring a state cache of another version"));
  std::filesystem::remove(file_);
  EXPECT_TRUE(read_state_cache(file_).empty());
}

// The reconcile pass's compact sets: exact look-ups (no prefix or hash match), duplicates
// dropped, and a rollback to what was added before a failed listing.
TEST(ReconcileSetsTest, StringSetIsExactAndTruncates) {
  StringSet paths;
  paths.add("ecs/c/p/b");
  paths.add("ecs/c/p/a");
  paths.add("ecs/c/p/b");
  const std::size_t mark = paths.size();
  paths.add("ecs/c/p/partial");
  paths.truncate(mark);
  paths.seal();
  ASSERT_EQ(paths.size(), 2U);
  EXPECT_EQ(paths.at(0), "ecs/c/p/a");
  EXPECT_EQ(paths.at(1), "ecs/c/p/b");
  EXPECT_TRUE(paths.contains("ecs/c/p/a"));
  EXPECT_FALSE(paths.contains("ecs/c/p/"));
  EXPECT_FALSE(paths.contains("ecs/c/p/a2"));
  EXPECT_FALSE(paths.contains("ecs/c/p/partial"));
  EXPECT_FALSE(StringSet().contains(""));
}

// Folders are kept once for the first few; past those, strings are kept whole: found all the
// same, and never a string of one folder for another's.
TEST(ReconcileSetsTest, StringSetKeepsStringsOfManyFolders) {
  StringSet paths;
  for (int folder = 0; folder < 100; ++folder) {
    paths.add(fmt::format("ecs/f{}/a", folder));
    paths.add(fmt::format("ecs/f{}/b", folder));
  }
  paths.add("plain");
  paths.add("/rooted");
  paths.seal();
  EXPECT_EQ(paths.size(), 202U);
  for (int folder = 0; folder < 100; ++folder) {
    EXPECT_TRUE(paths.contains(fmt::format("ecs/f{}/a", folder))) << folder;
    EXPECT_TRUE(paths.contains(fmt::format("ecs/f{}/b", folder))) << folder;
    EXPECT_FALSE(paths.contains(fmt::format("ecs/f{}/c", folder))) << folder;
  }
  EXPECT_FALSE(paths.contains("ecs/f100/a"));
  EXPECT_FALSE(paths.contains("a"));
  EXPECT_TRUE(paths.contains("plain"));
  EXPECT_TRUE(paths.contains("/rooted"));
  EXPECT_FALSE(paths.contains("rooted"));
  std::set<std::string> listed;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    listed.insert(paths.at(i));
  }
  EXPECT_EQ(listed.size(), 202U);
  EXPECT_EQ(listed.count("ecs/f99/b"), 1U);
}

// Ids always; names only when asked for, the last listed winning among servers of one name.
TEST(ReconcileSetsTest, ListedServersFindIdsAndNames) {
  ListedServers named(true);
  named.add("id-2", "web");
  named.add("id-1", "db");
  named.add("id-3", "web");
  named.seal();
  EXPECT_TRUE(named.contains_id("id-1"));
  EXPECT_TRUE(named.contains_id("id-3"));
  EXPECT_FALSE(named.contains_id("id-"));
  EXPECT_FALSE(named.contains_id("web"));
  EXPECT_EQ(named.id_by_name("db"), std::optional<std::string_view>("id-1"));
  EXPECT_EQ(named.id_by_name("web"), std::optional<std::string_view>("id-3"));
  EXPECT_EQ(named.id_by_name("we"), std::nullopt);
  ListedServers ids;
  ids.add("id-1", "db");
  ids.seal();
  EXPECT_TRUE(ids.contains_id("id-1"));
  EXPECT_EQ(ids.id_by_name("db"), std::nullopt);
}

// The tick's selection, as marks on the listing: exact per scope, by id or by any server of the
// name, and a mark set while the listing was still growing is kept.
TEST(ReconcileSetsTest, ListedServersRemembersTheSelectionPerScope) {
  ListedServers listed(true);
  const std::uint32_t web = listed.add("id-2", "web");
  listed.mark_selected(1, web);
  (void)listed.add("id-1", "db");
  const std::uint32_t second_web = listed.add("id-3", "web");
  for (int i = 0; i < 100; ++i) {
    (void)listed.add("id-x" + std::to_string(i), "x");
  }
  listed.seal();
  EXPECT_TRUE(listed.selected(1, "id-2", false));
  EXPECT_FALSE(listed.selected(0, "id-2", false)) << "another scope";
  EXPECT_FALSE(listed.selected(2, "id-2", false)) << "a scope never marked";
  EXPECT_FALSE(listed.selected(1, "id-1", false));
  EXPECT_FALSE(listed.selected(1, "id-", false));
  EXPECT_TRUE(listed.selected(1, "web", true)) << "by name: one of the servers of that name";
  EXPECT_FALSE(listed.selected(1, "db", true));
  EXPECT_FALSE(listed.selected(1, "we", true));
  ASSERT_EQ(listed.index_of_id("id-3"), std::optional<std::uint32_t>(second_web));
  listed.mark_selected(0, second_web);
  EXPECT_TRUE(listed.selected(0, "web", true));
  EXPECT_TRUE(listed.selected(0, "id-3", false));
  EXPECT_FALSE(listed.selected(0, "id-x99", false));
}

// The fleet's text buffers hold what was reserved, and past it grow by a quarter: libstdc++'s
// reserve() alone would double them (100,000 ids and names: 5 MB of text in a 10 MB buffer).
TEST(PackedTextTest, GrowsByAQuarterNotDoubled) {
  std::string text;
  reserve_packed(text, 1000, 16);
  EXPECT_EQ(text.capacity(), 1000U * 18);
  const std::string part(16, 'x');
  for (int i = 0; i < 1000; ++i) {
    append_packed(text, {part, ""});
  }
  EXPECT_EQ(text.capacity(), 1000U * 18) << "the eighth more was enough";
  while (text.size() + 16 <= text.capacity()) {
    append_packed(text, {part});
  }
  const std::size_t full = text.capacity();
  append_packed(text, {"a", part});
  const std::size_t needed = text.size();
  EXPECT_GT(needed, full);
  EXPECT_EQ(text.capacity(), needed + needed / 4) << "a quarter more than it needed";
  EXPECT_EQ(text.substr(0, 16), part);
  EXPECT_EQ(text.substr(text.size() - 17), "a" + part);
  const std::size_t grown = text.capacity();
  reserve_packed(text, 10, 16);
  EXPECT_LT(text.capacity(), grown + grown / 2) << "a reserve past the capacity is not doubled";
  EXPECT_GE(text.capacity(), text.size() + 10 * 18);
}

// A table rolled back to a mark keeps exactly the servers added before it.
TEST(ServerTableTest, TruncateDropsWhatAFailedListingAdded) {
  ServerTable table;
  ServerView sv;
  sv.policy = "p";
  sv.state = "current";
  sv.server_id = "b";
  sv.server_name = "web-b";
  table.add(sv);
  const std::size_t mark = table.size();
  sv.server_id = "a";
  sv.server_name = "web-a";
  table.add(sv);
  table.truncate(mark);
  sv.server_id = "c";
  sv.server_name = "web-c";
  table.add(sv);
  table.seal();
  ASSERT_EQ(table.size(), 2U);
  EXPECT_EQ(table.at(0).server_id, "b");
  EXPECT_EQ(table.at(0).server_name, "web-b");
  EXPECT_EQ(table.at(1).server_id, "c");
  EXPECT_EQ(table.at(1).server_name, "web-c");
  EXPECT_FALSE(table.find("a"));
}

}  // namespace
}  // namespace rotor::daemon
