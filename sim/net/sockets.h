#pragma once
// cpp-httplib (0.11, the Debian package) listens with a backlog of 5, fixed when the library was
// compiled. Real Vault and the cloud's gateways accept far more pending connections; with 5, a
// client that opens a few dozen connections at once (a wave of rotations, the SDK peer) has its
// SYNs dropped and waits out TCP's one-second retransmission, which no real server would cause.

namespace rotor::sim {

// Raises the backlog of this process's listening TCP socket bound to `port` (Linux: listen()
// again on a listening socket changes its backlog; the kernel caps it at net.core.somaxconn).
// False when no such socket was found.
bool widen_listen_backlog(int port);

}  // namespace rotor::sim
