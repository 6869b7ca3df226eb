#include "ecs/auth.h"

#include <charconv>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "ecs/errors.h"
#include "ecs/json_writer.h"
#include "ecs/signer.h"
#include "http/retry.h"

namespace rotor::ecs {

AkSkAuthenticator::AkSkAuthenticator(const AkSkCredentials& credentials, std::string project_id,
                                     Clock& clock)
    : credentials_(credentials), project_id_(std::move(project_id)), clock_(clock) {}

Result<std::uint64_t> AkSkAuthenticator::authorize(HttpRequest& request) {
  request.headers.set("X-Project-Id", project_id_);
  auto signed_request =
      sign_request(request, credentials_.access_key, credentials_.secret_key, clock_.now());
  if (!signed_request) {
    return tl::unexpected<Error>(std::move(signed_request).error());
  }
  return 0;
}

bool AkSkAuthenticator::renew(std::uint64_t /*generation*/) {
  return false;  // a rejected signature does not get better by signing again
}

std::vector<std::string_view> AkSkAuthenticator::secrets() const {
  return {credentials_.secret_key.reveal()};
}

TokenAuthenticator::TokenAuthenticator(HttpTransport& transport, Clock& clock, Random& random,
                                       const IamCredentials& credentials, std::string iam_endpoint,
                                       std::string project_id, const CloudLimits& limits)
    : transport_(transport),
      clock_(clock),
      random_(random),
      credentials_(credentials),
      iam_endpoint_(std::move(iam_endpoint)),
      project_id_(std::move(project_id)),
      limits_(limits) {
  while (!iam_endpoint_.empty() && iam_endpoint_.back() == '/') {
    iam_endpoint_.pop_back();
  }
}

Result<std::uint64_t> TokenAuthenticator::authorize(HttpRequest& request) {
  std::lock_guard lock(mutex_);
  if (token_.empty() || clock_.now() >= refresh_at_) {
    if (auto fetched = fetch_locked(); !fetched) {
      return tl::unexpected<Error>(std::move(fetched).error());
    }
  }
  request.headers.set("X-Auth-Token", token_.reveal());
  return generation_;
}

bool TokenAuthenticator::renew(std::uint64_t generation) {
  std::lock_guard lock(mutex_);
  if (generation == generation_) {
    token_ = Secret();
  }
  return true;
}

std::vector<std::string_view> TokenAuthenticator::secrets() const {
  return {credentials_.password.reveal()};
}

std::uint64_t TokenAuthenticator::fetches() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

Result<void> TokenAuthenticator::fetch_locked() {
  HttpRequest request;
  request.method = HttpMethod::Post;
  request.url = iam_endpoint_ + "/auth/tokens?nocatalog=true";
  request.headers.set("Content-Type", "application/json;charset=utf8");
  request.body = token_request_body(credentials_, project_id_);
  request.timeout = limits_.request_timeout;
  request.idempotent = true;  // a second token is harmless
  const std::string what = fmt::format("POST {}/auth/tokens", iam_endpoint_);
  auto logger = log::get("ecs");
  logger->debug("requesting IAM token user={} project={}", credentials_.user, project_id_);

  auto result = http::send_with_retry(transport_, request, limits_.retry, clock_, random_);
  const auto secrets = this->secrets();
  if (!result || (result->status != 201 && result->status != 200)) {
    const ClassifyContext ctx{what, false, secrets};
    CallStatus status = classify(result, ctx, clock_.now());
    Error error = status.error ? *status.error
                               : Error(ErrorCode::BadResponse, fmt::format("{}: no token", what));
    logger->warn("IAM token request failed error={}", error.to_string());
    return fail(Error(ErrorCode::Unauthorized, "cannot obtain an IAM token").caused_by(error));
  }
  const auto header = result->headers.get("X-Subject-Token");
  if (!header || header->empty()) {
    return fail(ErrorCode::BadResponse, "{}: HTTP {} without X-Subject-Token", what,
                result->status);
  }
  const auto now = clock_.now();
  auto refresh_at = now + limits_.max_token_age;
  const auto body =
      nlohmann::json::parse(result->body.view().begin(), result->body.view().end(), nullptr, false);
  std::optional<std::chrono::system_clock::time_point> expires;
  if (body.is_object() && body.contains("token") && body["token"].is_object() &&
      body["token"].contains("expires_at") && body["token"]["expires_at"].is_string()) {
    expires = parse_iam_time(body["token"]["expires_at"].get<std::string>());
  }
  if (expires) {
    refresh_at = std::min(refresh_at, *expires - limits_.token_refresh_margin);
    if (refresh_at <= now) {
      // A token that is about to expire is still usable for this one request.
      refresh_at = std::min(*expires, now + std::chrono::minutes(1));
    }
  }
  token_ = Secret::from(*header);
  refresh_at_ = refresh_at;
  ++generation_;
  logger->info("IAM token obtained project={} generation={}", project_id_, generation_);
  return {};
}

std::optional<std::chrono::system_clock::time_point> parse_iam_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS, then optional fraction and zone (always UTC from IAM).
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != ' ') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  auto number = [&](std::size_t at, std::size_t length) -> std::optional<int> {
    int value = 0;
    const char* first = text.data() + at;
    const auto [end, error] = std::from_chars(first, first + length, value);
    if (error != std::errc{} || end != first + length) {
      return std::nullopt;
    }
    return value;
  };
  const auto year = number(0, 4);
  const auto month = number(5, 2);
  const auto day = number(8, 2);
  const auto hour = number(11, 2);
  const auto minute = number(14, 2);
  const auto second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  std::tm parts{};
  parts.tm_year = *year - 1900;
  parts.tm_mon = *month - 1;
  parts.tm_mday = *day;
  parts.tm_hour = *hour;
  parts.tm_min = *minute;
  parts.tm_sec = *second;
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

WipingBuffer token_request_body(const IamCredentials& credentials, std::string_view project_id) {
  WipingBuffer body;
  body.reserve(256 + credentials.password.size() * 2);
  body.append(R"({"auth":{"identity":{"methods":["password"],"password":{"user":{"name":)");
  append_json_string(body, credentials.user);
  body.append(R"(,"password":)");
  append_json_string(body, credentials.password.reveal());
  body.append(R"(,"domain":{"name":)");
  append_json_string(body, credentials.domain);
  body.append(R"(}}}},"scope":{"project":{"id":)");
  append_json_string(body, project_id);
  body.append("}}}}");
  return body;
}

}  // namespace rotor::ecs
