#pragma once
// What the daemon reads from a record's custom_metadata (the mirror the engine writes after each
// save, engine/record.h) without reading any secret: used by the scheduler, `rotor status` and
// the reconcile pass.

#include <map>
#include <optional>
#include <string>

#include "config/config.h"

namespace rotor::daemon {

struct RecordMetadata {
  std::string state = "unrotated";  // "unrotated" when the record has no state (or no record)
  std::string quarantined;          // the reason; empty when not quarantined
  std::optional<config::SysSeconds> rotated_at;
  std::optional<config::SysSeconds> pending_since;
  std::string policy;
  bool managed = false;     // managed_by: rotor
  bool gone = false;        // gone_since set by the reconcile pass
  bool unverified = false;  // restarted, the verification hook has not confirmed it yet
};

[[nodiscard]] RecordMetadata parse_record_metadata(
    const std::map<std::string, std::string>& custom_metadata);

}  // namespace rotor::daemon
