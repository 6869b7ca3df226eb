#pragma once
// Captures every log line of every component logger while it lives, then restores the previous
// sinks. Used by each test that handles a secret to assert that the secret never reaches a log.

#include <spdlog/sinks/base_sink.h>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rotor::testing {

class LogCapture {
 public:
  LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  ~LogCapture();

  [[nodiscard]] std::vector<std::string> lines() const;
  [[nodiscard]] bool contains(std::string_view text) const;
  [[nodiscard]] std::string joined() const;

 private:
  class Sink;
  std::shared_ptr<Sink> sink_;
  std::vector<std::shared_ptr<spdlog::sinks::sink>> previous_;
};

}  // namespace rotor::testing
