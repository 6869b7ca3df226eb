#include "sim/vault/cli.h"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

#include "sim/vault/simulator.h"

namespace rotor::sim {

namespace {

std::string read_file_trimmed(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  if (text.empty()) {
    throw std::runtime_error(path + " is empty");
  }
  return text;
}

}  // namespace

int vault_main(int argc, char** argv) {
  CLI::App app{"Vault simulator (KV v2, tokens, AppRole, sys/health, faults) for Rotor's tests",
               "rotor-sim vault"};
  std::string listen = "127.0.0.1:0";
  std::string tls_cert;
  std::string tls_key;
  std::string root_token_file;
  std::vector<std::string> approles;
  std::vector<std::string> kv1_mounts;
  std::vector<std::string> kv2_mounts = {"secret"};
  std::int64_t token_ttl = 1200;
  std::int64_t token_max_ttl = 3600;
  std::int64_t secret_id_uses = 0;
  std::int64_t secret_id_ttl = 0;
  std::uint64_t seed = 1;
  std::string faults = "none";
  std::string state_file;
  int threads = 64;
  int latency_ms = 0;
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0 = any free port)")
      ->capture_default_str();
  app.add_option("--tls-cert", tls_cert, "PEM certificate (with --tls-key: serve HTTPS)");
  app.add_option("--tls-key", tls_key, "PEM private key");
  app.add_option("--root-token-file", root_token_file,
                 "file holding the root token (none: no root token exists)");
  app.add_option("--approle", approles, "ROLE_ID:SECRET_ID_FILE, an AppRole role (repeatable)");
  app.add_option("--token-ttl", token_ttl, "AppRole token TTL in seconds")->capture_default_str();
  app.add_option("--token-max-ttl", token_max_ttl, "AppRole token max TTL in seconds (0 = none)")
      ->capture_default_str();
  app.add_option("--secret-id-uses", secret_id_uses, "logins per secret_id (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--secret-id-ttl", secret_id_ttl, "secret_id lifetime in seconds (0 = forever)")
      ->capture_default_str();
  app.add_option("--kv2-mount", kv2_mounts, "KV version 2 mounts")->capture_default_str();
  app.add_option("--kv1-mount", kv1_mounts, "KV version 1 mounts (to exercise v1 detection)");
  app.add_option("--seed", seed, "seed for tokens, ids and faults")->capture_default_str();
  app.add_option("--faults", faults, "fault profile: none, flaky, chaos")->capture_default_str();
  app.add_option("--state-file", state_file, "keep state here across restarts (atomic writes)");
  app.add_option("--threads", threads, "HTTP worker threads (one per open connection)")
      ->capture_default_str();
  app.add_option("--latency-ms", latency_ms,
                 "delay every /v1 request by this much (a fixed latency, e.g. for benchmarks)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    VaultSimulatorOptions options;
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
      throw std::runtime_error("--listen must be HOST:PORT");
    }
    options.host = listen.substr(0, colon);
    options.port = std::stoi(listen.substr(colon + 1));
    if ((tls_cert.empty()) != (tls_key.empty())) {
      throw std::runtime_error("--tls-cert and --tls-key go together");
    }
    options.tls_cert = tls_cert;
    options.tls_key = tls_key;
    auto& vault = options.vault;
    vault.root_token = root_token_file.empty() ? std::string() : read_file_trimmed(root_token_file);
    for (const auto& spec : approles) {
      const auto split = spec.find(':');
      if (split == std::string::npos || split == 0) {
        throw std::runtime_error("--approle must be ROLE_ID:SECRET_ID_FILE");
      }
      AppRoleSpec role;
      role.role_id = spec.substr(0, split);
      role.secret_id = read_file_trimmed(spec.substr(split + 1));
      role.token_ttl = token_ttl;
      role.token_max_ttl = token_max_ttl;
      role.secret_id_num_uses = secret_id_uses;
      role.secret_id_ttl = secret_id_ttl;
      vault.approles.push_back(std::move(role));
    }
    vault.kv1_mounts = kv1_mounts;
    vault.kv2_mounts = kv2_mounts;
    vault.seed = seed;
    vault.faults = VaultFaults::named(faults);
    if (latency_ms > 0) {
      vault.faults.enabled = true;
      vault.faults.latency_rate = 1.0;
      vault.faults.latency = std::chrono::milliseconds(latency_ms);
    }
    options.threads = threads;
    vault.state_file = state_file;

    // Block the stop signals before any thread starts, so that only sigwait() sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    VaultSimulator simulator(std::move(options));
    std::printf("%s\n", simulator.address().c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "rotor-sim vault: listening on %s (faults=%s)\n",
                 simulator.address().c_str(), faults.c_str());
    int received = 0;
    sigwait(&signals, &received);
    std::fprintf(stderr, "rotor-sim vault: signal %d, stopping\n", received);
    simulator.stop();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rotor-sim vault: %s\n", e.what());
    return 1;
  }
}

}  // namespace rotor::sim
