// libFuzzer target for every Vault answer the client reads: the JSON helpers (parse_body,
// error_text, strip_multierror, the typed getters) and, through a transport that answers every
// request with the input, sys/health, the mount check, token lookup/renewal, KV v2 data and
// metadata reads, lists and CAS writes. The first input byte picks the HTTP status, the second
// the call; the rest is the body. Invariants beyond "no crash": the token never appears in an
// error text, and a sensitive field read from a secret is never among the plain fields.
// Built only with clang and -DROTOR_FUZZ=ON; run with scripts/fuzz.sh SECONDS.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_support.h"
#include "vault/client.h"
#include "vault/json_util.h"

namespace {

using namespace rotor;
using namespace rotor::vault;

constexpr std::string_view kToken = "hvs.FUZZTOKENneverInErrors";
constexpr std::string_view kPassword = "Fz!Pass-w0rd#NeverLogged";

void check_no_token(const Error& error) {
  if (error.to_string().find(kToken) != std::string::npos) {
    std::abort();  // the client token reached an Error
  }
}

template <typename T>
void check(const Result<T>& result) {
  if (!result) {
    check_no_token(result.error());
  }
}

void helpers_directly(std::string_view body) {
  (void)detail::strip_multierror(body);
  auto parsed = detail::parse_body(body);
  if (!parsed) {
    if (parsed.error().to_string().find(body) != std::string::npos && body.size() > 64) {
      std::abort();  // a parse error must never quote the body
    }
    return;
  }
  const detail::Json& json = parsed->get();
  (void)detail::error_text(json);
  for (const char* key : {"data", "ttl", "sealed", "errors", "version"}) {
    (void)detail::get_string(json, key);
    (void)detail::get_int(json, key);
    (void)detail::get_bool(json, key);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const int status = fuzz::pick_status(data[0]);
  const std::uint8_t call = data[1];
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  // The password is sent only by the write (call 7); the token by every call.
  fuzz::guard_logs(call % 8U == 7U ? std::vector<std::string_view>{kToken, kPassword}
                                   : std::vector<std::string_view>{kToken});
  helpers_directly(body);

  fuzz::EchoTransport transport(status, body);
  fuzz::FrozenClock clock;
  fuzz::FixedRandom random;
  VaultConfig config;
  config.address = "https://vault.fuzz:8200";
  config.retry.max_attempts = 2;
  config.retry.sealed_max_wait = std::chrono::seconds(3);  // a few waits, not a hundred
  VaultClient client(config, token_from_value(kToken), transport, clock, random);

  switch (call % 8U) {
    case 0: check(client.health()); break;
    case 1: check(client.mount_info()); break;
    case 2: {
      const auto started = client.start();
      check(started);
      if (started) {
        check(client.maybe_renew());
      }
      break;
    }
    case 3:
    case 4: {
      const auto secret =
          client.read("servers/db01", call % 8U == 4 ? 3U : std::optional<std::uint64_t>{});
      check(secret);
      if (secret) {
        for (const auto& [key, value] : secret->data.secrets) {
          if (secret->data.plain.count(key) != 0) {
            std::abort();  // a field is either secret or plain, never both
          }
        }
      }
      break;
    }
    case 5: check(client.read_metadata("servers/db01")); break;
    case 6: check(client.list("servers")); break;
    default: {
      KvData fields;
      fields.secrets.emplace("password", Secret::from(kPassword));
      fields.plain.emplace("state", "committed");
      check(client.write("servers/db01", fields, Cas::expect(4)));
      check(client.soft_delete("servers/db01"));
      break;
    }
  }
  return 0;
}
