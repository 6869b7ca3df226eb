#include "tests/support/log_capture.h"

#include "common/log.h"

namespace rotor::testing {

class LogCapture::Sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    lines_.emplace_back(formatted.data(), formatted.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

LogCapture::LogCapture() : sink_(std::make_shared<Sink>()) {
  previous_ = log::set_sinks({sink_});
  log::set_level(spdlog::level::trace);
}

LogCapture::~LogCapture() {
  log::set_sinks(std::move(previous_));
  log::set_level(spdlog::level::info);
}

std::vector<std::string> LogCapture::lines() const {
  return sink_->snapshot();
}

bool LogCapture::contains(std::string_view text) const {
  for (const auto& line : sink_->snapshot()) {
    if (line.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string LogCapture::joined() const {
  std::string all;
  for (const auto& line : sink_->snapshot()) {
    all += line;
  }
  return all;
}

}  // namespace rotor::testing
