// The only translation unit of the ECS simulator that includes <httplib.h>.
#include "sim/ecs/simulator.h"

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "common/log.h"
#include "sim/net/sockets.h"

namespace rotor::sim {
namespace {

// The accepted socket that carries `req`: the one whose local and peer ports are the request's.
// httplib does not expose it, so the simulator finds it among its own descriptors.
int find_connection(const httplib::Request& req) {
  int found = -1;
  for_each_own_socket([&](int fd) {
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0 ||
        port_of(local) != req.local_port) {
      return true;
    }
    sockaddr_storage peer{};
    length = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) == 0 &&
        port_of(peer) == req.remote_port) {
      found = fd;
      return false;
    }
    return true;
  });
  return found;
}

// Drops the connection with a TCP reset and no answer. connect(AF_UNSPEC) disconnects the socket
// (Linux sends RST) while the descriptor stays valid for httplib to close later.
void reset_connection(const httplib::Request& req) {
  const int fd = find_connection(req);
  if (fd < 0) {
    return;
  }
  linger option{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof(option));
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  if (connect(fd, &unspec, sizeof(unspec)) != 0) {
    shutdown(fd, SHUT_RDWR);
  }
}

}  // namespace

EcsSimulator::EcsSimulator(EcsSimulatorOptions options) : service_(std::move(options)) {}

EcsSimulator::~EcsSimulator() {
  stop();
}

std::string EcsSimulator::base_url() const {
  const auto& options = service_.options();
  return (options.tls ? "https://" : "http://") + options.host + ":" + std::to_string(port_);
}

int EcsSimulator::start() {
  if (server_) {
    return port_;
  }
  const auto& options = service_.options();
  if (options.tls) {
    server_ = std::make_unique<httplib::SSLServer>(options.tls->cert_file.c_str(),
                                                   options.tls->key_file.c_str());
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  if (!server_->is_valid()) {
    server_.reset();
    throw std::runtime_error("ECS simulator: cannot load the TLS certificate or key");
  }
  const std::size_t threads = std::max<std::size_t>(options.threads, 4);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    on_request(req, res);
  };
  server_->Get(".*", handler);
  server_->Put(".*", handler);
  server_->Post(".*", handler);
  server_->Delete(".*", handler);
  server_->Patch(".*", handler);
  // One worker thread serves one connection at a time (httplib's model): keep idle keep-alive
  // connections short enough that waiting connections are not starved.
  server_->set_keep_alive_timeout(5);
  server_->set_keep_alive_max_count(100);
  server_->set_payload_max_length(12 * 1024 * 1024);  // the gateway's body limit

  if (options.port == 0) {
    port_ = server_->bind_to_any_port(options.host);
  } else {
    port_ = server_->bind_to_port(options.host, options.port) ? options.port : -1;
  }
  if (port_ <= 0) {
    server_.reset();
    throw std::runtime_error("ECS simulator: cannot listen on " + options.host + ":" +
                             std::to_string(options.port));
  }
  widen_listen_backlog(port_);
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  for (int i = 0; i < 2000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  rotor::log::get("sim-ecs")->info("ECS simulator listening url={} servers={}", base_url(),
                                   service_.servers().size());
  return port_;
}

void EcsSimulator::stop() {
  if (!server_) {
    return;
  }
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) {
    thread_.join();
  }
  server_.reset();
}

bool EcsSimulator::wait_for(std::chrono::milliseconds duration) {
  std::unique_lock lock(stop_mutex_);
  return !stop_cv_.wait_for(lock, duration, [this] { return stopping_; });
}

void EcsSimulator::on_request(const httplib::Request& req, httplib::Response& res) {
  SimRequest request;
  request.method = req.method;
  request.path = req.path;
  for (const auto& [key, value] : req.params) {
    request.query.emplace_back(key, value);
  }
  for (const auto& [name, value] : req.headers) {
    // httplib adds these for its own bookkeeping; they were not sent by the client.
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
        name == "LOCAL_PORT") {
      continue;
    }
    request.headers.emplace_back(name, value);
  }
  request.body = req.body;

  SimResponse out = service_.handle(request);
  if (out.delay.count() > 0) {
    wait_for(out.delay);
  }
  switch (out.action) {
    case SimResponse::Action::Respond:
      res.status = out.status;
      for (const auto& [name, value] : out.headers) {
        res.set_header(name, value);
      }
      if (!out.content_type.empty()) {
        res.set_content(out.body, out.content_type.c_str());
      }
      return;
    case SimResponse::Action::HoldThenReset:
      wait_for(out.hold);
      reset_connection(req);
      res.status = 500;
      return;
    case SimResponse::Action::Reset:
      reset_connection(req);
      res.status = 500;
      return;
  }
}

}  // namespace rotor::sim
