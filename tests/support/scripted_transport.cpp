#include "tests/support/scripted_transport.h"

#include <gtest/gtest.h>

namespace rotor::testing {

std::string RecordedRequest::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name.size() == name.size() &&
        std::equal(h.name.begin(), h.name.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return h.value;
    }
  }
  return {};
}

HttpResponse make_response(int status, std::string_view body,
                           const std::vector<HttpHeader>& headers) {
  HttpResponse response;
  response.status = status;
  response.body.append(body);
  for (const auto& h : headers) {
    response.headers.add(h.name, h.value);
  }
  return response;
}

void ScriptedTransport::reply(int status, std::string body, std::vector<HttpHeader> headers) {
  std::lock_guard lock(mutex_);
  script_.push_back([status, body = std::move(body),
                     headers = std::move(headers)](const HttpRequest&) -> Result<HttpResponse> {
    return make_response(status, body, headers);
  });
}

void ScriptedTransport::fail_with(Error error) {
  std::lock_guard lock(mutex_);
  script_.push_back([error = std::move(error)](const HttpRequest&) -> Result<HttpResponse> {
    return tl::unexpected<Error>(error);
  });
}

void ScriptedTransport::on_request(Handler handler) {
  std::lock_guard lock(mutex_);
  fallback_ = std::move(handler);
}

Result<HttpResponse> ScriptedTransport::send(const HttpRequest& request) {
  Handler handler;
  {
    std::lock_guard lock(mutex_);
    RecordedRequest recorded;
    recorded.method = request.method;
    recorded.url = request.url;
    for (const auto& h : request.headers.all()) {
      recorded.headers.push_back(h);
    }
    recorded.body = std::string(request.body.view());
    recorded.idempotent = request.idempotent;
    requests_.push_back(std::move(recorded));
    if (!script_.empty()) {
      handler = std::move(script_.front());
      script_.pop_front();
    } else {
      handler = fallback_;
    }
  }
  if (!handler) {
    ADD_FAILURE() << "ScriptedTransport: unexpected request " << request.describe();
    return fail(ErrorCode::Internal, "no scripted reply for {}", request.describe());
  }
  return handler(request);
}

std::vector<RecordedRequest> ScriptedTransport::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t ScriptedTransport::queued() const {
  std::lock_guard lock(mutex_);
  return script_.size();
}

}  // namespace rotor::testing
