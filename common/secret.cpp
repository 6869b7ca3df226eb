#include "common/secret.h"

#include <openssl/crypto.h>
#include <string.h>  // explicit_bzero
#include <cstring>
#include <mutex>
#include <new>

namespace rotor {

void secure_wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size > 0) {
    explicit_bzero(data, size);
  }
}

void secure_wipe(std::string& text) noexcept {
  // data() points at the inline buffer for short strings, so this wipes those too.
  secure_wipe(text.data(), text.size());
  text.clear();
}

namespace {

// OpenSSL's secure heap: one mmap'ed arena, locked with mlock where RLIMIT_MEMLOCK allows,
// marked MADV_DONTDUMP, with guard pages; a freed block is cleansed. Initialised on first use.
constexpr std::size_t kSecureHeapBytes = std::size_t{1} << 20U;
constexpr std::size_t kSecureHeapMinBlock = 32;

void ensure_secure_heap() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (CRYPTO_secure_malloc_initialized() == 0) {
      // 0 means no secure heap (then allocations below fall back to cleansed plain memory).
      (void)CRYPTO_secure_malloc_init(kSecureHeapBytes, kSecureHeapMinBlock);
    }
  });
}

}  // namespace

Secret::Secret(std::size_t size) : size_(size) {
  if (size == 0) {
    return;
  }
  ensure_secure_heap();
  storage_ = CRYPTO_secure_malloc(size, __FILE__, __LINE__);
  if (storage_ != nullptr) {
    locked_ = CRYPTO_secure_allocated(storage_) != 0;
  } else {
    // The arena is full: plain memory, still wiped on release (CRYPTO_secure_clear_free).
    storage_ = CRYPTO_malloc(size, __FILE__, __LINE__);
    if (storage_ == nullptr) {
      throw std::bad_alloc();
    }
  }
}

Secret Secret::from(std::string_view text) {
  Secret secret(text.size());
  if (!text.empty()) {
    std::memcpy(secret.storage_, text.data(), text.size());
  }
  return secret;
}

Secret Secret::take(std::string&& text) {
  Secret secret = from(text);
  secure_wipe(text);
  return secret;
}

Secret::Secret(Secret&& other) noexcept
    : storage_(other.storage_), size_(other.size_), locked_(other.locked_) {
  other.storage_ = nullptr;
  other.size_ = 0;
  other.locked_ = false;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    release();
    storage_ = other.storage_;
    size_ = other.size_;
    locked_ = other.locked_;
    other.storage_ = nullptr;
    other.size_ = 0;
    other.locked_ = false;
  }
  return *this;
}

Secret::~Secret() {
  release();
}

void Secret::release() noexcept {
  if (storage_ == nullptr) {
    return;
  }
  // Cleanses the bytes, then frees them to the secure heap or the plain heap they came from.
  CRYPTO_secure_clear_free(storage_, size_, __FILE__, __LINE__);
  storage_ = nullptr;
  size_ = 0;
  locked_ = false;
}

bool constant_time_equals(std::string_view left, std::string_view right) noexcept {
  // Every byte of the longer input is visited whatever the contents, so the time says nothing
  // about where the inputs differ.
  const std::size_t longest = left.size() > right.size() ? left.size() : right.size();
  unsigned difference = left.size() == right.size() ? 0U : 1U;
  for (std::size_t i = 0; i < longest; ++i) {
    const auto a = i < left.size() ? static_cast<unsigned char>(left[i]) : 0U;
    const auto b = i < right.size() ? static_cast<unsigned char>(right[i]) : 0U;
    difference |= a ^ b;
  }
  return difference == 0;
}

bool Secret::equals(const Secret& other) const noexcept {
  return constant_time_equals(reveal(), other.reveal());
}

bool Secret::equals(std::string_view other) const noexcept {
  return constant_time_equals(reveal(), other);
}

}  // namespace rotor
