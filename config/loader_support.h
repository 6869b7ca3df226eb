#pragma once
// Internal to the config component: the error collector and the strict YAML map reader that the
// loader builds on.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace rotor::config::detail {

class Context {
 public:
  Context(std::string file, const LoadOptions& options)
      : file_(std::move(file)), options_(options) {}

  [[nodiscard]] Position position(const YAML::Mark& mark) const;
  void error(const YAML::Mark& mark, std::string message);
  void error(const Position& where, std::string message);
  [[nodiscard]] bool has_errors() const { return !diagnostics_.empty(); }
  [[nodiscard]] std::size_t error_count() const { return diagnostics_.size() + dropped_; }
  // Sorted by position, at most kMaxDiagnostics (plus one line saying how many were left out).
  [[nodiscard]] Diagnostics take();

  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] const LoadOptions& options() const { return options_; }
  [[nodiscard]] std::optional<std::string> env(std::string_view name) const;

 private:
  std::string file_;
  const LoadOptions& options_;
  Diagnostics diagnostics_;
  std::size_t dropped_ = 0;
};

// A YAML map read strictly: keys are looked up once each; finish() reports every key nobody asked
// for as an unknown parameter (with a suggestion when one is close). Duplicate keys were reported
// by the event pass; only the first occurrence is seen here.
class Map {
 public:
  struct Entry {
    std::string key;
    YAML::Mark key_mark;
    YAML::Node value;
    bool used = false;
  };

  Map(Context& ctx, const YAML::Node& node);
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;
  Map(Map&&) = default;
  Map& operator=(Map&&) = delete;
  ~Map() = default;

  [[nodiscard]] Entry* find(std::string_view key);
  // Marks a key as known without reading it (reported separately, e.g. "does not apply").
  void known(std::string_view key);
  [[nodiscard]] const YAML::Mark& mark() const { return mark_; }
  [[nodiscard]] std::vector<Entry>& entries() { return entries_; }
  void finish();

  // Typed readers; each reports its own errors and returns nullopt on error or absence.
  std::optional<std::string> string(std::string_view key, bool required);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max,
                                      bool required);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::chrono::seconds> duration(std::string_view key, std::chrono::seconds min,
                                               std::chrono::seconds max, bool required);
  // A nested map; nullopt when absent (reported when required) or not a map.
  std::optional<Map> map(std::string_view key, bool required);
  // One of `choices`; returns the index.
  std::optional<std::size_t> choice(std::string_view key,
                                    const std::vector<std::string_view>& choices, bool required);
  void missing(std::string_view key, std::string_view alternative = {});

 private:
  Context& ctx_;
  YAML::Mark mark_;
  std::vector<Entry> entries_;
  std::vector<std::string> known_;
};

[[nodiscard]] std::string type_error(std::string_view key, std::string_view expected);
[[nodiscard]] bool is_plain(const YAML::Node& node);
// The node's own mark, or `fallback` when it has none.
[[nodiscard]] YAML::Mark mark_of(const YAML::Node& node, const YAML::Mark& fallback);

}  // namespace rotor::config::detail
