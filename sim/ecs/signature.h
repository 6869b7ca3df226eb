#pragma once
// The APIG "SDK-HMAC-SHA256" signature (ecs-api.md §3.2), as the simulator verifies it. The
// canonical pieces are exposed so that the unit test can reproduce the published vectors V1–V6
// step by step, and so that simulator tests can sign their own requests.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace rotor::sim::sig {

inline constexpr std::string_view kAlgorithm = "SDK-HMAC-SHA256";
inline constexpr std::string_view kEmptyBodySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

using Params = std::vector<std::pair<std::string, std::string>>;
// Lower-case header name and the value as received (trimmed when canonicalised).
using Headers = std::vector<std::pair<std::string, std::string>>;

// Lower-case hex SHA-256 and HMAC-SHA256 (OpenSSL).
[[nodiscard]] std::string sha256_hex(std::string_view data);
[[nodiscard]] std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Percent-encodes every byte outside A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex).
[[nodiscard]] std::string uri_encode(std::string_view text);
// The decoded path, each segment encoded, with a trailing '/' appended when missing.
[[nodiscard]] std::string canonical_uri(std::string_view decoded_path);
// Decoded parameters sorted by key then value, each encoded, joined with '&'.
[[nodiscard]] std::string canonical_query(Params params);
// `signed_headers` already restricted to the signed names; sorted and lower-cased here.
[[nodiscard]] std::string canonical_request(std::string_view method, std::string_view decoded_path,
                                            const Params& query, Headers signed_headers,
                                            std::string_view payload_hash);
[[nodiscard]] std::string string_to_sign(std::string_view sdk_date,
                                         std::string_view canonical_request);
[[nodiscard]] std::string signature(std::string_view secret_key, std::string_view string_to_sign);

struct Authorization {
  std::string access_key;
  std::vector<std::string> signed_headers;  // lower-case, in the order given
  std::string signature;
};
// Parses "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
[[nodiscard]] Result<Authorization> parse_authorization(std::string_view header);
// "20191115T033655Z" <-> time point (UTC).
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parse_sdk_date(
    std::string_view text);
[[nodiscard]] std::string format_sdk_date(std::chrono::system_clock::time_point when);

// A request as the server received it (path and query decoded; header names in any case).
struct ReceivedRequest {
  std::string_view method;
  std::string_view path;
  Params query;
  Headers headers;  // every received header; names compared case-insensitively
  std::string_view body;
};

[[nodiscard]] std::optional<std::string_view> find_header(const Headers& headers,
                                                          std::string_view name);

// Why a signature was refused; the text follows the gateway's sub-reasons (§2.4).
enum class Refusal { Malformed, UnknownKey, MissingHeader, BadDate, Expired, Mismatch };
struct Verdict {
  bool ok = false;
  Refusal refusal = Refusal::Malformed;
  std::string reason;      // gateway message tail, e.g. "verify aksk signature fail"
  std::string access_key;  // the AK that signed, when it could be parsed
};

// Verifies `request` against the secret key returned by `lookup_sk(access_key)` (nullopt =
// unknown key), with X-Sdk-Date at most `window` away from `now`.
template <typename Lookup>
[[nodiscard]] Verdict verify(const ReceivedRequest& request, Lookup&& lookup_sk,
                             std::chrono::system_clock::time_point now,
                             std::chrono::seconds window);

// Signs a request the way the Huawei SDKs do (used by tests): adds nothing, signs the named
// headers of `headers`, returns the Authorization header value.
[[nodiscard]] std::string authorization_header(std::string_view access_key,
                                               std::string_view secret_key,
                                               const ReceivedRequest& request,
                                               const std::vector<std::string>& signed_names);

// Internal helper for verify(): everything except the key lookup.
[[nodiscard]] Verdict verify_with(const ReceivedRequest& request, const Authorization& auth,
                                  std::optional<std::string> secret_key,
                                  std::chrono::system_clock::time_point now,
                                  std::chrono::seconds window);

template <typename Lookup>
Verdict verify(const ReceivedRequest& request, Lookup&& lookup_sk,
               std::chrono::system_clock::time_point now, std::chrono::seconds window) {
  auto header = find_header(request.headers, "authorization");
  if (!header) {
    return {false, Refusal::Malformed, "Authorization not found", {}};
  }
  auto auth = parse_authorization(*header);
  if (!auth) {
    return {false, Refusal::Malformed, "Authorization format incorrect", {}};
  }
  std::optional<std::string> sk = lookup_sk(auth->access_key);
  return verify_with(request, *auth, std::move(sk), now, window);
}

}  // namespace rotor::sim::sig
