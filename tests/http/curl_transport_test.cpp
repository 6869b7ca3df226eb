// CurlTransport against in-process loopback servers (127.0.0.1 only): statuses, every transport
// failure class and the outcome it implies, the size cap, TLS verification, send_all.
#include "http/curl_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/log_capture.h"
#include "tests/support/test_tls.h"

namespace rotor::http {
namespace {

using namespace std::chrono_literals;

// Runs an httplib server on 127.0.0.1 on a free port for the lifetime of the object.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {}
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  ~LoopbackServer() { stop(); }

  httplib::Server& routes() { return *server_; }
  // Binds and serves; returns once the accept loop runs.
  void start() {
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it (not a timed wait).
    while (!server_->is_running()) {
      std::this_thread::yield();
    }
  }
  void stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url(std::string_view scheme, std::string_view path) const {
    return fmt::format("{}://127.0.0.1:{}{}", scheme, port_, path);
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// A raw TCP listener that accepts one connection, reads the request and closes without answering.
class SilentCloser {
 public:
  SilentCloser() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    auto* raw = reinterpret_cast<sockaddr*>(&address);  // the socket API's own cast
    EXPECT_EQ(::bind(fd_, raw, length), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    EXPECT_EQ(::getsockname(fd_, raw, &length), 0);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client >= 0) {
        char buffer[4096];
        (void)::recv(client, buffer, sizeof(buffer), 0);
        ::close(client);
      }
    });
  }
  SilentCloser(const SilentCloser&) = delete;
  SilentCloser& operator=(const SilentCloser&) = delete;
  ~SilentCloser() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A raw TCP listener that accepts connections and never reads or writes (until destroyed).
class BlackHole {
 public:
  BlackHole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    auto* raw = reinterpret_cast<sockaddr*>(&address);  // the socket API's own cast
    EXPECT_EQ(::bind(fd_, raw, length), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);  // the kernel completes the handshake; nobody answers
    EXPECT_EQ(::getsockname(fd_, raw, &length), 0);
    port_ = ntohs(address.sin_port);
  }
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  ~BlackHole() { ::close(fd_); }
  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A raw HTTP/1.1 server: answers the first request with a kept-alive 200, then closes every
// later connection right after reading its request (as if it had acted and then crashed). Counts
// the requests it read, over all connections.
class FirstThenDrop {
 public:
  FirstThenDrop() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    auto* raw = reinterpret_cast<sockaddr*>(&address);  // the socket API's own cast
    EXPECT_EQ(::bind(fd_, raw, length), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    EXPECT_EQ(::getsockname(fd_, raw, &length), 0);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  FirstThenDrop(const FirstThenDrop&) = delete;
  FirstThenDrop& operator=(const FirstThenDrop&) = delete;
  ~FirstThenDrop() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  // Reads one request head (and a Content-Length body); false when the peer closed.
  static bool read_request(int client) {
    std::string data;
    char buffer[4096];
    for (;;) {
      const auto head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        const auto at = data.find("Content-Length: ");
        if (at != std::string::npos && at < head_end) {
          length = std::stoul(data.substr(at + 16));
        }
        if (data.size() >= head_end + 4 + length) {
          return true;
        }
      }
      const auto got = ::recv(client, buffer, sizeof(buffer), 0);
      if (got <= 0) {
        return false;
      }
      data.append(buffer, static_cast<std::size_t>(got));
    }
  }
  void serve() {
    std::vector<std::thread> connections;
    for (;;) {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) {
        break;
      }
      connections.emplace_back([this, client] {
        while (read_request(client)) {
          if (++requests_ == 1) {
            const std::string_view ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            (void)::send(client, ok.data(), ok.size(), MSG_NOSIGNAL);
            continue;  // keep the connection for the next request
          }
          break;  // "acted", then died without answering
        }
        ::close(client);
      });
    }
    for (auto& connection : connections) {
      connection.join();
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  EXPECT_EQ(::bind(fd, raw, length), 0);
  EXPECT_EQ(::getsockname(fd, raw, &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

CurlOptions loopback_options() {
  CurlOptions options;
  options.proxy = "";  // never send loopback traffic to a proxy from the environment
  options.connect_timeout = 2s;
  options.default_timeout = 5s;
  return options;
}

HttpRequest get(std::string url) {
  HttpRequest request;
  request.method = HttpMethod::Get;
  request.url = std::move(url);
  return request;
}

class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<LoopbackServer>(std::make_unique<httplib::Server>());
    auto& routes = server_->routes();
    routes.Get("/ok", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Answer", "42");
      res.set_content("hello", "text/plain");
    });
    routes.Put("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Got-Type", req.get_header_value("Content-Type"));
      res.set_header("X-Got-Token", req.get_header_value("X-Auth-Token"));
      res.status = 202;
      res.set_content(req.body, "application/json");
    });
    routes.Get("/port", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.remote_port), "text/plain");
    });
    routes.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content(R"({"error":{"code":"Ecs.0114","message":"The ECS does not exist."}})",
                      "application/json");
    });
    routes.Get("/broken", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("down", "text/plain");
    });
    routes.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(4096, 'x'), "text/plain");
    });
    routes.Get("/big-chunked", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        if (offset >= 8192) {
          sink.done();
          return true;
        }
        const std::string chunk(512, 'y');
        return sink.write(chunk.data(), chunk.size());
      });
    });
    routes.Get("/cut", [](const httplib::Request&, httplib::Response& res) {
      // Promises 1000 bytes, writes 10, then drops the connection.
      res.set_content_provider(1000, "text/plain",
                               [](size_t offset, size_t, httplib::DataSink& sink) {
                                 if (offset == 0) {
                                   return sink.write("0123456789", 10);
                                 }
                                 return false;
                               });
    });
    routes.Get("/gate", [this](const httplib::Request&, httplib::Response& res) {
      // Holds the first requests until `gate_width_` of them are in flight at once, then lets
      // everything through; records the most seen in flight.
      std::unique_lock lock(gate_mutex_);
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
      if (in_flight_ >= gate_width_) {
        gate_open_ = true;
        gate_cv_.notify_all();
      }
      gate_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return gate_open_; });
      --in_flight_;
      res.set_content("through", "text/plain");
    });
    routes.Get("/stall", [this](const httplib::Request&, httplib::Response& res) {
      release_.wait();  // holds the answer until the test is over
      res.set_content("late", "text/plain");
    });
    server_->start();
  }
  void TearDown() override {
    release_promise_.set_value();
    server_->stop();
  }

  std::unique_ptr<LoopbackServer> server_;
  std::mutex gate_mutex_;
  std::condition_variable gate_cv_;
  int gate_width_ = 3;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  bool gate_open_ = false;
  std::promise<void> release_promise_;
  std::shared_future<void> release_ = release_promise_.get_future().share();
};

