#include "http/token_bucket.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace rotor::http {

namespace {

void validate(double rate, double burst, const RateAdaptation& adaptation) {
  if (!(rate > 0.0) || !(burst >= 1.0) || !std::isfinite(rate) || !std::isfinite(burst)) {
    throw std::invalid_argument("token bucket: rate must be > 0 and burst >= 1");
  }
  if (!adaptation.enabled) {
    return;
  }
  if (!(adaptation.floor > 0.0) || adaptation.floor > rate ||
      (adaptation.ceiling != 0.0 && adaptation.ceiling < rate) ||
      !std::isfinite(adaptation.ceiling)) {
    throw std::invalid_argument("token bucket: adaptive rate needs 0 < floor <= rate <= ceiling");
  }
  if (!(adaptation.decrease > 0.0 && adaptation.decrease < 1.0) || !(adaptation.increase >= 0.0) ||
      !(adaptation.slow_start >= 0.0) || adaptation.cooldown.count() < 0) {
    throw std::invalid_argument(
        "token bucket: adaptive rate needs 0 < decrease < 1, increase >= 0, slow_start >= 0");
  }
}

}  // namespace

TokenBucket::TokenBucket(double rate, double burst, Clock& clock, RateAdaptation adaptation)
    : rate_(rate),
      burst_(burst),
      adaptation_(adaptation),
      ceiling_(adaptation.ceiling > 0.0 ? adaptation.ceiling : rate),
      clock_(clock),
      tokens_(burst),
      last_(clock.monotonic()),
      last_growth_(last_) {
  validate(rate, burst, adaptation);
}

void TokenBucket::refill_locked(std::chrono::steady_clock::time_point now) {
  if (now > last_) {
    const std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
    last_ = now;
  }
}

void TokenBucket::grow_locked(std::chrono::steady_clock::time_point now, bool saturated) {
  if (!adaptation_.enabled || now <= last_growth_) {
    return;
  }
  const std::chrono::duration<double> elapsed = now - last_growth_;
  last_growth_ = now;
  // Only a rate that limits someone is probed, and not while a Retry-After pause runs.
  if (!saturated || now < last_ || rate_ >= ceiling_) {
    return;
  }
  const double growth =
      cuts_ == 0 && adaptation_.slow_start > 0.0 ? adaptation_.slow_start : adaptation_.increase;
  rate_ = std::min(ceiling_, rate_ * std::exp(growth * elapsed.count()));
}

std::chrono::nanoseconds TokenBucket::reserve() {
  std::lock_guard lock(mutex_);
  const auto now = clock_.monotonic();
  refill_locked(now);
  grow_locked(now, tokens_ < 1.0);
  tokens_ -= 1.0;
  std::chrono::duration<double> wait(0.0);
  if (last_ > now) {
    wait += last_ - now;  // paused
  }
  if (tokens_ < 0.0) {
    wait += std::chrono::duration<double>(-tokens_ / rate_);
  }
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
  const auto now = clock_.monotonic();
  refill_locked(now);
  if (now >= last_ && tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

bool TokenBucket::on_throttled(std::optional<std::chrono::nanoseconds> retry_after) {
  if (!adaptation_.enabled) {
    return false;
  }
  std::lock_guard lock(mutex_);
  const auto now = clock_.monotonic();
  refill_locked(now);
  ++throttles_;
  bool cut = false;
  if (!last_cut_ || now - *last_cut_ >= adaptation_.cooldown) {
    rate_ = std::max(adaptation_.floor, rate_ * adaptation_.decrease);
    last_cut_ = now;
    ++cuts_;
    cut = true;
  }
  tokens_ = std::min(tokens_, 0.0);  // no saved-up burst right after a throttle
  if (retry_after && retry_after->count() > 0) {
    const auto resume =
        now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(*retry_after);
    last_ = std::max(last_, resume);  // no refill, and every reservation waits, until then
  }
  last_growth_ = std::max(last_growth_, last_);
  return cut;
}

double TokenBucket::rate() const {
  std::lock_guard lock(mutex_);
  return rate_;
}

std::uint64_t TokenBucket::throttles() const {
  std::lock_guard lock(mutex_);
  return throttles_;
}

std::uint64_t TokenBucket::cuts() const {
  std::lock_guard lock(mutex_);
  return cuts_;
}

}  // namespace rotor::http
