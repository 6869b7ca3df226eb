#include "http/curl_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include "common/log.h"

namespace rotor::http {

namespace {

void ensure_curl_global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("libcurl global initialisation failed");
    }
  });
}

struct EasyDeleter {
  void operator()(CURL* handle) const noexcept { curl_easy_cleanup(handle); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct MultiDeleter {
  void operator()(CURLM* handle) const noexcept { curl_multi_cleanup(handle); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

// Header lists may carry a token or a signature: wipe each line before libcurl frees it.
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept {
    for (curl_slist* item = list; item != nullptr; item = item->next) {
      if (item->data != nullptr) {
        secure_wipe(item->data, std::char_traits<char>::length(item->data));
      }
    }
    curl_slist_free_all(list);
  }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

bool append_line(Slist& list, std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  secure_wipe(line);
  if (grown == nullptr) {
    return false;
  }
  (void)list.release();
  list.reset(grown);
  return true;
}

bool has_crlf(std::string_view text) {
  return text.find_first_of("\r\n") != std::string_view::npos;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// One request in flight: the response being filled and everything libcurl points at.
struct Transfer {
  const HttpRequest* request = nullptr;
  std::size_t index = 0;
  EasyHandle handle;
  Slist headers;
  HttpResponse response;
  std::size_t cap = 0;
  bool too_large = false;
  std::array<char, CURL_ERROR_SIZE> errbuf{};
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (transfer->response.body.size() + bytes > transfer->cap) {
    transfer->too_large = true;
    transfer->response.body.clear();
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  transfer->response.body.append(std::string_view(data, bytes));
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  const std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 100 Continue, say): forget the headers seen so far.
    HttpHeaders fresh;
    std::swap(transfer->response.headers, fresh);
    return bytes;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    transfer->response.headers.add(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return bytes;
}

curl_off_t info_time(CURL* handle, CURLINFO what) {
  curl_off_t value = 0;
  if (curl_easy_getinfo(handle, what, &value) != CURLE_OK) {
    return 0;
  }
  return value;
}

long info_long(CURL* handle, CURLINFO what) {  // NOLINT(google-runtime-int): libcurl's type
  long value = 0;                              // NOLINT(google-runtime-int)
  if (curl_easy_getinfo(handle, what, &value) != CURLE_OK) {
    return 0;
  }
  return value;
}

ErrorCode classify(CURLcode code, const Transfer& transfer) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PROXY: return ErrorCode::ConnectFailed;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED: return ErrorCode::TlsFailed;
    case CURLE_OPERATION_TIMEDOUT: {
      // Nothing reached the peer unless a request line was written on an established connection.
      CURL* handle = transfer.handle.get();
      const bool sent = info_long(handle, CURLINFO_REQUEST_SIZE) > 0;
      if (sent) {
        return ErrorCode::Timeout;
      }
      if (info_time(handle, CURLINFO_CONNECT_TIME_T) == 0) {
        return ErrorCode::ConnectFailed;
      }
      const bool https = std::string_view(transfer.request->url).starts_with("https:");
      if (https && info_time(handle, CURLINFO_APPCONNECT_TIME_T) == 0) {
        return ErrorCode::TlsFailed;
      }
      return ErrorCode::Timeout;
    }
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return ErrorCode::ConnectionLost;
    case CURLE_FILESIZE_EXCEEDED: return ErrorCode::ResponseTooLarge;
    case CURLE_WRITE_ERROR:
      return transfer.too_large ? ErrorCode::ResponseTooLarge : ErrorCode::TransportFailed;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT: return ErrorCode::InvalidArgument;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING: return ErrorCode::BadResponse;
    default: return ErrorCode::TransportFailed;
  }
}

}  // namespace

class CurlTransport::Impl {
 public:
  explicit Impl(CurlOptions options) : options_(std::move(options)) {
    ensure_curl_global_init();
    for (const auto& entry : options_.resolve) {
      std::string line = entry;
      if (!append_line(resolve_, line)) {
        throw std::runtime_error("libcurl: cannot build the resolve list");
      }
    }
    multi_.reset(curl_multi_init());
    if (!multi_) {
      throw std::runtime_error("libcurl: cannot create a multi handle");
    }
    curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS,
                      static_cast<long>(options_.max_in_flight));  // NOLINT(google-runtime-int)
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    // Easy handles must leave the multi handle before either is cleaned up; none are attached here.
    idle_.clear();
  }

  Result<HttpResponse> send(const HttpRequest& request) {
    auto transfer = start(request, 0);
    if (!transfer) {
      return tl::unexpected<Error>(std::move(transfer).error());
    }
    const CURLcode code = curl_easy_perform((*transfer)->handle.get());
    return finish(**transfer, code);
  }

  std::vector<Result<HttpResponse>> send_all(std::span<const HttpRequest> requests) {
    std::lock_guard multi_lock(multi_mutex_);
    std::vector<std::optional<Result<HttpResponse>>> results(requests.size());
    std::map<CURL*, std::unique_ptr<Transfer>> active;
    std::size_t next = 0;
    std::size_t done = 0;
    const std::size_t bound = std::max<std::size_t>(1, options_.max_in_flight);
    while (done < requests.size()) {
      while (active.size() < bound && next < requests.size()) {
        const std::size_t index = next++;
        auto transfer = start(requests[index], index);
        if (!transfer) {
          results[index] = tl::unexpected<Error>(std::move(transfer).error());
          ++done;
          continue;
        }
        CURL* handle = (*transfer)->handle.get();
        if (curl_multi_add_handle(multi_.get(), handle) != CURLM_OK) {
          results[index] = fail(ErrorCode::TransportFailed, "{}: cannot add to the multi handle",
                                requests[index].describe());
          release(std::move((*transfer)->handle));
          ++done;
          continue;
        }
        active.emplace(handle, std::move(*transfer));
      }
      if (active.empty()) {
        continue;
      }
      int running = 0;
      curl_multi_perform(multi_.get(), &running);
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi_.get(), &queued)) {
        if (message->msg != CURLMSG_DONE) {
          continue;
        }
        CURL* handle = message->easy_handle;
        const CURLcode code = message->data.result;
        auto found = active.find(handle);
        if (found == active.end()) {
          continue;
        }
        curl_multi_remove_handle(multi_.get(), handle);
        std::unique_ptr<Transfer> transfer = std::move(found->second);
        active.erase(found);
        results[transfer->index] = finish(*transfer, code);
        ++done;
      }
      if (!active.empty() && running > 0) {
        curl_multi_poll(multi_.get(), nullptr, 0, 500, nullptr);
      }
    }
    std::vector<Result<HttpResponse>> out;
    out.reserve(results.size());
    for (auto& result : results) {
      out.push_back(std::move(*result));
    }
    return out;
  }

