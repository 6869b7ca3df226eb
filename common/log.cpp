#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <map>
#include <mutex>
#include <string>

namespace rotor::log {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<spdlog::sinks::stderr_sink_mt>()};
  spdlog::level::level_enum level = spdlog::level::info;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
};

Registry& registry() {
  static Registry instance;  // the one process-wide piece of logging state
  return instance;
}

}  // namespace

std::shared_ptr<spdlog::logger> get(std::string_view component) {
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  if (auto found = reg.loggers.find(component); found != reg.loggers.end()) {
    return found->second;
  }
  auto logger =
      std::make_shared<spdlog::logger>(std::string(component), reg.sinks.begin(), reg.sinks.end());
  logger->set_level(reg.level);
  reg.loggers.emplace(std::string(component), logger);
  return logger;
}

std::vector<spdlog::sink_ptr> set_sinks(std::vector<spdlog::sink_ptr> sinks) {
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  std::vector<spdlog::sink_ptr> previous = std::move(reg.sinks);
  reg.sinks = std::move(sinks);
  for (auto& [name, logger] : reg.loggers) {
    logger->sinks() = reg.sinks;
  }
  return previous;
}

void set_level(spdlog::level::level_enum level) {
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  reg.level = level;
  for (auto& [name, logger] : reg.loggers) {
    logger->set_level(level);
  }
}

}  // namespace rotor::log
