#include "tests/chaos/oracle.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <sstream>

namespace rotor::chaos {

using nlohmann::json;

std::vector<ServerTruth> parse_ecs_servers(const json& body) {
  std::vector<ServerTruth> out;
  for (const auto& item : body.at("servers")) {
    ServerTruth server;
    server.id = item.at("id").get<std::string>();
    server.name = item.value("name", "");
    server.windows = item.value("os_type", "") == "Windows";
    server.plugin = item.value("plugin", true);
    server.current_password = item.at("current_password").get<std::string>();
    server.after_restart_password = item.at("after_restart_password").get<std::string>();
    for (const auto& record : item.at("history")) {
      server.history.push_back(record.at("password").get<std::string>());
    }
    out.push_back(std::move(server));
  }
  return out;
}

bool is_password_field(std::string_view field) {
  return field == "password" || field == "pending_password" || field == "previous_password" ||
         field.starts_with("previous_password_");
}

std::map<std::string, RecordTruth> parse_vault_dump(const json& dump, const std::string& mount,
                                                    const std::string& prefix) {
  std::map<std::string, RecordTruth> out;
  const auto& secrets = dump.at("mounts").at(mount).at("secrets");
  for (const auto& [path, key] : secrets.items()) {
    if (!path.starts_with(prefix)) {
      continue;
    }
    RecordTruth record;
    const auto& versions = key.at("versions");
    const std::string latest = std::to_string(key.at("current_version").get<long>());
    for (const auto& [number, version] : versions.items()) {
      const auto& data = version.at("data");
      if (!data.is_object()) {
        continue;
      }
      for (const auto& [field, value] : data.items()) {
        if (!value.is_string()) {
          continue;
        }
        if (is_password_field(field)) {
          record.all_passwords.push_back(value.get<std::string>());
        }
        if (number == latest && !version.value("deleted", false)) {
          record.latest[field] = value.get<std::string>();
        }
      }
    }
    out[path.substr(prefix.size())] = std::move(record);
  }
  return out;
}

namespace {

bool record_holds(const RecordTruth* record, const std::string& password) {
  if (record == nullptr) {
    return false;
  }
  return std::any_of(record->latest.begin(), record->latest.end(), [&](const auto& field) {
    return is_password_field(field.first) && field.second == password;
  });
}

const RecordTruth* find_record(const Snapshot& snapshot, const std::string& id) {
  auto found = snapshot.records.find(id);
  return found == snapshot.records.end() ? nullptr : &found->second;
}

// A password that no reset API ever accepted is the operator's initial one.
bool set_by_reset(const ServerTruth& server, const std::string& password) {
  return std::find(server.history.begin(), server.history.end(), password) != server.history.end();
}

}  // namespace

std::vector<std::string> check_no_lockout(const Snapshot& snapshot) {
  std::vector<std::string> violations;
  for (const auto& server : snapshot.servers) {
    const RecordTruth* record = find_record(snapshot, server.id);
    const auto check = [&](const std::string& password, std::string_view when) {
      if (set_by_reset(server, password) && !record_holds(record, password)) {
        violations.push_back(fmt::format(
            "I1: server {} ({}) accepts {} a password that is not in the latest version of its "
            "Vault secret{}",
            server.id, server.name, when, record == nullptr ? " (no secret at all)" : ""));
      }
    };
    check(server.current_password, "now");
    if (server.after_restart_password != server.current_password) {
      check(server.after_restart_password, "after its restart");
    }
  }
  return violations;
}

std::vector<std::string> check_unique_and_fresh(
    const Snapshot& snapshot, const std::set<std::string>& unique_ids,
    const std::map<std::string, std::string>& policy_of) {
  std::vector<std::string> violations;
  // password → the servers whose history holds it
  std::map<std::string, std::set<std::string>> holders;
  for (const auto& server : snapshot.servers) {
    for (const auto& password : server.history) {
      holders[password].insert(server.id);
    }
    if (unique_ids.count(server.id) == 0) {
      continue;
    }
    // Consecutive repeats are the same pending password sent again; anything else is a reuse.
    std::vector<std::string> distinct;
    for (const auto& password : server.history) {
      if (distinct.empty() || distinct.back() != password) {
        distinct.push_back(password);
      }
    }
    std::set<std::string> seen;
    for (const auto& password : distinct) {
      if (!seen.insert(password).second) {
        violations.push_back(fmt::format("I2: server {} ({}) was given a password it had before",
                                         server.id, server.name));
        break;
      }
    }
  }
  const auto policy = [&](const std::string& id) {
    auto found = policy_of.find(id);
    return found == policy_of.end() ? std::string("(none)") : found->second;
  };
  for (const auto& [password, ids] : holders) {
    if (ids.size() < 2) {
      continue;
    }
    const std::string first = *ids.begin();
    for (const auto& id : ids) {
      if (unique_ids.count(id) != 0) {
        violations.push_back(fmt::format(
            "I2: server {} (unique mode, policy {}) shares a password with {} other server(s)", id,
            policy(id), ids.size() - 1));
      } else if (policy(id) != policy(first)) {
        violations.push_back(fmt::format(
            "I2: shared-mode server {} (policy {}) shares a password with server {} of policy {}",
            id, policy(id), first, policy(first)));
      }
    }
  }
  return violations;
}

std::vector<std::string> check_progress(const Snapshot& snapshot) {
  std::vector<std::string> violations;
  for (const auto& server : snapshot.servers) {
    const RecordTruth* record = find_record(snapshot, server.id);
    const auto field = [&](const std::string& name) -> std::string {
      if (record == nullptr) {
        return {};
      }
      auto found = record->latest.find(name);
      return found == record->latest.end() ? std::string() : found->second;
    };
    if (record != nullptr && (field("state") == "pending" || !field("pending_password").empty())) {
      violations.push_back(
          fmt::format("I4: server {} ({}) still has a pending rotation", server.id, server.name));
      continue;
    }
    if (!server.plugin) {
      if (field("quarantined").empty()) {
        violations.push_back(
            fmt::format("I4: server {} ({}) has no reset plug-in and is not quarantined", server.id,
                        server.name));
      }
      continue;
    }
    const std::string password = field("password");
    if (record == nullptr || field("rotated_at").empty() || password.empty() ||
        !set_by_reset(server, password)) {
      violations.push_back(fmt::format("I4: server {} ({}) was never rotated (state '{}')",
                                       server.id, server.name,
                                       record == nullptr ? "no secret" : field("state")));
    }
  }
  return violations;
}

std::map<std::pair<std::string, std::string>, long> state_counts(
    const Snapshot& snapshot, const std::map<std::string, std::string>& policy_of) {
  std::map<std::pair<std::string, std::string>, long> counts;
  for (const auto& server : snapshot.servers) {
    auto policy = policy_of.find(server.id);
    if (policy == policy_of.end()) {
      continue;
    }
    std::string state = "unrotated";
    if (const RecordTruth* record = find_record(snapshot, server.id)) {
      auto quarantined = record->latest.find("quarantined");
      auto recorded = record->latest.find("state");
      if (quarantined != record->latest.end() && !quarantined->second.empty()) {
        state = "quarantined";
      } else if (recorded != record->latest.end()) {
        state = recorded->second;
      }
    }
    ++counts[{policy->second, state}];
  }
  return counts;
}

std::map<std::pair<std::string, std::string>, long> scraped_state_counts(std::string_view scrape) {
  std::map<std::pair<std::string, std::string>, long> counts;
  std::istringstream lines{std::string(scrape)};
  std::string line;
  const auto label = [](const std::string& text, const std::string& name) {
    const std::string key = name + "=\"";
    const auto at = text.find(key);
    if (at == std::string::npos) {
      return std::string();
    }
    const auto start = at + key.size();
    return text.substr(start, text.find('"', start) - start);
  };
  while (std::getline(lines, line)) {
    if (!line.starts_with("rotor_servers{")) {
      continue;
    }
    const auto close = line.find('}');
    const double value = std::stod(line.substr(close + 1));
    if (value != 0) {
      counts[{label(line, "policy"), label(line, "state")}] = static_cast<long>(value);
    }
  }
  return counts;
}

void LeakScanner::add_password(const std::string& password) {
  if (password.size() < 8) {
    return;  // no generated or initial password is this short; avoids matching common words
  }
  if (known_.insert(password).second) {
    hashes_.insert(std::hash<std::string_view>{}(password));
    lengths_.insert(password.size());
  }
}

void LeakScanner::add_snapshot(const Snapshot& snapshot) {
  for (const auto& server : snapshot.servers) {
    add_password(server.current_password);
    add_password(server.after_restart_password);
    for (const auto& password : server.history) {
      add_password(password);
    }
  }
  for (const auto& [id, record] : snapshot.records) {
    for (const auto& password : record.all_passwords) {
      add_password(password);
    }
  }
}

std::size_t LeakScanner::scan(std::string_view text, const std::string& origin) {
  ++texts_;
  bytes_ += text.size();
  std::size_t found = 0;
  const std::hash<std::string_view> hash;
  for (const std::size_t length : lengths_) {
    for (std::size_t at = 0; at + length <= text.size(); ++at) {
      const std::string_view window = text.substr(at, length);
      if (hashes_.count(hash(window)) != 0 && known_.count(std::string(window)) != 0) {
        ++found;
        findings_.push_back(fmt::format("leak: a known password in {} at byte {}", origin, at));
      }
    }
  }
  return found;
}

}  // namespace rotor::chaos