// A 200 answer comes back with its status, headers and body.
TEST_F(CurlTransportTest, GetReturnsStatusHeadersAndBody) {
  CurlTransport transport(loopback_options());
  auto result = transport.send(get(server_->url("http", "/ok")));
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body.view(), "hello");
  EXPECT_EQ(result->headers.get("x-answer").value_or(""), "42");
  EXPECT_EQ(outcome_of_status(result->status), Outcome::Accepted);
}

// A PUT carries its body and headers to the server; the secret never reaches the logs.
TEST_F(CurlTransportTest, PutSendsBodyAndHeaders) {
  testing::LogCapture logs;
  CurlTransport transport(loopback_options());
  HttpRequest request;
  request.method = HttpMethod::Put;
  request.url = server_->url("http", "/echo");
  request.headers.set("Content-Type", "application/json");
  request.headers.set("X-Auth-Token", "token-S3cr3t");
  request.body.append(R"({"new_password":"Pw-S3cr3t!"})");
  auto result = transport.send(request);
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->status, 202);
  EXPECT_EQ(result->body.view(), R"({"new_password":"Pw-S3cr3t!"})");
  EXPECT_EQ(result->headers.get("X-Got-Type").value_or(""), "application/json");
  EXPECT_EQ(result->headers.get("X-Got-Token").value_or(""), "token-S3cr3t");
  EXPECT_FALSE(logs.contains("Pw-S3cr3t!"));
  EXPECT_FALSE(logs.contains("token-S3cr3t"));
}

