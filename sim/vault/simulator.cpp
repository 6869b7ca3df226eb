#include "sim/vault/simulator.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "sim/net/sockets.h"

namespace rotor::sim {

class VaultSimulator::Impl {
 public:
  explicit Impl(VaultSimulatorOptions options)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &system_clock_),
        core_(options_.vault, *clock_) {
    const bool tls = !options_.tls_cert.empty() || !options_.tls_key.empty();
    if (tls) {
      auto ssl =
          std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
      if (!ssl->is_valid()) {
        throw std::runtime_error("vault simulator: cannot load TLS certificate " +
                                 options_.tls_cert.string() + " / key " +
                                 options_.tls_key.string());
      }
      server_ = std::move(ssl);
      scheme_ = "https";
    } else {
      server_ = std::make_unique<httplib::Server>();
      scheme_ = "http";
    }
    server_->set_payload_max_length(std::size_t{32} << 20U);
    const auto threads = static_cast<std::size_t>(std::max(1, options_.threads));
    // cpp-httplib's hook takes ownership of a raw pointer (it deletes the queue itself).
    server_->new_task_queue = [threads] {
      return new httplib::ThreadPool(threads);  // NOLINT(cppcoreguidelines-owning-memory)
    };
    // stop() waits for idle keep-alive connections to time out: keep that short.
    server_->set_keep_alive_timeout(1);
    // Vault (Go's net/http) never closes a kept-alive connection after a number of requests;
    // httplib's default closes it after 5, which made every client reconnect all the time.
    server_->set_keep_alive_max_count(100'000);
    // Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms.
    server_->set_tcp_nodelay(true);
    // httplib's default adds SO_REUSEPORT, which would let two simulators share a fixed port.
    server_->set_socket_options([](socket_t sock) {
      int yes = 1;
      (void)setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    const auto handler = [this](const httplib::Request& request, httplib::Response& response) {
      serve(request, response);
    };
    server_->Get(".*", handler);
    server_->Post(".*", handler);
    server_->Put(".*", handler);
    server_->Patch(".*", handler);
    server_->Delete(".*", handler);
    if (options_.port == 0) {
      port_ = server_->bind_to_any_port(options_.host);
    } else if (server_->bind_to_port(options_.host, options_.port)) {
      port_ = options_.port;
    } else {
      port_ = -1;
    }
    if (port_ <= 0) {
      throw std::runtime_error("vault simulator: cannot listen on " + options_.host + ":" +
                               std::to_string(options_.port));
    }
    widen_listen_backlog(port_);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) {
      std::this_thread::yield();
    }
  }

  ~Impl() { stop(); }

  void stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }

  [[nodiscard]] std::string address() const {
    return scheme_ + "://" + options_.host + ":" + std::to_string(port_);
  }
  [[nodiscard]] int port() const noexcept { return port_; }
  VaultCore& core() noexcept { return core_; }

 private:
  void serve(const httplib::Request& request, httplib::Response& response) {
    VaultRequest in;
    in.method = request.method;
    in.path = request.path;
    for (const auto& [key, value] : request.params) {
      in.query.emplace(key, value);
    }
    in.token = request.get_header_value("X-Vault-Token");
    if (in.token.empty()) {
      const auto authorization = request.get_header_value("Authorization");
      if (authorization.rfind("Bearer ", 0) == 0) {
        in.token = authorization.substr(7);
      }
    }
    in.vault_namespace = request.get_header_value("X-Vault-Namespace");
    in.content_type = request.get_header_value("Content-Type");
    in.body = request.body;
    VaultResponse out = core_.handle(in);
    if (out.delay.count() > 0) {
      std::this_thread::sleep_for(out.delay);
    }
    response.status = out.status;
    for (const auto& [name, value] : out.headers) {
      response.set_header(name, value);
    }
    if (out.drop_connection) {
      // The change is applied; the client sees the status line and then a closed connection.
      const std::size_t length = out.body.empty() ? 16 : out.body.size();
      response.set_content_provider(length, "application/json",
                                    [](std::size_t /*offset*/, std::size_t /*length*/,
                                       httplib::DataSink& /*sink*/) { return false; });
      return;
    }
    if (!out.body.empty()) {
      response.set_content(out.body, "application/json");
    } else if (out.status != 204) {
      response.set_header("Content-Type", "application/json");
    }
  }

  VaultSimulatorOptions options_;
  SystemClock system_clock_;
  Clock* clock_;
  VaultCore core_;
  std::unique_ptr<httplib::Server> server_;
  std::string scheme_;
  int port_ = 0;
  std::thread thread_;
};

VaultSimulator::VaultSimulator(VaultSimulatorOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

VaultSimulator::~VaultSimulator() = default;

std::string VaultSimulator::address() const {
  return impl_->address();
}
int VaultSimulator::port() const noexcept {
  return impl_->port();
}
VaultCore& VaultSimulator::core() noexcept {
  return impl_->core();
}
void VaultSimulator::stop() {
  impl_->stop();
}

}  // namespace rotor::sim
