#include "daemon/logging.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <algorithm>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "engine/record.h"

namespace rotor::daemon {
namespace {

int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return LOG_DEBUG;
    case spdlog::level::info: return LOG_INFO;
    case spdlog::level::warn: return LOG_WARNING;
    case spdlog::level::err: return LOG_ERR;
    case spdlog::level::critical: return LOG_CRIT;
    default: return LOG_INFO;
  }
}

// Native journal field names for the message fields that operators filter on.
const char* journal_field(std::string_view key) {
  if (key == "policy") {
    return "POLICY";
  }
  if (key == "server_id" || key == "server") {
    return "SERVER_ID";
  }
  if (key == "rotation_id") {
    return "ROTATION_ID";
  }
  if (key == "cloud") {
    return "CLOUD";
  }
  return nullptr;
}

class JsonLinesSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JsonLinesSink(std::ostream& out) : out_(out) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    nlohmann::json line;
    line["ts"] = engine::format_time(msg.time);
    line["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                                spdlog::level::to_string_view(msg.level).size());
    line["component"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    line["msg"] = std::string(text);
    for (const auto& [key, value] : message_fields(text)) {
      if (key != "ts" && key != "level" && key != "component" && key != "msg") {
        line[key] = value;
      }
    }
    out_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  void flush_() override { out_.flush(); }

 private:
  std::ostream& out_;
};

class JournaldSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    std::vector<std::string> fields;
    fields.push_back("MESSAGE=" + std::string(text));
    fields.push_back("PRIORITY=" + std::to_string(syslog_priority(msg.level)));
    fields.emplace_back("SYSLOG_IDENTIFIER=rotor");
    fields.push_back("ROTOR_COMPONENT=" +
                     std::string(msg.logger_name.data(), msg.logger_name.size()));
    for (const auto& [key, value] : message_fields(text)) {
      if (const char* name = journal_field(key)) {
        fields.push_back(std::string(name) + "=" + value);
      }
    }
    std::vector<iovec> iov(fields.size());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      iov[i].iov_base = fields[i].data();
      iov[i].iov_len = fields[i].size();
    }
    ::sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }
  void flush_() override {}
};

}  // namespace

spdlog::level::level_enum to_spdlog(config::LogLevel level) noexcept {
  switch (level) {
    case config::LogLevel::Trace: return spdlog::level::trace;
    case config::LogLevel::Debug: return spdlog::level::debug;
    case config::LogLevel::Info: return spdlog::level::info;
    case config::LogLevel::Warn: return spdlog::level::warn;
    case config::LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::vector<std::pair<std::string, std::string>> message_fields(std::string_view message) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < message.size()) {
    const auto eq = message.find('=', i);
    if (eq == std::string_view::npos) {
      break;
    }
    auto key_start = message.rfind(' ', eq);
    key_start = key_start == std::string_view::npos ? 0 : key_start + 1;
    const auto key = message.substr(key_start, eq - key_start);
    std::string value;
    std::size_t end = eq + 1;
    if (end < message.size() && message[end] == '"') {
      const auto close = message.find('"', end + 1);
      const auto stop = close == std::string_view::npos ? message.size() : close;
      value = std::string(message.substr(end + 1, stop - end - 1));
      end = stop + 1;
    } else {
      const auto space = message.find(' ', end);
      const auto stop = space == std::string_view::npos ? message.size() : space;
      value = std::string(message.substr(end, stop - end));
      end = stop;
    }
    const bool valid_key = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (valid_key) {
      out.emplace_back(std::string(key), std::move(value));
    }
    i = std::max(end, eq + 1);
  }
  return out;
}

spdlog::sink_ptr json_lines_sink(std::ostream& out) {
  return std::make_shared<JsonLinesSink>(out);
}

spdlog::sink_ptr journald_sink() {
  return std::make_shared<JournaldSink>();
}

std::string configure_logging(const config::DaemonSettings& settings,
                              const config::EnvLookup& env) {
  std::string kind;
  spdlog::sink_ptr sink;
  if (env("JOURNAL_STREAM")) {
    kind = "journald";
    sink = journald_sink();
  } else if (settings.log_format == config::LogFormat::Json) {
    kind = "json";
    sink = json_lines_sink(std::cerr);
  } else {
    kind = "text";
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [%n] %v");
  }
  log::set_sinks({sink});
  log::set_level(to_spdlog(settings.log_level));
  return kind;
}

bool RepeatFilter::admit(const std::string& key, config::SysSeconds now) {
  std::lock_guard lock(mutex_);
  auto [entry, inserted] = entries_.try_emplace(key);
  if (inserted || now >= entry->second.first + window_) {
    if (!inserted && entry->second.suppressed > 0) {
      carried_.push_back(Suppressed{key, entry->second.suppressed});  // for the next drain()
    }
    entry->second = Entry{now, 0};
    return true;
  }
  ++entry->second.suppressed;
  return false;
}

std::vector<RepeatFilter::Suppressed> RepeatFilter::drain(config::SysSeconds now, bool all) {
  std::lock_guard lock(mutex_);
  std::vector<Suppressed> out = std::move(carried_);
  carried_.clear();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (all || now >= it->second.first + window_) {
      if (it->second.suppressed > 0) {
        out.push_back(Suppressed{it->first, it->second.suppressed});
      }
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::size_t RepeatFilter::flush(std::string_view component, config::SysSeconds now, bool all) {
  std::size_t total = 0;
  for (const auto& suppressed : drain(now, all)) {
    total += suppressed.count;
    log::get(component)->warn("repeated message suppressed count={} window={}s message=\"{}\"",
                              suppressed.count, window_.count(), suppressed.key);
  }
  return total;
}

}  // namespace rotor::daemon