// 4xx and 5xx are HTTP answers (values), with the outcomes Rejected and Unknown.
TEST_F(CurlTransportTest, ErrorStatusesAreValues) {
  CurlTransport transport(loopback_options());
  auto missing = transport.send(get(server_->url("http", "/missing")));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.view().find("Ecs.0114"), std::string_view::npos);
  EXPECT_EQ(outcome_of_status(missing->status), Outcome::Rejected);
  auto broken = transport.send(get(server_->url("http", "/broken")));
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 503);
  EXPECT_EQ(outcome_of_status(broken->status), Outcome::Unknown);
}

// Nothing listening: ConnectFailed, which means the request was definitely not acted on.
TEST_F(CurlTransportTest, RefusedConnectionIsConnectFailedAndRejected) {
  CurlTransport transport(loopback_options());
  auto result = transport.send(get(fmt::format("http://127.0.0.1:{}/x", closed_port())));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::ConnectFailed) << result.error().to_string();
  EXPECT_EQ(outcome_of(result.error()), Outcome::Rejected);
}

// A server that read the request and never answers: Timeout, outcome Unknown.
TEST_F(CurlTransportTest, StallAfterSendingIsTimeoutAndUnknown) {
  CurlTransport transport(loopback_options());
  HttpRequest request = get(server_->url("http", "/stall"));
  request.timeout = 300ms;
  auto result = transport.send(request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::Timeout) << result.error().to_string();
  EXPECT_EQ(outcome_of(result.error()), Outcome::Unknown);
}

// A connection closed in the middle of the body: ConnectionLost, outcome Unknown.
TEST_F(CurlTransportTest, CutAnswerIsConnectionLostAndUnknown) {
  CurlTransport transport(loopback_options());
  auto result = transport.send(get(server_->url("http", "/cut")));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::ConnectionLost) << result.error().to_string();
  EXPECT_EQ(outcome_of(result.error()), Outcome::Unknown);
}

// A connection closed after reading the request, with no answer at all: ConnectionLost.
TEST_F(CurlTransportTest, EmptyReplyIsConnectionLost) {
  SilentCloser closer;
  CurlTransport transport(loopback_options());
  auto result = transport.send(get(fmt::format("http://127.0.0.1:{}/x", closer.port())));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::ConnectionLost) << result.error().to_string();
  EXPECT_EQ(outcome_of(result.error()), Outcome::Unknown);
}

// A non-idempotent request whose connection dies after the peer read it is reported as
// ConnectionLost (Unknown) and is never re-sent behind our back.
TEST_F(CurlTransportTest, NonIdempotentRequestIsNeverResentSilently) {
  FirstThenDrop server;
  auto transport_owner = std::make_unique<CurlTransport>(loopback_options());
  CurlTransport& transport = *transport_owner;
  const std::string url = fmt::format("http://127.0.0.1:{}/action", server.port());
  ASSERT_TRUE(transport.send(get(url)));
  HttpRequest reboot;
  reboot.method = HttpMethod::Post;
  reboot.url = url;
  reboot.body.append(R"({"reboot":{}})");
  auto result = transport.send(reboot);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::ConnectionLost) << result.error().to_string();
  EXPECT_EQ(outcome_of(result.error()), Outcome::Unknown);
  EXPECT_EQ(server.requests(), 2);
  transport_owner.reset();  // closes the kept-alive connection, so the server can stop
}

