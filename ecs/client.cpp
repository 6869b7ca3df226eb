#include "ecs/client.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <future>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "common/log.h"
#include "ecs/errors.h"
#include "ecs/json_writer.h"
#include "ecs/signer.h"
#include "ecs/wiped_json.h"
#include "http/retry.h"

namespace rotor::ecs {

namespace {

using nlohmann::json;           // request bodies without secrets
using Doc = detail::WipedJson;  // every parsed answer

constexpr std::size_t kMaxBatch = 1000;
constexpr std::size_t kMaxPages = 10'000;

Doc parse_body(const HttpResponse& response) {
  return detail::parse_wiped(response.body.view());
}

std::string text_of(const Doc& object, std::string_view key) {
  if (!object.is_object()) {
    return {};
  }
  const auto found = object.find(key);
  if (found == object.end()) {
    return {};
  }
  return detail::to_std(*found);
}

JobState job_state(std::string_view text) {
  if (code_equals(text, "SUCCESS")) {
    return JobState::Success;
  }
  if (code_equals(text, "RUNNING")) {
    return JobState::Running;
  }
  if (code_equals(text, "FAIL")) {
    return JobState::Fail;
  }
  if (code_equals(text, "INIT")) {
    return JobState::Init;
  }
  return JobState::Unknown;
}

// An address goes to a verification hook's environment (ROTOR_ADDRESSES, space-separated):
// only the characters of an IPv4 or IPv6 address (with an optional %zone) are let through.
constexpr std::size_t kMaxAddresses = 16;
constexpr std::size_t kMaxAddressLength = 64;

bool looks_like_ip(std::string_view text) {
  if (text.empty() || text.size() > kMaxAddressLength) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == '.' || c == ':' || c == '%';
  });
}

std::vector<std::string> parse_addresses(const Doc& item) {
  std::vector<std::string> found;
  if (!item.contains("addresses") || !item["addresses"].is_object()) {
    return found;
  }
  for (const auto& [network, entries] : item["addresses"].items()) {
    if (!entries.is_array()) {
      continue;
    }
    for (const auto& entry : entries) {
      std::string addr = text_of(entry, "addr");
      if (found.size() < kMaxAddresses && looks_like_ip(addr)) {
        found.push_back(std::move(addr));
      }
    }
  }
  return found;
}

Server parse_server(const Doc& item) {
  Server server;
  server.id = text_of(item, "id");
  server.name = text_of(item, "name");
  server.status = text_of(item, "status");
  server.task_state = text_of(item, "OS-EXT-STS:task_state");
  if (item.contains("locked") && item["locked"].is_boolean()) {
    server.locked = item["locked"].get<bool>();
  }
  if (item.contains("tags") && item["tags"].is_array()) {
    for (const auto& tag : item["tags"]) {
      if (tag.is_string()) {
        server.tags.push_back(detail::to_std(tag));
      } else if (tag.is_object()) {
        server.tags.push_back(text_of(tag, "key") + "=" + text_of(tag, "value"));
      }
    }
  }
  if (item.contains("metadata") && item["metadata"].is_object()) {
    server.os_type = text_of(item["metadata"], "os_type");
    server.image_name = text_of(item["metadata"], "image_name");
  }
  if (item.contains("image") && item["image"].is_object()) {
    server.image_id = text_of(item["image"], "id");
  }
  server.addresses = parse_addresses(item);
  return server;
}

Error bad_response(std::string_view what, std::string_view why) {
  return Error(ErrorCode::BadResponse, fmt::format("{}: {}", what, why));
}

void append_servers_array(WipingBuffer& body, std::span<const std::string> ids) {
  body.append("[");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) {
      body.append(",");
    }
    body.append(R"({"id":)");
    append_json_string(body, ids[i]);
    body.append("}");
  }
  body.append("]");
}

// Slowing down on throttling is always on; only the ceiling differs: a known limit is never
// exceeded, an unknown one is probed for.
http::RateAdaptation rate_adaptation(const CloudLimits& limits) {
  http::RateAdaptation adaptation;
  adaptation.enabled = true;
  adaptation.floor = std::min(1.0, limits.requests_per_second);
  adaptation.ceiling = limits.adaptive
                           ? std::max(limits.max_requests_per_second, limits.requests_per_second)
                           : limits.requests_per_second;
  return adaptation;
}

