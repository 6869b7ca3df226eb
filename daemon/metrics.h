#pragma once
// The daemon's metrics, exactly the table of docs/metrics.md, in one prometheus-cpp registry;
// the Exposer that serves them on daemon.metrics_listen (/metrics, and /healthz); and a metering
// HttpTransport decorator that counts and times API requests by service, endpoint template and
// status code. No label ever carries a secret: labels are policy names, states, results,
// services, path templates (ids replaced) and codes.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.h"
#include "config/config.h"
#include "daemon/scheduler.h"
#include "engine/rotator.h"

namespace prometheus {
class Exposer;
}

namespace rotor::daemon {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  [[nodiscard]] std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // rotor_rotations_total, rotor_rotation_duration_seconds, rotor_pending_alerts is from the view.
  void rotation(const std::string& policy, const engine::Report& report,
                std::chrono::duration<double> seconds);
  // rotor_servers, rotor_password_age_oldest_seconds, rotor_pending_alerts,
  // rotor_last_success_timestamp_seconds, rotor_next_run_timestamp_seconds, rotor_policy_held,
  // rotor_servers_gone.
  // Walks the scheduler's table in place (Scheduler::visit_servers): no copy of every server.
  void schedule(const ServerTable& servers, const std::vector<PolicyView>& policies,
                config::SysSeconds now);
  // rotor_api_requests_total, rotor_api_request_duration_seconds. `code`: the status or "error".
  void api_request(std::string_view service, const std::string& endpoint, const std::string& code,
                   std::chrono::duration<double> seconds);
  void vault_token_ttl(std::int64_t seconds);
  // rotor_policy_halts_total: a run stopped by the policy's error budget.
  void policy_halted(const std::string& policy);
  // rotor_log_messages_suppressed_total: repeats counted instead of logged.
  void log_suppressed(std::size_t count);
  void reload(bool success, config::SysSeconds at);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& build_info_;
  prometheus::Family<prometheus::Counter>& rotations_;
  prometheus::Family<prometheus::Histogram>& rotation_duration_;
  prometheus::Family<prometheus::Gauge>& servers_;
  prometheus::Family<prometheus::Gauge>& oldest_age_;
  prometheus::Family<prometheus::Gauge>& pending_alerts_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Family<prometheus::Gauge>& next_run_;
  prometheus::Family<prometheus::Counter>& api_requests_;
  prometheus::Family<prometheus::Histogram>& api_duration_;
  prometheus::Family<prometheus::Gauge>& token_ttl_;
  prometheus::Family<prometheus::Counter>& halts_;
  prometheus::Family<prometheus::Gauge>& held_;
  prometheus::Family<prometheus::Gauge>& gone_;
  prometheus::Family<prometheus::Counter>& suppressed_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Family<prometheus::Gauge>& last_reload_success_;
  prometheus::Family<prometheus::Gauge>& last_reload_timestamp_;
  std::mutex mutex_;
  std::set<std::string> policies_;  // policies with per-policy gauges
};

// The Prometheus endpoint. `listen` is "host:port" (port 0: any free port, for tests).
class MetricsServer {
 public:
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen,
                                                      const Metrics& metrics);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  [[nodiscard]] int port() const;

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> health_;
};

// The endpoint label for a request URL: the path only (never the query), with server ids,
// numbers and the project id replaced by {id} / {project_id}; for Vault, the KV key below
// {mount}/data|metadata is replaced by {path}. Bounded: at most 8 segments are kept.
[[nodiscard]] std::string endpoint_template(std::string_view url, std::string_view service);

// Counts and times every request sent through `inner`. Requests to IAM (/v3/auth, /v3/projects)
// are counted as service "iam" on a cloud transport.
class MeteringTransport final : public HttpTransport {
 public:
  MeteringTransport(HttpTransport& inner, Metrics& metrics, std::string service);
  Result<HttpResponse> send(const HttpRequest& request) override;
  std::vector<Result<HttpResponse>> send_all(std::span<const HttpRequest> requests) override;

 private:
  void record(const HttpRequest& request, const Result<HttpResponse>& result,
              std::chrono::duration<double> seconds);
  HttpTransport& inner_;
  Metrics& metrics_;
  std::string service_;
};

}  // namespace rotor::daemon