// A TLS peer that never completes the handshake: nothing was sent (Rejected). The same
// silence over plain HTTP comes after the request was written: Timeout (Unknown).
TEST_F(CurlTransportTest, SilenceBeforeAndAfterSendingIsTellable) {
  BlackHole hole;
  CurlTransport transport(loopback_options());
  HttpRequest tls = get(fmt::format("https://127.0.0.1:{}/x", hole.port()));
  tls.timeout = 300ms;
  auto handshake = transport.send(tls);
  ASSERT_FALSE(handshake);
  // libcurl counts the TLS handshake as part of connecting: either code means "not sent".
  EXPECT_TRUE(handshake.error().code() == ErrorCode::TlsFailed ||
              handshake.error().code() == ErrorCode::ConnectFailed)
      << handshake.error().to_string();
  EXPECT_EQ(outcome_of(handshake.error()), Outcome::Rejected);
  HttpRequest plain = get(fmt::format("http://127.0.0.1:{}/x", hole.port()));
  plain.timeout = 300ms;
  auto sent = transport.send(plain);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code(), ErrorCode::Timeout) << sent.error().to_string();
  EXPECT_EQ(outcome_of(sent.error()), Outcome::Unknown);
}

// Bodies above the cap are refused, with and without a Content-Length.
TEST_F(CurlTransportTest, OversizedBodyIsResponseTooLarge) {
  CurlOptions options = loopback_options();
  options.max_response_bytes = 1024;
  CurlTransport transport(options);
  auto sized = transport.send(get(server_->url("http", "/big")));
  ASSERT_FALSE(sized);
  EXPECT_EQ(sized.error().code(), ErrorCode::ResponseTooLarge) << sized.error().to_string();
  auto chunked = transport.send(get(server_->url("http", "/big-chunked")));
  ASSERT_FALSE(chunked);
  EXPECT_EQ(chunked.error().code(), ErrorCode::ResponseTooLarge) << chunked.error().to_string();
  // The cap is a limit, not a ban: a small answer on the same transport still works.
  EXPECT_TRUE(transport.send(get(server_->url("http", "/ok"))));
}

// Schemes other than http and https are refused before anything is sent.
TEST_F(CurlTransportTest, OtherSchemesAreRefused) {
  CurlTransport transport(loopback_options());
  auto result = transport.send(get("file:///etc/passwd"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::InvalidArgument);
}

// Header injection through a value with a line break is refused.
TEST_F(CurlTransportTest, HeaderWithLineBreakIsRefused) {
  CurlTransport transport(loopback_options());
  HttpRequest request = get(server_->url("http", "/ok"));
  request.headers.set("X-Evil", "a\r\nHost: elsewhere");
  auto result = transport.send(request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::InvalidArgument);
}

// Consecutive requests reuse the kept-alive connection (same client port seen by the server).
TEST_F(CurlTransportTest, ConnectionsAreKeptAlive) {
  CurlTransport transport(loopback_options());
  auto first = transport.send(get(server_->url("http", "/port")));
  auto second = transport.send(get(server_->url("http", "/port")));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->body.view(), second->body.view());
}

// send_all answers every request in order, with a bound on requests in flight, and reports
// failures per request.
TEST_F(CurlTransportTest, SendAllKeepsOrderAndReportsEachResult) {
  CurlOptions options = loopback_options();
  options.max_in_flight = 3;
  CurlTransport transport(options);
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 10; ++i) {
    HttpRequest request;
    request.method = HttpMethod::Put;
    request.url = server_->url("http", "/echo");
    request.body.append(fmt::format("body-{}", i));
    requests.push_back(std::move(request));
  }
  requests.push_back(get(server_->url("http", "/missing")));
  requests.push_back(get(fmt::format("http://127.0.0.1:{}/x", closed_port())));
  auto results = transport.send_all(requests);
  ASSERT_EQ(results.size(), requests.size());
  for (int i = 0; i < 10; ++i) {
    const auto index = static_cast<std::size_t>(i);
    ASSERT_TRUE(results[index]) << results[index].error().to_string();
    EXPECT_EQ(results[index]->status, 202);
    EXPECT_EQ(results[index]->body.view(), fmt::format("body-{}", i));
  }
  ASSERT_TRUE(results[10]);
  EXPECT_EQ(results[10]->status, 404);
  ASSERT_FALSE(results[11]);
  EXPECT_EQ(results[11].error().code(), ErrorCode::ConnectFailed);
}

