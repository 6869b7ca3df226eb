#include "sim/ecs/signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

#include "common/secret.h"

namespace rotor::sim::sig {
namespace {

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4U]);
    out.push_back(kDigits[data[i] & 0x0FU]);
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
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

bool unreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return to_hex(digest.data(), digest.size());
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data(), &length);
  return to_hex(digest.data(), length);
}

std::string uri_encode(std::string_view text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4U]);
      out.push_back(kDigits[c & 0x0FU]);
    }
  }
  return out;
}

std::string canonical_uri(std::string_view decoded_path) {
  std::string out;
  std::size_t start = 0;
  while (start <= decoded_path.size()) {
    const std::size_t slash = decoded_path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? decoded_path.size() : slash;
    out += uri_encode(decoded_path.substr(start, end - start));
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

std::string canonical_query(Params params) {
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

std::string canonical_request(std::string_view method, std::string_view decoded_path,
                              const Params& query, Headers signed_headers,
                              std::string_view payload_hash) {
  for (auto& header : signed_headers) {
    header.first = lower(header.first);
  }
  std::sort(signed_headers.begin(), signed_headers.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  out += method;
  out += '\n';
  out += canonical_uri(decoded_path);
  out += '\n';
  out += canonical_query(query);
  out += '\n';
  std::string names;
  for (const auto& [name, value] : signed_headers) {
    out += name;
    out += ':';
    out += trim(value);
    out += '\n';
    if (!names.empty()) {
      names.push_back(';');
    }
    names += name;
  }
  out += '\n';
  out += names;
  out += '\n';
  out += payload_hash;
  return out;
}

std::string string_to_sign(std::string_view sdk_date, std::string_view canonical) {
  std::string out(kAlgorithm);
  out += '\n';
  out += sdk_date;
  out += '\n';
  out += sha256_hex(canonical);
  return out;
}

std::string signature(std::string_view secret_key, std::string_view to_sign) {
  return hmac_sha256_hex(secret_key, to_sign);
}

Result<Authorization> parse_authorization(std::string_view header) {
  header = trim(header);
  if (header.substr(0, kAlgorithm.size()) != kAlgorithm || header.size() <= kAlgorithm.size() ||
      header[kAlgorithm.size()] != ' ') {
    return fail(ErrorCode::InvalidArgument, "not an {} authorization", kAlgorithm);
  }
  std::string_view rest = header.substr(kAlgorithm.size() + 1);
  Authorization auth;
  bool have_access = false;
  bool have_headers = false;
  bool have_signature = false;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view part = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return fail(ErrorCode::InvalidArgument, "authorization part without '='");
    }
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    if (key == "Access") {
      auth.access_key = std::string(value);
      have_access = true;
    } else if (key == "SignedHeaders") {
      std::size_t start = 0;
      while (start <= value.size()) {
        const std::size_t semi = value.find(';', start);
        const std::size_t end = semi == std::string_view::npos ? value.size() : semi;
        if (end > start) {
          auth.signed_headers.push_back(lower(value.substr(start, end - start)));
        }
        if (semi == std::string_view::npos) {
          break;
        }
        start = semi + 1;
      }
      have_headers = true;
    } else if (key == "Signature") {
      auth.signature = std::string(value);
      have_signature = true;
    } else {
      return fail(ErrorCode::InvalidArgument, "unknown authorization part");
    }
  }
  if (!have_access || !have_headers || !have_signature || auth.access_key.empty() ||
      auth.signed_headers.empty()) {
    return fail(ErrorCode::InvalidArgument, "incomplete authorization");
  }
  return auth;
}

std::optional<std::chrono::system_clock::time_point> parse_sdk_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') {
    return std::nullopt;
  }
  auto number = [&](std::size_t pos, std::size_t len, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) {
        return false;
      }
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!number(0, 4, year) || !number(4, 2, month) || !number(6, 2, day) || !number(9, 2, hour) ||
      !number(11, 2, minute) || !number(13, 2, second)) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day date{std::chrono::year{year},
                            std::chrono::month{static_cast<unsigned>(month)},
                            std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  return sys_days{date} + hours{hour} + minutes{minute} + seconds{second};
}

