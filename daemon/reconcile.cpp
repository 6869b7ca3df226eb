#include "daemon/reconcile.h"

#include "common/log.h"
#include "daemon/record_metadata.h"
#include "daemon/selection.h"
#include "engine/record.h"

namespace rotor::daemon {
namespace {

constexpr const char* kGoneSince = "gone_since";

// Rewrites the key-level custom_metadata with `gone_since` set (or removed).
Result<void> set_gone(vault::VaultClient& vault, const std::string& path,
                      std::map<std::string, std::string> custom,
                      const std::optional<std::string>& since) {
  if (since) {
    custom[kGoneSince] = *since;
  } else {
    custom.erase(kGoneSince);
  }
  vault::KvMetadataUpdate update;
  update.custom_metadata = std::move(custom);
  return vault.write_metadata(path, update);
}

}  // namespace

std::vector<ReconcileScope> reconcile_scopes(const config::Config& config,
                                             std::vector<std::string>* unsupported) {
  std::vector<ReconcileScope> scopes;
  std::set<std::string> seen;
  for (const auto& policy : config.policies) {
    const config::Cloud* cloud = config.cloud(policy.cloud);
    if (cloud == nullptr) {
      continue;
    }
    // Keep the per-server placeholders, fill in the rest.
    ecs::Server placeholder;
    placeholder.id = "{server_id}";
    placeholder.name = "{server_name}";
    const std::string path = vault_path(config.vault.kv.path, *cloud, policy, placeholder);
    const auto slash = path.rfind('/');
    const std::string last = slash == std::string::npos ? path : path.substr(slash + 1);
    const std::string folder = slash == std::string::npos ? std::string() : path.substr(0, slash);
    const bool by_id = last == "{server_id}";
    if ((!by_id && last != "{server_name}") || folder.empty() ||
        folder.find("{server_") != std::string::npos) {
      if (unsupported != nullptr) {
        unsupported->push_back(policy.name);
      }
      continue;
    }
    if (seen.insert(folder).second) {
      scopes.push_back(ReconcileScope{folder, policy.cloud, !by_id});
    }
  }
  return scopes;
}

ReconcileResult reconcile(Runtime& runtime,
                          const std::map<std::string, std::vector<ecs::Server>>& listings,
                          const std::set<std::string>& selected,
                          const std::set<std::string>& marked, config::SysSeconds now) {
  auto logger = log::get("reconcile");
  ReconcileResult result;
  vault::VaultClient& vault = runtime.vault();
  const std::string at = engine::format_time(now);

  for (const auto& path : marked) {
    auto metadata = vault.read_metadata(path);
    if (metadata && set_gone(vault, path, metadata->custom_metadata, std::nullopt)) {
      ++result.back;
      logger->info("server is back in the cloud; mark cleared path={}", path);
    }
  }

  for (const auto& scope : reconcile_scopes(runtime.config(), nullptr)) {
    auto listing = listings.find(scope.cloud);
    if (listing == listings.end()) {
      continue;  // not listed in this tick: never guess that a server is gone
    }
    std::map<std::string, const ecs::Server*> by_key;
    for (const auto& server : listing->second) {
      by_key[scope.by_name ? server.name : server.id] = &server;
    }
    auto keys = vault.list(scope.folder);
    if (!keys) {
      result.errors.push_back("cannot list " + scope.folder + ": " + keys.error().to_string());
      continue;
    }
    for (const auto& key : *keys) {
      if (key.empty() || key.back() == '/') {
        continue;  // a folder: not a server record
      }
      const std::string path = scope.folder + "/" + key;
      if (selected.count(path) != 0) {
        continue;  // the tick covers it
      }
      auto metadata = vault.read_metadata(path);
      if (!metadata) {
        if (metadata.error().code() != ErrorCode::NotFound) {
          result.errors.push_back("cannot read the metadata of " + path + ": " +
                                  metadata.error().to_string());
        }
        continue;
      }
      const auto& custom = metadata->custom_metadata;
      const RecordMetadata parsed = parse_record_metadata(custom);
      if (!parsed.managed) {
        continue;  // not a Rotor record: not ours to judge
      }
      const std::string& policy = parsed.policy;
      const std::string& state = parsed.state;
      const auto server = by_key.find(key);
      if (server == by_key.end()) {
        ++result.gone[policy];
        if (parsed.gone) {
          continue;  // marked (and logged) before
        }
        if (auto written = set_gone(vault, path, custom, at); !written) {
          result.errors.push_back("cannot mark " + path + ": " + written.error().to_string());
          continue;
        }
        ++result.newly_gone;
        logger->warn(
            "server gone from the cloud; its record is kept and marked server={} policy={} "
            "state={} path={}{}",
            key, policy, state, path,
            state == "pending" ? " note=\"its pending password stays in Vault\"" : "");
        continue;
      }
      if (parsed.gone && set_gone(vault, path, custom, std::nullopt)) {
        ++result.back;
        logger->info("server is back in the cloud; mark cleared server={} path={}", key, path);
      }
      if (state == "pending") {
        PendingOutside outside;
        outside.policy = policy;
        outside.cloud = scope.cloud;
        outside.target.server = *server->second;
        outside.target.vault_path = path;
        result.pending.push_back(std::move(outside));
      }
    }
  }
  return result;
}

}  // namespace rotor::daemon
