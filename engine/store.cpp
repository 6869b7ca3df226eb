#include "engine/store.h"

#include "common/log.h"

namespace rotor::engine {

Result<LoadedRecord> RecordStore::load(const std::string& path) {
  auto secret = vault_.read(path);
  if (!secret) {
    if (secret.error().code() == ErrorCode::NotFound) {
      return LoadedRecord{};
    }
    return fail(secret.error());
  }
  LoadedRecord loaded;
  loaded.version = secret->version;
  if (!secret->deleted && !secret->destroyed) {
    loaded.record = ServerRecord::from_kv(secret->data);
  }
  return loaded;
}

Result<std::uint64_t> RecordStore::save(const std::string& path, const ServerRecord& record,
                                        std::uint64_t cas) {
  auto written = vault_.write(path, record.to_kv(), vault::Cas::expect(cas));
  if (!written) {
    return fail(written.error());
  }
  vault::KvMetadataUpdate update;
  update.custom_metadata = record.metadata();
  update.custom_metadata->emplace(kMirrorsVersion, std::to_string(written->version));
  if (auto mirrored = vault_.write_metadata(path, update); !mirrored) {
    log::get("engine")->warn("metadata mirror failed path={} error={}", path, mirrored.error());
  }
  return written->version;
}

bool RecordStore::mirror_is_stale(const vault::KvMetadata& metadata) {
  const auto found = metadata.custom_metadata.find(kMirrorsVersion);
  return found == metadata.custom_metadata.end() ||
         found->second != std::to_string(metadata.current_version);
}

Result<std::map<std::string, std::string>> RecordStore::remirror(const std::string& path) {
  auto secret = vault_.read(path);
  if (!secret) {
    return fail(secret.error());
  }
  vault::KvMetadataUpdate update;
  update.custom_metadata = (secret->deleted || secret->destroyed)
                               ? ServerRecord{}.metadata()
                               : ServerRecord::from_kv(secret->data).metadata();
  update.custom_metadata->emplace(kMirrorsVersion, std::to_string(secret->version));
  if (auto mirrored = vault_.write_metadata(path, update); !mirrored) {
    return fail(mirrored.error());
  }
  return *update.custom_metadata;
}

Result<void> RecordStore::maintain() {
  return vault_.maybe_renew();
}

}  // namespace rotor::engine
