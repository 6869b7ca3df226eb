#pragma once
// The ECS client: password resets (single and batch), the reset-plug-in probe, server listing and
// tag queries, batch reboot and job polling, for Open Telekom Cloud and Huawei Cloud
// (ecs-api.md). Every mutating call reports a CallStatus whose verdict the rotation engine acts
// on (see result.h); read-only calls return Result<T> with typed errors.
//
// Requests go through the HttpTransport seam, paced by a per-cloud token bucket, retried per
// CloudLimits::retry (transient rejections always, unknown outcomes only for idempotent calls —
// resets are idempotent, reboots are not), re-authenticated once after a 401 in token mode.
// Passwords travel only in wiping buffers; no password, SK or token appears in logs or errors.
// Thread-safe: one client per cloud, shared by the engine's workers.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/http.h"
#include "common/random.h"
#include "common/secret.h"
#include "ecs/auth.h"
#include "ecs/config.h"
#include "ecs/result.h"
#include "http/token_bucket.h"

namespace rotor::ecs {

struct Server {
  std::string id;
  std::string name;
  std::string status;             // ACTIVE, SHUTOFF, …
  std::string os_type;            // metadata.os_type: "Linux" | "Windows" | "" when absent
  std::vector<std::string> tags;  // "key=value"
  bool locked = false;
  std::string image_id;
  std::string image_name;  // metadata.image_name
  std::string task_state;  // OS-EXT-STS:task_state, "" when idle
  // The IP addresses of `addresses` (every network; fixed and floating, v4 and v6) in the
  // listing's order; an entry that is not an IP address is left out (see parse_address).
  std::vector<std::string> addresses;
};

struct ServerFilter {
  std::string name;                   // fuzzy match
  std::string status;                 // ACTIVE, SHUTOFF, …
  std::string tags;                   // "key=value"
  std::string not_tags;               // "key=value" or a system tag such as __type_baremetal
  std::size_t max_servers = 100'000;  // a bound on the listing, as a safety net
};

// One page of a listing, as parsed: the callee may move the servers out.
struct ServerPage {
  std::span<Server> servers;
  std::optional<std::size_t> count;  // the answer's "count" (all matching servers), when given
};

struct TagFilter {
  std::string key;
  std::vector<std::string> values;  // OR'ed; empty = any value
};

struct TaggedServer {
  std::string id;
  std::string name;
  std::map<std::string, std::string> tags;
};

enum class RebootType { Soft, Hard };

struct JobStart {
  CallStatus status;
  std::string job_id;  // set when accepted
};

enum class JobState { Init, Running, Success, Fail, Unknown };
std::string_view to_string(JobState state) noexcept;

struct SubJob {
  JobState state = JobState::Unknown;
  std::string job_id;
  std::string server_id;
  std::string error_code;
  std::string fail_reason;
};

struct Job {
  std::string job_id;
  std::string job_type;
  JobState state = JobState::Unknown;
  std::string error_code;
  std::string fail_reason;
  std::vector<SubJob> sub_jobs;
  [[nodiscard]] bool finished() const noexcept {
    return state == JobState::Success || state == JobState::Fail;
  }
};

class EcsClient {
 public:
  // Validates the configuration (throws std::invalid_argument: a start-up fault). The client
  // owns `config`; transport, clock and random must outlive it.
  EcsClient(CloudConfig config, HttpTransport& transport, Clock& clock, Random& random);
  ~EcsClient();
  EcsClient(const EcsClient&) = delete;
  EcsClient& operator=(const EcsClient&) = delete;

  // Single-server reset on the flavor's path: OTC PUT /v2.1/{p}/servers/{id}/os-reset-password,
  // Huawei PUT /v1/{p}/cloudservers/{id}/os-reset-password (is_check_password: true).
  ResetResult reset_password(std::string_view server_id, const Secret& password);

  // PUT /v1/{p}/cloudservers/os-reset-passwords, one call per chunk of at most max_batch servers.
  // `password` may be null only with dry_run. One result per server, in the given order.
  BatchResetResult batch_reset_password(std::span<const std::string> server_ids,
                                        const Secret* password, bool dry_run);

  // GET /v1/{p}/cloudservers/{id}/os-resetpwd-flag: true when the reset plug-in is there.
  // Unsupported when the cloud lacks the API (404/405 without an ECS code).
  Result<bool> reset_supported(std::string_view server_id);

  // GET /v1/{p}/cloudservers/detail, every page (offset is a page number), each page handed to
  // `on_page` once it is parsed and checked, then dropped: the memory is one page's, whatever the
  // fleet. An error (the cloud's, a guard's, or the one `on_page` returns) stops the listing and
  // is returned after some pages may have been seen: a caller that needs the whole listing (to
  // judge what is missing from it) acts only on success.
  Result<void> for_each_server_page(const ServerFilter& filter,
                                    const std::function<Result<void>(ServerPage&)>& on_page);
  // Every page of the listing at once (for_each_server_page collected).
  Result<std::vector<Server>> list_servers(const ServerFilter& filter = {});
  // GET /v1/{p}/cloudservers/{id} ({"server": {…}}, the fields of a listing's item). NotFound when
  // the cloud does not know the server.
  Result<Server> get_server(std::string_view server_id);

  // POST /v1/{p}/{servers|cloudservers}/resource_instances/action with action "filter", all pages.
  Result<std::vector<TaggedServer>> servers_by_tags(std::span<const TagFilter> tags);

  // POST /v1/{p}/cloudservers/action {"reboot": …}. Not retried after an unknown outcome.
  JobStart reboot(std::span<const std::string> server_ids, RebootType type);

  // GET /v1/{p}/jobs/{job_id}.
  Result<Job> job(std::string_view job_id);
  // Polls job() every `interval` (through the clock) until it finishes or `timeout` passes
  // (ErrorCode::Timeout).
  Result<Job> wait_for_job(std::string_view job_id, std::chrono::milliseconds interval,
                           std::chrono::milliseconds timeout);

  [[nodiscard]] const CloudConfig& config() const noexcept { return config_; }
  // The token bucket's current rate (requests/s): lower than configured after throttling.
  [[nodiscard]] double request_rate() const { return bucket_.rate(); }

 private:
  struct Exchange {
    CallStatus status;
    std::optional<HttpResponse> response;
  };
  // One logical call: build, authorize, pace, send, classify, retry.
  Exchange execute(HttpMethod method, const std::string& path, const std::string& query,
                   const WipingBuffer* body, bool idempotent,
                   std::span<const std::string_view> extra_secrets);
  Result<HttpResponse> read(const std::string& path, const std::string& query);
  CallStatus reset_chunk(std::span<const std::string> ids, const Secret* password, bool dry_run,
                         std::vector<ServerResetResult>& out);

  CloudConfig config_;
  HttpTransport& transport_;
  Clock& clock_;
  Random& random_;
  std::unique_ptr<Authenticator> auth_;
  http::TokenBucket bucket_;
};

// True for ids that are safe to put in a URL path (letters, digits, '-', '_', '.').
[[nodiscard]] bool valid_id(std::string_view id) noexcept;

// The JSON body of a batch reset, built in a wiping buffer:
// {"new_password":"…","servers":[{"id":"…"}],"dry_run":false} (new_password omitted if null).
[[nodiscard]] WipingBuffer batch_reset_body(std::span<const std::string> server_ids,
                                            const Secret* password, bool dry_run);
// {"reset-password":{"new_password":"…"[,"is_check_password":true]}}.
[[nodiscard]] WipingBuffer single_reset_body(const Secret& password, bool check_password);

}  // namespace rotor::ecs
