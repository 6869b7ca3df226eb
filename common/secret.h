#pragma once
// Memory for secrets. Two types, because they live differently:
//  - Secret: a password, token or key. Kept in OpenSSL's secure heap (an arena locked in RAM
//    where the limits allow, excluded from core dumps, guard pages around it), cleansed when
//    released; if the arena is full, plain memory that is still cleansed. Non-copyable; prints as
//    "[redacted]"; the bytes come out only through reveal(), which is used at the wire boundary and
//    is easy to grep for.
//  - WipingBuffer: a growable byte buffer for HTTP bodies and JSON text that may hold a secret.
//    Heap memory, wiped whenever it is released (on growth and on destruction).

#include <fmt/format.h>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rotor {

// Wipes `size` bytes at `data` in a way the optimiser may not remove.
void secure_wipe(void* data, std::size_t size) noexcept;
// Wipes the characters of a std::string in place (including a short string stored inline).
void secure_wipe(std::string& text) noexcept;

template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() noexcept = default;
  // Allocators convert implicitly between element types (the standard requires it).
  template <typename U>
  WipingAllocator(const WipingAllocator<U>& /*other*/) noexcept {}  // NOLINT

  T* allocate(std::size_t count) { return std::allocator<T>{}.allocate(count); }
  void deallocate(T* pointer, std::size_t count) noexcept {
    secure_wipe(pointer, count * sizeof(T));
    std::allocator<T>{}.deallocate(pointer, count);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>& /*other*/) const noexcept {
    return true;
  }
};

class WipingBuffer {
 public:
  WipingBuffer() = default;
  explicit WipingBuffer(std::string_view text) { append(text); }
  WipingBuffer(const WipingBuffer&) = delete;
  WipingBuffer& operator=(const WipingBuffer&) = delete;
  WipingBuffer(WipingBuffer&&) noexcept = default;
  WipingBuffer& operator=(WipingBuffer&&) noexcept = default;
  ~WipingBuffer() { clear(); }

  void append(std::string_view text) { bytes_.insert(bytes_.end(), text.begin(), text.end()); }
  void push_back(char c) { bytes_.push_back(c); }
  void reserve(std::size_t capacity) { bytes_.reserve(capacity); }
  // Wipes the contents; the capacity is kept.
  void clear() noexcept {
    secure_wipe(bytes_.data(), bytes_.size());
    bytes_.clear();
  }

  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] bool empty() const noexcept { return bytes_.empty(); }
  [[nodiscard]] const char* data() const noexcept { return bytes_.data(); }
  [[nodiscard]] char* data() noexcept { return bytes_.data(); }
  [[nodiscard]] std::string_view view() const noexcept { return {bytes_.data(), bytes_.size()}; }

 private:
  std::vector<char, WipingAllocator<char>> bytes_;
};

class Secret {
 public:
  Secret() = default;
  // Copies `text` into locked memory. The caller still owns (and should wipe) its own copy.
  static Secret from(std::string_view text);
  // Takes the characters of `text` and wipes the string.
  static Secret take(std::string&& text);

  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret();

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  // The raw characters, for the wire boundary only (an HTTP body, a signature).
  [[nodiscard]] std::string_view reveal() const noexcept {
    return {static_cast<const char*>(storage_), size_};
  }

  // Constant-time comparison (the time depends on the lengths only).
  [[nodiscard]] bool equals(const Secret& other) const noexcept;
  [[nodiscard]] bool equals(std::string_view other) const noexcept;

  // True when the bytes live in the secure heap (not the plain-memory fallback).
  [[nodiscard]] bool locked() const noexcept { return locked_; }

 private:
  explicit Secret(std::size_t size);
  void release() noexcept;

  void* storage_ = nullptr;
  std::size_t size_ = 0;
  bool locked_ = false;
};

// Constant-time comparison of two byte strings of any length.
[[nodiscard]] bool constant_time_equals(std::string_view left, std::string_view right) noexcept;

}  // namespace rotor

template <>
struct fmt::formatter<rotor::Secret> : fmt::formatter<std::string_view> {
  auto format(const rotor::Secret& /*secret*/, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format("[redacted]", ctx);
  }
};
