#pragma once
// Reads the Vault metadata of many records at once. The scheduler needs every managed server's
// metadata on every tick; one by one that is a Vault round trip each (100,000 servers × 3 ms =
// 5 minutes per tick). The VaultClient is thread-safe, so a few workers overlap the round trips.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "vault/client.h"

namespace rotor::daemon {

// One result per path, in the order given, each exactly what VaultClient::read_metadata() would
// have returned for it. At most `concurrency` requests are in flight (1 = one by one).
[[nodiscard]] std::vector<Result<vault::KvMetadata>> read_metadata_concurrently(
    vault::VaultClient& vault, std::span<const std::string> paths, std::size_t concurrency);

// The same reads, started while the caller is still finding the paths (listing the cloud page
// by page): what the listing's round trips and the metadata's would take one after the other
// overlaps instead. At most `concurrency` reads are in flight. Thread-compatible: one caller
// adds and finishes; the workers are internal.
class MetadataPrefetch {
 public:
  MetadataPrefetch(vault::VaultClient& vault, std::size_t concurrency);
  ~MetadataPrefetch();  // stops the workers; reads in flight are finished and dropped
  MetadataPrefetch(const MetadataPrefetch&) = delete;
  MetadataPrefetch& operator=(const MetadataPrefetch&) = delete;

  void add(std::string path);
  // The results not taken yet whose reads, and every earlier one's, have finished, in the order
  // added; never waits.
  [[nodiscard]] std::vector<Result<vault::KvMetadata>> take_ready();
  // Waits for every added path; the results not taken yet, in the order added. Once.
  [[nodiscard]] std::vector<Result<vault::KvMetadata>> finish();

 private:
  void work();

  vault::VaultClient& vault_;
  const std::size_t most_workers_;
  std::mutex mutex_;
  std::condition_variable work_;      // a path was added, or closing
  std::condition_variable finished_;  // a read finished
  struct Entry {
    std::string path;
    std::optional<Result<vault::KvMetadata>> result;  // once read
  };
  std::deque<Entry> entries_;  // from the first result not taken yet
  std::size_t added_ = 0;
  std::size_t next_ = 0;   // the next path to read (counted over every path added)
  std::size_t done_ = 0;   // reads finished
  std::size_t taken_ = 0;  // results handed out (they left entries_)
  bool closing_ = false;
  std::vector<std::jthread> workers_;
};

}  // namespace rotor::daemon
