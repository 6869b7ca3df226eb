// The chaos harness's checks: each invariant is shown to catch the violation it is for, so that
// a clean chaos run means something.
#include "tests/chaos/oracle.h"

#include <gtest/gtest.h>

namespace rotor::chaos {
namespace {

using nlohmann::json;

class OracleTest : public ::testing::Test {
 protected:
  // One Linux server rotated once: it accepts "Init-0000000000!Zq7" now and "P1-first-password"
  // after its restart.
  Snapshot rotated_once() {
    Snapshot snap;
    ServerTruth server;
    server.id = "s1";
    server.name = "prod-web-00001";
    server.current_password = "Init-0000000000!Zq7";
    server.after_restart_password = "P1-first-password";
    server.history = {"P1-first-password"};
    snap.servers.push_back(server);
    RecordTruth record;
    record.latest = {{"password", "P1-first-password"},
                     {"state", "awaiting_restart"},
                     {"rotated_at", "2026-12-03T10:00:00Z"}};
    record.all_passwords = {"P1-first-password"};
    snap.records["s1"] = record;
    return snap;
  }
};

// The simulators' JSON becomes the snapshot: history in order, the latest version's fields.
TEST_F(OracleTest, ParsesTheSimulatorsJson) {
  const json servers = json::parse(R"({"servers":[{"id":"s1","name":"n","os_type":"Windows",
    "plugin":true,"current_password":"a","after_restart_password":"b",
    "history":[{"password":"b","at":"x","api":"reset-v2.1","effective":true}]}]})");
  const auto parsed = parse_ecs_servers(servers);
  ASSERT_EQ(parsed.size(), 1U);
  EXPECT_TRUE(parsed[0].windows);
  EXPECT_EQ(parsed[0].history, std::vector<std::string>{"b"});

  const json dump = json::parse(R"({"mounts":{"secret":{"secrets":{
    "ecs/c/p/s1":{"current_version":2,"versions":{
      "1":{"deleted":false,"data":{"pending_password":"b","state":"pending"}},
      "2":{"deleted":false,"data":{"password":"b","previous_password_2":"z","state":"current"}}}},
    "other/x":{"current_version":1,"versions":{"1":{"data":{"password":"q"}}}}}}}})");
  const auto records = parse_vault_dump(dump, "secret", "ecs/c/p/");
  ASSERT_EQ(records.size(), 1U);
  const auto& record = records.at("s1");
  EXPECT_EQ(record.latest.at("state"), "current");
  EXPECT_EQ(record.latest.count("pending_password"), 0U);
  EXPECT_EQ(record.all_passwords.size(), 3U);
}

// I1 holds for a committed rotation; the operator's initial password is exempt.
TEST_F(OracleTest, NoLockoutHoldsForACommittedRotation) {
  EXPECT_TRUE(check_no_lockout(rotated_once()).empty());
}

// I1: a password the server will accept after its restart but that Vault lost is caught, and
// the message names the server, never the password.
TEST_F(OracleTest, NoLockoutCatchesALostPassword) {
  Snapshot snap = rotated_once();
  snap.records["s1"].latest["password"] = "P2-something-else";
  const auto violations = check_no_lockout(snap);
  ASSERT_EQ(violations.size(), 1U);
  EXPECT_NE(violations[0].find("s1"), std::string::npos);
  EXPECT_NE(violations[0].find("after its restart"), std::string::npos);
  EXPECT_EQ(violations[0].find("P1-first-password"), std::string::npos);
}

// I1: a pending password counts (it was stored before it was sent); previous_password_N too.
TEST_F(OracleTest, NoLockoutAcceptsPendingAndOlderPasswords) {
  Snapshot snap = rotated_once();
  snap.records["s1"].latest = {{"pending_password", "P1-first-password"}, {"state", "pending"}};
  EXPECT_TRUE(check_no_lockout(snap).empty());
  snap.servers[0].current_password = "P0-older-password";
  snap.servers[0].history.insert(snap.servers[0].history.begin(), "P0-older-password");
  EXPECT_EQ(check_no_lockout(snap).size(), 1U);
  snap.records["s1"].latest["previous_password_2"] = "P0-older-password";
  EXPECT_TRUE(check_no_lockout(snap).empty());
}

