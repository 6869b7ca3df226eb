#include "daemon/metrics.h"

#include <prometheus/exposer.h>

#include <algorithm>
#include <cctype>
#include <exception>

#include "rotor/version.h"

namespace rotor::daemon {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& rotation_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.5, 1,   2,   5,   10,  30,
                                                               60,  120, 300, 600, 1800};
  return buckets;
}

const prometheus::Histogram::BucketBoundaries& api_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                               0.5,   1,    2.5,   5,    10,  30};
  return buckets;
}

constexpr const char* kStates[] = {"unrotated", "current", "pending", "awaiting_restart",
                                   "quarantined"};

std::string_view result_of(engine::Outcome outcome) {
  switch (outcome) {
    case engine::Outcome::Rotated: return "rotated";
    case engine::Outcome::StillPending: return "pending";
    case engine::Outcome::Failed: return "failed";
    case engine::Outcome::Skipped: return "skipped";
  }
  return "failed";
}

bool all_of(std::string_view s, int (*pred)(int)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [pred](char c) {
    return pred(static_cast<unsigned char>(c)) != 0;
  });
}

int is_hex(int c) {
  return std::isxdigit(c);
}
int is_digit(int c) {
  return std::isdigit(c);
}

// True for segments that name one object: numbers, UUIDs, long hex strings, ids with digits.
bool looks_like_id(std::string_view segment) {
  if (all_of(segment, is_digit)) {
    return true;
  }
  std::string hex;
  for (char c : segment) {
    if (c != '-') {
      hex += c;
    }
  }
  if (hex.size() >= 8 && all_of(hex, is_hex)) {
    return true;
  }
  const bool has_digit = std::any_of(segment.begin(), segment.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  return has_digit && segment.size() >= 12;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      build_info_(
          BuildGauge().Name("rotor_build_info").Help("The running build").Register(*registry_)),
      rotations_(BuildCounter()
                     .Name("rotor_rotations_total")
                     .Help("Rotation attempts by result")
                     .Register(*registry_)),
      rotation_duration_(BuildHistogram()
                             .Name("rotor_rotation_duration_seconds")
                             .Help("From the first read to the commit (or the give-up)")
                             .Register(*registry_)),
      servers_(
          BuildGauge().Name("rotor_servers").Help("Managed servers by state").Register(*registry_)),
      oldest_age_(BuildGauge()
                      .Name("rotor_password_age_oldest_seconds")
                      .Help("Age of the oldest password among the policy's servers")
                      .Register(*registry_)),
      pending_alerts_(BuildGauge()
                          .Name("rotor_pending_alerts")
                          .Help("Pending rotations past the alert threshold of attempts")
                          .Register(*registry_)),
      last_success_(BuildGauge()
                        .Name("rotor_last_success_timestamp_seconds")
                        .Help("Unix time of the last successful rotation")
                        .Register(*registry_)),
      next_run_(BuildGauge()
                    .Name("rotor_next_run_timestamp_seconds")
                    .Help("Unix time of the next scheduled work")
                    .Register(*registry_)),
      api_requests_(BuildCounter()
                        .Name("rotor_api_requests_total")
                        .Help("API requests sent, by service, endpoint template and code")
                        .Register(*registry_)),
      api_duration_(BuildHistogram()
                        .Name("rotor_api_request_duration_seconds")
                        .Help("API request latency")
                        .Register(*registry_)),
      token_ttl_(BuildGauge()
                     .Name("rotor_vault_token_ttl_seconds")
                     .Help("Seconds left on the Vault token (0: never expires)")
                     .Register(*registry_)),
      halts_(BuildCounter()
                 .Name("rotor_policy_halts_total")
                 .Help("Policy runs halted by the error budget")
                 .Register(*registry_)),
      held_(BuildGauge()
                .Name("rotor_policy_held")
                .Help("1 while a halted policy is held (no new rotations)")
                .Register(*registry_)),
      gone_(BuildGauge()
                .Name("rotor_servers_gone")
                .Help("Records of servers no longer in the cloud (marked, kept)")
                .Register(*registry_)),
      suppressed_(BuildCounter()
                      .Name("rotor_log_messages_suppressed_total")
                      .Help("Repeated identical log messages counted instead of logged")
                      .Register(*registry_)),
      reloads_(BuildCounter()
                   .Name("rotor_config_reloads_total")
                   .Help("SIGHUP reloads by result")
                   .Register(*registry_)),
      last_reload_success_(BuildGauge()
                               .Name("rotor_config_last_reload_success")
                               .Help("1 when the last reload was applied, 0 when it was refused")
                               .Register(*registry_)),
      last_reload_timestamp_(BuildGauge()
                                 .Name("rotor_config_last_reload_timestamp_seconds")
                                 .Help("Unix time of the last reload attempt")
                                 .Register(*registry_)) {
  build_info_.Add({{"version", kVersion}, {"revision", kGitRevision}}).Set(1);
  token_ttl_.Add({});
  suppressed_.Add({});
  reloads_.Add({{"result", "success"}});
  reloads_.Add({{"result", "failure"}});
  last_reload_success_.Add({});
  last_reload_timestamp_.Add({});
}

void Metrics::rotation(const std::string& policy, const engine::Report& report,
                       std::chrono::duration<double> seconds) {
  rotations_.Add({{"policy", policy}, {"result", std::string(result_of(report.outcome))}})
      .Increment();
  rotation_duration_.Add({{"policy", policy}}, rotation_buckets()).Observe(seconds.count());
}

void Metrics::schedule(const ServerTable& servers, const std::vector<PolicyView>& policies,
                       config::SysSeconds now) {
  std::lock_guard lock(mutex_);
  struct Counts {
    std::map<std::string, double, std::less<>> by_state;
    double oldest = 0;
    double alerts = 0;
  };
  std::map<std::string, Counts> counts;
  for (const auto& policy : policies) {
    counts[policy.name];
  }
  Counts* current = nullptr;  // the last server's policy's: a policy's servers mostly come together
  std::string_view last_policy;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const std::string_view policy = servers.policy(i);
    if (current == nullptr || policy != last_policy) {
      current = &counts[std::string(policy)];
      last_policy = policy;
    }
    Counts* const c = current;
    const std::string_view state =
        servers.quarantined(i).empty() ? servers.state(i) : std::string_view("quarantined");
    auto found = c->by_state.find(state);
    if (found == c->by_state.end()) {
      found = c->by_state.emplace(std::string(state), 0).first;
    }
    found->second += 1;
    if (const auto rotated = servers.rotated_at(i)) {
      c->oldest = std::max(c->oldest, static_cast<double>((now - *rotated).count()));
    }
    if (servers.alert(i)) {
      c->alerts += 1;
    }
  }
  // Policies gone after a reload lose their series.
  for (const auto& old : policies_) {
    if (counts.count(old) == 0) {
      for (const char* state : kStates) {
        servers_.Remove(&servers_.Add({{"policy", old}, {"state", state}}));
      }
      oldest_age_.Remove(&oldest_age_.Add({{"policy", old}}));
      pending_alerts_.Remove(&pending_alerts_.Add({{"policy", old}}));
      next_run_.Remove(&next_run_.Add({{"policy", old}}));
      held_.Remove(&held_.Add({{"policy", old}}));
      gone_.Remove(&gone_.Add({{"policy", old}}));
    }
  }
  policies_.clear();
  for (const auto& [policy, c] : counts) {
    policies_.insert(policy);
    for (const char* state : kStates) {
      auto found = c.by_state.find(state);
      servers_.Add({{"policy", policy}, {"state", state}})
          .Set(found == c.by_state.end() ? 0 : found->second);
    }
    oldest_age_.Add({{"policy", policy}}).Set(c.oldest);
    pending_alerts_.Add({{"policy", policy}}).Set(c.alerts);
  }
  for (const auto& policy : policies) {
    halts_.Add({{"policy", policy.name}});
    held_.Add({{"policy", policy.name}}).Set(policy.held.empty() ? 0 : 1);
    gone_.Add({{"policy", policy.name}}).Set(static_cast<double>(policy.gone));
    if (policy.next_run) {
      next_run_.Add({{"policy", policy.name}})
          .Set(static_cast<double>(policy.next_run->time_since_epoch().count()));
    }
    if (policy.last_success) {
      last_success_.Add({{"policy", policy.name}})
          .Set(static_cast<double>(policy.last_success->time_since_epoch().count()));
    }
  }
}

void Metrics::api_request(std::string_view service, const std::string& endpoint,
                          const std::string& code, std::chrono::duration<double> seconds) {
  const std::string svc(service);
  api_requests_.Add({{"service", svc}, {"endpoint", endpoint}, {"code", code}}).Increment();
  api_duration_.Add({{"service", svc}, {"endpoint", endpoint}}, api_buckets())
      .Observe(seconds.count());
}

void Metrics::vault_token_ttl(std::int64_t seconds) {
  token_ttl_.Add({}).Set(static_cast<double>(seconds));
}

void Metrics::policy_halted(const std::string& policy) {
  halts_.Add({{"policy", policy}}).Increment();
}

void Metrics::log_suppressed(std::size_t count) {
  suppressed_.Add({}).Increment(static_cast<double>(count));
}

void Metrics::reload(bool success, config::SysSeconds at) {
  reloads_.Add({{"result", success ? "success" : "failure"}}).Increment();
  last_reload_success_.Add({}).Set(success ? 1 : 0);
  last_reload_timestamp_.Add({}).Set(static_cast<double>(at.time_since_epoch().count()));
}

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            const Metrics& metrics) {
  std::unique_ptr<MetricsServer> server(new MetricsServer());  // NOLINT: private constructor
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    return fail(ErrorCode::IoError, "cannot serve metrics on {}: {}", listen, e.what());
  }
  server->exposer_->RegisterCollectable(metrics.registry(), "/metrics");
  // /healthz answers 200 (with no series) while the process serves.
  server->health_ = std::make_shared<prometheus::Registry>();
  server->exposer_->RegisterCollectable(server->health_, "/healthz");
  return server;
}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const {
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

// ---------------------------------------------------------------------------------------------

std::string endpoint_template(std::string_view url, std::string_view service) {
  // Strip scheme and authority, then the query and fragment.
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    auto slash = url.find('/');
    url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
  }
  if (auto query = url.find_first_of("?#"); query != std::string_view::npos) {
    url = url.substr(0, query);
  }
  std::vector<std::string_view> segments;
  while (!url.empty()) {
    auto slash = url.find('/');
    auto segment = url.substr(0, slash);
    if (!segment.empty()) {
      segments.push_back(segment);
    }
    if (slash == std::string_view::npos) {
      break;
    }
    url.remove_prefix(slash + 1);
  }
  std::string out;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto segment = segments[i];
    if (service == "vault" && i == 3 && segments.size() > 3 && segments[0] == "v1" &&
        (segments[2] == "data" || segments[2] == "metadata")) {
      out += "/{path}";  // the KV key: server ids and names, never a label of their own
      break;
    }
    if (++kept > 8) {
      out += "/…";
      break;
    }
    out += '/';
    if (i == 1 && segment.size() == 32 && all_of(segment, is_hex) && service != "vault") {
      out += "{project_id}";
    } else if (looks_like_id(segment)) {
      out += "{id}";
    } else {
      out += segment;
    }
  }
  return out.empty() ? "/" : out;
}

