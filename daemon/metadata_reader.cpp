#include "daemon/metadata_reader.h"

#include <algorithm>
#include <atomic>
#include <thread>

namespace rotor::daemon {

std::vector<Result<vault::KvMetadata>> read_metadata_concurrently(
    vault::VaultClient& vault, std::span<const std::string> paths, std::size_t concurrency) {
  std::vector<Result<vault::KvMetadata>> results(paths.size());
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (std::size_t i = next++; i < paths.size(); i = next++) {
      results[i] = vault.read_metadata(paths[i]);
    }
  };
  const std::size_t threads =
      std::clamp<std::size_t>(concurrency, 1, std::max<std::size_t>(1, paths.size()));
  {
    std::vector<std::jthread> pool;
    pool.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) {
      pool.emplace_back(worker);
    }
    worker();  // the calling thread is one of the workers
  }
  return results;
}

MetadataPrefetch::MetadataPrefetch(vault::VaultClient& vault, std::size_t concurrency)
    : vault_(vault) {
  const std::size_t threads = std::max<std::size_t>(1, concurrency);
  workers_.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    workers_.emplace_back([this] { work(); });
  }
}

MetadataPrefetch::~MetadataPrefetch() {
  {
    const std::lock_guard lock(mutex_);
    closing_ = true;
  }
  work_.notify_all();
  workers_.clear();  // joins
}

void MetadataPrefetch::add(std::string path) {
  {
    const std::lock_guard lock(mutex_);
    paths_.push_back(std::move(path));
    results_.emplace_back(tl::unexpected<Error>(Error(ErrorCode::Internal, "not read")));
  }
  work_.notify_one();
}

void MetadataPrefetch::work() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [this] { return closing_ || next_ < paths_.size(); });
    if (closing_) {
      return;
    }
    const std::size_t index = next_++;
    const std::string path = paths_[index];
    lock.unlock();
    auto metadata = vault_.read_metadata(path);
    lock.lock();
    results_[index] = std::move(metadata);  // deque: push_back never moves the elements
    if (++done_ == paths_.size()) {
      finished_.notify_one();
    }
  }
}

std::vector<Result<vault::KvMetadata>> MetadataPrefetch::finish() {
  std::unique_lock lock(mutex_);
  finished_.wait(lock, [this] { return done_ == paths_.size(); });
  std::vector<Result<vault::KvMetadata>> results(std::make_move_iterator(results_.begin()),
                                                 std::make_move_iterator(results_.end()));
  results_.clear();
  paths_.clear();
  next_ = 0;
  done_ = 0;
  return results;
}

}  // namespace rotor::daemon