std::string format_sdk_date(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buffer{};
  const std::size_t n = std::strftime(buffer.data(), buffer.size(), "%Y%m%dT%H%M%SZ", &tm);
  return {buffer.data(), n};
}

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

namespace {

// The canonical request of `request` over `names`; nullopt names the first missing header.
std::optional<std::string> build_canonical(const ReceivedRequest& request,
                                           const std::vector<std::string>& names,
                                           std::string& missing) {
  Headers signed_headers;
  for (const auto& name : names) {
    auto value = find_header(request.headers, name);
    if (!value) {
      missing = name;
      return std::nullopt;
    }
    signed_headers.emplace_back(name, std::string(*value));
  }
  std::string payload_hash;
  if (auto content_sha = find_header(request.headers, "x-sdk-content-sha256")) {
    payload_hash = std::string(*content_sha);
  } else {
    payload_hash = sha256_hex(request.body);
  }
  return canonical_request(request.method, request.path, request.query, std::move(signed_headers),
                           payload_hash);
}

}  // namespace

Verdict verify_with(const ReceivedRequest& request, const Authorization& auth,
                    std::optional<std::string> secret_key,
                    std::chrono::system_clock::time_point now, std::chrono::seconds window) {
  Verdict verdict;
  verdict.access_key = auth.access_key;
  if (!secret_key) {
    verdict.refusal = Refusal::UnknownKey;
    verdict.reason = "Get secretKey failed";
    return verdict;
  }
  auto date_text = find_header(request.headers, "x-sdk-date");
  if (!date_text) {
    verdict.refusal = Refusal::MissingHeader;
    verdict.reason = "header x-sdk-date not found";
    return verdict;
  }
  if (std::find(auth.signed_headers.begin(), auth.signed_headers.end(), "x-sdk-date") ==
      auth.signed_headers.end()) {
    verdict.refusal = Refusal::MissingHeader;
    verdict.reason = "x-sdk-date is not a signed header";
    return verdict;
  }
  auto date = parse_sdk_date(*date_text);
  if (!date) {
    verdict.refusal = Refusal::BadDate;
    verdict.reason = "invalid x-sdk-date";
    return verdict;
  }
  const auto skew = now > *date ? now - *date : *date - now;
  if (skew > window) {
    verdict.refusal = Refusal::Expired;
    verdict.reason = "signature expired, signature time:" + std::string(*date_text) +
                     ", server time:" + format_sdk_date(now);
    return verdict;
  }
  std::string missing;
  auto canonical = build_canonical(request, auth.signed_headers, missing);
  if (!canonical) {
    verdict.refusal = Refusal::MissingHeader;
    verdict.reason = "signed header " + missing + " not found";
    return verdict;
  }
  const std::string expected = signature(*secret_key, string_to_sign(*date_text, *canonical));
  secure_wipe(*secret_key);
  if (!constant_time_equals(expected, auth.signature)) {
    verdict.refusal = Refusal::Mismatch;
    // The gateway embeds its canonical request with '|' for newlines; so does the simulator.
    std::string shown = *canonical;
    std::replace(shown.begin(), shown.end(), '\n', '|');
    verdict.reason = "verify aksk signature fail, canonicalRequest:" + shown;
    return verdict;
  }
  verdict.ok = true;
  return verdict;
}

std::string authorization_header(std::string_view access_key, std::string_view secret_key,
                                 const ReceivedRequest& request,
                                 const std::vector<std::string>& signed_names) {
  std::string missing;
  std::vector<std::string> names;
  for (const auto& name : signed_names) {
    names.push_back(lower(name));
  }
  std::sort(names.begin(), names.end());
  auto canonical = build_canonical(request, names, missing);
  auto date = find_header(request.headers, "x-sdk-date");
  std::string joined;
  for (const auto& name : names) {
    if (!joined.empty()) {
      joined.push_back(';');
    }
    joined += name;
  }
  const std::string sig =
      canonical && date ? signature(secret_key, string_to_sign(*date, *canonical)) : std::string{};
  return std::string(kAlgorithm) + " Access=" + std::string(access_key) +
         ", SignedHeaders=" + joined + ", Signature=" + sig;
}

}  // namespace rotor::sim::sig
