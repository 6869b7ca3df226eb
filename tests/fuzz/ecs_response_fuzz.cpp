// libFuzzer target for every ECS answer the client reads: error bodies of each style
// (parse_error_body, classify), the batch-reset answer (response / error + internalError), the
// server listing, tag queries, job JSON and the reset-plug-in flag. The first input byte picks
// the HTTP status, the second the call; the rest is the body every request is answered with.
// Invariants beyond "no crash": a status is accepted exactly when it carries no error, a batch
// gives one result per requested server in order, and no error text holds the new password or
// the secret key. Built only with clang and -DROTOR_FUZZ=ON; run with scripts/fuzz.sh SECONDS.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ecs/client.h"
#include "ecs/errors.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace rotor;
using namespace rotor::ecs;

constexpr std::string_view kSecretKey = "FUZZSECRETKEYdoNotLeak0123456789";
constexpr std::string_view kPassword = "Fz!Pass-w0rd#NeverInErrors";

void check_no_secret(const std::optional<Error>& error) {
  if (!error) {
    return;
  }
  const std::string text = error->to_string();
  for (const auto secret : fuzz::guarded_secrets()) {
    if (text.find(secret) != std::string::npos) {
      std::abort();  // a secret the call sent, echoed by the peer, reached an Error
    }
  }
}

void check_status(const CallStatus& status) {
  if (status.accepted() == status.error.has_value()) {
    std::abort();  // accepted exactly when there is no error
  }
  check_no_secret(status.error);
}

CloudConfig make_config(bool huawei) {
  CloudConfig config;
  config.name = "fuzz";
  config.flavor = huawei ? Flavor::Huawei : Flavor::Otc;
  config.region = "eu-de";
  config.project_id = "proj1";
  config.ecs_endpoint = "https://ecs.eu-de.example.com";
  config.iam_endpoint = "https://iam.eu-de.example.com/v3";
  config.auth = AuthMode::AkSk;
  config.aksk.access_key = "AKFUZZ";
  config.aksk.secret_key = Secret::from(kSecretKey);
  config.limits.requests_per_second = 1e9;
  config.limits.burst = 1e9;
  config.limits.retry.max_attempts = 2;  // one retry: the retry path is parsed too
  config.limits.page_size = 2;
  return config;
}

void classify_directly(int status, std::string_view body) {
  if (auto parsed = parse_error_body(body)) {
    (void)is_throttling(*parsed);
    (void)code_equals(parsed->code, "Ecs.0114");
  }
  HttpResponse response;
  response.status = status;
  response.body.append(body);
  response.headers.add("Retry-After", "7");
  const Result<HttpResponse> result(std::move(response));
  const std::array<std::string_view, 2> secrets = {kPassword, kSecretKey};
  for (const bool per_item : {false, true}) {
    const ClassifyContext ctx{"PUT /v1/proj1/cloudservers/os-reset-passwords", per_item, secrets,
                              per_item};
    check_status(classify(result, ctx, std::chrono::system_clock::time_point{}));
  }
  const ClassifyContext item_ctx{"batch item", false, secrets, true};
  check_status(classify_item(body.substr(0, 16), body, status, item_ctx));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const int status = fuzz::pick_status(data[0]);
  const std::uint8_t call = data[1];
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  // The password is sent only by resets (calls 0-2); every call is signed with the SK.
  const bool sends_password = call % 7U <= 2U;
  fuzz::guard_logs(sends_password ? std::vector<std::string_view>{kPassword, kSecretKey}
                                  : std::vector<std::string_view>{kSecretKey});
  classify_directly(status, body);
  fuzz::EchoTransport transport(status, body);
  fuzz::FrozenClock clock;
  fuzz::FixedRandom random;
  EcsClient client(make_config((call & 0x80U) != 0), transport, clock, random);
  const Secret password = Secret::from(kPassword);
  const std::array<std::string, 3> ids = {"srv-a", "srv-b", "srv-c"};

  switch (call % 7U) {
    case 0: check_status(client.reset_password("srv-a", password)); break;
    case 1:
    case 2: {
      const bool dry_run = call % 7U == 2;
      const BatchResetResult batch = client.batch_reset_password(ids, &password, dry_run);
      if (batch.servers.size() != ids.size()) {
        std::abort();  // one result per requested server
      }
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (batch.servers[i].server_id != ids[i]) {
          std::abort();  // in request order
        }
        check_status(batch.servers[i].status);
      }
      break;
    }
    case 3:
      if (auto flag = client.reset_supported("srv-a"); !flag) {
        check_no_secret(flag.error());
      }
      break;
    case 4: {
      ServerFilter filter;
      filter.max_servers = 50;
      if (auto servers = client.list_servers(filter); !servers) {
        check_no_secret(servers.error());
      } else if (servers->size() > filter.max_servers) {
        std::abort();  // the listing bound holds
      }
      break;
    }
    case 5: {
      const std::array<TagFilter, 1> tags = {TagFilter{"rotor", {"unique"}}};
      if (auto servers = client.servers_by_tags(tags); !servers) {
        check_no_secret(servers.error());
      }
      break;
    }
    default: {
      if (auto job = client.job("job-1"); !job) {
        check_no_secret(job.error());
      }
      const JobStart start = client.reboot(ids, RebootType::Soft);
      check_status(start.status);
      break;
    }
  }
  return 0;
}
