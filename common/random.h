#pragma once
// The randomness seam. Production uses SystemRandom (getrandom(2)); tests use a seeded generator
// from tests/support. Everything that draws a number goes through uniform(), which uses rejection
// sampling so that no value is more likely than another (no modulo bias).

#include <cstdint>
#include <limits>
#include <mutex>
#include <span>

#include "common/secret.h"

namespace rotor {

class Random {
 public:
  Random() = default;
  Random(const Random&) = delete;
  Random& operator=(const Random&) = delete;
  virtual ~Random() = default;

  // Fills `out` with uniformly random bytes. Implementations must be thread-safe: the engine
  // draws from its worker threads.
  virtual void fill(std::span<std::uint8_t> out) = 0;

  std::uint32_t next_u32();
  std::uint64_t next_u64();
  // A uniform integer in [0, bound). `bound` must be at least 1.
  std::uint32_t uniform(std::uint32_t bound);
  // A uniform real in [0, 1), for jitter and back-off (never for passwords).
  double unit();
};

// A UniformRandomBitGenerator over a Random, for <algorithm> (std::shuffle and friends).
class RandomBits {
 public:
  using result_type = std::uint64_t;
  explicit RandomBits(Random& random) : random_(&random) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() { return random_->next_u64(); }

 private:
  Random* random_;
};

// The kernel's CSPRNG through getrandom(2). Draws are buffered (the buffer is wiped when refilled
// and on destruction, since its bytes become passwords). Thread-safe.
class SystemRandom final : public Random {
 public:
  SystemRandom() = default;
  ~SystemRandom() override;
  void fill(std::span<std::uint8_t> out) override;

 private:
  static constexpr std::size_t kBufferSize = 256;
  void refill();

  std::mutex mutex_;
  std::uint8_t buffer_[kBufferSize] = {};
  std::size_t available_ = 0;
};

// Fills `out` straight from getrandom(2), retrying on EINTR and short reads; throws
// std::system_error when the kernel refuses (which only happens on a broken system).
void getrandom_fill(std::span<std::uint8_t> out);

}  // namespace rotor
