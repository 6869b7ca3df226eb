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

}  // namespace rotor::daemon
