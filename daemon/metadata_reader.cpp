#include "daemon/metadata_reader.h"

#include <algorithm>

#include "common/parallel.h"

namespace rotor::daemon {

std::vector<Result<vault::KvMetadata>> read_metadata_concurrently(
    vault::VaultClient& vault, std::span<const std::string> paths, std::size_t concurrency) {
  std::vector<Result<vault::KvMetadata>> results(paths.size());
  parallel_for(paths.size(), concurrency,
               [&](std::size_t i) { results[i] = vault.read_metadata(paths[i]); });
  return results;
}

MetadataPrefetch::MetadataPrefetch(vault::VaultClient& vault, std::size_t concurrency)
    : vault_(vault), most_workers_(std::max<std::size_t>(1, concurrency)) {}

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
    if (workers_.size() < most_workers_ && workers_.size() < paths_.size() - next_) {
      workers_.emplace_back([this] { work(); });  // no more workers than paths waiting
    }
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