// I2: a password given twice to one server (with another in between) is a reuse; sending the
// same pending password again is not.
TEST_F(OracleTest, UniqueAndFreshCatchesReuse) {
  Snapshot snap = rotated_once();
  const std::set<std::string> unique{"s1"};
  const std::map<std::string, std::string> policy{{"s1", "prod"}};
  snap.servers[0].history = {"P1-first-password", "P1-first-password", "P2-second-password"};
  EXPECT_TRUE(check_unique_and_fresh(snap, unique, policy).empty());
  snap.servers[0].history.push_back("P1-first-password");
  EXPECT_EQ(check_unique_and_fresh(snap, unique, policy).size(), 1U);
}

// I2: two unique-mode servers with one password are caught; shared-mode servers of one policy
// may share, of two policies may not.
TEST_F(OracleTest, UniqueAndFreshCatchesSharing) {
  Snapshot snap = rotated_once();
  ServerTruth other = snap.servers[0];
  other.id = "s2";
  snap.servers.push_back(other);
  std::map<std::string, std::string> policy{{"s1", "shared-a"}, {"s2", "shared-a"}};
  EXPECT_TRUE(check_unique_and_fresh(snap, {}, policy).empty());
  EXPECT_EQ(check_unique_and_fresh(snap, {"s1", "s2"}, policy).size(), 2U);
  policy["s2"] = "shared-b";
  EXPECT_FALSE(check_unique_and_fresh(snap, {}, policy).empty());
}

// I4: a pending record, a server never rotated, and a plug-in-less server not quarantined.
TEST_F(OracleTest, ProgressCatchesPendingAndUnrotated) {
  Snapshot snap = rotated_once();
  EXPECT_TRUE(check_progress(snap).empty());
  snap.records["s1"].latest["pending_password"] = "P2-second-password";
  EXPECT_EQ(check_progress(snap).size(), 1U);
  snap.records.clear();
  EXPECT_EQ(check_progress(snap).size(), 1U);
  snap.servers[0].plugin = false;
  EXPECT_EQ(check_progress(snap).size(), 1U);
  snap.records["s1"].latest["quarantined"] = "no reset plug-in";
  EXPECT_TRUE(check_progress(snap).empty());
}

// The metrics comparison: counts by policy and state from Vault and from a scrape.
TEST_F(OracleTest, StateCountsMatchAScrape) {
  Snapshot snap = rotated_once();
  ServerTruth fresh = snap.servers[0];
  fresh.id = "s2";
  snap.servers.push_back(fresh);  // no record: unrotated
  const std::map<std::string, std::string> policy{{"s1", "prod"}, {"s2", "prod"}};
  const auto truth = state_counts(snap, policy);
  const auto scraped = scraped_state_counts(
      "# HELP rotor_servers x\nrotor_servers{policy=\"prod\",state=\"awaiting_restart\"} 1\n"
      "rotor_servers{policy=\"prod\",state=\"unrotated\"} 1\n"
      "rotor_servers{policy=\"prod\",state=\"pending\"} 0\n");
  EXPECT_EQ(truth, scraped);
  EXPECT_EQ(truth.at({"prod", "unrotated"}), 1);
}

// The leak scanner finds a known password anywhere in a text, and counts what it read.
TEST_F(OracleTest, LeakScannerFindsKnownPasswords) {
  LeakScanner scanner;
  scanner.add_snapshot(rotated_once());
  EXPECT_EQ(scanner.passwords(), 2U);
  EXPECT_EQ(scanner.scan("rotation finished server_id=s1 result=rotated", "log"), 0U);
  EXPECT_EQ(scanner.scan("oops password=P1-first-password\n", "log line"), 1U);
  ASSERT_EQ(scanner.findings().size(), 1U);
  EXPECT_EQ(scanner.findings()[0].find("P1-first"), std::string::npos);
  EXPECT_NE(scanner.findings()[0].find("log line"), std::string::npos);
  EXPECT_EQ(scanner.texts_scanned(), 2U);
  EXPECT_EQ(scanner.take_findings().size(), 1U);
  EXPECT_TRUE(scanner.findings().empty());
}

}  // namespace
}  // namespace rotor::chaos
