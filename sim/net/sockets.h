#pragma once
// The socket-level pieces both simulators need beyond cpp-httplib, which keeps its sockets
// private: finding them among this process's descriptors, and the listen backlog.

#include <sys/socket.h>

#include <functional>

namespace rotor::sim {

// The port of an AF_INET or AF_INET6 address; -1 for any other family.
int port_of(const sockaddr_storage& address);

// Calls `visit` with each socket descriptor this process has open (Linux: /proc/self/fd) until
// it returns false.
void for_each_own_socket(const std::function<bool(int fd)>& visit);

// cpp-httplib (0.11, the Debian package) listens with a backlog of 5, fixed when the library was
// compiled. Real Vault and the cloud's gateways accept far more pending connections; with 5, a
// client that opens a few dozen connections at once (a wave of rotations, the SDK peer) has its
// SYNs dropped and waits out TCP's one-second retransmission, which no real server would cause.
// Raises the backlog of this process's listening TCP socket bound to `port` (Linux: listen()
// again on a listening socket changes its backlog; the kernel caps it at net.core.somaxconn).
// False when no such socket was found.
bool widen_listen_backlog(int port);

}  // namespace rotor::sim
