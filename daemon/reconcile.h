#pragma once
// The reconcile pass (rotation-protocol.md, "Finding work"): at start-up and periodically, the
// Vault records under each policy's folder are compared with the complete ECS listing (of which
// only the ids, and names where a template is by name, are kept: ListedServers).
//  - A record whose server is no longer in the cloud is marked (custom_metadata `gone_since`),
//    never deleted, logged once (the mark makes it once, across restarts too) and counted; the
//    mark is cleared when the server shows up again.
//  - A pending record of a server that still exists but that no policy selects any more (its tags
//    changed mid-rotation) is handed back to be resumed with its own pending password (I4).
// Only records written by Rotor (`managed_by: rotor`) are touched. A path template whose last
// segment is not exactly {server_id} or {server_name} cannot be listed per folder; such policies
// are named in `unsupported` (and logged once by the caller).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "daemon/runtime.h"
#include "ecs/client.h"
#include "engine/rotator.h"

namespace rotor::daemon {

// A set of strings in one text buffer, compared exactly: 12 bytes a string beyond its text, where
// a std::set<std::string> node took ~80 (the tick's selected Vault paths: one per server). The
// part up to the last '/' (a record's folder, shared by a policy's records) is kept once, for
// the first kMaxPrefixes folders. add() in any order, then seal() (sorted, duplicates dropped)
// before contains() and at().
class StringSet {
 public:
  void add(std::string_view text);
  void seal();
  [[nodiscard]] bool contains(std::string_view text) const;
  [[nodiscard]] std::size_t size() const noexcept { return spans_.size(); }
  [[nodiscard]] bool empty() const noexcept { return spans_.empty(); }
  [[nodiscard]] std::string at(std::size_t i) const;
  // Keeps the first `count` strings added (before seal): drops what a failed step added.
  void truncate(std::size_t count);
  void clear();

 private:
  static constexpr std::size_t kMaxPrefixes = 64;
  struct Span {
    std::uint32_t prefix = 0;  // into prefixes_; 0 is "" (the whole string in text_)
    std::uint32_t at = 0;
    std::uint32_t size = 0;
  };
  [[nodiscard]] std::string_view rest(Span span) const;
  [[nodiscard]] bool less(Span a, Span b) const;
  [[nodiscard]] bool has(std::uint32_t prefix, std::string_view wanted) const;
  std::string text_;
  std::vector<Span> spans_;
  std::vector<std::string> prefixes_{std::string()};
  std::uint32_t last_prefix_ = 0;  // consecutive strings mostly share their folder
};

// What the reconcile pass needs of one cloud's complete listing: the servers' ids, and their
// names when a record template of that cloud is by name (~60 bytes a server, where the listing's
// ecs::Server took ~700). add() in listing order, then seal() before the look-ups.
//
// It also remembers which servers the tick selected into which reconcile scope (a bit per server
// and scope): the records the tick already covers, which the pass skips. A set of their paths
// took ~48 bytes a server.
class ListedServers {
 public:
  explicit ListedServers(bool with_names = false) : with_names_(with_names) {}
  // Room for `servers`, of about `id_bytes` of id and `name_bytes` of name each (the names
  // only where they are kept).
  void reserve(std::size_t servers, std::size_t id_bytes, std::size_t name_bytes);
  // Returns the server's index (its place in the listing).
  std::uint32_t add(std::string_view id, std::string_view name);
  void seal();
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool contains_id(std::string_view id) const;
  // The index of the server of that id; sealed only.
  [[nodiscard]] std::optional<std::uint32_t> index_of_id(std::string_view id) const;
  // The id of the server of that name (of several with one name, the last listed, as the full
  // listing's map by name had it). Always empty without names.
  [[nodiscard]] std::optional<std::string_view> id_by_name(std::string_view name) const;

  // The server at `index` is selected into the scope numbered `scope` (reconcile_scopes order).
  void mark_selected(std::size_t scope, std::uint32_t index);
  // Whether the record `key` of scope `scope` (keyed by id or, `by_name`, by name) belongs to a
  // server marked selected into it. By name: any of the servers of that name. Sealed only.
  [[nodiscard]] bool selected(std::size_t scope, std::string_view key, bool by_name) const;

 private:
  struct Entry {
    std::uint32_t at = 0;  // id, then name, in text_
    std::uint32_t id_size = 0;
    std::uint32_t name_size = 0;
  };
  [[nodiscard]] std::string_view id_of(std::uint32_t index) const;
  [[nodiscard]] std::string_view name_of(std::uint32_t index) const;
  bool with_names_;
  std::string text_;
  std::vector<Entry> entries_;               // in listing order
  std::vector<std::uint32_t> by_id_;         // entries_ indexes, sorted by id
  std::vector<std::uint32_t> by_name_;       // sorted by name, then listing order (with names only)
  std::vector<std::vector<bool>> selected_;  // by scope, then by index
};

// One Vault folder holding one record per server of one cloud.
struct ReconcileScope {
  std::string folder;  // relative to the KV mount, without a trailing '/'
  std::string cloud;
  bool by_name = false;  // the keys are server names ({server_name}), not ids
};

// The distinct folders of the configured policies; policies whose template cannot be listed go
// to `unsupported`.
[[nodiscard]] std::vector<ReconcileScope> reconcile_scopes(const config::Config& config,
                                                           std::vector<std::string>* unsupported);

struct PendingOutside {
  std::string policy;  // the policy named in the record
  std::string cloud;
  engine::Target target;
};

struct ReconcileResult {
  std::map<std::string, std::size_t> gone;  // marked records, by the policy named in the record
  std::size_t newly_gone = 0;
  std::size_t back = 0;                 // marks cleared: the server is listed again
  std::vector<PendingOutside> pending;  // pending records outside every selection
  std::vector<std::string> errors;      // folders or records that could not be read
};

// The scope numbers (reconcile_scopes order) that each policy writes its records into, in the
// config's policy order; none for a policy whose template cannot be listed. `scopes`: the
// config's reconcile_scopes().
[[nodiscard]] std::vector<std::optional<std::size_t>> policy_scopes(
    const config::Config& config, const std::vector<ReconcileScope>& scopes);

// `listings`: the complete listing of every cloud listed in this tick (others are skipped: never
// mark a server gone on a failed listing), sealed, with the servers the tick selected marked.
// `selected`: the Vault paths the tick also covers, of servers selected from a later listing of
// the same cloud but missing from the kept one (a server that appeared in between).
// `marked`: selected paths whose metadata still carries `gone_since` (to be cleared). Both
// sealed. A pending record outside every selection is a rare case: its server is fetched by id
// (EcsClient::get_server) for the resume.
// `scopes`: reconcile_scopes() of the configuration the tick ran with, whose numbers the marks
// of `listings` use.
ReconcileResult reconcile(Runtime& runtime, const std::vector<ReconcileScope>& scopes,
                          const std::map<std::string, ListedServers>& listings,
                          const StringSet& selected, const StringSet& marked,
                          config::SysSeconds now);

}  // namespace rotor::daemon
