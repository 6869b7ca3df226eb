// `rotor run` in-process against both simulators: the notify protocol over a real unix datagram
// socket (NOTIFY_SOCKET), a metrics scrape over loopback, a reload with a broken config that keeps
// the service running, a clean stop — and no password in logs, metrics or the state directory.
#include "daemon/service.h"

#include <nlohmann/json.hpp>

#include "daemon/logging.h"

#include <spdlog/spdlog.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "tests/support/log_capture.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/seeded_random.h"
#include "tests/support/simulated_cloud.h"

namespace rotor::daemon {
namespace {

using ::testing::HasSubstr;

// A unix datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof(address.sun_path) - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // Reads messages until one contains `text` (bounded: 30 s); returns it, or "" on time-out.
  std::string wait_for(const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        continue;
      }
      char buffer[4096];
      const auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        continue;
      }
      std::string message(buffer, static_cast<std::size_t>(n));
      received_.push_back(message);
      if (message.find(text) != std::string::npos) {
        return message;
      }
    }
    return {};
  }
  [[nodiscard]] const std::vector<std::string>& received() const { return received_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<std::string> received_;
};

std::string scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto answer = client.Get("/metrics");
  return answer && answer->status == 200 ? answer->body : std::string();
}

std::string read_tree(const std::filesystem::path& dir) {
  std::string all;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      all += text.str();
    }
  }
  return all;
}

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest() { std::filesystem::create_directories(dir_ / "state"); }

  void write_config(const std::string& extra = {}) {
    std::ofstream out(dir_ / "rotor.yaml");
    out << cloud_.yaml(R"(  - name: prod
    cloud: sim
    select: { tags: { env: prod } }
    max_age: 30d
)" + extra,
                       "{ state_dir: " + (dir_ / "state").string() + " }",
                       "{ requests_per_second: 500, max_batch: 10 }");
  }

  ServiceOptions options() const {
    ServiceOptions out;
    out.config_file = dir_ / "rotor.yaml";
    const std::string notify = (dir_ / "notify.sock").string();
    out.env = [cloud = cloud_.env(), notify](std::string_view name) -> std::optional<std::string> {
      if (name == "NOTIFY_SOCKET") {
        return notify;
      }
      return cloud(name);
    };
    out.metrics_listen = "127.0.0.1:0";
    out.configure_logging = false;
    out.tick_interval = std::chrono::seconds(60);
    return out;
  }

  std::vector<std::string> passwords(const std::vector<std::string>& ids) const {
    return cloud_.passwords(ids);
  }

  SystemClock clock_;
  testing::SeededRandom random_{21};
  testing::SimulatedCloud cloud_{nullptr};
  rotor::testing::ScratchDir scratch_{"service-test"};
  std::filesystem::path dir_ = scratch_.path();
};

