// `rotor-sim vault` as a process: the address on stdout's first line, a clean exit on SIGTERM,
// and a state file that carries secrets and tokens across a restart.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

extern char** environ;

namespace rotor::sim {
namespace {

using nlohmann::json;

// One running `rotor-sim vault`; killed (SIGKILL) if the test did not stop it.
class SimProcess {
 public:
  explicit SimProcess(std::vector<std::string> args) {
    args.insert(args.begin(), {ROTOR_SIM_PATH, "vault"});
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    const int rc = posix_spawn(&pid_, ROTOR_SIM_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fds[0];
    if (rc != 0) {
      throw std::runtime_error("posix_spawn failed");
    }
  }
  ~SimProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
  }
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  // The first line of stdout, waiting at most 10 s for it.
  std::string first_line() {
    std::string line;
    char c = 0;
    for (;;) {
      pollfd pfd{out_, POLLIN, 0};
      if (poll(&pfd, 1, 10000) <= 0 || read(out_, &c, 1) != 1 || c == '\n') {
        return line;
      }
      line.push_back(c);
    }
  }
  // SIGTERM and the exit status.
  int terminate() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

int port_of(const std::string& address) {
  return std::stoi(address.substr(address.rfind(':') + 1));
}

class VaultSimCliTest : public ::testing::Test {
 protected:
  VaultSimCliTest() {
    char pattern[] = "/tmp/rotor-vault-cli-XXXXXX";
    dir_ = mkdtemp(pattern);
    std::ofstream(dir_ / "root") << "hvs.cli-root\n";
    std::ofstream(dir_ / "sid") << "cli-secret-id\n";
  }
  ~VaultSimCliTest() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

// State written before SIGTERM is there after a restart; the exit status is 0.
TEST_F(VaultSimCliTest, StateSurvivesRestart) {
  const std::vector<std::string> args = {"--listen",
                                         "127.0.0.1:0",
                                         "--root-token-file",
                                         (dir_ / "root").string(),
                                         "--approle",
                                         "cli-role:" + (dir_ / "sid").string(),
                                         "--state-file",
                                         (dir_ / "state.json").string(),
                                         "--seed",
                                         "5"};
  const httplib::Headers root = {{"X-Vault-Token", "hvs.cli-root"}};
  std::string approle_token;
  {
    SimProcess sim(args);
    const auto address = sim.first_line();
    ASSERT_EQ(address.rfind("http://127.0.0.1:", 0), 0U) << address;
    httplib::Client client("127.0.0.1", port_of(address));
    auto written =
        client.Post("/v1/secret/data/servers/a", root,
                    R"({"options":{"cas":0},"data":{"password":"p<1>"}})", "application/json");
    ASSERT_TRUE(written);
    ASSERT_EQ(written->status, 200);
    auto login =
        client.Post("/v1/auth/approle/login",
                    R"({"role_id":"cli-role","secret_id":"cli-secret-id"})", "application/json");
    ASSERT_TRUE(login);
    approle_token = json::parse(login->body)["auth"]["client_token"];
    EXPECT_EQ(sim.terminate(), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(dir_ / "state.json"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "state.json.tmp"));
  {
    SimProcess sim(args);
    const auto address = sim.first_line();
    httplib::Client client("127.0.0.1", port_of(address));
    auto read = client.Get("/v1/secret/data/servers/a", {{"X-Vault-Token", approle_token}});
    ASSERT_TRUE(read);
    ASSERT_EQ(read->status, 200) << read->body;
    EXPECT_EQ(json::parse(read->body)["data"]["data"]["password"], "p<1>");
    EXPECT_EQ(sim.terminate(), 0);
  }
}

// Bad flags exit non-zero with a message instead of serving.
TEST_F(VaultSimCliTest, RejectsBadFlags) {
  SimProcess bad({"--faults", "bogus"});
  EXPECT_EQ(bad.first_line(), "");
  EXPECT_NE(bad.terminate(), 0);
}

}  // namespace
}  // namespace rotor::sim
