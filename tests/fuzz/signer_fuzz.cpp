// libFuzzer target for AK/SK signing (ecs/signer.h): URI encoding, the canonical URI and query,
// canonical_request() over fuzzed method, path, query and headers, and sign_request() over a
// fuzzed URL. Invariants checked, not only "no crash": uri_decode(uri_encode(x)) == x; the
// canonical URI ends with '/' (starts with one when the path does); canonicalising a canonical
// query changes nothing; signed header names are lower-case, sorted and free of ':' and '\n'; the
// canonical request is deterministic and its signed-header line matches signed_header_names(); a
// signed request carries one Authorization with 64 hex digits and is signed the same way twice.
// Built only with clang and -DROTOR_FUZZ=ON; run with scripts/fuzz.sh SECONDS.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ecs/signer.h"

namespace {

using namespace rotor;
using namespace rotor::ecs;

// Aborts (a finding for libFuzzer) naming the broken invariant. A macro: clang 14 has no
// std::source_location.
#define require(condition)                                                                         \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      std::fprintf(stderr, "signer_fuzz: invariant failed: %s (line %d)\n", #condition, __LINE__); \
      std::abort();                                                                                \
    }                                                                                              \
  } while (false)

bool is_token(std::string_view name) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           kSpecials.find(c) != std::string_view::npos;
  });
}

void check_signed_names(std::string_view names) {
  std::string previous;
  std::size_t start = 0;
  while (start <= names.size() && !names.empty()) {
    const auto end = std::min(names.find(';', start), names.size());
    const std::string name(names.substr(start, end - start));
    for (const char c : name) {
      require(!(c >= 'A' && c <= 'Z') && c != ':' && c != '\n');
    }
    require(previous <= name);  // sorted
    previous = name;
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const std::string method = input.ConsumeRandomLengthString(8);
  const std::string path = input.ConsumeRandomLengthString(256);
  const std::string query = input.ConsumeRandomLengthString(256);
  std::vector<HttpHeader> headers;
  const auto header_count = input.ConsumeIntegralInRange<std::size_t>(0, 8);
  for (std::size_t i = 0; i < header_count; ++i) {
    HttpHeader header;
    header.name = input.ConsumeRandomLengthString(32);
    header.value = input.ConsumeRandomLengthString(64);
    if (is_token(header.name)) {  // callers only sign valid header names (RFC 9110 token)
      headers.push_back(std::move(header));
    }
  }
  const std::string payload = input.ConsumeRemainingBytesAsString();

  // Encoding round trip and the canonical pieces.
  require(uri_decode(uri_encode(path)) == path);
  const std::string uri = canonical_uri(path);
  require(!uri.empty() && uri.back() == '/');
  require(path.empty() || path.front() != '/' || uri.front() == '/');  // wire paths start with '/'
  const std::string canonical_q = canonical_query(std::string_view(query));
  require(canonical_query(std::string_view(canonical_q)) == canonical_q);

  // The canonical request: deterministic, with the signed-header line it claims.
  const std::string payload_hash = sha256_hex(payload);
  const CanonicalRequestInput request_input{method, path, query, headers, payload_hash};
  const std::string canonical = canonical_request(request_input);
  require(canonical == canonical_request(request_input));
  const std::string names = signed_header_names(headers);
  check_signed_names(names);
  const std::string suffix = "\n" + names + "\n" + payload_hash;
  require(canonical.size() >= suffix.size() &&
          canonical.compare(canonical.size() - suffix.size(), suffix.size(), suffix) == 0);
  require(canonical.rfind(method + "\n" + uri + "\n" + canonical_q + "\n", 0) == 0);
  const std::string to_sign = string_to_sign("20191115T033655Z", canonical);
  require(hmac_sha256_hex("sk", to_sign).size() == 64);

  // The whole signature over a URL built from the fuzzed path and query.
  const std::string url = "https://ecs.example.com:8443" +
                          (path.empty() || path.front() != '/' ? "/" + path : path) +
                          (query.empty() ? "" : "?" + query);
  const Secret secret_key = Secret::from("FUZZSK");
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'573'788'615));
  std::string first;
  for (int round = 0; round < 2; ++round) {
    HttpRequest request;
    request.url = url;
    request.body.append(payload);
    request.headers.add("Content-Type", "application/json");
    request.headers.add("X-Project-Id", "proj1");
    if (auto signed_ok = sign_request(request, "AKFUZZ", secret_key, now); !signed_ok) {
      return 0;
    }
    const auto authorization = request.headers.get("Authorization");
    require(authorization.has_value());
    const auto signature = authorization->find("Signature=");
    require(signature != std::string_view::npos && authorization->size() - (signature + 10) == 64);
    if (round == 0) {
      first = std::string(*authorization);
    } else {
      require(first == *authorization);  // deterministic
    }
  }
  return 0;
}
