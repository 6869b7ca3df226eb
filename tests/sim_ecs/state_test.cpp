// The ECS simulator's durable state (`rotor-sim ecs --state-file`): a restarted simulator is the
// same cloud, histories and pending passwords included.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/ecs/service.h"

namespace rotor::sim {
namespace {

class EcsStateTest : public ::testing::Test {
 protected:
  static EcsSimulatorOptions options(std::size_t servers) {
    EcsSimulatorOptions o;
    o.verify_auth = false;
    o.fleet.count = servers;
    o.seed = 7;
    return o;
  }
};

// Export then import into a fresh service gives the same servers, with every password.
TEST_F(EcsStateTest, RoundTripKeepsEveryServerAndPassword) {
  EcsService first(options(5));
  ServerSpec spec;
  spec.os_type = OsType::Windows;
  spec.password = "Start-Pass-123!";
  const auto id = first.add_server(spec);
  ASSERT_TRUE(first.restart_server(id));
  SimRequest reset{"PUT",
                   "/v2.1/" + first.options().project_id + "/servers/" + id + "/os-reset-password",
                   {},
                   {},
                   R"({"reset-password":{"new_password":"New-Pass-456!x"}})"};
  ASSERT_EQ(first.handle(reset).status, 200);
  const nlohmann::json state = nlohmann::json::parse(first.export_state().dump());

  EcsService second(options(0));
  second.import_state(state);
  const auto before = first.servers();
  const auto after = second.servers();
  ASSERT_EQ(after.size(), 6U);
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].id, before[i].id);
    EXPECT_EQ(after[i].tags, before[i].tags);
    EXPECT_EQ(after[i].current_password, before[i].current_password);
    EXPECT_EQ(after[i].after_restart_password, before[i].after_restart_password);
    EXPECT_EQ(after[i].history.size(), before[i].history.size());
    EXPECT_EQ(after[i].restarts, before[i].restarts);
  }
  const auto restored = second.server(id);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(restored->pending());  // accepted after the next restart, not yet now
  EXPECT_EQ(restored->after_restart_password, "New-Pass-456!x");
  ASSERT_EQ(restored->history.size(), 1U);
  EXPECT_EQ(restored->history[0].at, first.server(id)->history[0].at);
  ASSERT_TRUE(second.restart_server(id));
  EXPECT_EQ(second.server(id)->current_password, "New-Pass-456!x");
}

// A file that is not a state is refused, and the fleet is left as it was.
TEST_F(EcsStateTest, RefusesSomethingElse) {
  EcsService service(options(3));
  EXPECT_THROW(service.import_state(nlohmann::json::parse(R"({"servers":[]})")),
               std::runtime_error);
  EXPECT_ANY_THROW(
      service.import_state(nlohmann::json::parse(R"({"format":1,"rng":1,"servers":[{"id":1}]})")));
  EXPECT_EQ(service.servers().size(), 3U);
}

}  // namespace
}  // namespace rotor::sim
