#pragma once
// Shared pieces of the response fuzzers: a transport that answers every request with the fuzz
// input, a clock that never sleeps and a deterministic Random, so that one input is one
// reproducible run of a client call.

#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/http.h"
#include "common/log.h"
#include "common/random.h"

namespace rotor::fuzz {

// Answers every request with `status` and `body` (and, when set, a Retry-After header).
class EchoTransport final : public HttpTransport {
 public:
  EchoTransport(int status, std::string_view body) : status_(status), body_(body) {}
  Result<HttpResponse> send(const HttpRequest& /*request*/) override {
    HttpResponse response;
    response.status = status_;
    response.headers.add("Content-Type", "application/json");
    response.headers.add("X-Subject-Token", "fuzz-token");
    response.body.append(body_);
    return response;
  }

 private:
  int status_;
  std::string_view body_;
};

// Time stands still except when someone sleeps; nothing really waits.
class FrozenClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)) + slept_;
  }
  [[nodiscard]] std::chrono::steady_clock::time_point monotonic() const override {
    return std::chrono::steady_clock::time_point(slept_);
  }
  void sleep_for(std::chrono::nanoseconds duration) override {
    if (duration > std::chrono::nanoseconds::zero()) {
      slept_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(duration);
    }
  }

 private:
  std::chrono::steady_clock::duration slept_{};
};

// A fixed, cheap bit stream (xorshift); fuzzing needs reproducibility, not quality.
class FixedRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& byte : out) {
      state_ ^= state_ << 13U;
      state_ ^= state_ >> 7U;
      state_ ^= state_ << 17U;
      byte = static_cast<std::uint8_t>(state_);
    }
  }

 private:
  std::uint64_t state_ = 0x9E3779B97F4A7C15ULL;
};

// The secrets no log line may contain during the current input: those the call under test sent
// (a listing cannot be expected to scrub a password it never saw).
inline std::vector<std::string_view>& guarded_secrets() {
  static std::vector<std::string_view> secrets;
  return secrets;
}

// A log sink that swallows every line (keeping the fuzzer fast and quiet) but aborts when one
// contains a guarded secret: no password, key or token the call sent may reach a log, whatever
// the peer answered.
class SecretGuardSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(message, formatted);
    const std::string_view text(formatted.data(), formatted.size());
    for (const auto secret : guarded_secrets()) {
      if (text.find(secret) != std::string_view::npos) {
        std::abort();  // a secret reached a log line
      }
    }
  }
  void flush_() override {}
};

// Routes every component logger to a SecretGuardSink (installed once per process) and guards
// `secrets` until the next call.
inline void guard_logs(std::vector<std::string_view> secrets) {
  static const bool installed = [] {
    log::set_sinks({std::make_shared<SecretGuardSink>()});
    log::set_level(spdlog::level::debug);
    return true;
  }();
  (void)installed;
  guarded_secrets() = std::move(secrets);
}

// The HTTP status a fuzz input selects with its first byte: the interesting ones first.
inline int pick_status(std::uint8_t selector) {
  static constexpr int kStatuses[] = {200, 202, 204, 400, 401, 403, 404, 405, 409, 412,
                                      429, 500, 501, 502, 503, 100, 301, 201, 418, 599};
  constexpr auto count = sizeof(kStatuses) / sizeof(kStatuses[0]);
  return kStatuses[selector % count];
}

}  // namespace rotor::fuzz