  [[nodiscard]] const CurlOptions& options() const noexcept { return options_; }

 private:
  Result<EasyHandle> acquire() {
    {
      std::lock_guard lock(pool_mutex_);
      if (!idle_.empty()) {
        EasyHandle handle = std::move(idle_.back());
        idle_.pop_back();
        return handle;
      }
    }
    EasyHandle handle(curl_easy_init());
    if (!handle) {
      return fail(ErrorCode::TransportFailed, "libcurl: cannot create an easy handle");
    }
    return handle;
  }

  void release(EasyHandle handle) {
    if (!handle) {
      return;
    }
    std::lock_guard lock(pool_mutex_);
    if (idle_.size() < options_.max_idle_handles) {
      idle_.push_back(std::move(handle));
    }
  }

  // Takes a pooled handle and sets every option for `request`.
  Result<std::unique_ptr<Transfer>> start(const HttpRequest& request, std::size_t index) {
    auto transfer = std::make_unique<Transfer>();
    transfer->request = &request;
    transfer->index = index;
    transfer->cap = options_.max_response_bytes;
    auto handle = acquire();
    if (!handle) {
      return tl::unexpected<Error>(std::move(handle).error());
    }
    transfer->handle = std::move(*handle);
    if (auto configured = configure(*transfer); !configured) {
      release(std::move(transfer->handle));
      return tl::unexpected<Error>(std::move(configured).error());
    }
    return transfer;
  }

