#pragma once
// Single flight inside one process: at most one rotation per server at a time, whichever worker
// thread and whichever Rotator (one per cloud) asks. Across processes the Vault check-and-set
// does the same job; this guard spares the cloud two resets of the same password at once and
// keeps one process's report honest.

#include <mutex>
#include <set>
#include <string>

namespace rotor::engine {

class InFlight {
 public:
  // Held while a server's rotation runs; releases it when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease(Lease&& other) noexcept : owner_(other.owner_), key_(std::move(other.key_)) {
      other.owner_ = nullptr;
    }
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = other.owner_;
        key_ = std::move(other.key_);
        other.owner_ = nullptr;
      }
      return *this;
    }
    ~Lease() { release(); }
    // False when another rotation of the same server holds it.
    [[nodiscard]] bool held() const noexcept { return owner_ != nullptr; }

   private:
    friend class InFlight;
    Lease(InFlight* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    void release() noexcept {
      if (owner_ != nullptr) {
        owner_->release(key_);
        owner_ = nullptr;
      }
    }
    InFlight* owner_ = nullptr;
    std::string key_;
  };

  // `key` names the server ("cloud/server-id"). An empty lease when it is already in flight.
  [[nodiscard]] Lease try_acquire(const std::string& key) {
    std::lock_guard lock(mutex_);
    if (!keys_.insert(key).second) {
      return {};
    }
    return {this, key};
  }

  [[nodiscard]] bool busy(const std::string& key) const {
    std::lock_guard lock(mutex_);
    return keys_.count(key) != 0;
  }

 private:
  void release(const std::string& key) noexcept {
    std::lock_guard lock(mutex_);
    keys_.erase(key);
  }

  mutable std::mutex mutex_;
  std::set<std::string> keys_;
};

}  // namespace rotor::engine
