#pragma once
// The per-server secret in Vault (rotation-protocol.md, "The per-server secret"): what Rotor
// reads and writes at every step of a rotation. Field names are stable once released; they are
// listed in docs/rotation.md.
//
// Passwords the server may accept live in `password`, `previous_password`, `pending_password`
// and, while restarts are unconfirmed across several rotations, `previous_password_2`…`_N`
// (see ServerRecord::earlier). Everything else is plain text and is mirrored, in part, into the
// secret's custom_metadata so that a metadata scan finds states and ages without reading secrets.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/secret.h"
#include "vault/types.h"

namespace rotor::engine {

enum class State {
  Unrotated,        // Rotor has never set a password on this server (no `password` yet)
  Current,          // the server accepts `password`
  Pending,          // a rotation is in flight: `pending_password` may or may not be applied
  AwaitingRestart,  // `password` was accepted by the API and becomes effective at the next
                    // (re)start; until then the server accepts `previous_password` (or earlier)
};
std::string_view to_string(State state) noexcept;
std::optional<State> parse_state(std::string_view text) noexcept;

struct ServerRecord {
  std::string username;
  Secret password;
  Secret previous_password;
  // Older passwords that the server may still accept because no restart was confirmed between
  // rotations, newest first: stored as previous_password_2, previous_password_3, ….
  std::vector<Secret> earlier;
  Secret pending_password;
  State state = State::Unrotated;
  // While pending: the state before the rotation began (restored if the cloud refuses for good).
  State prior_state = State::Unrotated;
  std::string rotation_id;
  std::string rotated_at;     // RFC 3339 UTC; empty before the first rotation
  std::string pending_since;  // RFC 3339 UTC while pending
  std::string policy;
  std::string server_name;
  std::string last_error;    // never a secret
  int attempts = 0;          // reset calls made for the pending password
  int unknown_outcomes = 0;  // of those, how many ended with an unknown outcome
  int failed_cycles = 0;     // rotations that ended in a definite failure, in a row
  std::string quarantined;   // a human reason; empty when not quarantined
  // With a verification hook: when the hook last confirmed `password` (RFC 3339 UTC).
  std::string verified_at;
  // With a verification hook: when a reboot job confirmed the restart that made `password`
  // effective, while the hook has not yet confirmed it (state stays awaiting_restart and every
  // older password is kept). Empty otherwise.
  std::string restarted_at;
  // While pending: the last definite refusal of the pending password ("HTTP 400 Ecs.0005"). The
  // same refusal twice retires the password (it may have been set) and starts a fresh one.
  std::string last_refusal;
  // The fingerprint (no secret) of the password settings and server image that the cloud
  // refused with a 400; no new rotation until one of them changes (or `rotor resume`).
  std::string refused_fingerprint;

  // True when a confirmed restart still waits for the verification hook.
  [[nodiscard]] bool awaiting_verification() const noexcept {
    return state == State::AwaitingRestart && !restarted_at.empty();
  }

  // The secret as KV v2 fields (sensitive ones as Secret copies).
  [[nodiscard]] vault::KvData to_kv() const;
  // Reads the fields back; unknown fields are ignored, a missing state is Unrotated or Current.
  static ServerRecord from_kv(const vault::KvData& data);
  // The custom_metadata mirror: state, rotated_at, policy, quarantined (no secret).
  [[nodiscard]] std::map<std::string, std::string> metadata() const;
  // A deep copy (Secrets are copied into fresh secure memory).
  [[nodiscard]] ServerRecord clone() const;
};

// Formats a time as RFC 3339 UTC with seconds ("2026-11-23T11:00:00Z").
std::string format_time(std::chrono::system_clock::time_point time);
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text);

}  // namespace rotor::engine
