#include "config/loader_support.h"

#include <algorithm>
#include <charconv>

namespace rotor::config::detail {

namespace {

constexpr std::size_t kMaxCollected = 10000;

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0U : 1U)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

Position Context::position(const YAML::Mark& mark) const {
  if (mark.is_null() || mark.line < 0) {
    return Position{file_, 0, 0};
  }
  return Position{file_, mark.line + 1, mark.column + 1};
}

void Context::error(const YAML::Mark& mark, std::string message) {
  error(position(mark), std::move(message));
}

void Context::error(const Position& where, std::string message) {
  if (diagnostics_.size() >= kMaxCollected) {
    ++dropped_;
    return;
  }
  diagnostics_.push_back(Diagnostic{where, std::move(message)});
}

Diagnostics Context::take() {
  std::stable_sort(
      diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
      });
  // The same message at the same place once only (e.g. a reason that holds for two OSes).
  diagnostics_.erase(std::unique(diagnostics_.begin(), diagnostics_.end()), diagnostics_.end());
  if (diagnostics_.size() + dropped_ > kMaxDiagnostics) {
    const std::size_t total = diagnostics_.size() + dropped_;
    diagnostics_.resize(kMaxDiagnostics);
    diagnostics_.push_back(Diagnostic{
        Position{file_, 0, 0}, "too many errors (" + std::to_string(total) +
                                   "); showing the first " + std::to_string(kMaxDiagnostics)});
  }
  return std::move(diagnostics_);
}

std::optional<std::string> Context::env(std::string_view name) const {
  if (!options_.env) {
    return std::nullopt;
  }
  auto value = options_.env(name);
  if (value && value->empty()) {
    return std::nullopt;  // an empty variable counts as unset
  }
  return value;
}

std::string type_error(std::string_view key, std::string_view expected) {
  return "invalid type for '" + std::string(key) + "' (expected " + std::string(expected) + ")";
}

bool is_plain(const YAML::Node& node) {
  return node.Tag() == "?";
}

YAML::Mark mark_of(const YAML::Node& node, const YAML::Mark& fallback) {
  // A missing value (`key:`) is reported at its key, not at the next token.
  const YAML::Mark mark = node.Mark();
  return (node.IsNull() || mark.is_null() || mark.line < 0) ? fallback : mark;
}

Map::Map(Context& ctx, const YAML::Node& node) : ctx_(ctx), mark_(node.Mark()) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      ctx_.error(mark_of(key, mark_), "invalid type for a key (expected a string)");
      continue;
    }
    const std::string& name = key.Scalar();
    const bool seen = std::any_of(entries_.begin(), entries_.end(),
                                  [&name](const Entry& entry) { return entry.key == name; });
    if (!seen) {
      entries_.push_back(Entry{name, key.Mark(), it->second, false});
    }
  }
}

Map::Entry* Map::find(std::string_view key) {
  known(key);
  for (Entry& entry : entries_) {
    if (entry.key == key) {
      entry.used = true;
      return &entry;
    }
  }
  return nullptr;
}

void Map::known(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
    known_.emplace_back(key);
  }
}

