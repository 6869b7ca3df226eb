#include "daemon/reconcile.h"

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>

#include "common/log.h"
#include "daemon/packed_text.h"
#include "daemon/record_metadata.h"
#include "daemon/selection.h"
#include "engine/record.h"

namespace rotor::daemon {
namespace {

constexpr const char* kGoneSince = "gone_since";

// Offsets are 32-bit: 4 GiB of ids or paths is far beyond any fleet (a broken invariant).
std::uint32_t offset32(std::size_t at) {
  if (at > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("reconcile: more than 4 GiB of server ids or paths");
  }
  return static_cast<std::uint32_t>(at);
}

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

// ---------------------------------------------------------------------------------------------
// StringSet

std::string_view StringSet::rest(Span span) const {
  return std::string_view(text_).substr(span.at, span.size);
}

bool StringSet::less(Span a, Span b) const {
  return a.prefix != b.prefix ? a.prefix < b.prefix : rest(a) < rest(b);
}

void StringSet::add(std::string_view text) {
  const auto slash = text.rfind('/');
  const std::string_view folder =
      slash == std::string_view::npos ? std::string_view() : text.substr(0, slash + 1);
  if (prefixes_[last_prefix_] != folder) {
    const auto known = std::find(prefixes_.begin(), prefixes_.end(), folder);
    if (known != prefixes_.end()) {
      last_prefix_ = static_cast<std::uint32_t>(known - prefixes_.begin());
    } else if (prefixes_.size() < kMaxPrefixes) {
      last_prefix_ = static_cast<std::uint32_t>(prefixes_.size());
      prefixes_.emplace_back(folder);
    } else {
      last_prefix_ = 0;  // a table of folders this long would only slow every look-up
    }
  }
  const std::string_view stored = last_prefix_ == 0 ? text : text.substr(folder.size());
  spans_.push_back(Span{last_prefix_, offset32(text_.size()), offset32(stored.size())});
  text_.append(stored);
}

void StringSet::seal() {
  std::sort(spans_.begin(), spans_.end(), [this](Span a, Span b) { return less(a, b); });
  spans_.erase(std::unique(spans_.begin(), spans_.end(),
                           [this](Span a, Span b) { return !less(a, b) && !less(b, a); }),
               spans_.end());
  spans_.shrink_to_fit();
}

bool StringSet::has(std::uint32_t prefix, std::string_view wanted) const {
  const auto found = std::lower_bound(
      spans_.begin(), spans_.end(), wanted, [&](Span span, std::string_view value) {
        return span.prefix != prefix ? span.prefix < prefix : rest(span) < value;
      });
  return found != spans_.end() && found->prefix == prefix && rest(*found) == wanted;
}

bool StringSet::contains(std::string_view text) const {
  const auto slash = text.rfind('/');
  const std::string_view folder =
      slash == std::string_view::npos ? std::string_view() : text.substr(0, slash + 1);
  if (!folder.empty()) {
    const auto known = std::find(prefixes_.begin() + 1, prefixes_.end(), folder);
    if (known != prefixes_.end() &&
        has(static_cast<std::uint32_t>(known - prefixes_.begin()), text.substr(folder.size()))) {
      return true;
    }
  }
  return has(0, text);  // added whole (no folder, or past the table's end)
}

std::string StringSet::at(std::size_t i) const {
  const Span span = spans_[i];
  std::string text = prefixes_[span.prefix];
  text.append(rest(span));
  return text;
}

void StringSet::truncate(std::size_t count) {
  if (count >= spans_.size()) {
    return;
  }
  text_.resize(spans_[count].at);
  spans_.resize(count);
}

void StringSet::clear() {
  text_ = std::string();
  spans_ = std::vector<Span>();
  prefixes_.resize(1);
  last_prefix_ = 0;
}

// ---------------------------------------------------------------------------------------------
// ListedServers

std::string_view ListedServers::id_of(std::uint32_t index) const {
  const Entry& entry = entries_[index];
  return std::string_view(text_).substr(entry.at, entry.id_size);
}

std::string_view ListedServers::name_of(std::uint32_t index) const {
  const Entry& entry = entries_[index];
  return std::string_view(text_).substr(std::size_t{entry.at} + entry.id_size, entry.name_size);
}

void ListedServers::reserve(std::size_t servers, std::size_t id_bytes, std::size_t name_bytes) {
  entries_.reserve(servers);
  reserve_packed(text_, servers - std::min(servers, entries_.size()),
                 id_bytes + (with_names_ ? name_bytes : 0));
}

std::uint32_t ListedServers::add(std::string_view id, std::string_view name) {
  if (!with_names_) {
    name = {};
  }
  Entry entry{offset32(text_.size()), offset32(id.size()), offset32(name.size())};
  append_packed(text_, {id, name});
  entries_.push_back(entry);
  return offset32(entries_.size() - 1);
}

void ListedServers::mark_selected(std::size_t scope, std::uint32_t index) {
  if (selected_.size() <= scope) {
    selected_.resize(scope + 1);
  }
  auto& bits = selected_[scope];
  if (bits.size() <= index) {
    bits.resize(std::max<std::size_t>(index + 1, entries_.capacity()));
  }
  bits[index] = true;
}

bool ListedServers::selected(std::size_t scope, std::string_view key, bool by_name) const {
  if (scope >= selected_.size()) {
    return false;
  }
  const auto& bits = selected_[scope];
  const auto marked = [&bits](std::uint32_t index) { return index < bits.size() && bits[index]; };
  if (!by_name) {
    const auto index = index_of_id(key);
    return index && marked(*index);
  }
  for (auto it = std::lower_bound(by_name_.begin(), by_name_.end(), key,
                                  [this](std::uint32_t index, std::string_view wanted) {
                                    return name_of(index) < wanted;
                                  });
       it != by_name_.end() && name_of(*it) == key; ++it) {
    if (marked(*it)) {
      return true;
    }
  }
  return false;
}

void ListedServers::seal() {
  entries_.shrink_to_fit();
  text_.shrink_to_fit();
  by_id_.resize(entries_.size());
  for (std::uint32_t i = 0; i < by_id_.size(); ++i) {
    by_id_[i] = i;
  }
  std::sort(by_id_.begin(), by_id_.end(),
            [this](std::uint32_t a, std::uint32_t b) { return id_of(a) < id_of(b); });
  if (with_names_) {
    by_name_.resize(entries_.size());
    for (std::uint32_t i = 0; i < by_name_.size(); ++i) {
      by_name_[i] = i;
    }
    std::stable_sort(by_name_.begin(), by_name_.end(),
                     [this](std::uint32_t a, std::uint32_t b) { return name_of(a) < name_of(b); });
  }
}

bool ListedServers::contains_id(std::string_view id) const {
  return index_of_id(id).has_value();
}

std::optional<std::uint32_t> ListedServers::index_of_id(std::string_view id) const {
  const auto found = std::lower_bound(
      by_id_.begin(), by_id_.end(), id,
      [this](std::uint32_t index, std::string_view wanted) { return id_of(index) < wanted; });
  if (found == by_id_.end() || id_of(*found) != id) {
    return std::nullopt;
  }
  return *found;
}

std::optional<std::string_view> ListedServers::id_by_name(std::string_view name) const {
  // The end of the equal range: the last listed of that name.
  const auto after = std::upper_bound(
      by_name_.begin(), by_name_.end(), name,
      [this](std::string_view wanted, std::uint32_t index) { return wanted < name_of(index); });
  if (after == by_name_.begin() || name_of(*std::prev(after)) != name) {
    return std::nullopt;
  }
  return id_of(*std::prev(after));
}

// ---------------------------------------------------------------------------------------------

namespace {

// The folder a policy writes its records into, if its template can be listed per folder.
std::optional<ReconcileScope> policy_scope(const config::Config& config,
                                           const config::Policy& policy) {
  const config::Cloud* cloud = config.cloud(policy.cloud);
  if (cloud == nullptr) {
    return std::nullopt;
  }
  // Keep the per-server placeholders, fill in the rest.
  ecs::Server placeholder;
  placeholder.id = "{server_id}";
  placeholder.name = "{server_name}";
  const std::string path = vault_path(config.vault.kv.path, *cloud, policy, placeholder);
  const auto slash = path.rfind('/');
  const std::string last = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string folder = slash == std::string::npos ? std::string() : path.substr(0, slash);
  const bool by_id = last == "{server_id}";
  if ((!by_id && last != "{server_name}") || folder.empty() ||
      folder.find("{server_") != std::string::npos) {
    return std::nullopt;
  }
  return ReconcileScope{std::move(folder), policy.cloud, !by_id};
}

}  // namespace

std::vector<ReconcileScope> reconcile_scopes(const config::Config& config,
                                             std::vector<std::string>* unsupported) {
  std::vector<ReconcileScope> scopes;
  std::set<std::string> seen;
  for (const auto& policy : config.policies) {
    auto scope = policy_scope(config, policy);
    if (!scope) {
      if (unsupported != nullptr && config.cloud(policy.cloud) != nullptr) {
        unsupported->push_back(policy.name);
      }
      continue;
    }
    if (seen.insert(scope->folder).second) {
      scopes.push_back(std::move(*scope));
    }
  }
  return scopes;
}

std::vector<std::optional<std::size_t>> policy_scopes(const config::Config& config,
                                                      const std::vector<ReconcileScope>& scopes) {
  std::vector<std::optional<std::size_t>> numbers;
  for (const auto& policy : config.policies) {
    std::optional<std::size_t> number;
    if (auto scope = policy_scope(config, policy)) {
      for (std::size_t i = 0; i < scopes.size(); ++i) {
        if (scopes[i].folder == scope->folder) {
          number = i;
        }
      }
    }
    numbers.push_back(number);
  }
  return numbers;
}

ReconcileResult reconcile(Runtime& runtime, const std::vector<ReconcileScope>& scopes,
                          const std::map<std::string, ListedServers>& listings,
                          const StringSet& selected, const StringSet& marked,
                          config::SysSeconds now) {
  auto logger = log::get("reconcile");
  ReconcileResult result;
  vault::VaultClient& vault = runtime.vault();
  const std::string at = engine::format_time(now);

  for (std::size_t i = 0; i < marked.size(); ++i) {
    const std::string path = marked.at(i);
    auto metadata = vault.read_metadata(path);
    if (metadata && set_gone(vault, path, metadata->custom_metadata, std::nullopt)) {
      ++result.back;
      logger->info("server is back in the cloud; mark cleared path={}", path);
    }
  }

  for (std::size_t scope_number = 0; scope_number < scopes.size(); ++scope_number) {
    const ReconcileScope& scope = scopes[scope_number];
    auto listing = listings.find(scope.cloud);
    if (listing == listings.end()) {
      continue;  // not listed in this tick: never guess that a server is gone
    }
    const ListedServers& listed = listing->second;
    // One key at a time from the folder's answer (no vector of 100,000 keys beside the tick's
    // view, the listed ids and the selected paths).
    const auto on_key = [&](std::string_view listed_key) {
      const std::string key(listed_key);
      if (key.empty() || key.back() == '/') {
        return;  // a folder: not a server record
      }
      const std::string path = scope.folder + "/" + key;
      if (listed.selected(scope_number, key, scope.by_name) || selected.contains(path)) {
        return;  // the tick covers it
      }
      auto metadata = vault.read_metadata(path);
      if (!metadata) {
        if (metadata.error().code() != ErrorCode::NotFound) {
          result.errors.push_back("cannot read the metadata of " + path + ": " +
                                  metadata.error().to_string());
        }
        return;
      }
      const auto& custom = metadata->custom_metadata;
      const RecordMetadata parsed = parse_record_metadata(custom);
      if (!parsed.managed) {
        return;  // not a Rotor record: not ours to judge
      }
      const std::string& policy = parsed.policy;
      const std::string& state = parsed.state;
      const std::optional<std::string_view> server_id =
          scope.by_name
              ? listed.id_by_name(key)
              : (listed.contains_id(key) ? std::optional<std::string_view>(key) : std::nullopt);
      if (!server_id) {
        ++result.gone[policy];
        if (parsed.gone) {
          return;  // marked (and logged) before
        }
        if (auto written = set_gone(vault, path, custom, at); !written) {
          result.errors.push_back("cannot mark " + path + ": " + written.error().to_string());
          return;
        }
        ++result.newly_gone;
        logger->warn(
            "server gone from the cloud; its record is kept and marked server={} policy={} "
            "state={} path={}{}",
            key, policy, state, path,
            state == "pending" ? " note=\"its pending password stays in Vault\"" : "");
        return;
      }
      if (parsed.gone && set_gone(vault, path, custom, std::nullopt)) {
        ++result.back;
        logger->info("server is back in the cloud; mark cleared server={} path={}", key, path);
      }
      if (state == "pending") {
        // Rare (tags changed mid-rotation): the listing was not kept, so the server is read
        // again. Gone since the listing: left for the next pass, which will see it missing.
        ecs::EcsClient* cloud = runtime.cloud(scope.cloud);
        auto server = cloud == nullptr
                          ? Result<ecs::Server>(fail(ErrorCode::Internal, "unknown cloud"))
                          : cloud->get_server(*server_id);
        if (!server) {
          if (server.error().code() != ErrorCode::NotFound) {
            result.errors.push_back("cannot read the server of " + path + ": " +
                                    server.error().to_string());
          }
          return;
        }
        PendingOutside outside;
        outside.policy = policy;
        outside.cloud = scope.cloud;
        outside.target.server = std::move(*server);
        outside.target.vault_path = path;
        result.pending.push_back(std::move(outside));
      }
    };
    if (auto listed_keys = vault.list_each(scope.folder, on_key); !listed_keys) {
      result.errors.push_back("cannot list " + scope.folder + ": " +
                              listed_keys.error().to_string());
    }
  }
  return result;
}

}  // namespace rotor::daemon
