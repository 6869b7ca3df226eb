// The Vault client (over the libcurl transport) against the simulator on loopback HTTPS. The
// client and the simulator share one ManualClock, so token TTLs run out without real waiting.

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "http/curl_transport.h"
#include "sim/vault/simulator.h"
#include "tests/support/log_capture.h"
#include "tests/support/manual_clock.h"
#include "tests/support/seeded_random.h"
#include "tests/support/test_tls.h"
#include "vault/client.h"

namespace rotor {
namespace {

using namespace std::chrono_literals;
using rotor::testing::ManualClock;

// A clock whose sleep_for also runs a hook: lets a test act "while" the client waits.
class HookedClock final : public Clock {
 public:
  explicit HookedClock(ManualClock& inner) : inner_(inner) {}
  [[nodiscard]] std::chrono::system_clock::time_point now() const override { return inner_.now(); }
  [[nodiscard]] std::chrono::steady_clock::time_point monotonic() const override {
    return inner_.monotonic();
  }
  void sleep_for(std::chrono::nanoseconds duration) override {
    inner_.sleep_for(duration);
    ++sleeps_;
    if (hook_) {
      hook_(sleeps_);
    }
  }
  std::function<void(int)> hook_;
  int sleeps_ = 0;

 private:
  ManualClock& inner_;
};

constexpr const char* kPassword = "N3w<P@ss>&word";

class VaultIntegrationTest : public ::testing::Test {
 protected:
  VaultIntegrationTest() : pki_(rotor::testing::make_test_pki()), hooked_(clock_) {
    sim::VaultSimulatorOptions options;
    options.tls_cert = pki_.server_cert;
    options.tls_key = pki_.server_key;
    options.clock = &clock_;
    sim::AppRoleSpec role{"role-1", "sid-secret-1"};
    role.token_ttl = 1200;
    role.token_max_ttl = 3000;
    options.vault.approles.push_back(role);
    options.vault.kv1_mounts = {"kv1"};
    simulator_ = std::make_unique<sim::VaultSimulator>(options);
    http::CurlOptions curl;
    curl.ca_file = pki_.ca_cert;
    transport_ = std::make_unique<http::CurlTransport>(curl);
    config_.address = simulator_->address();
    config_.ca_file = pki_.ca_cert.string();
  }
  ~VaultIntegrationTest() override {
    transport_.reset();  // close the keep-alive connections first: the server waits for them
    simulator_.reset();
    rotor::testing::remove_test_pki(pki_);
  }

  vault::VaultClient approle_client() {
    return vault::VaultClient(config_, vault::AppRoleAuth{"role-1", Secret::from("sid-secret-1")},
                              *transport_, hooked_, random_);
  }

  static vault::KvData fields(const char* password, const char* state) {
    vault::KvData data;
    data.secrets.emplace("password", Secret::from(password));
    data.plain.emplace("username", "root");
    data.plain.emplace("state", state);
    return data;
  }

  rotor::testing::TestPki pki_;
  ManualClock clock_;
  HookedClock hooked_;
  rotor::testing::SeededRandom random_;
  rotor::testing::LogCapture logs_;
  std::unique_ptr<sim::VaultSimulator> simulator_;
  std::unique_ptr<http::CurlTransport> transport_;
  vault::VaultConfig config_;
};

// The rotation engine's cycle: create-only, CAS updates, a conflict for a stale writer,
// metadata, and `<>&` surviving the round trip.
TEST_F(VaultIntegrationTest, CasCycleAndConflict) {
  auto client = approle_client();
  ASSERT_TRUE(client.start());
  auto missing = client.read("servers/db01");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::NotFound);

  auto v1 = client.write("servers/db01", fields(kPassword, "current"), vault::Cas::expect(0));
  ASSERT_TRUE(v1) << v1.error().to_string();
  EXPECT_EQ(v1->version, 1U);
  auto v2 = client.write("servers/db01", fields("second", "pending"), vault::Cas::expect(1));
  ASSERT_TRUE(v2) << v2.error().to_string();
  EXPECT_EQ(v2->version, 2U);
  // A stale writer (read version 1) loses.
  auto stale = client.write("servers/db01", fields("stale", "pending"), vault::Cas::expect(1));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::Conflict);

  auto old = client.read("servers/db01", 1);
  ASSERT_TRUE(old) << old.error().to_string();
  EXPECT_EQ(old->data.secret("password")->reveal(), kPassword);
  EXPECT_EQ(*old->data.text("state"), "current");

