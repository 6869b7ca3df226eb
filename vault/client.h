#pragma once
// The Vault client of Rotor: KV v2 with check-and-set, token and AppRole auth with renewal and
// re-login, sys/health with sealed back-off. It speaks only through the HttpTransport seam and
// waits only through the Clock seam, so every behaviour is testable without a network or time.
//
// Thread-safe once start() has returned: the KV calls, health() and maybe_renew() may be made from
// many workers at once (the engine's workers share one client, so Vault round trips overlap);
// logins and renewals are serialised inside, and a token found invalid by several workers at once
// is replaced by one login. start() must not run concurrently with anything else.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/http.h"
#include "common/random.h"
#include "vault/auth.h"
#include "vault/config.h"
#include "vault/types.h"

namespace rotor::vault {

class VaultClient {
 public:
  VaultClient(VaultConfig config, Credentials credentials, HttpTransport& transport, Clock& clock,
              Random& random);
  VaultClient(const VaultClient&) = delete;
  VaultClient& operator=(const VaultClient&) = delete;
  ~VaultClient();

  // Start-up: sys/health (waiting out a sealed Vault, bounded), then AppRole login or token
  // lookup-self, then the KV mount check (a KV v1 mount is refused: rotation needs CAS).
  Result<void> start();

  // Renews the token when about 2/3 of its TTL has passed (with jitter), or logs in again
  // (AppRole) when renewal is capped by the max TTL or the token is not renewable. Cheap when
  // nothing is due; call it from the worker loop. `now` comes from Clock::monotonic().
  Result<void> maybe_renew();
  // When maybe_renew() will next act; nullopt when the token never expires.
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> next_renewal() const;
  [[nodiscard]] const TokenInfo& token_info() const noexcept;

  // sys/health without waiting. The status code is in HealthStatus::http_status.
  Result<HealthStatus> health();
  // sys/health until Vault is unsealed and usable (active, standby or performance standby), with
  // back-off bounded by RetryPolicy::sealed_max_wait.
  Result<HealthStatus> wait_until_ready();

  // The mount that holds `path` (sys/internal/ui/mounts, spec §2.11). Default: the kv mount.
  Result<MountInfo> mount_info(const std::string& mount = {});
  // Fails with ErrorCode::Unsupported and a clear message when the mount is KV v1.
  Result<void> require_kv_v2(const std::string& mount = {});

  // KV v2 on the configured mount; `path` is relative to the mount ("servers/db01").
  // NotFound when the key (or the version) does not exist; see KvSecret for deleted versions.
  Result<KvSecret> read(const std::string& path, std::optional<std::uint64_t> version = {});
  // Writes a new version. A check-and-set mismatch is ErrorCode::Conflict.
  Result<KvWriteResult> write(const std::string& path, const KvData& data, Cas cas);
  Result<KvMetadata> read_metadata(const std::string& path);
  Result<void> write_metadata(const std::string& path, const KvMetadataUpdate& update);
  // Keys under a folder ("servers/"); folders end with '/'. Empty when there is nothing.
  Result<std::vector<std::string>> list(const std::string& folder);
  // The same keys, handed to `on_key` one at a time once the whole answer was read and checked
  // (nothing is handed over from an answer that fails): no vector of every key.
  Result<void> list_each(const std::string& folder,
                         const std::function<void(std::string_view key)>& on_key);
  // Soft-deletes the latest version (DELETE {mount}/data/{path}).
  Result<void> soft_delete(const std::string& path);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace rotor::vault
