#include "daemon/status.h"

#include <algorithm>

#include "common/log.h"
#include "daemon/hold.h"
#include "daemon/metadata_reader.h"
#include "daemon/record_metadata.h"
#include "daemon/selection.h"
#include "engine/record.h"
#include "engine/store.h"

namespace rotor::daemon {

std::vector<ServerStatus> collect_status(Runtime& runtime, const std::optional<std::string>& policy,
                                         config::SysSeconds now) {
  const auto& cfg = runtime.config();
  std::vector<ServerStatus> rows;
  for (const auto& p : cfg.policies) {
    if (policy && *policy != p.name) {
      continue;
    }
    ecs::EcsClient* cloud = runtime.cloud(p.cloud);
    const config::Cloud* cloud_cfg = cfg.cloud(p.cloud);
    if (cloud == nullptr || cloud_cfg == nullptr) {
      continue;
    }
    auto listing = cloud->list_servers();
    if (!listing) {
      ServerStatus row;
      row.policy = p.name;
      row.error = "cannot list servers: " + listing.error().to_string();
      rows.push_back(std::move(row));
      continue;
    }
    const auto selected = select(p, *listing);
    std::vector<std::string> paths;
    paths.reserve(selected.size());
    for (const auto& server : selected) {
      paths.push_back(vault_path(cfg.vault.kv.path, *cloud_cfg, p, server));
    }
    // One Vault round trip per server: overlapped, as the scheduler does, so that a large fleet's
    // status takes seconds rather than minutes.
    const auto metadata = read_metadata_concurrently(
        runtime.vault(), paths, static_cast<std::size_t>(std::max(1, cfg.daemon.concurrency)));
    for (std::size_t i = 0; i < selected.size(); ++i) {
      const auto& server = selected[i];
      ServerStatus row;
      row.policy = p.name;
      row.server_id = server.id;
      row.server_name = server.name;
      row.state = "unrotated";
      if (metadata[i]) {
        const RecordMetadata parsed = parse_record_metadata(metadata[i]->custom_metadata);
        row.state = parsed.state;
        row.quarantined = parsed.quarantined;
        row.rotated_at = parsed.rotated_at;
        row.pending_since = parsed.pending_since;
        row.stale =
            metadata[i]->current_version > 0 && engine::RecordStore::mirror_is_stale(*metadata[i]);
      } else if (metadata[i].error().code() != ErrorCode::NotFound) {
        row.error = metadata[i].error().to_string();
      }
      row.next_due =
          row.state == "pending" ? now : config::due_at(p, row.rotated_at, server.id, now);
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

Result<Located> locate(Runtime& runtime, const std::string& server_id) {
  const auto& cfg = runtime.config();
  for (const auto& p : cfg.policies) {
    ecs::EcsClient* cloud = runtime.cloud(p.cloud);
    const config::Cloud* cloud_cfg = cfg.cloud(p.cloud);
    if (cloud == nullptr || cloud_cfg == nullptr) {
      continue;
    }
    auto listing = cloud->list_servers();
    if (!listing) {
      return fail(listing.error());
    }
    for (const auto& server : select(p, *listing)) {
      if (server.id == server_id) {
        return Located{vault_path(cfg.vault.kv.path, *cloud_cfg, p, server), p.name, p.cloud};
      }
    }
  }
  return fail(ErrorCode::NotFound, "server {} is not selected by any policy of {}", server_id,
              cfg.source.string());
}

Result<void> resume(Runtime& runtime, const std::string& server_id) {
  auto located = locate(runtime, server_id);
  if (!located) {
    return fail(located.error());
  }
  for (int round = 0; round < 5; ++round) {
    auto loaded = runtime.store().load(located->path);
    if (!loaded) {
      return fail(loaded.error());
    }
    if (loaded->version == 0) {
      return fail(ErrorCode::NotFound, "server {} has no record in Vault yet", server_id);
    }
    engine::ServerRecord record = std::move(loaded->record);
    if (record.quarantined.empty() && record.failed_cycles == 0) {
      return {};
    }
    const std::string reason = record.quarantined;
    record.quarantined.clear();
    record.failed_cycles = 0;
    auto saved = runtime.store().save(located->path, record, loaded->version);
    if (saved) {
      log::get("daemon")->warn("quarantine lifted by operator server={} policy={} was=\"{}\"",
                               server_id, located->policy, reason);
      return {};
    }
    if (saved.error().code() != ErrorCode::Conflict) {
      return fail(saved.error());
    }
  }
  return fail(ErrorCode::Conflict, "the record of {} keeps changing; try again", server_id);
}

std::vector<HeldPolicy> held_policies(Runtime& runtime, const std::optional<std::string>& policy) {
  std::vector<HeldPolicy> out;
  for (const auto& p : runtime.config().policies) {
    if (policy && *policy != p.name) {
      continue;
    }
    auto held = read_hold(runtime.vault(), p.name);
    if (!held) {
      out.push_back({p.name, "", "cannot read the hold: " + held.error().to_string()});
    } else if (*held) {
      out.push_back({p.name, (*held)->since, (*held)->reason});
    }
  }
  return out;
}

Result<bool> resume_policy(Runtime& runtime, const std::string& policy) {
  const auto& policies = runtime.config().policies;
  if (std::none_of(policies.begin(), policies.end(),
                   [&](const config::Policy& p) { return p.name == policy; })) {
    return fail(ErrorCode::NotFound, "no policy named '{}' in {}", policy,
                runtime.config().source.string());
  }
  auto held = read_hold(runtime.vault(), policy);
  if (!held) {
    return fail(held.error());
  }
  if (!*held) {
    return false;
  }
  if (auto lifted = lift_hold(runtime.vault(), policy, "rotor resume",
                              engine::format_time(runtime.clock().now()));
      !lifted) {
    return fail(lifted.error());
  }
  log::get("daemon")->warn("policy hold lifted by operator policy={} was=\"{}\"", policy,
                           (*held)->reason);
  return true;
}

}  // namespace rotor::daemon
