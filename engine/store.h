#pragma once
// The rotation engine's view of Vault: per-server records read and written with check-and-set.
// The engine's workers share it and call it concurrently: the VaultClient is thread-safe, so
// their Vault round trips overlap instead of queueing behind one lock (at 3 ms per call and about
// five calls per rotation, one lock capped a fleet at ~65 rotations/s whatever the concurrency).
// Per-server consistency comes from check-and-set, not from this class.

#include <cstdint>
#include <map>
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
  // The custom_metadata key that says which data version the mirror was written from. A mirror
  // whose version differs from the secret's current version is stale: its write failed, or the
  // process died between the data and the mirror.
  static constexpr const char* kMirrorsVersion = "mirrors_version";
  [[nodiscard]] static bool mirror_is_stale(const vault::KvMetadata& metadata);
  // Reads the record and writes its mirror again; returns the fresh custom_metadata.
  Result<std::map<std::string, std::string>> remirror(const std::string& path);
  // Renews or re-creates the Vault token when due.
  Result<void> maintain();

 private:
  vault::VaultClient& vault_;
};

}  // namespace rotor::engine
