#include "daemon/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace rotor::daemon {
namespace {

std::optional<long long> parse_number(const std::optional<std::string>& text) {
  if (!text || text->empty()) {
    return std::nullopt;
  }
  long long value = 0;
  const auto* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

Notifier::Notifier(std::string socket_path) : socket_path_(std::move(socket_path)) {}

Notifier Notifier::from_env(const config::EnvLookup& env) {
  Notifier notifier(env("NOTIFY_SOCKET").value_or(""));
  const auto usec = parse_number(env("WATCHDOG_USEC"));
  const auto pid = parse_number(env("WATCHDOG_PID"));
  if (usec && *usec > 0 && (!pid || *pid == static_cast<long long>(::getpid()))) {
    notifier.watchdog_interval_ = std::chrono::microseconds(*usec / 2);
  }
  return notifier;
}

bool Notifier::notify(std::string_view state) const {
  if (socket_path_.empty()) {
    return false;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(address.sun_path) ||
      (socket_path_[0] != '/' && socket_path_[0] != '@')) {
    return false;
  }
  std::memcpy(address.sun_path, socket_path_.data(), socket_path_.size());
  if (socket_path_[0] == '@') {
    address.sun_path[0] = '\0';  // abstract namespace
  }
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  const auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&address),  // NOLINT: C API
                             length);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

bool Notifier::status(std::string_view line) const {
  std::string message = "STATUS=";
  for (char c : line) {
    message += c == '\n' ? ' ' : c;
  }
  return notify(message);
}

bool Notifier::reloading() const {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec = static_cast<long long>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1'000;
  return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

}  // namespace rotor::daemon
