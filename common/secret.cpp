#include "common/secret.h"

#include <string.h>  // explicit_bzero
#include <sys/mman.h>
#include <unistd.h>
#include <cstring>
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

std::size_t page_size() noexcept {
  static const auto size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

Secret::Secret(std::size_t size) : size_(size) {
  if (size == 0) {
    return;
  }
  const std::size_t page = page_size();
  mapped_ = (size + page - 1) / page * page;
  void* mapping =
      mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) {
    throw std::bad_alloc();
  }
  storage_ = mapping;
  // Both are best effort: a secret must still work where RLIMIT_MEMLOCK is small.
  locked_ = mlock(storage_, mapped_) == 0;
  (void)madvise(storage_, mapped_, MADV_DONTDUMP);
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
    : storage_(other.storage_), size_(other.size_), mapped_(other.mapped_), locked_(other.locked_) {
  other.storage_ = nullptr;
  other.size_ = 0;
  other.mapped_ = 0;
  other.locked_ = false;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    release();
    storage_ = other.storage_;
    size_ = other.size_;
    mapped_ = other.mapped_;
    locked_ = other.locked_;
    other.storage_ = nullptr;
    other.size_ = 0;
    other.mapped_ = 0;
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
  secure_wipe(storage_, mapped_);
  if (locked_) {
    (void)munlock(storage_, mapped_);
  }
  (void)munmap(storage_, mapped_);
  storage_ = nullptr;
  size_ = 0;
  mapped_ = 0;
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
