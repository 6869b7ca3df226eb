#pragma once
// AK/SK request signing, "SDK-HMAC-SHA256" (ecs-api.md §3.2, the current Access= format).
//
//   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//                      SignedHeaders \n HexLower(SHA256(payload))
//   StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n HexLower(SHA256(CanonicalRequest))
//   Signature        = HexLower(HMAC-SHA256(SK, StringToSign))
//
// The pieces are pure functions (the canonical-request builder is a fuzz target); sign_request()
// composes them for an HttpRequest. Hashing and HMAC come from OpenSSL.

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/http.h"
#include "common/secret.h"

namespace rotor::ecs {

inline constexpr std::string_view kSigningAlgorithm = "SDK-HMAC-SHA256";
inline constexpr std::string_view kEmptyPayloadHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Percent-encodes every byte outside A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex).
[[nodiscard]] std::string uri_encode(std::string_view text);
// Decodes %XX sequences (a malformed escape is kept as it is); '+' stays '+'.
[[nodiscard]] std::string uri_decode(std::string_view text);

// The path with each segment decoded and re-encoded, and a trailing '/' ("" gives "/").
[[nodiscard]] std::string canonical_uri(std::string_view path);
// Parameters sorted by key, then value (byte order); each as enc(key)=enc(value), joined by '&'.
[[nodiscard]] std::string canonical_query(std::vector<std::pair<std::string, std::string>> params);
// The same from a raw query string ("a=1&b=x%20y", without the '?'): decoded, then canonicalised.
[[nodiscard]] std::string canonical_query(std::string_view raw_query);

struct CanonicalRequestInput {
  std::string_view method;  // upper-case
  std::string_view path;    // as sent on the wire, e.g. "/v1/p/cloudservers/detail"
  std::string_view query;   // raw, without '?'
  // The headers to sign (any case, any order; values are trimmed).
  std::span<const HttpHeader> headers;
  std::string_view payload_hash;  // lower-case hex SHA-256 of the body (or X-Sdk-Content-Sha256)
};

// "content-type;host;x-sdk-date" for the given headers.
[[nodiscard]] std::string signed_header_names(std::span<const HttpHeader> headers);
[[nodiscard]] std::string canonical_request(const CanonicalRequestInput& input);
[[nodiscard]] std::string string_to_sign(std::string_view sdk_date,
                                         std::string_view canonical_request_text);
// HexLower(HMAC-SHA256(key, data)); the key is used as raw bytes.
[[nodiscard]] std::string hmac_sha256_hex(std::string_view key, std::string_view data);
[[nodiscard]] std::string sha256_hex(std::string_view data);
// "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
[[nodiscard]] std::string authorization_header(std::string_view access_key,
                                               std::string_view signed_headers,
                                               std::string_view signature);

// "20191115T033655Z" (UTC).
[[nodiscard]] std::string format_sdk_date(std::chrono::system_clock::time_point when);

struct UrlParts {
  std::string scheme;
  std::string host;   // hostname[:port], the port only when it is not the scheme's default
  std::string path;   // "/" when the URL has none
  std::string query;  // without '?'
};
[[nodiscard]] Result<UrlParts> split_url(std::string_view url);

// Signs `request` in place: adds Host and X-Sdk-Date (unless present), signs every header whose
// name has no '_' (Authorization excluded), and sets Authorization. The payload hash is that of
// the body bytes, or the X-Sdk-Content-Sha256 header's value when present.
Result<void> sign_request(HttpRequest& request, std::string_view access_key,
                          const Secret& secret_key, std::chrono::system_clock::time_point now);

}  // namespace rotor::ecs
