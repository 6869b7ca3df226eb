#include "daemon/record_metadata.h"

#include "engine/record.h"

namespace rotor::daemon {
namespace {

std::optional<config::SysSeconds> time_of(const std::map<std::string, std::string>& metadata,
                                          const char* key) {
  auto found = metadata.find(key);
  if (found == metadata.end()) {
    return std::nullopt;
  }
  auto parsed = engine::parse_time(found->second);
  if (!parsed) {
    return std::nullopt;
  }
  return std::chrono::time_point_cast<std::chrono::seconds>(*parsed);
}

std::string text_of(const std::map<std::string, std::string>& metadata, const char* key) {
  auto found = metadata.find(key);
  return found == metadata.end() ? std::string() : found->second;
}

}  // namespace

RecordMetadata parse_record_metadata(const std::map<std::string, std::string>& custom_metadata) {
  RecordMetadata out;
  if (auto state = text_of(custom_metadata, "state"); !state.empty()) {
    out.state = std::move(state);
  }
  out.quarantined = text_of(custom_metadata, "quarantined");
  out.rotated_at = time_of(custom_metadata, "rotated_at");
  out.pending_since = time_of(custom_metadata, "pending_since");
  out.policy = text_of(custom_metadata, "policy");
  out.managed = text_of(custom_metadata, "managed_by") == "rotor";
  out.gone = custom_metadata.count("gone_since") != 0;
  out.unverified = custom_metadata.count("unverified_since") != 0;
  return out;
}

}  // namespace rotor::daemon
