#include "sim/net/sockets.h"

#include <netinet/in.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace rotor::sim {

int port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return -1;
}

void for_each_own_socket(const std::function<bool(int fd)>& visit) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
    const std::string name = entry.path().filename().string();
    char* end = nullptr;
    const long fd = std::strtol(name.c_str(), &end, 10);
    if (end == name.c_str() || *end != '\0') {
      continue;
    }
    // The link's text says what the descriptor is; reading it does not touch the descriptor
    // (fstat would, and ThreadSanitizer rightly reports that against a client thread closing it).
    if (std::filesystem::read_symlink(entry.path(), error).native().rfind("socket:", 0) != 0) {
      continue;
    }
    if (!visit(static_cast<int>(fd))) {
      return;
    }
  }
}

bool widen_listen_backlog(int port) {
  bool widened = false;
  for_each_own_socket([&](int fd) {
    int accepting = 0;
    socklen_t length = sizeof(accepting);
    sockaddr_storage local{};
    socklen_t local_length = sizeof(local);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting != 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) == 0 &&
        port_of(local) == port && ::listen(fd, SOMAXCONN) == 0) {
      widened = true;
    }
    return true;
  });
  return widened;
}

}  // namespace rotor::sim