  Result<void> configure(Transfer& transfer) {
    const HttpRequest& request = *transfer.request;
    CURL* h = transfer.handle.get();
    // Keeps live connections, DNS and TLS session caches; forgets every option.
    curl_easy_reset(h);
    if (!request.url.starts_with("https://") && !request.url.starts_with("http://")) {
      return fail(ErrorCode::InvalidArgument, "{}: only http and https URLs are allowed",
                  request.describe());
    }
    bool ok = true;
    auto set = [&ok](CURLcode code) { ok = ok && code == CURLE_OK; };
    set(curl_easy_setopt(h, CURLOPT_URL, request.url.c_str()));
    set(curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https"));
    set(curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
    set(curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L));
    set(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L));
    set(curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L));
    // libcurl silently re-sends a request whose reused connection died before any answer byte,
    // even when the peer may already have acted on it. Harmless for idempotent requests; for the
    // others a fresh connection makes that failure visible (ConnectionLost, outcome Unknown).
    const bool repeatable = request.idempotent || request.method == HttpMethod::Get ||
                            request.method == HttpMethod::Head ||
                            request.method == HttpMethod::List;
    if (!repeatable) {
      set(curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L));
    }
    const auto timeout = request.timeout.count() > 0 ? request.timeout : options_.default_timeout;
    set(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(options_.connect_timeout.count())));        // NOLINT
    set(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count())));  // NOLINT
    set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L));
    set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L));
    if (!options_.ca_file.empty()) {
      set(curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str()));
    }
    if (options_.proxy) {
      set(curl_easy_setopt(h, CURLOPT_PROXY, options_.proxy->c_str()));
    }
    if (resolve_) {
      set(curl_easy_setopt(h, CURLOPT_RESOLVE, resolve_.get()));
    }
    set(curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str()));
    set(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                         static_cast<curl_off_t>(options_.max_response_bytes)));
    set(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body));
    set(curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer));
    set(curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header));
    set(curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer));
    set(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, transfer.errbuf.data()));
    set(curl_easy_setopt(h, CURLOPT_PRIVATE, &transfer));

    // The body is not copied by libcurl (POSTFIELDS, not COPYPOSTFIELDS): it stays in the
    // request's wiping buffer.
    const char* body = request.body.empty() ? "" : request.body.data();
    const auto body_size = static_cast<curl_off_t>(request.body.size());
    switch (request.method) {
      case HttpMethod::Get: set(curl_easy_setopt(h, CURLOPT_HTTPGET, 1L)); break;
      case HttpMethod::Head: set(curl_easy_setopt(h, CURLOPT_NOBODY, 1L)); break;
      case HttpMethod::Post:
      case HttpMethod::Put:
      case HttpMethod::Patch:
        set(curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, to_string(request.method).data()));
        set(curl_easy_setopt(h, CURLOPT_POSTFIELDS, body));
        set(curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, body_size));
        break;
      case HttpMethod::Delete:
      case HttpMethod::List:
        set(curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, to_string(request.method).data()));
        if (!request.body.empty()) {
          set(curl_easy_setopt(h, CURLOPT_POSTFIELDS, body));
          set(curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, body_size));
        }
        break;
    }

    Slist headers;
    bool content_type = false;
    for (const auto& header : request.headers.all()) {
      if (header.name.empty() || has_crlf(header.name) || has_crlf(header.value) ||
          header.name.find(':') != std::string::npos) {
        return fail(ErrorCode::InvalidArgument, "{}: malformed header '{}'", request.describe(),
                    header.name);
      }
      content_type = content_type || (header.name.size() == 12 &&
                                      curl_strnequal(header.name.c_str(), "Content-Type", 12) != 0);
      std::string line =
          header.value.empty() ? header.name + ";" : header.name + ": " + header.value;
      if (!append_line(headers, line)) {
        return fail(ErrorCode::TransportFailed, "{}: cannot build the header list",
                    request.describe());
      }
    }
    std::string no_expect = "Expect:";
    ok = ok && append_line(headers, no_expect);
    if (!content_type) {
      std::string no_type = "Content-Type:";
      ok = ok && append_line(headers, no_type);
    }
    transfer.headers = std::move(headers);
    set(curl_easy_setopt(h, CURLOPT_HTTPHEADER, transfer.headers.get()));
    if (!ok) {
      return fail(ErrorCode::TransportFailed, "{}: libcurl refused an option", request.describe());
    }
    return {};
  }

  Result<HttpResponse> finish(Transfer& transfer, CURLcode code) {
    CURL* h = transfer.handle.get();
    Result<HttpResponse> result;
    if (code == CURLE_OK) {
      transfer.response.status = static_cast<int>(info_long(h, CURLINFO_RESPONSE_CODE));
      result = std::move(transfer.response);
    } else {
      const ErrorCode error_code = classify(code, transfer);
      const std::string_view detail(transfer.errbuf.data());
      if (error_code == ErrorCode::ResponseTooLarge) {
        result = fail(error_code, "{}: response larger than {} bytes", transfer.request->describe(),
                      transfer.cap);
      } else {
        result = fail(error_code, "{}: {}{}{}", transfer.request->describe(),
                      curl_easy_strerror(code), detail.empty() ? "" : ": ", detail);
      }
      transfer.response.body.clear();
    }
    // Detach everything that points into the transfer before the handle is pooled.
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    release(std::move(transfer.handle));
    return result;
  }

  CurlOptions options_;
  Slist resolve_;
  std::mutex pool_mutex_;
  std::vector<EasyHandle> idle_;
  std::mutex multi_mutex_;
  MultiHandle multi_;
};

CurlTransport::CurlTransport(CurlOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

CurlTransport::~CurlTransport() = default;

Result<HttpResponse> CurlTransport::send(const HttpRequest& request) {
  return impl_->send(request);
}

std::vector<Result<HttpResponse>> CurlTransport::send_all(std::span<const HttpRequest> requests) {
  return impl_->send_all(requests);
}

const CurlOptions& CurlTransport::options() const noexcept {
  return impl_->options();
}

}  // namespace rotor::http
