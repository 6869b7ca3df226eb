// Hostile peers: an in-process raw loopback server that answers with a body larger than the
// response cap, with JSON nested a million levels deep in a 200, or trickles an answer slower
// than the request timeout. The ECS and Vault clients, over the real CurlTransport, must turn
// each into a clear typed error — never a crash, a hang or a stack overflow — and a reset must
// stay Unknown (the rotation keeps its pending password) rather than be called done or refused.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "ecs/client.h"
#include "http/curl_transport.h"
#include "tests/support/manual_clock.h"
#include "tests/support/seeded_random.h"
#include "vault/client.h"

namespace rotor {
namespace {

using namespace std::chrono_literals;

enum class Behaviour { Huge, DeepJson, Trickle };

constexpr std::size_t kResponseCap = 64 * 1024;
constexpr std::size_t kDepth = 1'000'000;  // far beyond any stack if walked recursively

// A raw HTTP/1.1 server on 127.0.0.1 that answers every request with one hostile behaviour.
// Connections are served one at a time on its own thread.
class HostileServer {
 public:
  explicit HostileServer(Behaviour behaviour) : behaviour_(behaviour) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    auto* raw = reinterpret_cast<sockaddr*>(&address);  // the sockets API's type
    if (::bind(listen_fd_, raw, length) != 0 || ::listen(listen_fd_, 8) != 0 ||
        ::getsockname(listen_fd_, raw, &length) != 0) {
      throw std::runtime_error("hostile server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  HostileServer(const HostileServer&) = delete;
  HostileServer& operator=(const HostileServer&) = delete;
  ~HostileServer() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }

  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  void serve() {
    while (!stop_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        return;  // shut down
      }
      if (read_request(fd)) {
        ++requests_;
        answer(fd);
      }
      ::close(fd);
    }
  }

  // Reads the head and the Content-Length body, so that closing does not reset the connection.
  static bool read_request(int fd) {
    std::string data;
    char buffer[4096];
    std::size_t head_end = std::string::npos;
    std::size_t body_length = 0;
    while (true) {
      const ssize_t got = ::recv(fd, buffer, sizeof(buffer), 0);
      if (got <= 0) {
        return false;
      }
      data.append(buffer, static_cast<std::size_t>(got));
      if (head_end == std::string::npos) {
        head_end = data.find("\r\n\r\n");
        if (head_end == std::string::npos) {
          continue;
        }
        std::string head = data.substr(0, head_end);
        for (auto& c : head) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (const auto at = head.find("content-length:"); at != std::string::npos) {
          body_length = std::stoul(head.substr(at + 15));
        }
      }
      if (data.size() >= head_end + 4 + body_length) {
        return true;
      }
    }
  }

  static bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  void answer(int fd) {
    switch (behaviour_) {
      case Behaviour::Huge: {
        // Ten times the cap, announced honestly; the client must stop reading at the cap.
        const std::size_t size = 10 * kResponseCap;
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(size) + "\r\n\r\n");
        const std::string chunk(4096, ' ');
        for (std::size_t sent = 0; sent < size && !stop_; sent += chunk.size()) {
          if (!send_all(fd, chunk)) {
            return;
          }
        }
        return;
      }
      case Behaviour::DeepJson: {
        // Valid JSON, nested a million levels deep; under the cap of this test's transport.
        const std::string body = std::string(kDepth, '[') + std::string(kDepth, ']');
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body);
        return;
      }
      case Behaviour::Trickle: {
        // A promised 32 KiB body (under the cap), a byte at a time, far slower than the client's
        // timeout.
        send_all(fd,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Content-Length: 32768\r\n\r\n");
        while (!stop_ && send_all(fd, "[")) {
          std::this_thread::sleep_for(50ms);
        }
        return;
      }
    }
  }

  Behaviour behaviour_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

http::CurlTransport make_transport(Behaviour behaviour) {
  http::CurlOptions options;
  options.proxy = "";
  options.default_timeout = 500ms;
  // The deep document is 2 MB; the huge one is ten times this cap.
  options.max_response_bytes = behaviour == Behaviour::DeepJson ? 4U << 20U : kResponseCap;
  return http::CurlTransport(options);
}

class HostilePeerTest : public ::testing::Test {
 protected:
  ecs::EcsClient ecs_client(HttpTransport& transport, const HostileServer& server) {
    ecs::CloudConfig config;
    config.name = "hostile";
    config.region = "eu-de";
    config.project_id = "proj1";
    config.ecs_endpoint = server.url();
    config.iam_endpoint = server.url() + "/v3";
    config.aksk.access_key = "AKTEST";
    config.aksk.secret_key = Secret::from("SKTEST");
    config.limits.requests_per_second = 1000;
    config.limits.burst = 1000;
    config.limits.retry.max_attempts = 1;
    config.limits.request_timeout = 500ms;
    return ecs::EcsClient(std::move(config), transport, clock_, random_);
  }
  vault::VaultClient vault_client(HttpTransport& transport, const HostileServer& server) {
    vault::VaultConfig config;
    config.address = server.url();
    config.request_timeout = 500ms;
    config.retry.max_attempts = 1;
    return vault::VaultClient(config, vault::token_from_value("hvs.HOSTILE"), transport, clock_,
                              random_);
  }

