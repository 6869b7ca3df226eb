#include "ecs/errors.h"

#include <algorithm>
#include <cctype>

#include "ecs/wiped_json.h"
#include "http/retry.h"

namespace rotor::ecs {

namespace {

using json = detail::WipedJson;

constexpr std::size_t kMaxMessage = 300;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && code_equals(text.substr(0, prefix.size()), prefix);
}

std::string string_of(const json& value) {
  if (value.is_string()) {
    return detail::to_std(value);
  }
  if (value.is_number_integer()) {
    return std::to_string(value.get<long long>());  // NOLINT(google-runtime-int)
  }
  return {};
}

// A code/message pair in `object` itself, in the SDK's order of preference.
std::optional<RemoteError> pair_in(const json& object) {
  if (!object.is_object()) {
    return std::nullopt;
  }
  RemoteError error;
  if (object.contains("request_id")) {
    error.request_id = string_of(object["request_id"]);
  }
  if (object.contains("error_code") && object.contains("error_msg") &&
      object["error_code"].is_string()) {
    error.code = detail::to_std(object["error_code"]);
    error.message = string_of(object["error_msg"]);
    return error;
  }
  if (object.contains("code") && object.contains("message")) {
    const json& code = object["code"];
    if (code.is_string()) {
      // Service codes look like "Ecs.0114"; a dot-less string is a native (Nova) name.
      std::string text = detail::to_std(code);
      if (text.find('.') != std::string::npos) {
        error.code = std::move(text);
      } else {
        error.fault = std::move(text);
      }
    }  // an integer code is the HTTP status (Nova, Keystone): no service code
    error.message = string_of(object["message"]);
    if (object.contains("title") && error.fault.empty()) {
      error.fault = string_of(object["title"]);
    }
    return error;
  }
  return std::nullopt;
}

std::optional<RemoteError> find_error(const json& body, int depth) {
  if (depth > 4 || !body.is_object()) {
    return std::nullopt;
  }
  if (auto direct = pair_in(body)) {
    return direct;
  }
  // {"error": {...}} first, then any nested object (a Nova fault name, say).
  if (body.contains("error")) {
    if (auto nested = find_error(body["error"], depth + 1)) {
      return nested;
    }
  }
  for (const auto& [key, value] : body.items()) {
    if (key == "error" || key == "internalError" || !value.is_object()) {
      continue;
    }
    if (auto nested = find_error(value, depth + 1)) {
      if (nested->fault.empty()) {
        nested->fault = key;
      }
      return nested;
    }
  }
  return std::nullopt;
}

bool is_code(std::string_view code, std::initializer_list<std::string_view> candidates) {
  return std::any_of(candidates.begin(), candidates.end(),
                     [&](std::string_view candidate) { return code_equals(code, candidate); });
}

std::string render(const ClassifyContext& ctx, int status, const RemoteError* remote,
                   std::string_view request_id) {
  std::string text = fmt::format("{}: HTTP {}", ctx.what, status);
  if (remote != nullptr) {
    if (!remote->code.empty()) {
      text += ' ';
      text += scrub(remote->code, ctx.secrets);  // remote text, like the message
    } else if (!remote->fault.empty()) {
      text += ' ';
      text += scrub(remote->fault, ctx.secrets);
    }
    if (!remote->message.empty()) {
      text += ' ';
      text += scrub(remote->message, ctx.secrets);
    }
  }
  if (!request_id.empty()) {
    text += fmt::format(" request_id={}", scrub(std::string(request_id), ctx.secrets));
  }
  return text;
}

}  // namespace

std::string_view to_string(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::Accepted: return "accepted";
    case Verdict::RejectedTransient: return "rejected-transient";
    case Verdict::RejectedFinal: return "rejected-final";
    case Verdict::Unknown: return "unknown";
  }
  return "unknown";
}

