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
    entries_.push_back(Entry{std::move(path), std::nullopt});
    ++added_;
    if (workers_.size() < most_workers_ && workers_.size() < added_ - next_) {
      workers_.emplace_back([this] { work(); });  // no more workers than paths waiting
    }
  }
  work_.notify_one();
}

void MetadataPrefetch::work() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [this] { return closing_ || next_ < added_; });
    if (closing_) {
      return;
    }
    const std::size_t index = next_++;
    // An entry leaves the deque only once read, so this one is still there; push_back never
    // moves the elements.
    Entry& entry = entries_[index - taken_];
    const std::string path = entry.path;
    lock.unlock();
    auto metadata = vault_.read_metadata(path);
    lock.lock();
    entry.result = std::move(metadata);
    if (++done_ == added_) {
      finished_.notify_one();
    }
  }
}

std::vector<Result<vault::KvMetadata>> MetadataPrefetch::take_ready() {
  const std::lock_guard lock(mutex_);
  std::vector<Result<vault::KvMetadata>> ready;
  while (!entries_.empty() && entries_.front().result) {
    ready.push_back(std::move(*entries_.front().result));
    entries_.pop_front();
    ++taken_;
  }
  return ready;
}

std::vector<Result<vault::KvMetadata>> MetadataPrefetch::finish() {
  std::unique_lock lock(mutex_);
  finished_.wait(lock, [this] { return done_ == added_; });
  std::vector<Result<vault::KvMetadata>> results;
  results.reserve(entries_.size());
  for (auto& entry : entries_) {
    results.push_back(std::move(*entry.result));
  }
  entries_.clear();
  added_ = next_ = done_ = taken_ = 0;
  return results;
}

}  // namespace rotor::daemon