  testing::ManualClock clock_;
  testing::SeededRandom random_{7};
  const Secret password_ = Secret::from("N3w-Passw0rd!x");
};

// A body beyond the cap is cut off: ResponseTooLarge, and a reset's outcome stays Unknown.
TEST_F(HostilePeerTest, HugeBodyIsResponseTooLarge) {
  HostileServer server(Behaviour::Huge);
  auto transport = make_transport(Behaviour::Huge);
  auto ecs = ecs_client(transport, server);
  const ecs::ResetResult reset = ecs.reset_password("srv-1", password_);
  EXPECT_EQ(reset.verdict, ecs::Verdict::Unknown);
  ASSERT_TRUE(reset.error.has_value());
  EXPECT_EQ(reset.error->code(), ErrorCode::ResponseTooLarge);
  EXPECT_EQ(reset.outcome(), Outcome::Unknown);

  auto servers = ecs.list_servers();
  ASSERT_FALSE(servers.has_value());
  EXPECT_EQ(servers.error().code(), ErrorCode::ResponseTooLarge);

  auto vault = vault_client(transport, server);
  auto secret = vault.read("servers/db01");
  ASSERT_FALSE(secret.has_value());
  EXPECT_EQ(secret.error().code(), ErrorCode::ResponseTooLarge);
}

// A 200 nested a million levels deep is a BadResponse for every reader; a batch reset answered
// that way leaves every server Unknown (pending), not accepted.
TEST_F(HostilePeerTest, DeeplyNestedJsonIsBadResponse) {
  HostileServer server(Behaviour::DeepJson);
  auto transport = make_transport(Behaviour::DeepJson);
  auto ecs = ecs_client(transport, server);
  const std::vector<std::string> ids = {"srv-1", "srv-2"};
  const ecs::BatchResetResult batch = ecs.batch_reset_password(ids, &password_, false);
  ASSERT_EQ(batch.servers.size(), 2U);
  for (const auto& item : batch.servers) {
    EXPECT_EQ(item.status.verdict, ecs::Verdict::Unknown) << item.server_id;
    ASSERT_TRUE(item.status.error.has_value());
    EXPECT_EQ(item.status.error->code(), ErrorCode::BadResponse);
  }
  auto servers = ecs.list_servers();
  ASSERT_FALSE(servers.has_value());
  EXPECT_EQ(servers.error().code(), ErrorCode::BadResponse);
  auto job = ecs.job("job-1");
  ASSERT_FALSE(job.has_value());
  EXPECT_EQ(job.error().code(), ErrorCode::BadResponse);

  auto vault = vault_client(transport, server);
  auto secret = vault.read("servers/db01");
  ASSERT_FALSE(secret.has_value());
  EXPECT_EQ(secret.error().code(), ErrorCode::BadResponse);
  auto metadata = vault.read_metadata("servers/db01");
  ASSERT_FALSE(metadata.has_value());
  EXPECT_EQ(metadata.error().code(), ErrorCode::BadResponse);
  auto keys = vault.list("servers");
  ASSERT_FALSE(keys.has_value());
  EXPECT_EQ(keys.error().code(), ErrorCode::BadResponse);
}

// An answer trickled slower than the timeout is cut off: Timeout, and the outcome is Unknown
// (the request was sent), so a reset stays pending and a CAS write is not assumed done.
TEST_F(HostilePeerTest, TrickledAnswerIsTimeoutWithUnknownOutcome) {
  HostileServer server(Behaviour::Trickle);
  auto transport = make_transport(Behaviour::Trickle);
  auto ecs = ecs_client(transport, server);
  const ecs::ResetResult reset = ecs.reset_password("srv-1", password_);
  EXPECT_EQ(reset.verdict, ecs::Verdict::Unknown);
  ASSERT_TRUE(reset.error.has_value());
  EXPECT_EQ(reset.error->code(), ErrorCode::Timeout);

  auto vault = vault_client(transport, server);
  vault::KvData data;
  data.secrets.emplace("password", Secret::from("N3w-Passw0rd!x"));
  auto written = vault.write("servers/db01", data, vault::Cas::expect(3));
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code(), ErrorCode::Timeout);
  EXPECT_EQ(outcome_of(written.error()), Outcome::Unknown);
  EXPECT_GE(server.requests(), 2);
}

}  // namespace
}  // namespace rotor
