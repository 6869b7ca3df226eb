#include "engine/record.h"

#include <fmt/format.h>
#include <charconv>
#include <ctime>

namespace rotor::engine {

std::string_view to_string(State state) noexcept {
  switch (state) {
    case State::Unrotated: return "unrotated";
    case State::Current: return "current";
    case State::Pending: return "pending";
    case State::AwaitingRestart: return "awaiting_restart";
  }
  return "unrotated";
}

std::optional<State> parse_state(std::string_view text) noexcept {
  for (State s : {State::Unrotated, State::Current, State::Pending, State::AwaitingRestart}) {
    if (text == to_string(s)) {
      return s;
    }
  }
  return std::nullopt;
}

namespace {

Secret copy(const Secret& secret) {
  return Secret::from(secret.reveal());
}

void put_secret(vault::KvData& data, const std::string& name, const Secret& value) {
  if (!value.empty()) {
    data.secrets.emplace(name, copy(value));
  }
}

void put_text(vault::KvData& data, const std::string& name, const std::string& value) {
  if (!value.empty()) {
    data.plain.emplace(name, value);
  }
}

int to_int(const std::string* text) {
  int value = 0;
  if (text != nullptr) {
    std::from_chars(text->data(), text->data() + text->size(), value);
  }
  return value;
}

std::string earlier_name(std::size_t index) {
  return fmt::format("previous_password_{}", index + 2);
}

}  // namespace

vault::KvData ServerRecord::to_kv() const {
  vault::KvData data;
  put_text(data, "username", username);
  put_secret(data, "password", password);
  put_secret(data, "previous_password", previous_password);
  for (std::size_t i = 0; i < earlier.size(); ++i) {
    put_secret(data, earlier_name(i), earlier[i]);
  }
  put_secret(data, "pending_password", pending_password);
  data.plain.emplace("state", std::string(to_string(state)));
  if (state == State::Pending) {
    data.plain.emplace("prior_state", std::string(to_string(prior_state)));
  }
  put_text(data, "rotation_id", rotation_id);
  put_text(data, "rotated_at", rotated_at);
  put_text(data, "pending_since", pending_since);
  put_text(data, "policy", policy);
  put_text(data, "server_name", server_name);
  put_text(data, "last_error", last_error);
  data.plain.emplace("attempts", std::to_string(attempts));
  data.plain.emplace("unknown_outcomes", std::to_string(unknown_outcomes));
  data.plain.emplace("failed_cycles", std::to_string(failed_cycles));
  put_text(data, "quarantined", quarantined);
  put_text(data, "verified_at", verified_at);
  put_text(data, "restarted_at", restarted_at);
  put_text(data, "last_refusal", last_refusal);
  put_text(data, "refused_fingerprint", refused_fingerprint);
  return data;
}

ServerRecord ServerRecord::from_kv(const vault::KvData& data) {
  ServerRecord record;
  const auto text = [&](const char* name) {
    const std::string* value = data.text(name);
    return value != nullptr ? *value : std::string();
  };
  const auto secret = [&](const std::string& name) {
    const Secret* value = data.secret(name);
    return value != nullptr ? copy(*value) : Secret();
  };
  record.username = text("username");
  record.password = secret("password");
  record.previous_password = secret("previous_password");
  for (std::size_t i = 0;; ++i) {
    Secret older = secret(earlier_name(i));
    if (older.empty()) {
      break;
    }
    record.earlier.push_back(std::move(older));
  }
  record.pending_password = secret("pending_password");
  const auto state = parse_state(text("state"));
  record.state = state.value_or(record.password.empty() ? State::Unrotated : State::Current);
  record.prior_state = parse_state(text("prior_state"))
                           .value_or(record.password.empty() ? State::Unrotated : State::Current);
  record.rotation_id = text("rotation_id");
  record.rotated_at = text("rotated_at");
  record.pending_since = text("pending_since");
  record.policy = text("policy");
  record.server_name = text("server_name");
  record.last_error = text("last_error");
  record.attempts = to_int(data.text("attempts"));
  record.unknown_outcomes = to_int(data.text("unknown_outcomes"));
  record.failed_cycles = to_int(data.text("failed_cycles"));
  record.quarantined = text("quarantined");
  record.verified_at = text("verified_at");
  record.restarted_at = text("restarted_at");
  record.last_refusal = text("last_refusal");
  record.refused_fingerprint = text("refused_fingerprint");
  return record;
}

std::map<std::string, std::string> ServerRecord::metadata() const {
  std::map<std::string, std::string> out{
      {"state", std::string(to_string(state))}, {"policy", policy}, {"managed_by", "rotor"}};
  if (!rotated_at.empty()) {
    out.emplace("rotated_at", rotated_at);
  }
  if (!quarantined.empty()) {
    out.emplace("quarantined", quarantined);
  }
  if (!pending_since.empty()) {
    out.emplace("pending_since", pending_since);
  }
  if (awaiting_verification()) {
    out.emplace("unverified_since", restarted_at);  // a scan finds verifications to retry
  }
  if (!verified_at.empty()) {
    out.emplace("verified_at", verified_at);
  }
  return out;
}

ServerRecord ServerRecord::clone() const {
  return from_kv(to_kv());
}

std::string format_time(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {text, length};
}

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text) {
  std::tm utc{};
  const std::string copy_of(text);
  const char* end = strptime(copy_of.c_str(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(timegm(&utc));
}

}  // namespace rotor::engine
