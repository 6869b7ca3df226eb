#pragma once
// An HttpTransport for unit tests: answers from a script (queued replies, or a handler), and
// records every request it was given so that tests can assert on method, URL, headers and body.

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/http.h"

namespace rotor::testing {

struct RecordedRequest {
  HttpMethod method = HttpMethod::Get;
  std::string url;
  std::vector<HttpHeader> headers;
  std::string body;
  bool idempotent = false;
  [[nodiscard]] std::string header(std::string_view name) const;
};

class ScriptedTransport final : public HttpTransport {
 public:
  using Handler = std::function<Result<HttpResponse>(const HttpRequest&)>;

  // Queues an HTTP answer.
  void reply(int status, std::string body = {}, std::vector<HttpHeader> headers = {});
  // Queues a transport failure (no HTTP answer), e.g. Error(ErrorCode::Timeout, "...").
  void fail_with(Error error);
  // Answers every request with no queued reply through `handler`.
  void on_request(Handler handler);

  Result<HttpResponse> send(const HttpRequest& request) override;

  [[nodiscard]] std::vector<RecordedRequest> requests() const;
  [[nodiscard]] std::size_t queued() const;

 private:
  mutable std::mutex mutex_;
  std::deque<Handler> script_;
  Handler fallback_;
  std::vector<RecordedRequest> requests_;
};

// Builds a response, for handlers.
HttpResponse make_response(int status, std::string_view body = {},
                           const std::vector<HttpHeader>& headers = {});

}  // namespace rotor::testing
