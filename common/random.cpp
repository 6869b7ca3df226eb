#include "common/random.h"

#include <sys/random.h>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace rotor {

std::uint32_t Random::next_u32() {
  std::uint8_t bytes[4];
  fill(bytes);
  std::uint32_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  secure_wipe(bytes, sizeof bytes);
  return value;
}

std::uint64_t Random::next_u64() {
  std::uint8_t bytes[8];
  fill(bytes);
  std::uint64_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  secure_wipe(bytes, sizeof bytes);
  return value;
}

std::uint32_t Random::uniform(std::uint32_t bound) {
  if (bound <= 1) {
    return 0;
  }
  // Accept only draws below the largest multiple of `bound` that fits in 32 bits; every residue
  // then has exactly the same number of accepted draws.
  const std::uint64_t range = std::uint64_t{1} << 32U;
  const std::uint64_t limit = range - range % bound;
  for (;;) {
    const std::uint64_t draw = next_u32();
    if (draw < limit) {
      return static_cast<std::uint32_t>(draw % bound);
    }
  }
}

double Random::unit() {
  // 53 random bits make every double in [0, 1) on the 2^-53 grid equally likely.
  return static_cast<double>(next_u64() >> 11U) * 0x1.0p-53;
}

void getrandom_fill(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = getrandom(out.data() + done, out.size() - done, 0);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    done += static_cast<std::size_t>(got);
  }
}

SystemRandom::~SystemRandom() {
  secure_wipe(buffer_, sizeof buffer_);
}

void SystemRandom::refill() {
  getrandom_fill(buffer_);
  available_ = kBufferSize;
}

void SystemRandom::fill(std::span<std::uint8_t> out) {
  std::lock_guard lock(mutex_);
  std::size_t done = 0;
  while (done < out.size()) {
    if (available_ == 0) {
      refill();
    }
    const std::size_t take = std::min(available_, out.size() - done);
    std::uint8_t* from = buffer_ + (kBufferSize - available_);
    std::memcpy(out.data() + done, from, take);
    secure_wipe(from, take);  // a byte is handed out once and does not linger
    available_ -= take;
    done += take;
  }
}

}  // namespace rotor
