// MetadataPrefetch: reads start while paths are still being added, at most `concurrency` at a
// time, and come back one per path in the order added, each what read_metadata() returned.
#include "daemon/metadata_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "tests/support/manual_clock.h"
#include "tests/support/scripted_transport.h"
#include "tests/support/seeded_random.h"
#include "vault/auth.h"

namespace rotor::daemon {
namespace {

using namespace std::chrono_literals;

class MetadataPrefetchTest : public ::testing::Test {
 protected:
  MetadataPrefetchTest() {
    config_.address = "https://vault.test:8200/";
    transport_.on_request([this](const HttpRequest& request) -> Result<HttpResponse> {
      const int now = ++in_flight_;
      int most = most_in_flight_.load();
      while (now > most && !most_in_flight_.compare_exchange_weak(most, now)) {
      }
      std::this_thread::sleep_for(2ms);  // a round trip, so that reads overlap
      --in_flight_;
      const std::string path = request.url.substr(request.url.find("/metadata/") + 10);
      if (path == "servers/s-13") {
        return testing::make_response(404, R"({"errors":[]})");
      }
      return testing::make_response(
          200, R"({"data":{"current_version":1,"custom_metadata":{"path":")" + path +
                   R"("},"versions":{}}})");
    });
  }

  vault::VaultConfig config_;
  testing::ScriptedTransport transport_;
  testing::ManualClock clock_;
  testing::SeededRandom random_;
  vault::VaultClient vault_{config_, vault::token_from_value("t"), transport_, clock_, random_};
  std::atomic<int> in_flight_{0};
  std::atomic<int> most_in_flight_{0};
};

TEST_F(MetadataPrefetchTest, ReadsWhileAddingAndReturnsInTheOrderAdded) {
  MetadataPrefetch prefetch(vault_, 4);
  for (int i = 0; i < 40; ++i) {
    prefetch.add("servers/s-" + std::to_string(i));
  }
  const auto results = prefetch.finish();
  ASSERT_EQ(results.size(), 40U);
  for (int i = 0; i < 40; ++i) {
    const auto& result = results[static_cast<std::size_t>(i)];
    if (i == 13) {
      ASSERT_FALSE(result);
      EXPECT_EQ(result.error().code(), ErrorCode::NotFound);
      continue;
    }
    ASSERT_TRUE(result) << i << ": " << result.error().to_string();
    EXPECT_EQ(result->custom_metadata.at("path"), "servers/s-" + std::to_string(i));
  }
  EXPECT_EQ(transport_.requests().size(), 40U);
  EXPECT_GT(most_in_flight_.load(), 1);
  EXPECT_LE(most_in_flight_.load(), 4);
}

// Nothing added: finish() returns at once. Dropped with reads pending: the workers stop (the test
// would hang otherwise) and read nothing more than what they had started.
TEST_F(MetadataPrefetchTest, FinishesEmptyAndStopsWhenDropped) {
  {
    MetadataPrefetch prefetch(vault_, 3);
    EXPECT_TRUE(prefetch.finish().empty());
  }
  {
    MetadataPrefetch prefetch(vault_, 1);
    for (int i = 0; i < 100; ++i) {
      prefetch.add("servers/d-" + std::to_string(i));
    }
  }
  EXPECT_LT(transport_.requests().size(), 100U);
}

}  // namespace
}  // namespace rotor::daemon