// The whole life of the daemon: READY=1 and STATUS= once started, the first pass rotates the
// fleet, metrics over loopback, a reload with a broken config is refused and the service keeps
// running (RELOADING=1 … READY=1, reload failure metric), a stop sends STOPPING=1 and run()
// returns 0. No password reaches the logs, the metrics or the state directory.
TEST_F(ServiceTest, RunsReloadsAndStops) {
  testing::LogCapture logs;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    sim::ServerSpec spec;
    spec.tags = {"env=prod"};
    ids.push_back(cloud_.ecs().add_server(spec));
  }
  write_config();
  NotifySocket notify(dir_ / "notify.sock");
  Service service(options(), clock_, random_);
  auto result = std::async(std::launch::async, [&] { return service.run(); });

  ASSERT_EQ(notify.wait_for("READY=1"), "READY=1");
  EXPECT_THAT(notify.wait_for("STATUS="), HasSubstr("STATUS="));
  const auto status = notify.wait_for("last pass rotated");
  EXPECT_THAT(status, HasSubstr("1 policies, 3 servers, 0 pending"));
  EXPECT_THAT(status, HasSubstr("last pass rotated 3, failed 0"));
  for (const auto& id : ids) {
    EXPECT_EQ(cloud_.ecs().server(id)->history.size(), 1U);
  }

  const auto metrics = scrape(service.metrics_port());
  EXPECT_THAT(metrics, HasSubstr("rotor_rotations_total{policy=\"prod\",result=\"rotated\"} 3"));
  EXPECT_THAT(metrics, HasSubstr("rotor_servers{policy=\"prod\",state=\"awaiting_restart\"} 3"));
  EXPECT_THAT(metrics, HasSubstr("service=\"vault\""));
  EXPECT_THAT(metrics, HasSubstr("endpoint=\"/v1/{project_id}/cloudservers/detail\""));
  EXPECT_THAT(metrics, HasSubstr("rotor_build_info{"));

  // A broken config: refused, the running one is kept.
  write_config("    unknown_key: 1\n");
  service.request_reload();
  EXPECT_THAT(notify.wait_for("RELOADING=1"), HasSubstr("MONOTONIC_USEC="));
  EXPECT_EQ(notify.wait_for("READY=1"), "READY=1");
  EXPECT_THAT(notify.wait_for("STATUS="), HasSubstr("3 servers"));
  const auto after = scrape(service.metrics_port());
  EXPECT_THAT(after, HasSubstr("rotor_config_reloads_total{result=\"failure\"} 1"));
  EXPECT_THAT(after, HasSubstr("rotor_config_last_reload_success 0"));
  EXPECT_TRUE(logs.contains("reload refused"));
  EXPECT_EQ(result.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  // A valid config again: applied.
  write_config();
  service.request_reload();
  ASSERT_THAT(notify.wait_for("RELOADING=1"), HasSubstr("RELOADING=1"));
  EXPECT_EQ(notify.wait_for("READY=1"), "READY=1");
  EXPECT_THAT(scrape(service.metrics_port()),
              HasSubstr("rotor_config_reloads_total{result=\"success\"} 1"));

  service.request_stop();
  EXPECT_EQ(notify.wait_for("STOPPING=1"), "STOPPING=1");
  ASSERT_EQ(result.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(result.get(), 0);

  const auto state = read_tree(dir_ / "state");
  EXPECT_THAT(state, HasSubstr(ids[0]));
  const auto all = passwords(ids);
  ASSERT_EQ(all.size(), 3U);
  for (const auto& password : all) {
    EXPECT_FALSE(logs.contains(password));
    EXPECT_EQ(metrics.find(password), std::string::npos);
    EXPECT_EQ(after.find(password), std::string::npos);
    EXPECT_EQ(state.find(password), std::string::npos);
  }
}

// Start-up fails cleanly (exit 1, no READY=1, the reasons logged) with an invalid config.
TEST_F(ServiceTest, StartupFailsWithAnInvalidConfig) {
  testing::LogCapture logs;
  write_config("    unknown_key: 1\n");
  NotifySocket notify(dir_ / "notify.sock");
  Service service(options(), clock_, random_);
  EXPECT_EQ(service.run(), 1);
  EXPECT_TRUE(logs.contains("cannot load the configuration"));
  EXPECT_TRUE(logs.contains("unknown parameter 'unknown_key'"));
  for (const auto& message : notify.received()) {
    EXPECT_EQ(message.find("READY=1"), std::string::npos);
  }
}

// The signal thread turns SIGHUP into a reload request and SIGTERM into a stop request (signals
// sent to that thread only, so the test process is not affected).
TEST(SignalThreadTest, TurnsSignalsIntoRequests) {
  std::promise<void> reloaded;
  std::promise<void> stopped;
  SignalThread signals([&] { reloaded.set_value(); }, [&] { stopped.set_value(); });
  ASSERT_EQ(::pthread_kill(signals.native_handle(), SIGHUP), 0);
  EXPECT_EQ(reloaded.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(::pthread_kill(signals.native_handle(), SIGTERM), 0);
  EXPECT_EQ(stopped.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

// NOTIFY_SOCKET and WATCHDOG_USEC from the environment; WATCHDOG_PID for another process is
// ignored.
TEST(NotifierTest, ReadsTheEnvironment) {
  const auto mine =
      Notifier::from_env(config::fixed_env({{"NOTIFY_SOCKET", "/run/x"},
                                            {"WATCHDOG_USEC", "10000000"},
                                            {"WATCHDOG_PID", std::to_string(::getpid())}}));
  EXPECT_TRUE(mine.enabled());
  EXPECT_EQ(mine.watchdog_interval(), std::chrono::microseconds(5'000'000));
  const auto other =
      Notifier::from_env(config::fixed_env({{"WATCHDOG_USEC", "10000000"}, {"WATCHDOG_PID", "1"}}));
  EXPECT_FALSE(other.enabled());
  EXPECT_FALSE(other.watchdog_interval().has_value());
  EXPECT_FALSE(other.ready());  // no socket: nothing sent, no failure either
}

}  // namespace
}  // namespace rotor::daemon

namespace rotor::daemon {
namespace {

// key=value fields (plain and quoted) are found in a message; prose without '=' yields none.
TEST(LoggingTest, FindsMessageFields) {
  const auto fields =
      message_fields("rotation failed server_id=abc policy=prod error=\"HTTP 500 oops\" attempt=3");
  ASSERT_EQ(fields.size(), 4U);
  EXPECT_EQ(fields[0], (std::pair<std::string, std::string>{"server_id", "abc"}));
  EXPECT_EQ(fields[1], (std::pair<std::string, std::string>{"policy", "prod"}));
  EXPECT_EQ(fields[2], (std::pair<std::string, std::string>{"error", "HTTP 500 oops"}));
  EXPECT_EQ(fields[3], (std::pair<std::string, std::string>{"attempt", "3"}));
  EXPECT_TRUE(message_fields("started").empty());
}

// The JSON sink writes one object per line with the component, level, message and fields.
TEST(LoggingTest, JsonLinesCarryTheFields) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>("engine", json_lines_sink(out));
  logger->warn("reset rejected server_id={} policy={} code={}", "s-1", "prod", 429);
  logger->flush();
  const auto line = nlohmann::json::parse(out.str());
  EXPECT_EQ(line["component"], "engine");
  EXPECT_EQ(line["level"], "warning");
  EXPECT_EQ(line["server_id"], "s-1");
  EXPECT_EQ(line["policy"], "prod");
  EXPECT_EQ(line["code"], "429");
  EXPECT_EQ(line["msg"], "reset rejected server_id=s-1 policy=prod code=429");
}

}  // namespace
}  // namespace rotor::daemon
