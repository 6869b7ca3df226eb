#pragma once
// The Vault simulator as an HTTP(S) server on loopback, for in-process tests (RAII: it listens
// from construction to destruction) and for `rotor-sim vault`. All behaviour lives in VaultCore;
// this file adds the listener, TLS, latency and dropped connections.

#include <filesystem>
#include <memory>
#include <string>

#include "common/clock.h"
#include "sim/vault/core.h"

namespace rotor::sim {

struct VaultSimulatorOptions {
  VaultSimOptions vault;
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  // Both set: HTTPS with this certificate and key (PEM).
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  // nullptr: the system clock.
  Clock* clock = nullptr;
  // HTTP worker threads. cpp-httplib holds one per open keep-alive connection, so this bounds
  // the number of concurrent clients (its default of 8 queued a 32-worker Rotor).
  int threads = 64;
};

class VaultSimulator {
 public:
  // Binds and starts serving; throws std::runtime_error when it cannot.
  explicit VaultSimulator(VaultSimulatorOptions options);
  ~VaultSimulator();
  VaultSimulator(const VaultSimulator&) = delete;
  VaultSimulator& operator=(const VaultSimulator&) = delete;

  // "https://127.0.0.1:PORT" (or http://).
  [[nodiscard]] std::string address() const;
  [[nodiscard]] int port() const noexcept;
  [[nodiscard]] VaultCore& core() noexcept;
  // Stops serving (idempotent); the destructor calls it.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rotor::sim
