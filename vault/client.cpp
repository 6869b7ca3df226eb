#include "vault/client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <mutex>

#include "common/log.h"
#include "vault/json_util.h"

namespace rotor::vault {

using json = detail::Json;
using detail::to_std;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// KvData

const Secret* KvData::secret(const std::string& name) const {
  const auto found = secrets.find(name);
  return found == secrets.end() ? nullptr : &found->second;
}

const std::string* KvData::text(const std::string& name) const {
  const auto found = plain.find(name);
  return found == plain.end() ? nullptr : &found->second;
}

namespace {

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, char b) {
                       return std::tolower(static_cast<unsigned char>(a)) ==
                              std::tolower(static_cast<unsigned char>(b));
                     }) != haystack.end();
}

// Percent-encodes a path inside a mount; '/' separates segments and is kept.
std::string encode_path(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4U]);
      out.push_back(kHex[byte & 0x0FU]);
    }
  }
  return out;
}

// A secret path inside the mount: not empty, no leading or trailing '/', no "." or ".." segment.
Result<void> check_path(std::string_view path, bool folder) {
  if (path.empty() && !folder) {
    return fail(ErrorCode::InvalidArgument, "empty secret path");
  }
  if (!path.empty() && path.front() == '/') {
    return fail(ErrorCode::InvalidArgument, "secret path '{}' must not start with '/'", path);
  }
  if (!folder && path.back() == '/') {
    return fail(ErrorCode::InvalidArgument, "secret path '{}' must not end with '/'", path);
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const auto segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") {
      return fail(ErrorCode::InvalidArgument, "secret path '{}' has a '{}' segment", path, segment);
    }
    start = end + 1;
  }
  return {};
}

bool has_invalid_token(std::string_view body) {
  return contains_ci(body, "invalid token");
}

// Replaces every Vault token of the current formats (hvs., hvb., hvr. + token characters) in a
// remote error text with "[redacted]": a peer that echoes the request's token must not put it
// into an Error (found by tests/fuzz/vault_response_fuzz.cpp). Legacy "s." tokens are not
// recognised.
std::string redact_tokens(std::string text) {
  const auto token_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  };
  std::size_t at = 0;
  while ((at = text.find("hv", at)) != std::string::npos) {
    if (at + 3 < text.size() &&
        (text[at + 2] == 's' || text[at + 2] == 'b' || text[at + 2] == 'r') &&
        text[at + 3] == '.') {
      std::size_t end = at + 4;
      while (end < text.size() && token_char(text[end])) {
        ++end;
      }
      text.replace(at, end - at, "[redacted]");
      at += 10;
    } else {
      at += 2;
    }
  }
  return text;
}

// Maps a non-2xx answer to a typed error (spec §1.5, §1.6): status first, then substrings.
Error error_from_response(std::string_view method, std::string_view path,
                          const HttpResponse& response) {
  std::string text;
  if (auto parsed = detail::parse_body(response.body.view())) {
    text = redact_tokens(detail::error_text(parsed->get()));
  }
  const int status = response.status;
  ErrorCode code = ErrorCode::HttpError;
  switch (status) {
    case 400:
      if (contains_ci(text, "check-and-set parameter did not match")) {
        code = ErrorCode::Conflict;
      } else if (contains_ci(text, "invalid role or secret id") ||
                 contains_ci(text, "invalid role id") || contains_ci(text, "invalid secret id")) {
        code = ErrorCode::Unauthorized;
      } else {
        code = ErrorCode::InvalidArgument;
      }
      break;
    case 401: code = ErrorCode::Unauthorized; break;
    case 403:
      code = has_invalid_token(text) ? ErrorCode::Unauthorized : ErrorCode::PermissionDenied;
      break;
    case 404: code = ErrorCode::NotFound; break;
    case 405: code = ErrorCode::Unsupported; break;
    case 409: code = ErrorCode::Conflict; break;
    case 412: code = ErrorCode::ServiceUnavailable; break;
    case 429: code = ErrorCode::Throttled; break;
    default:
      if (status >= 500) {
        code = ErrorCode::ServiceUnavailable;
      }
  }
  std::string message = fmt::format("{} /v1/{}: HTTP {}", method, path, status);
  if (!text.empty()) {
    message += ' ';
    message += text;
  }
  return std::move(Error(code, std::move(message)).with_http(status, text));
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

// The string members of data.keys of a LIST answer, from the parser's events (the parser's
// buffers are the wiped document type's). The document kept the last of a repeated "data" or
// "keys": a first pass (no `on_key`) finds which that is, a second hands over its strings.
class ListKeysReader final : public nlohmann::json_sax<json> {
 public:
  struct Target {
    std::size_t data = 0;  // the ordinal of the root's last "data" member (0: none)
    std::size_t keys = 0;  // the ordinal of the last "keys" member inside it (0: none)
  };
  ListKeysReader() = default;
  ListKeysReader(Target target, const std::function<void(std::string_view)>& on_key)
      : target_(target), on_key_(&on_key) {}
  [[nodiscard]] Target target() const { return last_; }

  bool null() override { return true; }
  bool boolean(bool /*value*/) override { return true; }
  bool number_integer(number_integer_t /*value*/) override { return true; }
  bool number_unsigned(number_unsigned_t /*value*/) override { return true; }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) override { return true; }
  bool binary(binary_t& /*value*/) override { return true; }
  bool string(string_t& value) override {
    if (on_key_ != nullptr && in_keys_ && depth_ == 3 && data_ == target_.data &&
        keys_ == target_.keys) {
      (*on_key_)(std::string_view(value.data(), value.size()));
    }
    return true;
  }
  bool key(string_t& value) override {
    const std::string_view name(value.data(), value.size());
    if (depth_ == 1) {
      data_next_ = name == "data";
      if (data_next_) {
        ++data_;
        last_ = Target{data_, 0};
      }
    } else if (depth_ == 2 && in_data_) {
      keys_next_ = name == "keys";
      if (keys_next_) {
        ++keys_;
        last_.keys = 0;  // until it proves to be an array
      }
    }
    return true;
  }
  bool start_object(std::size_t /*elements*/) override {
    if (depth_ == 1 && data_next_) {
      in_data_ = true;
    }
    data_next_ = false;
    keys_next_ = false;
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    if (depth_ == 1) {
      in_data_ = false;
    }
    return true;
  }
  bool start_array(std::size_t /*elements*/) override {
    if (depth_ == 2 && in_data_ && keys_next_) {
      in_keys_ = true;
      last_.keys = keys_;
    }
    data_next_ = false;
    keys_next_ = false;
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    if (depth_ == 2) {
      in_keys_ = false;
    }
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    return false;
  }

 private:
  Target target_;
  const std::function<void(std::string_view)>* on_key_ = nullptr;
  Target last_;
  std::size_t depth_ = 0;
  std::size_t data_ = 0;    // root "data" members seen
  std::size_t keys_ = 0;    // "keys" members seen inside them
  bool data_next_ = false;  // the value after the root's "data" key
  bool keys_next_ = false;  // the value after data's "keys" key
  bool in_data_ = false;
  bool in_keys_ = false;
};