MeteringTransport::MeteringTransport(HttpTransport& inner, Metrics& metrics, std::string service)
    : inner_(inner), metrics_(metrics), service_(std::move(service)) {}

void MeteringTransport::record(const HttpRequest& request, const Result<HttpResponse>& result,
                               std::chrono::duration<double> seconds) {
  std::string_view service = service_;
  const std::string endpoint = endpoint_template(request.url, service_);
  if (service_ != "vault" &&
      (endpoint.starts_with("/v3/auth") || endpoint.starts_with("/v3/projects"))) {
    service = "iam";
  }
  metrics_.api_request(service, endpoint, result ? std::to_string(result->status) : "error",
                       seconds);
}

Result<HttpResponse> MeteringTransport::send(const HttpRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  auto result = inner_.send(request);
  record(request, result, std::chrono::steady_clock::now() - started);
  return result;
}

std::vector<Result<HttpResponse>> MeteringTransport::send_all(
    std::span<const HttpRequest> requests) {
  const auto started = std::chrono::steady_clock::now();
  auto results = inner_.send_all(requests);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
  for (std::size_t i = 0; i < requests.size() && i < results.size(); ++i) {
    record(requests[i], results[i], seconds);  // concurrent: each took at most the whole
  }
  return results;
}

}  // namespace rotor::daemon
