#include "sim/ecs/cli.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/secret.h"
#include "sim/ecs/simulator.h"

namespace rotor::sim {
namespace {

std::string read_secret_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

// Writes the state to F.tmp (mode 0600: it holds every password), fsyncs it and renames it over F.
void save_state(EcsSimulator& simulator, const std::string& path) {
  const std::string tmp = path + ".tmp";
  const std::string text = simulator.service().export_state().dump();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot save " + path + ": " + std::strerror(errno));
  }
}

}  // namespace

int ecs_main(int argc, char** argv) {
  CLI::App app{"rotor-sim ecs: a simulator of the OTC / Huawei Cloud ECS API (test use only)"};
  std::string listen = "127.0.0.1:0";
  std::string tls_cert;
  std::string tls_key;
  std::vector<std::string> access_keys;
  std::vector<std::string> sk_files;
  std::vector<std::string> iam_users;
  std::string faults = "none";
  std::string faults_json;
  std::string flavor = "otc";
  EcsSimulatorOptions options;
  bool no_auth = false;
  std::string state_file;
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0 = any free port)");
  app.add_option("--tls-cert", tls_cert, "PEM certificate file (serve HTTPS)");
  app.add_option("--tls-key", tls_key, "PEM private key file");
  app.add_option("--ak", access_keys, "access key id (repeatable, paired with --sk-file)");
  app.add_option("--sk-file", sk_files, "file holding the secret key of the matching --ak");
  app.add_option("--iam-user", iam_users, "IAM user as domain/user:password-file (repeatable)");
  app.add_option("--project-id", options.project_id, "the project id served");
  app.add_option("--project-name", options.project_name, "the project name (IAM scope by name)");
  app.add_option("--servers", options.fleet.count, "number of generated servers");
  app.add_option("--windows-share", options.fleet.windows_share, "share of Windows servers")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--no-plugin-share", options.fleet.no_plugin_share,
                 "share of servers without the reset plug-in")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--locked-share", options.fleet.locked_share, "share of locked servers")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--stopped-share", options.fleet.stopped_share, "share of stopped servers")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", options.seed, "seed of the generated fleet and of fault decisions");
  app.add_option("--faults", faults, "fault profile: none, flaky, chaos, throttled, slow");
  app.add_option("--faults-json", faults_json,
                 "fault settings as JSON (same fields as POST /_sim/faults)");
  app.add_option("--flavor", flavor, "otc or huawei")->check(CLI::IsMember({"otc", "huawei"}));
  app.add_option("--job-polls", options.job_polls, "polls after which a job succeeds");
  app.add_option("--threads", options.threads, "HTTP worker threads");
  app.add_option(
      "--disable-api", options.disabled_apis,
      "answer this API with the gateway's 404 (repeatable): " + [] {
        std::string names;
        for (const auto& key : api_keys())
          names += (names.empty() ? "" : ", ") + key;
        return names;
      }());
  app.add_flag("--no-auth", no_auth, "accept requests without credentials");
  app.add_option("--state-file", state_file,
                 "keep the fleet here across a stop (SIGTERM): loaded at start if it exists "
                 "(instead of generating --servers), written at the stop");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
      throw std::runtime_error("--listen must be HOST:PORT");
    }
    options.host = listen.substr(0, colon);
    options.port = std::stoi(listen.substr(colon + 1));
    if (!tls_cert.empty() || !tls_key.empty()) {
      if (tls_cert.empty() || tls_key.empty()) {
        throw std::runtime_error("--tls-cert and --tls-key go together");
      }
      options.tls = TlsFiles{tls_cert, tls_key};
    }
    if (access_keys.size() != sk_files.size()) {
      throw std::runtime_error("each --ak needs one --sk-file");
    }
    for (std::size_t i = 0; i < access_keys.size(); ++i) {
      options.access_keys.push_back({access_keys[i], read_secret_file(sk_files[i])});
    }
    for (const auto& spec : iam_users) {
      const auto slash = spec.find('/');
      const auto colon2 = spec.rfind(':');
      if (slash == std::string::npos || colon2 == std::string::npos || colon2 < slash) {
        throw std::runtime_error("--iam-user must be domain/user:password-file");
      }
      options.iam_users.push_back({spec.substr(0, slash),
                                   spec.substr(slash + 1, colon2 - slash - 1),
                                   read_secret_file(spec.substr(colon2 + 1))});
    }
    options.verify_auth = !no_auth;
    if (options.verify_auth && options.access_keys.empty() && options.iam_users.empty()) {
      throw std::runtime_error("no credentials: give --ak/--sk-file or --iam-user (or --no-auth)");
    }
    options.flavor = flavor == "huawei" ? Flavor::Huawei : Flavor::Otc;
    auto profile = named_fault_profile(faults);
    if (!profile) {
      throw std::runtime_error("unknown fault profile '" + faults + "'");
    }
    options.faults = *profile;
    if (!faults_json.empty()) {
      auto parsed = nlohmann::json::parse(faults_json, nullptr, false);
      if (parsed.is_discarded()) {
        throw std::runtime_error("--faults-json is not valid JSON");
      }
      auto applied = apply_json(options.faults, parsed);
      if (!applied) {
        throw std::runtime_error(applied.error().message());
      }
      options.faults = *applied;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rotor-sim ecs: %s\n", e.what());
    return 2;
  }

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<EcsSimulator> owned;
  try {
    owned = std::make_unique<EcsSimulator>(std::move(options));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rotor-sim ecs: %s\n", e.what());
    return 2;
  }
  EcsSimulator& simulator = *owned;
  try {
    if (!state_file.empty()) {
      if (std::ifstream in(state_file); in) {
        simulator.service().import_state(nlohmann::json::parse(in));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rotor-sim ecs: cannot load the state file %s: %s\n", state_file.c_str(),
                 e.what());
    return 2;
  }
  try {
    simulator.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rotor-sim ecs: %s\n", e.what());
    return 1;
  }
  std::cout << simulator.base_url() << std::endl;  // first line: the bound address

  int received = 0;
  sigwait(&signals, &received);
  simulator.stop();
  if (!state_file.empty()) {
    try {
      save_state(simulator, state_file);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rotor-sim ecs: %s\n", e.what());
      return 1;
    }
  }
  return 0;
}

}  // namespace rotor::sim