  vault::KvMetadataUpdate update;
  update.max_versions = 20;
  update.custom_metadata = std::map<std::string, std::string>{{"state", "pending"}};
  ASSERT_TRUE(client.write_metadata("servers/db01", update));
  auto meta = client.read_metadata("servers/db01");
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->current_version, 2U);
  EXPECT_EQ(meta->max_versions, 20U);
  EXPECT_EQ(meta->custom_metadata.at("state"), "pending");
  auto latest = client.read("servers/db01");
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->custom_metadata.at("state"), "pending");

  auto keys = client.list("servers");
  ASSERT_TRUE(keys);
  EXPECT_EQ(*keys, std::vector<std::string>{"db01"});

  ASSERT_TRUE(client.soft_delete("servers/db01"));
  auto deleted = client.read("servers/db01");
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(deleted->deleted);
  EXPECT_EQ(deleted->version, 2U);
  EXPECT_TRUE(client.write("servers/db01", fields("after", "current"), vault::Cas::expect(2)));

  EXPECT_FALSE(logs_.contains(kPassword));
  EXPECT_FALSE(logs_.contains("sid-secret-1"));
}

// The token expires mid-run (TTL passes, or it is revoked): the next request logs in again.
TEST_F(VaultIntegrationTest, TokenExpiresMidRun) {
  auto client = approle_client();
  ASSERT_TRUE(client.start());
  ASSERT_TRUE(client.write("a", fields("p1", "current"), vault::Cas::expect(0)));
  clock_.advance(1300s);  // past the 1200 s TTL without renewing
  auto read = client.read("a");
  ASSERT_TRUE(read) << read.error().to_string();
  EXPECT_EQ(read->version, 1U);

  simulator_->core().expire_token("");  // every token but root, now
  EXPECT_TRUE(client.write("a", fields("p2", "current"), vault::Cas::expect(1)));
}

// One client shared by many workers (as the engine's RecordStore does): their CAS writes and
// reads all land, and a token that dies under all of them at once is replaced by one login.
TEST_F(VaultIntegrationTest, SharedByManyWorkers) {
  vault::VaultClient client(config_, vault::AppRoleAuth{"role-1", Secret::from("sid-secret-1")},
                            *transport_, clock_, random_);  // ManualClock: thread-safe
  ASSERT_TRUE(client.start());
  constexpr int kWorkers = 8;
  constexpr int kWrites = 6;
  auto run_workers = [&](int round) {
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        const std::string path = "servers/w" + std::to_string(w);
        for (int i = 0; i < kWrites; ++i) {
          const auto version = static_cast<std::uint64_t>(round * kWrites + i);
          if (!client.write(path, fields(kPassword, "current"), vault::Cas::expect(version)) ||
              !client.read(path)) {
            ++failures;
          }
        }
      });
    }
    for (auto& worker : workers) {
      worker.join();
    }
    return failures.load();
  };
  EXPECT_EQ(run_workers(0), 0);
  const auto logins = [&] {
    int count = 0;
    for (const auto& line : logs_.lines()) {
      count += line.find("vault token obtained") != std::string::npos ? 1 : 0;
    }
    return count;
  };
  EXPECT_EQ(logins(), 1);
  simulator_->core().expire_token("");  // dies under every worker
  EXPECT_EQ(run_workers(1), 0);
  EXPECT_EQ(logins(), 2) << logs_.joined();
  for (int w = 0; w < kWorkers; ++w) {
    auto read = client.read("servers/w" + std::to_string(w));
    ASSERT_TRUE(read);
    EXPECT_EQ(read->version, static_cast<std::uint64_t>(2 * kWrites));
  }
  EXPECT_FALSE(logs_.contains(kPassword));
}

// Renewal on schedule, then the max TTL caps it and the client logs in again before expiry.
TEST_F(VaultIntegrationTest, RenewalThenReloginAtMaxTtl) {
  auto client = approle_client();
  ASSERT_TRUE(client.start());
  for (int step = 0; step < 12; ++step) {
    const auto next = client.next_renewal();
    ASSERT_TRUE(next);
    clock_.advance(*next - clock_.monotonic());
    ASSERT_TRUE(client.maybe_renew()) << "step " << step;
    // The token works after every step: it never lapses.
    auto read = client.read("nothing-here");
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::NotFound) << read.error().to_string();
  }
  EXPECT_FALSE(logs_.contains("sid-secret-1"));
}