// A throttle's Retry-After pauses every caller of the bucket, within the retry policy's cap.
std::optional<std::chrono::nanoseconds> pause_for(
    std::optional<std::chrono::nanoseconds> retry_after, const http::RetryPolicy& retry) {
  if (!retry_after) {
    return std::nullopt;
  }
  return std::min<std::chrono::nanoseconds>(*retry_after, retry.max_retry_after);
}

}  // namespace

std::string_view to_string(JobState state) noexcept {
  switch (state) {
    case JobState::Init: return "INIT";
    case JobState::Running: return "RUNNING";
    case JobState::Success: return "SUCCESS";
    case JobState::Fail: return "FAIL";
    case JobState::Unknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

bool valid_id(std::string_view id) noexcept {
  return !id.empty() && id.size() <= 128 &&
         std::all_of(id.begin(), id.end(),
                     [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                     }) &&
         id != "." && id != "..";
}

WipingBuffer batch_reset_body(std::span<const std::string> server_ids, const Secret* password,
                              bool dry_run) {
  WipingBuffer body;
  body.reserve(64 + server_ids.size() * 48 + (password != nullptr ? password->size() * 2 : 0));
  body.append("{");
  if (password != nullptr) {
    body.append(R"("new_password":)");
    append_json_string(body, password->reveal());
    body.append(",");
  }
  body.append(R"("servers":)");
  append_servers_array(body, server_ids);
  body.append(dry_run ? R"(,"dry_run":true})" : R"(,"dry_run":false})");
  return body;
}

WipingBuffer single_reset_body(const Secret& password, bool check_password) {
  WipingBuffer body;
  body.reserve(64 + password.size() * 2);
  body.append(R"({"reset-password":{"new_password":)");
  append_json_string(body, password.reveal());
  if (check_password) {
    body.append(R"(,"is_check_password":true)");
  }
  body.append("}}");
  return body;
}

EcsClient::EcsClient(CloudConfig config, HttpTransport& transport, Clock& clock, Random& random)
    : config_(std::move(config)),
      transport_(transport),
      clock_(clock),
      random_(random),
      bucket_(config_.limits.requests_per_second, config_.limits.burst, clock,
              rate_adaptation(config_.limits)) {
  while (!config_.ecs_endpoint.empty() && config_.ecs_endpoint.back() == '/') {
    config_.ecs_endpoint.pop_back();
  }
  if (!split_url(config_.ecs_endpoint)) {
    throw std::invalid_argument("ecs: endpoint must be an http(s) URL");
  }
  if (!valid_id(config_.project_id)) {
    throw std::invalid_argument("ecs: invalid project_id");
  }
  if (config_.limits.max_batch < 1 || config_.limits.max_batch > kMaxBatch) {
    throw std::invalid_argument("ecs: max_batch not within 1..1000");
  }
  if (config_.limits.page_size < 1 || config_.limits.page_size > 1000) {
    throw std::invalid_argument("ecs: page_size not within 1..1000");
  }
  if (config_.auth == AuthMode::AkSk) {
    if (config_.aksk.access_key.empty() || config_.aksk.secret_key.empty()) {
      throw std::invalid_argument("ecs: AK/SK authentication needs access_key and secret_key");
    }
    auth_ = std::make_unique<AkSkAuthenticator>(config_.aksk, config_.project_id, clock_);
  } else {
    if (!split_url(config_.iam_endpoint) || config_.iam.user.empty() ||
        config_.iam.password.empty() || config_.iam.domain.empty()) {
      throw std::invalid_argument(
          "ecs: token authentication needs iam endpoint, user, domain "
          "and password");
    }
    auth_ = std::make_unique<TokenAuthenticator>(transport_, clock_, random_, config_.iam,
                                                 config_.iam_endpoint, config_.project_id,
                                                 config_.limits);
  }
}

EcsClient::~EcsClient() = default;

EcsClient::Exchange EcsClient::execute(HttpMethod method, const std::string& path,
                                       const std::string& query, const WipingBuffer* body,
                                       bool idempotent,
                                       std::span<const std::string_view> extra_secrets) {
  auto logger = log::get("ecs");
  const std::string what = fmt::format("{} {}", to_string(method), path);
  const std::string url =
      config_.ecs_endpoint + path + (query.empty() ? std::string() : "?" + query);
  std::vector<std::string_view> secrets = auth_->secrets();
  secrets.insert(secrets.end(), extra_secrets.begin(), extra_secrets.end());
  ClassifyContext ctx{what, config_.auth == AuthMode::Token, secrets};
  ctx.per_item_body = method == HttpMethod::Put && path.ends_with("/os-reset-passwords");

  http::Backoff backoff(config_.limits.retry, clock_, random_);
  bool renewed = false;
  int attempts = 0;
  for (;;) {
    HttpRequest request;
    request.method = method;
    request.url = url;
    request.timeout = config_.limits.request_timeout;
    request.idempotent = idempotent;
    if (body != nullptr) {
      request.headers.set("Content-Type", "application/json;charset=UTF-8");
      request.body.reserve(body->size());
      request.body.append(body->view());
    }
    bucket_.acquire();  // before signing: the X-Sdk-Date must not age while we wait
    auto generation = auth_->authorize(request);
    if (!generation) {
      Error error(generation.error().code(), fmt::format("{}: not sent", what));
      error.caused_by(std::move(generation).error());
      CallStatus status = CallStatus::failed(Verdict::RejectedTransient, std::move(error));
      status.attempts = attempts;
      logger->warn("ecs call not sent cloud={} call=\"{}\" error={}", config_.name, what,
                   status.error->to_string());
      return Exchange{std::move(status), std::nullopt};
    }
    ++attempts;
    auto result = transport_.send(request);
    CallStatus status = classify(result, ctx, clock_.now());
    status.attempts = attempts;
    if (status.error && status.error->code() == ErrorCode::Throttled &&
        bucket_.on_throttled(pause_for(status.retry_after, config_.limits.retry))) {
      logger->info("ecs throttled, slowing down cloud={} call=\"{}\" rate_per_s={:.1f}",
                   config_.name, what, bucket_.rate());
    }
    if (status.accepted()) {
      logger->debug("ecs call accepted cloud={} call=\"{}\" status={} attempt={}", config_.name,
                    what, result->status, attempts);
      return Exchange{std::move(status), std::move(*result)};
    }
    logger->info("ecs call failed cloud={} call=\"{}\" verdict={} attempt={} error={}",
                 config_.name, what, to_string(status.verdict), attempts,
                 status.error ? status.error->to_string() : std::string());
    const bool unauthorized = status.error && status.error->code() == ErrorCode::Unauthorized;
    if (unauthorized && config_.auth == AuthMode::Token) {
      if (!renewed && auth_->renew(*generation)) {
        renewed = true;
        continue;  // once, at once: a new token is not a retry of the same request
      }
    } else {
      const bool again = status.verdict == Verdict::RejectedTransient ||
                         (status.verdict == Verdict::Unknown && idempotent);
      if (again && backoff.wait(status.retry_after)) {
        continue;
      }
    }
    std::optional<HttpResponse> response;
    if (result) {
      response = std::move(*result);
    }
    return Exchange{std::move(status), std::move(response)};
  }
}

Result<HttpResponse> EcsClient::read(const std::string& path, const std::string& query) {
  Exchange exchange = execute(HttpMethod::Get, path, query, nullptr, true, {});
  if (!exchange.status.accepted() || !exchange.response) {
    return fail(exchange.status.error ? *exchange.status.error
                                      : Error(ErrorCode::Internal, "no answer"));
  }
  return std::move(*exchange.response);
}

ResetResult EcsClient::reset_password(std::string_view server_id, const Secret& password) {
  if (!valid_id(server_id)) {
    return CallStatus::failed(Verdict::RejectedFinal,
                              Error(ErrorCode::InvalidArgument, "reset: invalid server id"));
  }
  if (password.empty()) {
    return CallStatus::failed(Verdict::RejectedFinal,
                              Error(ErrorCode::InvalidArgument, "reset: empty password"));
  }
  const bool huawei = config_.flavor == Flavor::Huawei;
  const std::string path =
      huawei
          ? fmt::format("/v1/{}/cloudservers/{}/os-reset-password", config_.project_id, server_id)
          : fmt::format("/v2.1/{}/servers/{}/os-reset-password", config_.project_id, server_id);
  const WipingBuffer body = single_reset_body(password, huawei);
  const std::string_view secrets[] = {password.reveal()};
  return execute(HttpMethod::Put, path, {}, &body, true, secrets).status;
}

BatchResetResult EcsClient::batch_reset_password(std::span<const std::string> server_ids,
                                                 const Secret* password, bool dry_run) {
  BatchResetResult result;
  result.servers.reserve(server_ids.size());
  const bool missing_password = password == nullptr || password->empty();
  for (std::size_t start = 0; start < server_ids.size(); start += config_.limits.max_batch) {
    const auto chunk =
        server_ids.subspan(start, std::min(config_.limits.max_batch, server_ids.size() - start));
    std::vector<std::string> valid;
    for (const auto& id : chunk) {
      if (!valid_id(id)) {
        result.servers.push_back(
            {id, CallStatus::failed(Verdict::RejectedFinal, Error(ErrorCode::InvalidArgument,
                                                                  "reset: invalid server id"))});
      } else if (missing_password && !dry_run) {
        result.servers.push_back(
            {id, CallStatus::failed(Verdict::RejectedFinal,
                                    Error(ErrorCode::InvalidArgument, "reset: no password"))});
      } else {
        valid.push_back(id);
      }
    }
    if (valid.empty()) {
      continue;
    }
    ++result.requests;
    (void)reset_chunk(valid, missing_password ? nullptr : password, dry_run, result.servers);
  }
  // Back to the caller's order (invalid ids were recorded before their chunk's valid ones).
  std::unordered_map<std::string_view, std::size_t> order;
  for (std::size_t i = 0; i < server_ids.size(); ++i) {
    order.emplace(server_ids[i], i);
  }
  std::stable_sort(result.servers.begin(), result.servers.end(),
                   [&](const ServerResetResult& a, const ServerResetResult& b) {
                     return order[a.server_id] < order[b.server_id];
                   });
  return result;
}

CallStatus EcsClient::reset_chunk(std::span<const std::string> ids, const Secret* password,
                                  bool dry_run, std::vector<ServerResetResult>& out) {
  const std::string path =
      fmt::format("/v1/{}/cloudservers/os-reset-passwords", config_.project_id);
  const WipingBuffer body = batch_reset_body(ids, password, dry_run);
  std::vector<std::string_view> secrets;
  if (password != nullptr) {
    secrets.push_back(password->reveal());
  }
  Exchange exchange = execute(HttpMethod::Put, path, {}, &body, true, secrets);
  const CallStatus& overall = exchange.status;
  const std::string what = "PUT " + path;

  Doc parsed;
  if (exchange.response && !exchange.response->body.empty()) {
    parsed = parse_body(*exchange.response);
  }
  const bool two_xx = overall.accepted();
  if (!parsed.is_object()) {
    for (const auto& id : ids) {
      if (two_xx && !dry_run) {
        // A 2xx we cannot read: the servers may or may not have taken the password.
        CallStatus unknown =
            CallStatus::failed(Verdict::Unknown, bad_response(what, "unreadable batch answer"));
        unknown.attempts = overall.attempts;
        out.push_back({id, std::move(unknown)});
      } else {
        out.push_back({id, overall});
      }
    }
    return overall;
  }

  std::unordered_set<std::string> accepted;
  if (parsed.contains("response") && parsed["response"].is_array()) {
    for (const auto& item : parsed["response"]) {
      accepted.insert(text_of(item, "id"));
    }
  }
  const bool listed = parsed.contains("response") && parsed["response"].is_array();
  std::unordered_map<std::string, std::pair<std::string, std::string>> failures;
  if (parsed.contains("internalError") && parsed["internalError"].is_array()) {
    for (const auto& item : parsed["internalError"]) {
      failures[text_of(item, "id")] = {text_of(item, "error_code"), text_of(item, "error_message")};
    }
  }
  const int status = exchange.response ? exchange.response->status : 0;
  ClassifyContext ctx{what, config_.auth == AuthMode::Token, secrets};
  for (const auto& id : ids) {
    CallStatus item;
    if (const auto failure = failures.find(id); failure != failures.end()) {
      item = classify_item(failure->second.first, failure->second.second, status, ctx);
    } else if (accepted.contains(id)) {
      item = CallStatus::ok();
    } else if (two_xx) {
      if (dry_run && !listed && failures.empty()) {
        item = CallStatus::ok();  // a dry run that passed validation changes nothing
      } else {
        item = CallStatus::failed(Verdict::Unknown,
                                  bad_response(what, "server missing from the batch answer"));
      }
    } else if (!failures.empty()) {
      // Some servers were reported as failed; the others are not confirmed either way.
      Error error(ErrorCode::HttpError,
                  fmt::format("{}: server not listed in a failed batch answer", what));
      error.with_http(status, overall.error ? overall.error->remote_code() : std::string());
      item = CallStatus::failed(Verdict::Unknown, std::move(error));
    } else {
      item = overall;
    }
    item.attempts = overall.attempts;
    out.push_back({id, std::move(item)});
  }
  for (auto& [id, failure] : failures) {
    secure_wipe(failure.second);  // the cloud's text, which might echo the request
  }
  return overall;
}

Result<bool> EcsClient::reset_supported(std::string_view server_id) {
  if (!valid_id(server_id)) {
    return fail(ErrorCode::InvalidArgument, "reset flag: invalid server id");
  }
  const std::string path =
      fmt::format("/v1/{}/cloudservers/{}/os-resetpwd-flag", config_.project_id, server_id);
  auto response = read(path, {});
  if (!response) {
    return tl::unexpected<Error>(std::move(response).error());
  }
  const Doc body = parse_body(*response);
  const std::string flag = text_of(body, "resetpwd_flag");
  if (code_equals(flag, "True")) {
    return true;
  }
  if (code_equals(flag, "False")) {
    return false;
  }
  if (body.is_object() && body.contains("resetpwd_flag") && body["resetpwd_flag"].is_boolean()) {
    return body["resetpwd_flag"].get<bool>();
  }
  return fail(bad_response("GET " + path, "no resetpwd_flag"));
}

Result<void> EcsClient::for_each_server_page(
    const ServerFilter& filter, const std::function<Result<void>(ServerPage&)>& on_page) {
  const std::string path = fmt::format("/v1/{}/cloudservers/detail", config_.project_id);
  std::string filters;
  auto add = [&filters](std::string_view key, const std::string& value) {
    if (!value.empty()) {
      filters += fmt::format("&{}={}", key, uri_encode(value));
    }
  };
  add("name", filter.name);
  add("status", filter.status);
  add("tags", filter.tags);
  add("not-tags", filter.not_tags);
  const std::size_t limit = config_.limits.page_size;

  struct Fetched {
    std::vector<Server> servers;
    std::optional<std::size_t> count;
  };
  // One page, parsed and checked; the page's text and document are dropped before it returns.
  const auto fetch = [&](std::size_t page) -> Result<Fetched> {
    auto response = read(path, fmt::format("offset={}&limit={}{}", page, limit, filters));
    if (!response) {
      return tl::unexpected<Error>(std::move(response).error());
    }
    Fetched fetched;
    const Doc body = parse_body(*response);
    if (!body.is_object() || !body.contains("servers") || !body["servers"].is_array()) {
      return fail(bad_response("GET " + path, "no servers array"));
    }
    const auto& list = body["servers"];
    fetched.servers.reserve(list.size());
    for (const auto& item : list) {
      Server server = parse_server(item);
      if (server.id.empty()) {
        return fail(bad_response("GET " + path, "server without id"));
      }
      fetched.servers.push_back(std::move(server));
    }
    if (body.contains("count") && body["count"].is_number_unsigned()) {
      fetched.count = body["count"].get<std::size_t>();
    }
    return fetched;
  };

  // Pages are handed over one at a time, in order, on this thread. Once the first page has told
  // how many servers there are, the pages after it are fetched up to pages_in_flight at a time
  // (one by one, a fleet of 100,000 waited 1,000 round trips before its first rotation); without
  // a count, one by one until a short page.
  std::size_t seen = 0;
  std::optional<std::size_t> known_pages;
  std::deque<std::future<Result<Fetched>>> ahead;  // the pages after `page` already asked for
  const std::size_t window = std::max<std::size_t>(1, config_.limits.listing_pages_in_flight);
  const auto next_ahead = [&ahead] {
    auto fetched = ahead.front().get();
    ahead.pop_front();
    return fetched;
  };
  for (std::size_t page = 1; page <= kMaxPages; ++page) {
    Result<Fetched> fetched = ahead.empty() ? fetch(page) : next_ahead();
    if (!fetched) {
      return tl::unexpected<Error>(std::move(fetched).error());
    }
    const std::size_t items = fetched->servers.size();
    seen += items;
    if (seen > filter.max_servers) {
      return fail(ErrorCode::ResponseTooLarge, "GET {}: more than {} servers", path,
                  filter.max_servers);
    }
    if (page == 1 && fetched->count) {
      known_pages = std::min(kMaxPages, (*fetched->count + limit - 1) / limit);
    }
    const bool last = items == 0 || items < limit || (fetched->count && seen >= *fetched->count);
    if (!last && known_pages) {
      for (std::size_t asked = page + 1 + ahead.size();
           ahead.size() < window && asked <= *known_pages; ++asked) {
        ahead.push_back(std::async(std::launch::async, fetch, asked));
      }
    }
    ServerPage current{fetched->servers, fetched->count};
    if (auto handled = on_page(current); !handled) {
      return handled;  // pages still in flight are waited for (and dropped) on the way out
    }
    if (last) {
      return {};
    }
  }
  return fail(ErrorCode::ResponseTooLarge, "GET {}: more than {} pages", path, kMaxPages);
}

Result<std::vector<Server>> EcsClient::list_servers(const ServerFilter& filter) {
  std::vector<Server> servers;
  auto listed = for_each_server_page(filter, [&servers](ServerPage& page) -> Result<void> {
    if (servers.empty() && page.count) {
      servers.reserve(*page.count);  // a bound from the cloud, not a promise: only a hint
    }
    std::move(page.servers.begin(), page.servers.end(), std::back_inserter(servers));
    return {};
  });
  if (!listed) {
    return tl::unexpected<Error>(std::move(listed).error());
  }
  return servers;
}

Result<Server> EcsClient::get_server(std::string_view server_id) {
  if (!valid_id(server_id)) {
    return fail(ErrorCode::InvalidArgument, "server: invalid server id");
  }
  const std::string path = fmt::format("/v1/{}/cloudservers/{}", config_.project_id, server_id);
  auto response = read(path, {});
  if (!response) {
    return tl::unexpected<Error>(std::move(response).error());
  }
  const Doc body = parse_body(*response);
  if (!body.is_object() || !body.contains("server") || !body["server"].is_object()) {
    return fail(bad_response("GET " + path, "no server object"));
  }
  Server server = parse_server(body["server"]);
  if (server.id.empty()) {
    return fail(bad_response("GET " + path, "server without id"));
  }
  return server;
}

Result<std::vector<TaggedServer>> EcsClient::servers_by_tags(std::span<const TagFilter> tags) {
  const std::string path =
      config_.flavor == Flavor::Huawei
          ? fmt::format("/v1/{}/cloudservers/resource_instances/action", config_.project_id)
          : fmt::format("/v1/{}/servers/resource_instances/action", config_.project_id);
  json tag_list = json::array();
  for (const auto& tag : tags) {
    tag_list.push_back({{"key", tag.key}, {"values", tag.values}});
  }
  std::vector<TaggedServer> found;
  const std::size_t limit = config_.limits.page_size;
  for (std::size_t page = 0; page < kMaxPages; ++page) {
    const json request = {{"action", "filter"},
                          {"tags", tag_list},
                          {"limit", std::to_string(limit)},
                          {"offset", std::to_string(found.size())}};
    const WipingBuffer body(request.dump(-1, ' ', false, json::error_handler_t::replace));
    Exchange exchange = execute(HttpMethod::Post, path, {}, &body, true, {});
    if (!exchange.status.accepted() || !exchange.response) {
      return fail(exchange.status.error ? *exchange.status.error
                                        : Error(ErrorCode::Internal, "no answer"));
    }
    const Doc answer = parse_body(*exchange.response);
    if (!answer.is_object() || !answer.contains("resources") || !answer["resources"].is_array()) {
      return fail(bad_response("POST " + path, "no resources array"));
    }
    const auto& resources = answer["resources"];
    for (const auto& resource : resources) {
      TaggedServer server;
      server.id = text_of(resource, "resource_id");
      server.name = text_of(resource, "resource_name");
      if (resource.contains("tags") && resource["tags"].is_array()) {
        for (const auto& tag : resource["tags"]) {
          server.tags[text_of(tag, "key")] = text_of(tag, "value");
        }
      }
      found.push_back(std::move(server));
    }
    std::size_t total = 0;
    const bool counted =
        answer.contains("total_count") && answer["total_count"].is_number_unsigned();
    if (counted) {
      total = answer["total_count"].get<std::size_t>();
    }
    if (resources.empty() || resources.size() < limit || (counted && found.size() >= total)) {
      return found;
    }
  }
  return fail(ErrorCode::ResponseTooLarge, "POST {}: more than {} pages", path, kMaxPages);
}

JobStart EcsClient::reboot(std::span<const std::string> server_ids, RebootType type) {
  JobStart start;
  if (server_ids.empty() || server_ids.size() > config_.limits.max_batch ||
      !std::all_of(server_ids.begin(), server_ids.end(),
                   [](const std::string& id) { return valid_id(id); })) {
    start.status = CallStatus::failed(
        Verdict::RejectedFinal,
        Error(ErrorCode::InvalidArgument, "reboot: 1..max_batch valid server ids are needed"));
    return start;
  }
  const std::string path = fmt::format("/v1/{}/cloudservers/action", config_.project_id);
  WipingBuffer body;
  body.append(type == RebootType::Hard ? R"({"reboot":{"type":"HARD","servers":)"
                                       : R"({"reboot":{"type":"SOFT","servers":)");
  append_servers_array(body, server_ids);
  body.append("}}");
  Exchange exchange = execute(HttpMethod::Post, path, {}, &body, false, {});
  start.status = std::move(exchange.status);
  if (start.status.accepted()) {
    start.job_id = exchange.response ? text_of(parse_body(*exchange.response), "job_id") : "";
    if (start.job_id.empty()) {
      const int attempts = start.status.attempts;
      start.status =
          CallStatus::failed(Verdict::Unknown, bad_response("POST " + path, "no job_id"));
      start.status.attempts = attempts;
    }
  }
  return start;
}

Result<Job> EcsClient::job(std::string_view job_id) {
  if (!valid_id(job_id)) {
    return fail(ErrorCode::InvalidArgument, "job: invalid job id");
  }
  const std::string path = fmt::format("/v1/{}/jobs/{}", config_.project_id, job_id);
  auto response = read(path, {});
  if (!response) {
    return tl::unexpected<Error>(std::move(response).error());
  }
  const Doc body = parse_body(*response);
  if (!body.is_object() || !body.contains("status")) {
    return fail(bad_response("GET " + path, "no job status"));
  }
  Job job;
  job.job_id = text_of(body, "job_id");
  job.job_type = text_of(body, "job_type");
  job.state = job_state(text_of(body, "status"));
  job.error_code = text_of(body, "error_code");
  job.fail_reason = text_of(body, "fail_reason");
  if (body.contains("entities") && body["entities"].is_object()) {
    const auto& entities = body["entities"];
    if (entities.contains("sub_jobs") && entities["sub_jobs"].is_array()) {
      for (const auto& item : entities["sub_jobs"]) {
        SubJob sub;
        sub.state = job_state(text_of(item, "status"));
        sub.job_id = text_of(item, "job_id");
        sub.error_code = text_of(item, "error_code");
        sub.fail_reason = text_of(item, "fail_reason");
        if (item.contains("entities") && item["entities"].is_object()) {
          sub.server_id = text_of(item["entities"], "server_id");
          if (sub.fail_reason.empty()) {
            sub.fail_reason = text_of(item["entities"], "errorcode_message");
          }
        }
        job.sub_jobs.push_back(std::move(sub));
      }
    }
  }
  return job;
}

Result<Job> EcsClient::wait_for_job(std::string_view job_id, std::chrono::milliseconds interval,
                                    std::chrono::milliseconds timeout) {
  const auto deadline = clock_.monotonic() + timeout;
  for (;;) {
    auto current = job(job_id);
    if (!current || current->finished()) {
      return current;
    }
    if (clock_.monotonic() + interval > deadline) {
      return fail(ErrorCode::Timeout, "job {} still {} after {} ms", job_id,
                  to_string(current->state), timeout.count());
    }
    clock_.sleep_for(interval);
  }
}

}  // namespace rotor::ecs
