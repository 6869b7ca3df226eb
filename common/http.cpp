#include "common/http.h"

#include <algorithm>
#include <cctype>

namespace rotor {

std::string_view to_string(HttpMethod method) noexcept {
  switch (method) {
    case HttpMethod::Get: return "GET";
    case HttpMethod::Head: return "HEAD";
    case HttpMethod::Post: return "POST";
    case HttpMethod::Put: return "PUT";
    case HttpMethod::Patch: return "PATCH";
    case HttpMethod::Delete: return "DELETE";
    case HttpMethod::List: return "LIST";
  }
  return "GET";
}

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

HttpHeaders::~HttpHeaders() {
  for (auto& header : headers_) {
    secure_wipe(header.value);
  }
}

void HttpHeaders::set(std::string_view name, std::string_view value) {
  for (auto& header : headers_) {
    if (iequals(header.name, name)) {
      secure_wipe(header.value);
      header.value.assign(value);
      return;
    }
  }
  add(name, value);
}

void HttpHeaders::add(std::string_view name, std::string_view value) {
  headers_.push_back(HttpHeader{std::string(name), std::string(value)});
}

std::optional<std::string_view> HttpHeaders::get(std::string_view name) const {
  for (const auto& header : headers_) {
    if (iequals(header.name, name)) {
      return std::string_view(header.value);
    }
  }
  return std::nullopt;
}

std::string HttpRequest::describe() const {
  // The query string can carry filters but never a secret; the URL has no credentials in it.
  return fmt::format("{} {}", to_string(method), url);
}

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::Accepted: return "accepted";
    case Outcome::Rejected: return "rejected";
    case Outcome::Unknown: return "unknown";
  }
  return "unknown";
}

Outcome outcome_of_status(int status) noexcept {
  if (status >= 200 && status < 300) {
    return Outcome::Accepted;
  }
  if (status >= 400 && status < 500) {
    return Outcome::Rejected;  // includes 429: a throttled request was not executed
  }
  return Outcome::Unknown;  // 5xx, 1xx, 3xx: we cannot tell what the peer did
}

Outcome outcome_of(const Error& error) noexcept {
  switch (error.code()) {
    case ErrorCode::ConnectFailed:
    case ErrorCode::TlsFailed:
    case ErrorCode::InvalidArgument:
    case ErrorCode::InvalidPolicy:
    case ErrorCode::InvalidConfig:
    case ErrorCode::Unauthorized:
    case ErrorCode::PermissionDenied:
    case ErrorCode::NotFound:
    case ErrorCode::Conflict:
    case ErrorCode::Throttled:
    case ErrorCode::Unsupported: return Outcome::Rejected;
    case ErrorCode::HttpError:
      return error.http_status() != 0 ? outcome_of_status(error.http_status()) : Outcome::Unknown;
    default: return Outcome::Unknown;
  }
}

std::vector<Result<HttpResponse>> HttpTransport::send_all(std::span<const HttpRequest> requests) {
  std::vector<Result<HttpResponse>> results;
  results.reserve(requests.size());
  for (const auto& request : requests) {
    results.push_back(send(request));
  }
  return results;
}

}  // namespace rotor
