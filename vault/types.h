#pragma once
// Values exchanged with Vault's KV v2 engine, shaped for the rotation engine: a secret is a
// version number, its sensitive fields (as Secret), its plain fields, and the key-level
// custom_metadata that mirrors state for metadata-only scans.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/secret.h"

namespace rotor::vault {

// The fields of one version. A field name is sensitive when it matches one of
// VaultConfig::sensitive_field_markers ("password", "secret", "token", "key"); sensitive fields are
// held only as Secret. Writing puts both maps into one JSON object (a name must not be in both).
struct KvData {
  std::map<std::string, Secret> secrets;
  std::map<std::string, std::string> plain;

  // The field's value for reading convenience: nullptr when absent.
  [[nodiscard]] const Secret* secret(const std::string& name) const;
  [[nodiscard]] const std::string* text(const std::string& name) const;
};

// GET {mount}/data/{path}. When the requested version is soft-deleted or destroyed Vault still
// answers with its metadata (spec §2.8): the read succeeds with `deleted` or `destroyed` set and
// empty data, so the caller learns the version it must use as check-and-set.
struct KvSecret {
  std::uint64_t version = 0;
  std::string created_time;
  std::string deletion_time;  // "" when not deleted
  bool deleted = false;
  bool destroyed = false;
  KvData data;
  std::map<std::string, std::string> custom_metadata;
};

// Version info returned by a write (spec §2.3).
struct KvWriteResult {
  std::uint64_t version = 0;
  std::string created_time;
};

struct KvVersionInfo {
  std::string created_time;
  std::string deletion_time;
  bool destroyed = false;
};

// GET {mount}/metadata/{path} (spec §2.5).
struct KvMetadata {
  std::uint64_t current_version = 0;
  std::uint64_t oldest_version = 0;
  std::uint64_t max_versions = 0;
  bool cas_required = false;
  std::string created_time;
  std::string updated_time;
  std::string delete_version_after;
  std::map<std::string, std::string> custom_metadata;
  std::map<std::uint64_t, KvVersionInfo> versions;
};

// POST {mount}/metadata/{path}: only the set members are sent.
struct KvMetadataUpdate {
  std::optional<std::uint64_t> max_versions;
  std::optional<bool> cas_required;
  std::optional<std::string> delete_version_after;
  std::optional<std::map<std::string, std::string>> custom_metadata;
};

// Check-and-set for a write: the version the caller read (0 = create only), or none.
struct Cas {
  std::optional<std::uint64_t> version;
  static Cas none() { return {}; }
  static Cas expect(std::uint64_t v) { return Cas{v}; }
};

enum class KvVersion { V1, V2 };

struct MountInfo {
  std::string path;  // "secret/"
  std::string type;  // "kv"
  KvVersion version = KvVersion::V1;
};

// sys/health (spec §4).
struct HealthStatus {
  int http_status = 0;
  bool initialized = false;
  bool sealed = false;
  bool standby = false;
  bool performance_standby = false;
  std::string version;
  std::string cluster_name;
};

// What the client knows about its token (from lookup-self, login or renewal).
struct TokenInfo {
  std::int64_t ttl_seconds = 0;  // 0 = never expires (root)
  bool renewable = false;
  std::vector<std::string> policies;
};

}  // namespace rotor::vault
