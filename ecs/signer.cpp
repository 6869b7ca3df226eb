#include "ecs/signer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

namespace rotor::ecs {

namespace {

constexpr std::string_view kHex = "0123456789abcdef";
constexpr std::string_view kHexUpper = "0123456789ABCDEF";

bool unreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4U]);
    out.push_back(kHex[data[i] & 0x0FU]);
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// Lower-cased name and trimmed value, sorted by name.
std::vector<std::pair<std::string, std::string_view>> normalised(
    std::span<const HttpHeader> headers) {
  std::vector<std::pair<std::string, std::string_view>> out;
  out.reserve(headers.size());
  for (const auto& header : headers) {
    out.emplace_back(lower(header.name), trim(header.value));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace

std::string uri_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4U]);
      out.push_back(kHexUpper[c & 0x0FU]);
    }
  }
  return out;
}

std::string uri_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string canonical_uri(std::string_view path) {
  std::string out;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    out += uri_encode(uri_decode(path.substr(start, end - start)));
    if (slash == std::string_view::npos) {
      break;
    }
    out.push_back('/');
    start = slash + 1;
  }
  if (out.empty() || out.back() != '/') {
    out.push_back('/');
  }
  return out;
}

std::string canonical_query(std::vector<std::pair<std::string, std::string>> params) {
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += uri_encode(key);
    out.push_back('=');
    out += uri_encode(value);
  }
  return out;
}

std::string canonical_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t start = 0;
  while (start <= raw_query.size()) {
    const auto amp = raw_query.find('&', start);
    const auto end = amp == std::string_view::npos ? raw_query.size() : amp;
    const auto item = raw_query.substr(start, end - start);
    if (!item.empty()) {
      const auto eq = item.find('=');
      if (eq == std::string_view::npos) {
        params.emplace_back(uri_decode(item), std::string());
      } else {
        params.emplace_back(uri_decode(item.substr(0, eq)), uri_decode(item.substr(eq + 1)));
      }
    }
    if (amp == std::string_view::npos) {
      break;
    }
    start = amp + 1;
  }
  return canonical_query(std::move(params));
}

std::string signed_header_names(std::span<const HttpHeader> headers) {
  std::string out;
  for (const auto& [name, value] : normalised(headers)) {
    if (!out.empty()) {
      out.push_back(';');
    }
    out += name;
  }
  return out;
}

std::string canonical_request(const CanonicalRequestInput& input) {
  std::string out;
  out += input.method;
  out.push_back('\n');
  out += canonical_uri(input.path);
  out.push_back('\n');
  out += canonical_query(input.query);
  out.push_back('\n');
  for (const auto& [name, value] : normalised(input.headers)) {
    out += name;
    out.push_back(':');
    out += value;
    out.push_back('\n');
  }
  out.push_back('\n');
  out += signed_header_names(input.headers);
  out.push_back('\n');
  out += input.payload_hash;
  return out;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 failed");  // a broken library: an invariant
  }
  return to_hex(digest.data(), size);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());  // OpenSSL's type
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes, data.size(), mac.data(),
           &size) == nullptr) {
    throw std::runtime_error("OpenSSL HMAC-SHA256 failed");
  }
  std::string hex = to_hex(mac.data(), size);
  secure_wipe(mac.data(), mac.size());
  return hex;
}

std::string string_to_sign(std::string_view sdk_date, std::string_view canonical_request_text) {
  std::string out(kSigningAlgorithm);
  out.push_back('\n');
  out += sdk_date;
  out.push_back('\n');
  out += sha256_hex(canonical_request_text);
  return out;
}

std::string authorization_header(std::string_view access_key, std::string_view signed_headers,
                                 std::string_view signature) {
  return fmt::format("{} Access={}, SignedHeaders={}, Signature={}", kSigningAlgorithm, access_key,
                     signed_headers, signature);
}

std::string format_sdk_date(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  std::array<char, 32> buffer{};
  const auto size = std::strftime(buffer.data(), buffer.size(), "%Y%m%dT%H%M%SZ", &parts);
  return std::string(buffer.data(), size);
}

Result<UrlParts> split_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail(ErrorCode::InvalidArgument, "not an absolute URL: {}", url);
  }
  UrlParts parts;
  parts.scheme = lower(url.substr(0, scheme_end));
  if (parts.scheme != "http" && parts.scheme != "https") {
    return fail(ErrorCode::InvalidArgument, "unsupported scheme in {}", url);
  }
  std::string_view rest = url.substr(scheme_end + 3);
  const auto fragment = rest.find('#');
  if (fragment != std::string_view::npos) {
    rest = rest.substr(0, fragment);
  }
  const auto path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  rest = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    return fail(ErrorCode::InvalidArgument, "bad host in {}", url);
  }
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    const auto port = authority.substr(colon + 1);
    if ((parts.scheme == "https" && port == "443") || (parts.scheme == "http" && port == "80")) {
      authority = authority.substr(0, colon);
    }
  }
  parts.host = lower(authority);
  const auto question = rest.find('?');
  parts.path = std::string(rest.substr(0, question));
  if (parts.path.empty()) {
    parts.path = "/";
  }
  if (question != std::string_view::npos) {
    parts.query = std::string(rest.substr(question + 1));
  }
  return parts;
}

Result<void> sign_request(HttpRequest& request, std::string_view access_key,
                          const Secret& secret_key, std::chrono::system_clock::time_point now) {
  auto parts = split_url(request.url);
  if (!parts) {
    return tl::unexpected<Error>(std::move(parts).error());
  }
  if (!request.headers.get("Host")) {
    request.headers.set("Host", parts->host);
  }
  if (!request.headers.get("X-Sdk-Date")) {
    request.headers.set("X-Sdk-Date", format_sdk_date(now));
  }
  std::vector<HttpHeader> to_sign;
  for (const auto& header : request.headers.all()) {
    if (header.name.find('_') != std::string::npos || lower(header.name) == "authorization") {
      continue;
    }
    to_sign.push_back(header);
  }
  const auto content_hash = request.headers.get("X-Sdk-Content-Sha256");
  const std::string payload_hash =
      content_hash ? std::string(*content_hash) : sha256_hex(request.body.view());
  const std::string method(to_string(request.method));
  const std::string canonical = canonical_request(
      CanonicalRequestInput{method, parts->path, parts->query, to_sign, payload_hash});
  const std::string text = string_to_sign(*request.headers.get("X-Sdk-Date"), canonical);
  const std::string signature = hmac_sha256_hex(secret_key.reveal(), text);
  request.headers.set("Authorization",
                      authorization_header(access_key, signed_header_names(to_sign), signature));
  for (auto& header : to_sign) {
    secure_wipe(header.value);  // copies of header values (an X-Auth-Token, say)
  }
  return {};
}

}  // namespace rotor::ecs