// Sealed in the middle of a run: the client waits (back-off on the clock) and continues once the
// simulator is unsealed.
TEST_F(VaultIntegrationTest, SealThenUnseal) {
  auto client = approle_client();
  ASSERT_TRUE(client.start());
  ASSERT_TRUE(client.write("a", fields("p1", "current"), vault::Cas::expect(0)));
  simulator_->core().seal();
  hooked_.hook_ = [this](int sleeps) {
    if (sleeps == 3) {
      simulator_->core().unseal();
    }
  };
  auto read = client.read("a");
  ASSERT_TRUE(read) << read.error().to_string();
  EXPECT_EQ(read->version, 1U);
  EXPECT_GE(hooked_.sleeps_, 3);

  // Sealed for good: bounded.
  hooked_.hook_ = nullptr;
  simulator_->core().seal();
  auto refused = client.read("a");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::ServiceUnavailable);
  EXPECT_NE(refused.error().to_string().find("Vault is sealed"), std::string::npos);
  simulator_->core().unseal();
}

// Under injected 5xx, 429, 412 and connections dropped after applied writes, CAS keeps the secret
// honest: every write either got its version, or a re-read shows whether it landed — never a lost
// or doubled version.
TEST_F(VaultIntegrationTest, FaultsNeverMakeTheSecretLie) {
  auto client = approle_client();
  ASSERT_TRUE(client.start());
  sim::VaultFaults faults;
  faults.enabled = true;
  faults.error_rate = 0.2;
  faults.reset_after_write_rate = 0.3;
  faults.throttle_rate = 0.1;
  faults.precondition_rate = 0.1;
  simulator_->core().set_faults(faults);

  const auto read_until_ok = [&]() -> Result<vault::KvSecret> {
    for (int i = 0;; ++i) {
      auto read = client.read("servers/faulty");
      if (read || read.error().code() == ErrorCode::NotFound || i == 20) {
        return read;
      }
    }
  };
  std::uint64_t expected = 0;
  int lost_answers = 0;
  for (int round = 0; round < 40; ++round) {
    auto before = read_until_ok();
    ASSERT_TRUE(before || before.error().code() == ErrorCode::NotFound);
    const std::uint64_t version = before ? before->version : 0;
    ASSERT_EQ(version, expected) << "round " << round;
    const std::string password = "pw-" + std::to_string(round) + "<&>";
    auto written = client.write("servers/faulty", fields(password.c_str(), "current"),
                                vault::Cas::expect(version));
    if (written) {
      EXPECT_EQ(written->version, version + 1);
      expected = version + 1;
      continue;
    }
    // The answer was lost (or the retry met our own applied write): look at what Vault holds.
    ++lost_answers;
    auto after = read_until_ok();
    ASSERT_TRUE(after || after.error().code() == ErrorCode::NotFound);
    const std::uint64_t now_version = after ? after->version : 0;
    if (now_version == version + 1) {
      EXPECT_EQ(after->data.secret("password")->reveal(), password);
    } else {
      EXPECT_EQ(now_version, version) << written.error().to_string();
    }
    expected = now_version;
  }
  simulator_->core().set_faults_enabled(false);
  const auto dump = simulator_->core().dump();
  EXPECT_EQ(dump["mounts"]["secret"]["secrets"]["servers/faulty"]["current_version"], expected);
  EXPECT_GT(lost_answers, 0);  // the faults did bite
  EXPECT_FALSE(logs_.contains("pw-1<&>"));
}

// A KV v1 mount is detected and refused for rotation; a denied path gives PermissionDenied once.
TEST_F(VaultIntegrationTest, KvV1RefusedAndPermissionDenied) {
  auto client = approle_client();
  ASSERT_TRUE(client.start());
  auto v1 = client.require_kv_v2("kv1");
  ASSERT_FALSE(v1);
  EXPECT_EQ(v1.error().code(), ErrorCode::Unsupported);

  simulator_->core().set_policy("rotor", {{"secret/*", {"create", "read", "update", "list"}},
                                          {"secret/data/locked/*", {"deny"}}});
  auto denied = client.write("locked/x", fields("p", "current"), vault::Cas::expect(0));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code(), ErrorCode::PermissionDenied);
}

}  // namespace
}  // namespace rotor