void Map::finish() {
  for (const Entry& entry : entries_) {
    if (entry.used) {
      continue;
    }
    std::string message = "unknown parameter '" + entry.key + "'";
    std::string_view best;
    std::size_t best_distance = 3;
    for (const std::string& candidate : known_) {
      const std::size_t distance = edit_distance(entry.key, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
    if (!best.empty() && entry.key.size() > 2) {
      message += " (did you mean '" + std::string(best) + "'?)";
    }
    ctx_.error(entry.key_mark, std::move(message));
  }
}

void Map::missing(std::string_view key, std::string_view alternative) {
  std::string message = "missing parameter '" + std::string(key) + "'";
  if (!alternative.empty()) {
    message += " (" + std::string(alternative) + ")";
  }
  ctx_.error(mark_, std::move(message));
}

std::optional<std::string> Map::string(std::string_view key, bool required) {
  Entry* entry = find(key);
  if (entry == nullptr) {
    if (required) {
      missing(key);
    }
    return std::nullopt;
  }
  if (!entry->value.IsScalar()) {
    ctx_.error(mark_of(entry->value, entry->key_mark), type_error(key, "a string"));
    return std::nullopt;
  }
  return entry->value.Scalar();
}

std::optional<std::int64_t> Map::integer(std::string_view key, std::int64_t min, std::int64_t max,
                                         bool required) {
  Entry* entry = find(key);
  if (entry == nullptr) {
    if (required) {
      missing(key);
    }
    return std::nullopt;
  }
  const YAML::Mark mark = mark_of(entry->value, entry->key_mark);
  const std::string expected = "an integer";
  if (!entry->value.IsScalar() || !is_plain(entry->value)) {
    ctx_.error(mark, type_error(key, expected));
    return std::nullopt;
  }
  const std::string& text = entry->value.Scalar();
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin != end && *begin == '+') {
    ++begin;
  }
  if (begin == end ||
      !std::all_of(*begin == '-' ? begin + 1 : begin, end,
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      (*begin == '-' && begin + 1 == end)) {
    ctx_.error(mark, type_error(key, expected));
    return std::nullopt;
  }
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max) {
    ctx_.error(mark, "'" + std::string(key) + "' (" + text + ") not within " + std::to_string(min) +
                         ".." + std::to_string(max));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Map::boolean(std::string_view key) {
  Entry* entry = find(key);
  if (entry == nullptr) {
    return std::nullopt;
  }
  const YAML::Mark mark = mark_of(entry->value, entry->key_mark);
  if (entry->value.IsScalar() && is_plain(entry->value)) {
    const std::string& text = entry->value.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") {
      return true;
    }
    if (text == "false" || text == "False" || text == "FALSE") {
      return false;
    }
  }
  ctx_.error(mark, type_error(key, "true or false"));
  return std::nullopt;
}

std::optional<std::chrono::seconds> Map::duration(std::string_view key, std::chrono::seconds min,
                                                  std::chrono::seconds max, bool required) {
  Entry* entry = find(key);
  if (entry == nullptr) {
    if (required) {
      missing(key);
    }
    return std::nullopt;
  }
  const YAML::Mark mark = mark_of(entry->value, entry->key_mark);
  if (!entry->value.IsScalar()) {
    ctx_.error(mark, type_error(key, "a duration such as 90s, 15m, 2h or 30d"));
    return std::nullopt;
  }
  const std::string& text = entry->value.Scalar();
  auto parsed = parse_duration(text);
  if (!parsed) {
    ctx_.error(mark,
               "invalid duration for '" + std::string(key) + "' (" + text + "): " + parsed.error());
    return std::nullopt;
  }
  if (*parsed < min || *parsed > max) {
    ctx_.error(mark, "'" + std::string(key) + "' (" + text + ") not within " +
                         format_duration(min) + ".." + format_duration(max));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<Map> Map::map(std::string_view key, bool required) {
  Entry* entry = find(key);
  if (entry == nullptr) {
    if (required) {
      missing(key);
    }
    return std::nullopt;
  }
  if (!entry->value.IsMap()) {
    ctx_.error(mark_of(entry->value, entry->key_mark), type_error(key, "a map"));
    return std::nullopt;
  }
  return Map(ctx_, entry->value);
}

std::optional<std::size_t> Map::choice(std::string_view key,
                                       const std::vector<std::string_view>& choices,
                                       bool required) {
  Entry* entry = find(key);
  std::string listed;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) {
      listed += i + 1 == choices.size() ? " or " : ", ";
    }
    listed += choices[i];
  }
  if (entry == nullptr) {
    if (required) {
      missing(key, listed);
    }
    return std::nullopt;
  }
  const YAML::Mark mark = mark_of(entry->value, entry->key_mark);
  if (!entry->value.IsScalar()) {
    ctx_.error(mark, type_error(key, listed));
    return std::nullopt;
  }
  const std::string& text = entry->value.Scalar();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == text) {
      return i;
    }
  }
  ctx_.error(mark, "'" + std::string(key) + "' (" + text + ") not one of " + listed);
  return std::nullopt;
}

}  // namespace rotor::config::detail