// send_all never has more than max_in_flight transfers open, and does use that many.
TEST_F(CurlTransportTest, SendAllBoundsRequestsInFlight) {
  CurlOptions options = loopback_options();
  options.max_in_flight = 3;
  CurlTransport transport(options);
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 12; ++i) {
    requests.push_back(get(server_->url("http", "/gate")));
  }
  auto results = transport.send_all(requests);
  for (auto& result : results) {
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_EQ(result->body.view(), "through");
  }
  std::lock_guard lock(gate_mutex_);
  EXPECT_EQ(max_in_flight_, 3);
}

// send() may be called from many threads at once.
TEST_F(CurlTransportTest, SendIsThreadSafe) {
  CurlTransport transport(loopback_options());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto result = transport.send(get(server_->url("http", "/ok")));
        if (result && result->status == 200) {
          ++ok;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(ok.load(), 20);
}

class CurlTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = testing::make_test_pki();
    server_ = std::make_unique<LoopbackServer>(
        std::make_unique<httplib::SSLServer>(pki_.server_cert.c_str(), pki_.server_key.c_str()));
    ASSERT_TRUE(server_->routes().is_valid());
    server_->routes().Get("/ok", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("secure", "text/plain");
    });
    server_->start();
  }
  void TearDown() override {
    server_->stop();
    testing::remove_test_pki(pki_);
  }

  testing::TestPki pki_;
  std::unique_ptr<LoopbackServer> server_;
};

// The right CA verifies the server (by IP and by DNS name in the SAN).
TEST_F(CurlTlsTest, RightCaIsAccepted) {
  CurlOptions options = loopback_options();
  options.ca_file = pki_.ca_cert;
  options.resolve.push_back(fmt::format("localhost:{}:127.0.0.1", server_->port()));
  CurlTransport transport(options);
  auto by_ip = transport.send(get(server_->url("https", "/ok")));
  ASSERT_TRUE(by_ip) << by_ip.error().to_string();
  EXPECT_EQ(by_ip->body.view(), "secure");
  auto by_name = transport.send(get(fmt::format("https://localhost:{}/ok", server_->port())));
  ASSERT_TRUE(by_name) << by_name.error().to_string();
}

// A server certificate from a CA we do not trust is refused: TlsFailed, nothing sent.
TEST_F(CurlTlsTest, WrongCaIsRefused) {
  CurlOptions options = loopback_options();
  options.ca_file = pki_.other_ca_cert;
  CurlTransport transport(options);
  auto result = transport.send(get(server_->url("https", "/ok")));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::TlsFailed) << result.error().to_string();
  EXPECT_EQ(outcome_of(result.error()), Outcome::Rejected);
}

// A trusted certificate for another name is refused (host name verification is on).
TEST_F(CurlTlsTest, HostNameMismatchIsRefused) {
  CurlOptions options = loopback_options();
  options.ca_file = pki_.ca_cert;
  options.resolve.push_back(fmt::format("wrong.example:{}:127.0.0.1", server_->port()));
  CurlTransport transport(options);
  auto result = transport.send(get(fmt::format("https://wrong.example:{}/ok", server_->port())));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::TlsFailed) << result.error().to_string();
}

// send_all works over TLS with the configured CA.
TEST_F(CurlTlsTest, SendAllOverTlsWorks) {
  CurlOptions options = loopback_options();
  options.ca_file = pki_.ca_cert;
  options.max_in_flight = 2;
  CurlTransport transport(options);
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 5; ++i) {
    requests.push_back(get(server_->url("https", "/ok")));
  }
  auto results = transport.send_all(requests);
  for (auto& result : results) {
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_EQ(result->status, 200);
  }
}

}  // namespace
}  // namespace rotor::http