bool code_equals(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::optional<RemoteError> parse_error_body(std::string_view body) {
  const json parsed = detail::parse_wiped(body);
  if (parsed.is_discarded()) {
    return std::nullopt;
  }
  auto error = find_error(parsed, 0);
  if (error && error->request_id.empty() && parsed.is_object() && parsed.contains("request_id")) {
    error->request_id = string_of(parsed["request_id"]);
  }
  return error;
}

bool is_throttling(const RemoteError& error) noexcept {
  if (is_code(error.code, {"Common.0024", "Common.1503", "IAM.0012", "APIGW.0308", "APIG.0308"})) {
    return true;
  }
  try {
    const std::string message = lower(error.message);
    for (std::string_view needle :
         {"flow limit", "flow over limit", "flow control", "reach the limit",
          "maximum request receiving rate", "throttl"}) {
      if (message.find(needle) != std::string::npos) {
        return true;
      }
    }
  } catch (...) {
    return false;
  }
  return false;
}

std::string scrub(std::string text, std::span<const std::string_view> secrets) {
  for (const auto secret : secrets) {
    if (secret.size() < 4) {
      continue;  // too short to search for without mangling the text; never a real secret
    }
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      secure_wipe(text.data() + at, secret.size());
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  if (text.size() > kMaxMessage) {
    secure_wipe(text.data() + kMaxMessage, text.size() - kMaxMessage);
    text.resize(kMaxMessage);
    text += "…";
  }
  return text;
}

CallStatus classify(const Result<HttpResponse>& result, const ClassifyContext& ctx,
                    std::chrono::system_clock::time_point now) {
  if (!result) {
    const Error& error = result.error();
    switch (error.code()) {
      case ErrorCode::ConnectFailed:
      case ErrorCode::TlsFailed: return CallStatus::failed(Verdict::RejectedTransient, error);
      case ErrorCode::InvalidArgument: return CallStatus::failed(Verdict::RejectedFinal, error);
      default: return CallStatus::failed(Verdict::Unknown, error);
    }
  }
  const HttpResponse& response = *result;
  const int status = response.status;
  const auto remote = response.body.empty() ? std::nullopt : parse_error_body(response.body.view());
  std::string request_id(response.headers.get("X-Request-Id").value_or(""));
  if (request_id.empty() && remote) {
    request_id = remote->request_id;
  }
  const auto retry_after = http::retry_after_of(response, now);
  auto make = [&](ErrorCode code, Verdict verdict) {
    Error error(code, render(ctx, status, remote ? &*remote : nullptr, request_id));
    error.with_http(status, remote ? scrub(remote->code, ctx.secrets) : std::string());
    CallStatus out = CallStatus::failed(verdict, std::move(error));
    out.retry_after = retry_after;
    return out;
  };

  if (remote && is_throttling(*remote)) {
    return make(ErrorCode::Throttled, Verdict::RejectedTransient);  // even at 202 (Common.0024)
  }
  if (status >= 200 && status < 300) {
    if (remote && !remote->code.empty() && !ctx.per_item_body) {
      return make(ErrorCode::BadResponse, Verdict::Unknown);  // an error inside a success
    }
    return CallStatus::ok();
  }
  const std::string code = remote ? remote->code : std::string();
  switch (status) {
    case 401:
      return make(ErrorCode::Unauthorized,
                  ctx.auth_renewable ? Verdict::RejectedTransient : Verdict::RejectedFinal);
    case 429: return make(ErrorCode::Throttled, Verdict::RejectedTransient);
    case 403: return make(ErrorCode::PermissionDenied, Verdict::RejectedFinal);
    case 404: {
      const bool service_answer = starts_with_ci(code, "Ecs.") || starts_with_ci(code, "Common.") ||
                                  (remote && code_equals(remote->fault, "itemNotFound"));
      return make(service_answer ? ErrorCode::NotFound : ErrorCode::Unsupported,
                  Verdict::RejectedFinal);
    }
    case 405: return make(ErrorCode::Unsupported, Verdict::RejectedFinal);
    case 409: return make(ErrorCode::Conflict, Verdict::RejectedFinal);
    default: break;
  }
  if (is_code(code, {"Ecs.0603"})) {
    return make(ErrorCode::ServiceUnavailable, Verdict::RejectedTransient);
  }
  if (status >= 400 && status < 500) {
    return make(ErrorCode::HttpError, Verdict::RejectedFinal);
  }
  if (status >= 500) {
    return make(ErrorCode::ServiceUnavailable, Verdict::Unknown);
  }
  return make(ErrorCode::HttpError, Verdict::Unknown);  // 1xx, 3xx: we cannot tell
}

CallStatus classify_item(std::string_view code, std::string_view message, int http_status,
                         const ClassifyContext& ctx) {
  RemoteError remote{scrub(std::string(code), ctx.secrets), std::string(message), {}, {}};
  const std::string text =
      fmt::format("{}: server {} {}", ctx.what, remote.code, scrub(remote.message, ctx.secrets));
  auto make = [&](ErrorCode error_code, Verdict verdict) {
    Error error(error_code, text);
    error.with_http(http_status, remote.code);
    return CallStatus::failed(verdict, std::move(error));
  };
  if (is_throttling(remote)) {
    return make(ErrorCode::Throttled, Verdict::RejectedTransient);
  }
  if (is_code(code, {"Ecs.0603"})) {
    return make(ErrorCode::ServiceUnavailable, Verdict::RejectedTransient);
  }
  if (is_code(code, {"Ecs.0114", "Ecs.0614"})) {
    return make(ErrorCode::NotFound, Verdict::RejectedFinal);
  }
  if (is_code(code, {"Ecs.0613"})) {
    return make(ErrorCode::Unsupported, Verdict::RejectedFinal);  // no reset plug-in
  }
  if (is_code(code, {"Ecs.0610", "Ecs.0612", "Ecs.0615"})) {
    // "reset failed" / "plug-in check failed" / internal: we cannot tell what the guest did.
    return make(ErrorCode::ServiceUnavailable, Verdict::Unknown);
  }
  if (http_status >= 500) {
    return make(ErrorCode::ServiceUnavailable, Verdict::Unknown);
  }
  if (http_status >= 400 || starts_with_ci(code, "Ecs.")) {
    return make(ErrorCode::HttpError, Verdict::RejectedFinal);
  }
  return make(ErrorCode::HttpError, Verdict::Unknown);
}

}  // namespace rotor::ecs