bool parse_list(std::string_view body, ListKeysReader& reader) {
  // The parser itself: json::sax_parse also instantiates the binary formats' readers, which do
  // not compile with the wiped string type.
  using Input = decltype(nlohmann::detail::input_adapter(body.begin(), body.end()));
  return nlohmann::detail::parser<json, Input>(
             nlohmann::detail::input_adapter(body.begin(), body.end()), nullptr, false)
      .sax_parse(&reader, true);
}

// A member of an object by reference (null when absent), so that nothing is copied out of a
// document that will be wiped.
const json& member(const json& object, std::string_view key) {
  static const json kNull;
  if (!object.is_object()) {
    return kNull;
  }
  const auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

std::map<std::string, std::string> string_map(const json& value) {
  std::map<std::string, std::string> out;
  if (!value.is_object()) {
    return out;
  }
  for (const auto& [key, item] : value.items()) {
    out[to_std(key)] = to_std(item);
  }
  return out;
}

std::uint64_t as_u64(std::optional<std::int64_t> value) {
  return value && *value > 0 ? static_cast<std::uint64_t>(*value) : 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// State

struct VaultClient::State {
  enum class Next { None, Renew, Relogin };

  State(VaultConfig c, Credentials cr, HttpTransport& t, Clock& cl, Random& r)
      : config(std::move(c)),
        credentials(std::move(cr)),
        transport(t),
        clock(cl),
        random(r),
        log(rotor::log::get("vault")) {
    while (!config.address.empty() && config.address.back() == '/') {
      config.address.pop_back();
    }
    while (!config.kv_mount.empty() && config.kv_mount.back() == '/') {
      config.kv_mount.pop_back();
    }
    if (auto* token_auth = std::get_if<TokenAuth>(&credentials)) {
      token = Secret::from(token_auth->token.reveal());
    }
  }

  VaultConfig config;
  Credentials credentials;
  HttpTransport& transport;
  Clock& clock;
  Random& random;
  std::shared_ptr<spdlog::logger> log;

  // The engine's workers share one client: KV calls run concurrently and only copy the token
  // under token_mutex; login, renewal and lookup (everything that changes the token or its
  // schedule) are serialised by auth_mutex (recursive: start() logs in and then looks up).
  mutable std::mutex token_mutex;
  std::recursive_mutex auth_mutex;
  std::atomic<std::uint64_t> token_generation{0};  // bumped by every login
  Secret token;
  TokenInfo info;
  std::int64_t requested_ttl = 0;  // increment asked for on renewal (the login TTL)
  Next next = Next::None;
  std::atomic<bool> in_health_wait{false};  // one health wait at a time, and no recursion
  steady_clock::time_point next_at{};
  steady_clock::time_point expires_at{};

  [[nodiscard]] bool can_login() const { return std::holds_alternative<AppRoleAuth>(credentials); }

  // One request as the client builds it: a path under /v1/ (query included) and an optional body.
  struct Call {
    HttpMethod method = HttpMethod::Get;
    std::string path;
    const WipingBuffer* body = nullptr;
    bool authenticated = true;
    // True when sending twice is harmless (reads, CAS writes): then an unknown outcome is retried.
    bool idempotent = true;
  };

  milliseconds backoff(int attempt) {
    const auto& retry = config.retry;
    auto delay = retry.initial_backoff;
    for (int i = 1; i < attempt && delay < retry.max_backoff; ++i) {
      delay *= 2;
    }
    delay = std::min(delay, retry.max_backoff);
    // Full jitter over the upper half: [delay/2, delay).
    const auto half = delay.count() / 2;
    const auto jitter = static_cast<std::int64_t>(random.unit() * static_cast<double>(half));
    return milliseconds(half + jitter);
  }

  HttpRequest build(const Call& call) const {
    HttpRequest request;
    request.method = call.method;
    request.url = config.address + "/v1/" + call.path;
    request.timeout = config.request_timeout;
    request.idempotent = call.idempotent;
    request.headers.set("X-Vault-Request", "true");
    if (!config.vault_namespace.empty()) {
      request.headers.set("X-Vault-Namespace", config.vault_namespace);
    }
    if (call.authenticated) {
      std::lock_guard lock(token_mutex);
      if (!token.empty()) {
        request.headers.set("X-Vault-Token", token.reveal());
      }
    }
    if (call.body != nullptr) {
      request.headers.set("Content-Type", "application/json");
      request.body.append(call.body->view());
    }
    return request;
  }

  // Sends with retries: connection failures, 5xx, 429, 412 and "Vault is sealed" (spec §1.6,
  // §3.6 item 7). Returns any HTTP answer that is not retried, including errors.
  Result<HttpResponse> send(const Call& call) {
    auto result = send_retrying(call);
    // After the retries are spent on a server error or a lost connection, ask sys/health once
    // (spec §4): a Vault that got sealed (or lost its active node) meanwhile is waited out, bounded
    // by sealed_max_wait, and an idempotent request is sent once more.
    // (A "Vault is sealed" answer has already been waited out by send_retrying.)
    const bool server_trouble = result ? (result->status >= 500 && result->status != 501 &&
                                          !contains_ci(result->body.view(), "sealed"))
                                       : (result.error().code() == ErrorCode::ConnectFailed ||
                                          result.error().code() == ErrorCode::ConnectionLost ||
                                          result.error().code() == ErrorCode::Timeout);
    if (!server_trouble || !call.idempotent || in_health_wait.load()) {
      return result;
    }
    auto status = health();
    if (!status || (!status->sealed && status->http_status != 474 && status->http_status != 501)) {
      return result;  // Vault says it is fine (or cannot be reached): report the failure as is
    }
    log->warn("vault not ready after failed request path=/v1/{} status={} sealed={}", call.path,
              status->http_status, status->sealed);
    if (in_health_wait.exchange(true)) {
      return result;  // another worker is already waiting Vault out
    }
    auto ready = wait_until_ready();
    in_health_wait = false;
    if (!ready) {
      return result;
    }
    return send_retrying(call);
  }

  Result<HttpResponse> send_retrying(const Call& call) {
    const auto method = to_string(call.method);
    const auto started = clock.monotonic();
    int attempt = 0;
    for (;;) {
      ++attempt;
      const HttpRequest request = build(call);
      auto result = transport.send(request);
      bool retry = false;
      bool sealed = false;
      milliseconds wait{0};
      if (!result) {
        const Outcome outcome = outcome_of(result.error());
        retry = result.error().code() != ErrorCode::TlsFailed &&
                (outcome == Outcome::Rejected || call.idempotent);
        if (!retry || attempt >= config.retry.max_attempts) {
          return fail(Error(result.error().code(), fmt::format("{} /v1/{}", method, call.path))
                          .caused_by(result.error()));
        }
      } else {
        const int status = result->status;
        if (status == 503 && contains_ci(result->body.view(), "sealed")) {
          sealed = true;
          retry = true;
        } else if (status == 429 || status == 412 || status == 503) {
          retry = true;  // nothing was done by Vault
        } else if (status >= 500 && status != 501) {
          retry = call.idempotent;
        }
        if (status == 429) {
          if (auto after = result->headers.get("Retry-After")) {
            std::int64_t secs = 0;
            const auto* end = after->data() + after->size();
            if (std::from_chars(after->data(), end, secs).ec == std::errc() && secs > 0) {
              wait = std::min(milliseconds(seconds(secs)), config.retry.max_backoff);
            }
          }
        }
        if (!retry) {
          return result;
        }
        if (sealed) {
          if (clock.monotonic() - started >= config.retry.sealed_max_wait) {
            return result;
          }
        } else if (attempt >= config.retry.max_attempts) {
          return result;
        }
      }
      if (wait.count() == 0) {
        wait = backoff(attempt);
      }
      log->warn("vault request retried method={} path=/v1/{} attempt={} reason={} wait_ms={}",
                method, call.path, attempt,
                result ? fmt::format("HTTP {}", result->status)
                       : std::string(to_string(result.error().code())),
                wait.count());
      clock.sleep_for(wait);
    }
  }

  // send() plus authentication recovery: a 403 "invalid token" logs in again (AppRole) and
  // retries once. A plain "permission denied" is returned as is: no loop.
  Result<HttpResponse> exchange(const Call& call) {
    const auto generation = token_generation.load();
    auto result = send(call);
    if (!result || result->status != 403 || !call.authenticated || !can_login() ||
        !has_invalid_token(result->body.view())) {
      return result;
    }
    {
      std::lock_guard auth(auth_mutex);
      // Workers that saw the same dead token log in once: the others reuse the new token.
      if (token_generation.load() == generation) {
        log->warn("vault token rejected as invalid, logging in again path=/v1/{}", call.path);
        if (auto login_result = login(); !login_result) {
          return fail(login_result.error());
        }
      }
    }
    return send(call);
  }

  // exchange() and, for a non-2xx answer, the typed error.
  Result<HttpResponse> expect_success(const Call& call) {
    auto result = exchange(call);
    if (!result) {
      return result;
    }
    if (!is_success(result->status)) {
      return fail(error_from_response(to_string(call.method), call.path, *result));
    }
    return result;
  }

  void log_warnings(const json& body, std::string_view path) {
    if (!body.is_object()) {
      return;
    }
    const auto warnings = body.find("warnings");
    if (warnings == body.end() || !warnings->is_array()) {
      return;
    }
    for (const auto& warning : *warnings) {
      if (warning.is_string()) {
        log->warn("vault warning path=/v1/{} warning=\"{}\"", path, to_std(warning));
      }
    }
  }

  // ----- auth -------------------------------------------------------------------------------

  // Sets the renewal schedule from a lease: ~2/3 of the TTL plus a third of a grace period that is
  // a random 10-20% of the TTL (Vault's LifetimeWatcher).
  void schedule(std::int64_t ttl, bool renewable, bool capped) {
    const auto now = clock.monotonic();
    info.ttl_seconds = ttl;
    info.renewable = renewable;
    if (ttl <= 0) {
      next = Next::None;
      return;
    }
    expires_at = now + seconds(ttl);
    const double lease = static_cast<double>(ttl) * 1000.0;
    const double grace = lease * (0.1 + 0.1 * random.unit());
    const auto delay = milliseconds(static_cast<std::int64_t>(lease * 2.0 / 3.0 + grace / 3.0));
    next_at = now + delay;
    if (renewable && !capped) {
      next = Next::Renew;
    } else if (can_login()) {
      next = Next::Relogin;
    } else {
      next = Next::None;
      log->warn("vault token cannot be renewed further and no AppRole is configured ttl_s={}", ttl);
    }
  }

  Result<void> login() {
    const auto& approle = std::get<AppRoleAuth>(credentials);
    WipingBuffer body;
    body.append("{\"role_id\":");
    detail::append_json_string(body, approle.role_id);
    body.append(",\"secret_id\":");
    detail::append_json_string(body, approle.secret_id.reveal());
    body.push_back('}');
    Call call{HttpMethod::Post, "auth/" + config.approle_mount + "/login", &body, false, false};
    // A login must not be retried after an unknown outcome only when secret_id uses are limited;
    // Vault counts a use per successful login, so a lost answer costs one use. Accept that.
    call.idempotent = true;
    auto response = send(call);
    if (!response) {
      return fail(response.error());
    }
    if (!is_success(response->status)) {
      return fail(error_from_response("POST", call.path, *response));
    }
    auto parsed = detail::parse_body(response->body.view());
    if (!parsed) {
      return fail(Error(ErrorCode::BadResponse, "POST /v1/" + call.path).caused_by(parsed.error()));
    }
    return adopt_auth(parsed->get(), call.path, /*from_login=*/true);
  }

  // Takes the auth block of a login or renew-self answer (spec §3.1).
  Result<void> adopt_auth(json& body, const std::string& path, bool from_login) {
    const auto auth = body.find("auth");
    if (auth == body.end() || !auth->is_object()) {
      return fail(ErrorCode::BadResponse, "POST /v1/{}: answer has no auth block", path);
    }
    auto client_token = auth->find("client_token");
    if (client_token == auth->end() || !client_token->is_string() ||
        client_token->get_ref<const detail::WipedString&>().empty()) {
      return fail(ErrorCode::BadResponse, "POST /v1/{}: answer has no client_token", path);
    }
    if (from_login) {
      const auto& text = client_token->get_ref<const detail::WipedString&>();
      std::lock_guard lock(token_mutex);
      token = Secret::from(std::string_view(text.data(), text.size()));
      ++token_generation;
    }
    const auto ttl = detail::get_int(*auth, "lease_duration").value_or(0);
    const bool renewable = detail::get_bool(*auth, "renewable").value_or(false);
    info.policies.clear();
    if (auto policies = auth->find("policies"); policies != auth->end() && policies->is_array()) {
      for (const auto& p : *policies) {
        if (p.is_string()) {
          info.policies.push_back(to_std(p));
        }
      }
    }
    bool capped = false;
    if (from_login) {
      requested_ttl = ttl;
    } else {
      log_warnings(body, path);
      if (auto warnings = body.find("warnings"); warnings != body.end() && warnings->is_array()) {
        for (const auto& w : *warnings) {
          capped = capped || (w.is_string() && contains_ci(to_std(w), "capped"));
        }
      }
      capped = capped || ttl < requested_ttl;
    }
    schedule(ttl, renewable, capped);
    log->info("vault token {} ttl_s={} renewable={} capped={}", from_login ? "obtained" : "renewed",
              ttl, renewable, capped);
    return {};
  }

  Result<void> lookup_self() {
    Call call{HttpMethod::Get, "auth/token/lookup-self"};
    auto response = expect_success(call);
    if (!response) {
      return fail(response.error());
    }
    auto parsed = detail::parse_body(response->body.view());
    if (!parsed) {
      return fail(Error(ErrorCode::BadResponse, "GET /v1/" + call.path).caused_by(parsed.error()));
    }
    const auto& data = member(parsed->get(), "data");
    if (!data.is_object()) {
      return fail(ErrorCode::BadResponse, "GET /v1/{}: answer has no data", call.path);
    }
    const auto ttl = detail::get_int(data, "ttl").value_or(0);
    const auto creation_ttl = detail::get_int(data, "creation_ttl").value_or(ttl);
    requested_ttl = creation_ttl > 0 ? creation_ttl : ttl;
    info.policies.clear();
    if (auto policies = data.find("policies"); policies != data.end() && policies->is_array()) {
      for (const auto& p : *policies) {
        if (p.is_string()) {
          info.policies.push_back(to_std(p));
        }
      }
    }
    schedule(ttl, detail::get_bool(data, "renewable").value_or(false), false);
    log->info("vault token looked up ttl_s={} renewable={}", ttl, info.renewable);
    return {};
  }

  Result<void> renew() {
    WipingBuffer body;
    body.append(fmt::format("{{\"increment\":{}}}", requested_ttl));
    Call call{HttpMethod::Post, "auth/token/renew-self", &body};
    auto response = send(call);  // no re-login loop here: maybe_renew() decides
    if (!response) {
      return fail(response.error());
    }
    if (!is_success(response->status)) {
      return fail(error_from_response("POST", call.path, *response));
    }
    auto parsed = detail::parse_body(response->body.view());
    if (!parsed) {
      return fail(Error(ErrorCode::BadResponse, "POST /v1/" + call.path).caused_by(parsed.error()));
    }
    return adopt_auth(parsed->get(), call.path, /*from_login=*/false);
  }

  // ----- health -----------------------------------------------------------------------------

  Result<HealthStatus> health() {
    auto& s = *this;
    HttpRequest request;
    request.method = HttpMethod::Get;
    request.url = s.config.address + "/v1/sys/health";
    request.timeout = s.config.request_timeout;
    request.idempotent = true;
    request.headers.set("X-Vault-Request", "true");
    if (!s.config.vault_namespace.empty()) {
      request.headers.set("X-Vault-Namespace", s.config.vault_namespace);
    }
    auto response = s.transport.send(request);
    if (!response) {
      return fail(Error(response.error().code(), "GET /v1/sys/health").caused_by(response.error()));
    }
    HealthStatus status;
    status.http_status = response->status;
    auto parsed = detail::parse_body(response->body.view());
    if (parsed && parsed->get().is_object()) {
      const auto& body = parsed->get();
      status.initialized = detail::get_bool(body, "initialized").value_or(false);
      status.sealed = detail::get_bool(body, "sealed").value_or(false);
      status.standby = detail::get_bool(body, "standby").value_or(false);
      status.performance_standby = detail::get_bool(body, "performance_standby").value_or(false);
      status.version = detail::get_string(body, "version").value_or("");
      status.cluster_name = detail::get_string(body, "cluster_name").value_or("");
    } else if (response->status == 503) {
      status.sealed = true;
    }
    return status;
  }

  Result<HealthStatus> wait_until_ready() {
    auto& s = *this;
    const auto started = s.clock.monotonic();
    int attempt = 0;
    for (;;) {
      ++attempt;
      auto status = health();
      std::string why;
      if (status) {
        switch (status->http_status) {
          case 200:  // active
          case 429:  // standby: forwards requests to the active node
          case 473:  // performance standby: serves reads, forwards writes
            if (!status->sealed) {
              if (status->http_status != 200) {
                s.log->info("vault node is a standby status={} performance_standby={}",
                            status->http_status, status->performance_standby);
              }
              return status;
            }
            why = "sealed";
            break;
          case 472:
            return fail(
                Error(ErrorCode::ServiceUnavailable,
                      "GET /v1/sys/health: HTTP 472 node is a DR secondary and cannot serve")
                    .with_http(472));
          case 530:
            return fail(Error(ErrorCode::ServiceUnavailable,
                              "GET /v1/sys/health: HTTP 530 node was removed from the cluster")
                            .with_http(530));
          case 501: why = "not initialized"; break;
          case 503: why = "sealed"; break;
          case 474: why = "standby without a healthy active node"; break;
          default: why = fmt::format("HTTP {}", status->http_status);
        }
      } else if (status.error().code() == ErrorCode::TlsFailed) {
        return fail(status.error());
      } else {
        why = std::string(to_string(status.error().code()));
      }
      const auto elapsed = s.clock.monotonic() - started;
      if (elapsed >= s.config.retry.sealed_max_wait) {
        Error error(ErrorCode::ServiceUnavailable,
                    fmt::format("GET /v1/sys/health: Vault not ready ({}) after {} s", why,
                                std::chrono::duration_cast<seconds>(elapsed).count()));
        if (status) {
          error.with_http(status->http_status);
        } else {
          error.caused_by(status.error());
        }
        return fail(std::move(error));
      }
      const auto wait = s.backoff(attempt);
      s.log->warn("vault not ready, waiting reason=\"{}\" attempt={} wait_ms={}", why, attempt,
                  wait.count());
      s.clock.sleep_for(wait);
    }
  }

  // ----- KV -----------------------------------------------------------------------------------

  std::string kv(std::string_view area, std::string_view path) const {
    return config.kv_mount + "/" + std::string(area) + "/" + encode_path(path);
  }

  bool sensitive(std::string_view field) const {
    return std::any_of(config.sensitive_field_markers.begin(), config.sensitive_field_markers.end(),
                       [&](const std::string& marker) { return contains_ci(field, marker); });
  }
};

// ---------------------------------------------------------------------------------------------
// VaultClient

VaultClient::VaultClient(VaultConfig config, Credentials credentials, HttpTransport& transport,
                         Clock& clock, Random& random)
    : state_(std::make_unique<State>(std::move(config), std::move(credentials), transport, clock,
                                     random)) {}

VaultClient::~VaultClient() = default;

Result<void> VaultClient::start() {
  auto& s = *state_;
  std::lock_guard auth(s.auth_mutex);
  if (auto valid = validate(s.config); !valid) {
    return fail(valid.error());
  }
  if (auto ready = wait_until_ready(); !ready) {
    return fail(ready.error());
  }
  if (s.can_login()) {
    if (auto login = s.login(); !login) {
      return fail(login.error());
    }
  }
  // lookup-self even after a login: it proves the token works and reads its TTL and policies.
  if (auto looked = s.lookup_self(); !looked) {
    return fail(looked.error());
  }
  return require_kv_v2();
}

Result<void> VaultClient::maybe_renew() {
  auto& s = *state_;
  std::lock_guard auth(s.auth_mutex);
  if (s.next == State::Next::None) {
    return {};
  }
  const auto now = s.clock.monotonic();
  if (now < s.next_at) {
    return {};
  }
  if (s.next == State::Next::Relogin || (now >= s.expires_at && s.can_login())) {
    return s.login();
  }
  auto renewed = s.renew();
  if (renewed) {
    return {};
  }
  const auto& error = renewed.error();
  if (error.code() == ErrorCode::Unauthorized && s.can_login()) {
    s.log->warn("vault token renewal refused, logging in again error=\"{}\"", error.to_string());
    return s.login();
  }
  if (error.http_status() == 400 && s.can_login()) {
    // "lease is not renewable", "past the max TTL, cannot renew": only a new login helps.
    return s.login();
  }
  // Transient: try again after a third of the remaining lifetime (at least a second).
  const auto remaining = s.expires_at - now;
  s.next_at = now + std::max<steady_clock::duration>(seconds(1), remaining / 3);
  if (now >= s.expires_at && s.can_login()) {
    return s.login();
  }
  return fail(error);
}

std::optional<steady_clock::time_point> VaultClient::next_renewal() const {
  if (state_->next == State::Next::None) {
    return std::nullopt;
  }
  return state_->next_at;
}

const TokenInfo& VaultClient::token_info() const noexcept {
  return state_->info;
}

Result<HealthStatus> VaultClient::health() {
  return state_->health();
}

Result<HealthStatus> VaultClient::wait_until_ready() {
  return state_->wait_until_ready();
}

Result<MountInfo> VaultClient::mount_info(const std::string& mount) {
  auto& s = *state_;
  const std::string name = mount.empty() ? s.config.kv_mount : mount;
  State::Call call{HttpMethod::Get, "sys/internal/ui/mounts/" + encode_path(name)};
  auto response = s.exchange(call);
  if (!response) {
    return fail(response.error());
  }
  MountInfo info;
  info.path = name + "/";
  if (response->status == 404) {
    // Vault before sys/internal/ui/mounts existed had only KV v1 semantics here (spec §2.11).
    info.type = "kv";
    info.version = KvVersion::V1;
    return info;
  }
  if (!is_success(response->status)) {
    auto error = error_from_response("GET", call.path, *response);
    if (error.code() == ErrorCode::PermissionDenied) {
      return fail(Error(ErrorCode::PermissionDenied,
                        fmt::format("cannot inspect KV mount '{}': the token has no capability "
                                    "under it, or it is not a mount",
                                    name))
                      .with_http(error.http_status(), error.remote_code())
                      .caused_by(error));
    }
    return fail(std::move(error));
  }
  auto parsed = detail::parse_body(response->body.view());
  if (!parsed) {
    return fail(Error(ErrorCode::BadResponse, "GET /v1/" + call.path).caused_by(parsed.error()));
  }
  const auto& data = member(parsed->get(), "data");
  info.type = detail::get_string(data, "type").value_or("");
  if (auto path = detail::get_string(data, "path")) {
    info.path = *path;
  }
  std::string version;
  if (data.is_object()) {
    if (auto options = data.find("options"); options != data.end() && options->is_object()) {
      version = detail::get_string(*options, "version").value_or("");
    }
  }
  info.version = version == "2" ? KvVersion::V2 : KvVersion::V1;
  return info;
}

Result<void> VaultClient::require_kv_v2(const std::string& mount) {
  auto info = mount_info(mount);
  if (!info) {
    return fail(info.error());
  }
  if (info->type != "kv" && !info->type.empty()) {
    return fail(ErrorCode::Unsupported, "mount '{}' is of type '{}', not a KV secrets engine",
                info->path, info->type);
  }
  if (info->version != KvVersion::V2) {
    return fail(
        ErrorCode::Unsupported,
        "KV mount '{}' is version 1: rotation needs KV version 2 (check-and-set and "
        "versions); upgrade it with 'vault kv enable-versioning {}' or configure a v2 mount",
        info->path, info->path);
  }
  return {};
}

Result<KvSecret> VaultClient::read(const std::string& path, std::optional<std::uint64_t> version) {
  auto& s = *state_;
  if (auto ok = check_path(path, false); !ok) {
    return fail(ok.error());
  }
  State::Call call{HttpMethod::Get, s.kv("data", path)};
  if (version) {
    call.path += fmt::format("?version={}", *version);
  }
  auto response = s.exchange(call);
  if (!response) {
    return fail(response.error());
  }
  if (!is_success(response->status) && response->status != 404) {
    return fail(error_from_response("GET", call.path, *response));
  }
  auto parsed = detail::parse_body(response->body.view());
  if (!parsed) {
    return fail(Error(ErrorCode::BadResponse, "GET /v1/" + call.path).caused_by(parsed.error()));
  }
  json& body = parsed->get();
  json* data = nullptr;
  if (body.is_object()) {
    if (auto found = body.find("data"); found != body.end() && found->is_object()) {
      data = &*found;
    }
  }
  const json* metadata = nullptr;
  if (data != nullptr) {
    if (auto found = data->find("metadata"); found != data->end() && found->is_object()) {
      metadata = &*found;
    }
  }
  if (response->status == 404 && metadata == nullptr) {
    auto error = error_from_response("GET", call.path, *response);
    return fail(Error(ErrorCode::NotFound,
                      version
                          ? fmt::format("no version {} of secret '{}' in mount '{}'", *version,
                                        path, s.config.kv_mount)
                          : fmt::format("no secret '{}' in mount '{}'", path, s.config.kv_mount))
                    .with_http(404, error.remote_code())
                    .caused_by(error));
  }
  if (metadata == nullptr) {
    return fail(ErrorCode::BadResponse, "GET /v1/{}: answer has no data.metadata", call.path);
  }
  KvSecret secret;
  secret.version = as_u64(detail::get_int(*metadata, "version"));
  secret.created_time = detail::get_string(*metadata, "created_time").value_or("");
  secret.deletion_time = detail::get_string(*metadata, "deletion_time").value_or("");
  secret.destroyed = detail::get_bool(*metadata, "destroyed").value_or(false);
  secret.deleted = !secret.destroyed && !secret.deletion_time.empty() && response->status == 404;
  if (auto custom = metadata->find("custom_metadata"); custom != metadata->end()) {
    secret.custom_metadata = string_map(*custom);
  }
  if (auto fields = data->find("data"); fields != data->end() && fields->is_object()) {
    for (auto& [wiped_key, value] : fields->items()) {
      const std::string key = to_std(wiped_key);
      if (!s.sensitive(key)) {
        secret.data.plain.emplace(key, to_std(value));
      } else if (value.is_string()) {
        const auto& text = value.get_ref<const detail::WipedString&>();
        secret.data.secrets.emplace(key, Secret::from(std::string_view(text.data(), text.size())));
      } else {
        auto dumped = value.dump();  // a WipedString: wiped when released
        secret.data.secrets.emplace(key,
                                    Secret::from(std::string_view(dumped.data(), dumped.size())));
        secure_wipe(dumped.data(), dumped.size());
      }
    }
  }
  if (response->status == 404 && !secret.deleted && !secret.destroyed) {
    return fail(
        Error(ErrorCode::NotFound, fmt::format("GET /v1/{}: HTTP 404", call.path)).with_http(404));
  }
  return secret;
}

Result<KvWriteResult> VaultClient::write(const std::string& path, const KvData& data, Cas cas) {
  auto& s = *state_;
  if (auto ok = check_path(path, false); !ok) {
    return fail(ok.error());
  }
  WipingBuffer body;
  body.append("{");
  if (cas.version) {
    body.append(fmt::format("\"options\":{{\"cas\":{}}},", *cas.version));
  }
  body.append("\"data\":{");
  bool first = true;
  for (const auto& [key, value] : data.secrets) {
    if (!first) {
      body.push_back(',');
    }
    first = false;
    detail::append_json_string(body, key);
    body.push_back(':');
    detail::append_json_string(body, value.reveal());
  }
  for (const auto& [key, value] : data.plain) {
    if (data.secrets.count(key) != 0) {
      return fail(ErrorCode::InvalidArgument, "field '{}' is both secret and plain", key);
    }
    if (!first) {
      body.push_back(',');
    }
    first = false;
    detail::append_json_string(body, key);
    body.push_back(':');
    detail::append_json_string(body, value);
  }
  body.append("}}");
  // A CAS write sent twice cannot apply twice (the second gets a conflict): safe to retry.
  State::Call call{HttpMethod::Post, s.kv("data", path), &body, true, cas.version.has_value()};
  auto response = s.expect_success(call);
  if (!response) {
    return fail(response.error());
  }
  auto parsed = detail::parse_body(response->body.view());
  if (!parsed) {
    return fail(Error(ErrorCode::BadResponse, "POST /v1/" + call.path).caused_by(parsed.error()));
  }
  s.log_warnings(parsed->get(), call.path);
  const auto& meta = member(parsed->get(), "data");
  KvWriteResult result;
  result.version = as_u64(detail::get_int(meta, "version"));
  result.created_time = detail::get_string(meta, "created_time").value_or("");
  if (result.version == 0) {
    return fail(ErrorCode::BadResponse, "POST /v1/{}: answer has no data.version", call.path);
  }
  s.log->debug("vault secret written path=/v1/{} version={}", call.path, result.version);
  return result;
}

Result<KvMetadata> VaultClient::read_metadata(const std::string& path) {
  auto& s = *state_;
  if (auto ok = check_path(path, false); !ok) {
    return fail(ok.error());
  }
  State::Call call{HttpMethod::Get, s.kv("metadata", path)};
  auto response = s.exchange(call);
  if (!response) {
    return fail(response.error());
  }
  if (response->status == 404) {
    auto error = error_from_response("GET", call.path, *response);
    return fail(Error(ErrorCode::NotFound, fmt::format("no metadata for secret '{}' in mount '{}'",
                                                       path, s.config.kv_mount))
                    .with_http(404, error.remote_code())
                    .caused_by(error));
  }
  if (!is_success(response->status)) {
    return fail(error_from_response("GET", call.path, *response));
  }
  auto parsed = detail::parse_body(response->body.view());
  if (!parsed) {
    return fail(Error(ErrorCode::BadResponse, "GET /v1/" + call.path).caused_by(parsed.error()));
  }
  const auto& data = member(parsed->get(), "data");
  if (!data.is_object()) {
    return fail(ErrorCode::BadResponse, "GET /v1/{}: answer has no data", call.path);
  }
  KvMetadata meta;
  meta.current_version = as_u64(detail::get_int(data, "current_version"));
  meta.oldest_version = as_u64(detail::get_int(data, "oldest_version"));
  meta.max_versions = as_u64(detail::get_int(data, "max_versions"));
  meta.cas_required = detail::get_bool(data, "cas_required").value_or(false);
  meta.created_time = detail::get_string(data, "created_time").value_or("");
  meta.updated_time = detail::get_string(data, "updated_time").value_or("");
  meta.delete_version_after = detail::get_string(data, "delete_version_after").value_or("");
  if (auto custom = data.find("custom_metadata"); custom != data.end()) {
    meta.custom_metadata = string_map(*custom);
  }
  if (auto versions = data.find("versions"); versions != data.end() && versions->is_object()) {
    for (const auto& [key, value] : versions->items()) {
      std::uint64_t number = 0;
      if (std::from_chars(key.data(), key.data() + key.size(), number).ec != std::errc()) {
        continue;
      }
      KvVersionInfo version;
      version.created_time = detail::get_string(value, "created_time").value_or("");
      version.deletion_time = detail::get_string(value, "deletion_time").value_or("");
      version.destroyed = detail::get_bool(value, "destroyed").value_or(false);
      meta.versions.emplace(number, std::move(version));
    }
  }
  return meta;
}

Result<void> VaultClient::write_metadata(const std::string& path, const KvMetadataUpdate& update) {
  auto& s = *state_;
  if (auto ok = check_path(path, false); !ok) {
    return fail(ok.error());
  }
  nlohmann::json body = nlohmann::json::object();
  if (update.max_versions) {
    body["max_versions"] = *update.max_versions;
  }
  if (update.cas_required) {
    body["cas_required"] = *update.cas_required;
  }
  if (update.delete_version_after) {
    body["delete_version_after"] = *update.delete_version_after;
  }
  if (update.custom_metadata) {
    body["custom_metadata"] = *update.custom_metadata;
  }
  WipingBuffer buffer(body.dump());
  State::Call call{HttpMethod::Post, s.kv("metadata", path), &buffer};
  auto response = s.expect_success(call);
  if (!response) {
    return fail(response.error());
  }
  if (auto parsed = detail::parse_body(response->body.view())) {
    s.log_warnings(parsed->get(), call.path);
  }
  return {};
}

Result<std::vector<std::string>> VaultClient::list(const std::string& folder) {
  std::vector<std::string> keys;
  auto listed = list_each(folder, [&keys](std::string_view key) { keys.emplace_back(key); });
  if (!listed) {
    return fail(listed.error());
  }
  return keys;
}

Result<void> VaultClient::list_each(const std::string& folder,
                                    const std::function<void(std::string_view key)>& on_key) {
  auto& s = *state_;
  if (auto ok = check_path(folder, true); !ok) {
    return fail(ok.error());
  }
  std::string path = folder;
  if (!path.empty() && path.back() != '/') {
    path += '/';
  }
  State::Call call{HttpMethod::Get, s.kv("metadata", path) + "?list=true"};
  auto response = s.exchange(call);
  if (!response) {
    return fail(response.error());
  }
  if (response->status == 404) {
    return {};  // nothing under the folder (spec §2.7)
  }
  if (!is_success(response->status)) {
    return fail(error_from_response("GET", call.path, *response));
  }
  // Read from the parser's events, not a document: a folder of 100,000 records is a ~4 MB
  // answer whose document took several times that, on top of the keys. The same checks and
  // errors as parse_body; the same keys as the document's data.keys.
  const std::string_view body = response->body.view();
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return {};
  }
  const auto bad = [&](Error cause) {
    return fail(Error(ErrorCode::BadResponse, "GET /v1/" + call.path).caused_by(std::move(cause)));
  };
  if (nested_deeper_than(body, kMaxJsonDepth)) {
    return bad(Error(
        ErrorCode::BadResponse,
        fmt::format("body nests deeper than {} levels ({} bytes)", kMaxJsonDepth, body.size())));
  }
  ListKeysReader check;
  if (!parse_list(body, check)) {
    return bad(
        Error(ErrorCode::BadResponse, fmt::format("body is not JSON ({} bytes)", body.size())));
  }
  if (check.target().keys == 0) {
    return {};  // no data.keys array
  }
  ListKeysReader hand_over(check.target(), on_key);
  (void)parse_list(body, hand_over);  // the same text: it parsed once
  return {};
}

Result<void> VaultClient::soft_delete(const std::string& path) {
  auto& s = *state_;
  if (auto ok = check_path(path, false); !ok) {
    return fail(ok.error());
  }
  State::Call call{HttpMethod::Delete, s.kv("data", path)};
  auto response = s.expect_success(call);
  if (!response) {
    return fail(response.error());
  }
  return {};
}

}  // namespace rotor::vault
