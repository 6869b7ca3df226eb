#pragma once
// The ECS simulator as a real HTTP(S) server on loopback. Tests start it in-process:
//
//   rotor::sim::EcsSimulatorOptions options;
//   options.access_keys = {{"AK", "SK"}};
//   options.fleet.count = 50;
//   rotor::sim::EcsSimulator sim(std::move(options));
//   const int port = sim.start();          // 127.0.0.1, any free port
//   ... requests to sim.base_url() ...
//   sim.servers();                          // what every server accepts now / after restart
//
// The simulator stops when destroyed. `rotor-sim ecs` (cli.h) runs the same class standalone.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sim/ecs/options.h"
#include "sim/ecs/service.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace rotor::sim {

class EcsSimulator {
 public:
  explicit EcsSimulator(EcsSimulatorOptions options = {});
  ~EcsSimulator();
  EcsSimulator(const EcsSimulator&) = delete;
  EcsSimulator& operator=(const EcsSimulator&) = delete;

  // Binds and starts serving; returns the bound port. Throws std::runtime_error when the address
  // cannot be bound or the TLS files cannot be loaded.
  int start();
  // Stops serving: held (timeout-fault) requests are released and their connections dropped.
  void stop();

  [[nodiscard]] int port() const noexcept { return port_; }
  // "http://127.0.0.1:PORT" (or https).
  [[nodiscard]] std::string base_url() const;

  // The in-process accessor API (the same data and controls as the /_sim endpoints).
  [[nodiscard]] EcsService& service() noexcept { return service_; }
  [[nodiscard]] std::vector<ServerSnapshot> servers() const { return service_.servers(); }
  [[nodiscard]] std::optional<ServerSnapshot> server(std::string_view id) const {
    return service_.server(id);
  }
  std::string add_server(const ServerSpec& spec) { return service_.add_server(spec); }
  bool delete_server(std::string_view id) { return service_.delete_server(id); }
  bool restart_server(std::string_view id) { return service_.restart_server(id); }
  void set_faults(FaultProfile profile) { service_.set_faults(std::move(profile)); }
  void set_faults_enabled(bool enabled) { service_.set_faults_enabled(enabled); }
  void force_fault(ForcedFault fault) { service_.force_fault(std::move(fault)); }
  [[nodiscard]] SimStats stats() const { return service_.stats(); }

 private:
  void on_request(const httplib::Request& req, httplib::Response& res);
  // Waits up to `duration`; returns early (false) when the simulator stops.
  bool wait_for(std::chrono::milliseconds duration);

  EcsService service_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

}  // namespace rotor::sim
