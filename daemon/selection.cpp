#include "daemon/selection.h"

#include <algorithm>

namespace rotor::daemon {
namespace {

bool has_tag(const ecs::Server& server, const std::string& key, const std::string& value) {
  const std::string wanted = key + "=" + value;
  return std::find(server.tags.begin(), server.tags.end(), wanted) != server.tags.end();
}

bool contains(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

bool matches(const config::Selector& selector, const ecs::Server& server) {
  if (contains(selector.exclude_ids, server.id)) {
    return false;
  }
  if (!selector.ids.empty() && !contains(selector.ids, server.id)) {
    return false;
  }
  for (const auto& [key, value] : selector.tags) {
    if (!has_tag(server, key, value)) {
      return false;
    }
  }
  switch (selector.os) {
    case config::OsSelector::Linux:
      if (server.os_type != "Linux") {
        return false;
      }
      break;
    case config::OsSelector::Windows:
      if (server.os_type != "Windows") {
        return false;
      }
      break;
    case config::OsSelector::Any: break;
  }
  if (selector.name && selector.name->compiled &&
      !std::regex_search(server.name, *selector.name->compiled)) {
    return false;
  }
  return true;
}

std::vector<ecs::Server> select(const config::Policy& policy,
                                const std::vector<ecs::Server>& listing) {
  std::vector<ecs::Server> selected;
  for (const auto& server : listing) {
    if (matches(policy.select, server)) {
      selected.push_back(server);
    }
  }
  return selected;
}

std::vector<std::size_t> select_indexes(const config::Policy& policy,
                                        std::span<const ecs::Server> listing) {
  std::vector<std::size_t> selected;
  for (std::size_t i = 0; i < listing.size(); ++i) {
    if (matches(policy.select, listing[i])) {
      selected.push_back(i);
    }
  }
  return selected;
}

std::string vault_path(const std::string& path_template, const config::Cloud& cloud,
                       const config::Policy& policy, const ecs::Server& server) {
  std::string path = path_template;
  replace_all(path, "{cloud}", cloud.name);
  replace_all(path, "{project_id}", cloud.project_id);
  replace_all(path, "{server_id}", server.id);
  replace_all(path, "{server_name}", server.name);
  replace_all(path, "{policy}", policy.name);
  return path;
}

}  // namespace rotor::daemon
