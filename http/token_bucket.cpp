#include "http/token_bucket.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace rotor::http {

TokenBucket::TokenBucket(double rate, double burst, Clock& clock)
    : rate_(rate), burst_(burst), clock_(clock), tokens_(burst), last_(clock.monotonic()) {
  if (!(rate > 0.0) || !(burst >= 1.0) || !std::isfinite(rate) || !std::isfinite(burst)) {
    throw std::invalid_argument("token bucket: rate must be > 0 and burst >= 1");
  }
}

void TokenBucket::refill_locked() {
  const auto now = clock_.monotonic();
  if (now > last_) {
    const std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
    last_ = now;
  }
}

std::chrono::nanoseconds TokenBucket::reserve() {
  std::lock_guard lock(mutex_);
  refill_locked();
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) {
    return std::chrono::nanoseconds{0};
  }
  const std::chrono::duration<double> wait(-tokens_ / rate_);
  return std::chrono::ceil<std::chrono::nanoseconds>(wait);
}

void TokenBucket::acquire() {
  const auto wait = reserve();
  if (wait.count() > 0) {
    clock_.sleep_for(wait);
  }
}

bool TokenBucket::try_acquire() {
  std::lock_guard lock(mutex_);
  refill_locked();
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

}  // namespace rotor::http
