#pragma once
// The rotation engine's view of Vault: per-server records read and written with check-and-set.
// The engine's workers share it and call it concurrently: the VaultClient is thread-safe, so
// their Vault round trips overlap instead of queueing behind one lock (at 3 ms per call and about
// five calls per rotation, one lock capped a fleet at ~65 rotations/s whatever the concurrency).
// Per-server consistency comes from check-and-set, not from this class.

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"
#include "engine/record.h"
#include "vault/client.h"

namespace rotor::engine {

struct LoadedRecord {
  std::uint64_t version = 0;  // 0: no secret yet (the next write must be create-only)
  ServerRecord record;
};

class RecordStore {
 public:
  explicit RecordStore(vault::VaultClient& vault) : vault_(vault) {}

  // The latest version, or version 0 with an empty record when the server has no secret yet.
  // A soft-deleted latest version reads as version N with an empty record.
  Result<LoadedRecord> load(const std::string& path);
  // Writes the record as version cas+1 (Conflict when someone else wrote first), then mirrors
  // its state into custom_metadata (best effort: the data is the truth). Returns the new version.
  Result<std::uint64_t> save(const std::string& path, const ServerRecord& record,
                             std::uint64_t cas);
  // Renews or re-creates the Vault token when due.
  Result<void> maintain();

 private:
  vault::VaultClient& vault_;
};

}  // namespace rotor::engine
