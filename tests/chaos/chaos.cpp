// rotor-chaos: the chaos harness (docs/chaos.md). Starts `rotor-sim ecs` and `rotor-sim vault` as
// processes with durable state, runs `rotor run` against them, kills it with SIGKILL at every
// protocol step (test failpoints) and at random moments while it injects faults on both sides,
// and checks the invariants against the simulators after every kill and at the end. Prints one
// summary line; exits 1 on any violation, 2 when the harness itself could not run.
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/oracle.h"

extern char** environ;

namespace rotor::chaos {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kProject = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";
constexpr const char* kCloud = "chaos";

// ----- small helpers -------------------------------------------------------------------------

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct HttpResult {
  long status = 0;  // 0: no answer
  std::string body;
};

// One request over loopback with libcurl (the simulators' /_sim controls and /metrics).
HttpResult http(const std::string& method, const std::string& url, const std::string& body = {},
                milliseconds timeout = milliseconds{10'000}) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  HttpResult result;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  if (!body.empty() || method == "POST") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(
      curl.get(), CURLOPT_WRITEFUNCTION,
      +[](char* data, std::size_t size, std::size_t n, void* out) -> std::size_t {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &result.body);
  if (curl_easy_perform(curl.get()) == CURLE_OK) {
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &result.status);
  }
  curl_slist_free_all(headers);
  return result;
}

// The faults the ECS simulator injected since its start, by class (GET /_sim/stats).
std::map<std::string, std::uint64_t> fault_counts_of(const std::string& stats_body) {
  std::map<std::string, std::uint64_t> out;
  const json stats = json::parse(stats_body);
  const auto faults = stats.find("faults");
  if (faults == stats.end() || !faults->is_object()) {
    return out;
  }
  for (auto it = faults->begin(); it != faults->end(); ++it) {
    out[it.key()] = it.value().get<std::uint64_t>();
  }
  return out;
}

// A child process with stdout and stderr appended to files.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill_now(); }

  void spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
             const fs::path& out, const fs::path& err) {
    status_.reset();
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& arg : argv) {
      args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    std::vector<char*> envp;
    envp.reserve(env.size() + 1);
    for (const auto& var : env) {
      envp.push_back(const_cast<char*>(var.c_str()));
    }
    envp.push_back(nullptr);
    char** const child_env = env.empty() ? environ : envp.data();
    pid_ = ::fork();
    if (pid_ < 0) {
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(errno));
    }
    if (pid_ == 0) {
      // The child dies with the harness (a ctest timeout, ^C): no simulator or daemon is left.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (out_fd < 0 || err_fd < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
        ::_exit(127);
      }
      ::execve(args[0], args.data(), child_env);
      ::_exit(127);
    }
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

  // Non-blocking: the wait status when the child ended, else nullopt.
  std::optional<int> poll() {
    if (pid_ <= 0) {
      return status_;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      status_ = status;
    }
    return pid_ <= 0 ? status_ : std::nullopt;
  }

  int wait() {
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      status_ = status;
    }
    return status_.value_or(0);
  }

  void signal(int sig) const {
    if (pid_ > 0) {
      ::kill(pid_, sig);
    }
  }

  int kill_now() {
    signal(SIGKILL);
    return wait();
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// ----- the run -------------------------------------------------------------------------------

struct Options {
  std::string rotor;
  std::string sim;
  std::string work;
  std::uint64_t seed = 0;
  std::size_t servers = 1000;
  double seconds = 60;          // the random-kill phase lasts at least this long…
  std::size_t kills = 200;      // …and until this many random kills
  double max_seconds = 600;     // …but never longer than this
  int failpoint_rounds = 2;     // deterministic kills per protocol step
  double finish_seconds = 120;  // the final phase may take this long
  std::string max_age = "4s";
  bool keep = false;
  // The Vault simulator rewrites its whole state file on every write, which makes it several
  // times slower with 1,000 secrets: the short run keeps Vault in memory and restarts only ECS.
  bool vault_restarts = true;
};

struct Counters {
  std::size_t random_kills = 0;
  std::size_t failpoint_kills = 0;
  std::size_t failpoints_missed = 0;  // the step was not reached in time (killed by us instead)
  std::map<std::string, std::size_t> faults;  // by kind
  std::size_t checks = 0;
  std::size_t rotations_seen = 0;
  std::size_t daemon_exits = 0;  // start-ups refused (exit 1) under faults
};

class Harness {
 public:
  explicit Harness(Options options) : o_(std::move(options)), rng_(o_.seed) {}

  int run();

 private:
  void setup();
  void start_vault();
  void start_ecs();
  void restart_vault();
  void restart_ecs();
  std::map<std::string, std::uint64_t> ecs_fault_counts() {
    auto stats = http("GET", ecs_url_ + "/_sim/stats");
    return stats.status == 200 ? fault_counts_of(stats.body)
                               : std::map<std::string, std::uint64_t>{};
  }
  void write_config(const std::string& max_age);
  void start_daemon(const std::optional<std::string>& failpoint);
  void after_kill(const std::string& why);
  Snapshot snapshot();
  void chaos_action();
  void clear_faults();
  void scrape();
  void capture_proc();
  void scan_outputs();
  void failpoint_phase();
  void random_phase();
  void finish_phase();
  void violation(const std::string& text);
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }
  double uniform(double lo, double hi) { return std::uniform_real_distribution<>(lo, hi)(rng_); }
  bool chance(double p) { return uniform(0, 1) < p; }

  Options o_;
  std::mt19937_64 rng_;  // decisions of the harness only; never a password
  fs::path work_;
  Clock::time_point started_ = Clock::now();
  Child vault_;
  Child ecs_;
  Child daemon_;
  int vault_port_ = 0;
  int ecs_port_ = 0;
  int metrics_port_ = 0;
  std::string vault_url_;
  std::string ecs_url_;
  std::vector<std::string> daemon_env_;
  std::optional<Clock::time_point> unseal_at_;
  std::map<std::string, std::uint64_t> ecs_faults_before_restart_;
  Counters n_;
  LeakScanner leaks_;
  std::vector<std::string> violations_;
  std::vector<std::string> pending_texts_;  // scrapes and /proc captures of this incarnation
  std::vector<std::string> pending_origins_;
  std::size_t log_scanned_ = 0;  // bytes of daemon.log already scanned
  std::size_t proc_captures_ = 0;
  std::size_t scrapes_ = 0;
  std::size_t state_files_ = 0;
  std::map<std::string, std::string> policy_of_;
  std::set<std::string> unique_ids_;
  std::vector<std::string> server_ids_;
};

void Harness::violation(const std::string& text) {
  if (violations_.size() < 50) {
    std::cerr << "VIOLATION " << text << '\n';
  }
  violations_.push_back(text);
}

void Harness::setup() {
  if (o_.work.empty()) {
    // tmpfs when there is one: the Vault simulator fsyncs its state file on every write.
    const fs::path base =
        fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::string templ = (base / "rotor-chaos.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error("cannot create a work directory");
    }
    work_ = templ;
  } else {
    work_ = o_.work;
    fs::remove_all(work_);
    fs::create_directories(work_);
  }
  fs::create_directories(work_ / "state");
  // Credentials for the simulators and Rotor: generated per run, files of mode 0600.
  std::uniform_int_distribution<int> hex(0, 15);
  const auto random_hex = [&](int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      out += "0123456789abcdef"[hex(rng_)];
    }
    return out;
  };
  write_file(work_ / "role-id", "chaos-role-" + random_hex(8) + "\n");
  write_file(work_ / "secret-id", random_hex(32) + "\n");
  write_file(work_ / "ak", "AKCHAOS" + random_hex(13) + "\n");
  write_file(work_ / "sk", random_hex(40) + "\n");
  vault_port_ = free_port();
  ecs_port_ = free_port();
  metrics_port_ = free_port();
  vault_url_ = fmt::format("http://127.0.0.1:{}", vault_port_);
  ecs_url_ = fmt::format("http://127.0.0.1:{}", ecs_port_);
  // The daemon's whole environment: nothing secret, scanned like everything else.
  daemon_env_ = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ROTOR_TEST_SHORT_MAX_AGE=1", "LANG=C"};
}

// Waits for a simulator's first stdout line (its address); throws when it does not come.
void wait_for_address(const fs::path& out, std::size_t lines_before, Child& child,
                      const std::string& name) {
  for (int i = 0; i < 200; ++i) {
    const std::string text = read_file(out);
    if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) > lines_before) {
      return;
    }
    if (child.poll()) {
      break;
    }
    std::this_thread::sleep_for(milliseconds{50});
  }
  throw std::runtime_error("the " + name + " simulator did not start; see its log in the work dir");
}

void Harness::start_vault() {
  const fs::path out = work_ / "vault.out";
  const std::string before = read_file(out);
  const std::string role = read_file(work_ / "role-id");
  std::vector<std::string> argv = {
      o_.sim,
      "vault",
      "--listen",
      fmt::format("127.0.0.1:{}", vault_port_),
      "--approle",
      role.substr(0, role.size() - 1) + ":" + (work_ / "secret-id").string(),
      "--token-ttl",
      "20",
      "--token-max-ttl",
      "60",
      "--seed",
      std::to_string(o_.seed)};
  if (o_.vault_restarts) {
    argv.emplace_back("--state-file");
    argv.push_back((work_ / "vault.json").string());
  }
  vault_.spawn(argv, {}, out, work_ / "vault.log");
  wait_for_address(out, static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')),
                   vault_, "Vault");
}

void Harness::start_ecs() {
  const fs::path out = work_ / "ecs.out";
  const std::string before = read_file(out);
  const std::string ak = read_file(work_ / "ak");
  ecs_.spawn({o_.sim,
              "ecs",
              "--listen",
              fmt::format("127.0.0.1:{}", ecs_port_),
              "--ak",
              ak.substr(0, ak.size() - 1),
              "--sk-file",
              (work_ / "sk").string(),
              "--servers",
              std::to_string(o_.servers),
              "--windows-share",
              "0.35",
              "--no-plugin-share",
              "0.01",
              "--seed",
              std::to_string(o_.seed),
              "--job-polls",
              "1",
              "--threads",
              "192",
              "--state-file",
              (work_ / "ecs.json").string()},
             {}, out, work_ / "ecs.log");
  wait_for_address(out, static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')),
                   ecs_, "ECS");
}

void Harness::restart_vault() {
  vault_.signal(SIGTERM);
  vault_.wait();
  start_vault();
  ++n_.faults["vault_restart"];
}

void Harness::restart_ecs() {
  // The injection counters live in the process: keep them before it goes.
  for (const auto& [kind, count] : ecs_fault_counts()) {
    ecs_faults_before_restart_[kind] += count;
  }
  ecs_.signal(SIGTERM);
  ecs_.wait();
  start_ecs();
  ++n_.faults["ecs_restart"];
}

void Harness::write_config(const std::string& max_age) {
  const auto policy = [&](const std::string& name, const std::string& select,
                          const std::string& mode, const std::string& after_reset, int length) {
    return fmt::format(R"(  - name: {}
    cloud: {}
    select: {}
    mode: {}
    max_age: {}
    window: "* 00:00-24:00"
    after_reset: {}
    quarantine_after: 100
    password: {{ length: {} }}
)",
                       name, kCloud, select, mode, max_age, after_reset, length);
  };
  std::string yaml = fmt::format(R"(daemon:
  state_dir: {state}
  concurrency: 64
  metrics_listen: 127.0.0.1:{metrics}
  log: {{ level: info, format: text }}
vault:
  address: {vault}
  timeout: 2s
  auth:
    method: approle
    role_id_file: {work}/role-id
    secret_id_file: {work}/secret-id
  kv:
    mount: secret
    path: "ecs/{{cloud}}/{{project_id}}/{{server_id}}"
clouds:
  {cloud}:
    flavor: otc
    region: eu-de
    project_id: {project}
    endpoints: {{ ecs: {ecs}, iam: {ecs} }}
    auth:
      type: aksk
      access_key_file: {work}/ak
      secret_key_file: {work}/sk
    limits: {{ requests_per_second: 1000, max_batch: 50, timeout: 2s }}
policies:
)",
                                 fmt::arg("state", (work_ / "state").string()),
                                 fmt::arg("metrics", metrics_port_), fmt::arg("vault", vault_url_),
                                 fmt::arg("work", work_.string()), fmt::arg("cloud", kCloud),
                                 fmt::arg("project", kProject), fmt::arg("ecs", ecs_url_));
  // Unique and shared policies, Linux and Windows, with and without a restart after the reset.
  yaml += policy("prod-linux", "{ tags: { env: prod }, os: linux }", "unique", "reboot-soft", 24);
  yaml += policy("prod-windows", "{ tags: { env: prod }, os: windows }", "unique", "none", 20);
  yaml +=
      policy("staging-linux", "{ tags: { env: staging }, os: linux }", "shared", "reboot-soft", 22);
  yaml +=
      policy("staging-windows", "{ tags: { env: staging }, os: windows }", "shared", "none", 22);
  yaml += policy("dev", "{ tags: { env: dev } }", "unique", "reboot-hard", 26);
  write_file(work_ / "rotor.yaml", yaml);
}

void Harness::start_daemon(const std::optional<std::string>& failpoint) {
  std::vector<std::string> argv = {o_.rotor, "run", "-c", (work_ / "rotor.yaml").string()};
  if (::geteuid() == 0) {
    argv.emplace_back("--allow-root");  // CI runs as root; the package runs as the rotor user
  }
  std::vector<std::string> env = daemon_env_;
  if (failpoint) {
    env.push_back("ROTOR_FAILPOINT=" + *failpoint);
  }
  daemon_.spawn(argv, env, work_ / "daemon.log", work_ / "daemon.log");
  // What the daemon was started with is scanned too (it is what /proc shows, if readable).
  std::string args;
  for (const auto& a : argv) {
    args += a + '\0';
  }
  std::string envs;
  for (const auto& e : env) {
    envs += e + '\0';
  }
  pending_texts_.push_back(args + envs);
  pending_origins_.push_back("the daemon's argv and environment as started");
}

void Harness::capture_proc() {
  if (!daemon_.running()) {
    return;
  }
  for (const char* what : {"cmdline", "environ"}) {
    const fs::path path = fs::path("/proc") / std::to_string(daemon_.pid()) / what;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      continue;  // not dumpable: only root may read it
    }
    std::stringstream text;
    text << in.rdbuf();
    pending_texts_.push_back(text.str());
    pending_origins_.push_back(path.string());
    ++proc_captures_;
  }
}

void Harness::scrape() {
  auto metrics = http("GET", fmt::format("http://127.0.0.1:{}/metrics", metrics_port_), {},
                      milliseconds{2000});
  if (metrics.status == 200) {
    pending_texts_.push_back(std::move(metrics.body));
    pending_origins_.push_back("a /metrics scrape");
    ++scrapes_;
  }
}

Snapshot Harness::snapshot() {
  Snapshot snap;
  auto servers = http("GET", ecs_url_ + "/_sim/servers", {}, milliseconds{60'000});
  auto dump = http("GET", vault_url_ + "/_sim/dump", {}, milliseconds{60'000});
  if (servers.status != 200 || dump.status != 200) {
    throw std::runtime_error(fmt::format("cannot snapshot the simulators (ECS {}, Vault {})",
                                         servers.status, dump.status));
  }
  snap.servers = parse_ecs_servers(json::parse(servers.body));
  snap.records = parse_vault_dump(json::parse(dump.body), "secret",
                                  fmt::format("ecs/{}/{}/", kCloud, kProject));
  return snap;
}

// New daemon output, this incarnation's scrapes and /proc captures, and the state directory, all
// against every password the simulators know by now (a password the daemon generated is in
// Vault before anything else sees it).
void Harness::scan_outputs() {
  const std::string log = read_file(work_ / "daemon.log");
  if (log.size() > log_scanned_) {
    leaks_.scan(std::string_view(log).substr(log_scanned_), "the daemon's log");
    log_scanned_ = log.size();
  }
  for (std::size_t i = 0; i < pending_texts_.size(); ++i) {
    leaks_.scan(pending_texts_[i], pending_origins_[i]);
  }
  pending_texts_.clear();
  pending_origins_.clear();
  for (const auto& entry : fs::recursive_directory_iterator(work_ / "state")) {
    if (entry.is_regular_file()) {
      leaks_.scan(read_file(entry.path()), "the state directory file " + entry.path().string());
      ++state_files_;
    }
  }
  for (const auto& finding : leaks_.take_findings()) {
    violation(finding);
  }
}

void Harness::after_kill(const std::string& why) {
  Snapshot snap = snapshot();
  ++n_.checks;
  for (const auto& v : check_no_lockout(snap)) {
    violation(fmt::format("{} (after {})", v, why));
  }
  leaks_.add_snapshot(snap);
  scan_outputs();
}

void Harness::clear_faults() {
  http("DELETE", ecs_url_ + "/_sim/faults");
  http("POST", vault_url_ + "/_sim/faults", R"({"enabled":false})");
  http("POST", vault_url_ + "/_sim/unseal", "{}");
  unseal_at_.reset();
}

void Harness::chaos_action() {
  const double pick = uniform(0, 1);
  if (pick < 0.22) {  // ECS: 5xx, 202 throttling, timeouts and resets before/after the change
    json rates = json::object();
    for (const char* kind : {"server_error", "server_error_after", "throttle", "timeout_before",
                             "timeout_after", "reset_before", "reset_after"}) {
      rates[kind] = chance(0.6) ? uniform(0, 0.12) : 0.0;
    }
    json body = {{"enabled", true}, {"rates", rates}, {"hold_ms", 2500}};
    if (chance(0.3)) {
      body["rate_limit"] = {{"rps", 40}, {"burst", 20}};  // 429 with Retry-After
    } else {
      body["rate_limit"] = {{"rps", 0}, {"burst", 0}};
    }
    http("POST", ecs_url_ + "/_sim/faults", body.dump());
    ++n_.faults["ecs_profile"];
  } else if (pick < 0.34) {
    http("DELETE", ecs_url_ + "/_sim/faults");
  } else if (pick < 0.56) {  // Vault: 5xx, 429, 412, latency, timeouts, a reset after a write
    json body = {{"enabled", true},
                 {"error_rate", chance(0.6) ? uniform(0, 0.15) : 0.0},
                 {"throttle_rate", chance(0.5) ? uniform(0, 0.08) : 0.0},
                 {"precondition_rate", chance(0.3) ? uniform(0, 0.05) : 0.0},
                 {"latency_rate", chance(0.5) ? uniform(0, 0.2) : 0.0},
                 {"latency_ms", 30},
                 {"timeout_rate", chance(0.4) ? uniform(0, 0.03) : 0.0},
                 {"timeout_ms", 2500},
                 {"reset_after_write_rate", chance(0.6) ? uniform(0, 0.12) : 0.0}};
    http("POST", vault_url_ + "/_sim/faults", body.dump());
    ++n_.faults["vault_profile"];
  } else if (pick < 0.64) {
    http("POST", vault_url_ + "/_sim/faults", R"({"enabled":false})");
  } else if (pick < 0.70) {
    if (!unseal_at_) {
      http("POST", vault_url_ + "/_sim/seal", "{}");
      unseal_at_ = Clock::now() + milliseconds{static_cast<long>(uniform(200, 2000))};
      ++n_.faults["vault_seal"];
    }
  } else if (pick < 0.78) {
    http("POST", vault_url_ + "/_sim/expire-token", "{}");
    ++n_.faults["vault_token_expired"];
  } else if (pick < 0.92) {  // servers restarted behind Rotor's back
    for (int i = 0; i < 5 && !server_ids_.empty(); ++i) {
      const auto& id = server_ids_[static_cast<std::size_t>(
          uniform(0, static_cast<double>(server_ids_.size()) - 0.001))];
      http("POST", ecs_url_ + "/_sim/servers/" + id + "/restart", "{}");
      ++n_.faults["server_restart_out_of_band"];
    }
  } else if (pick < 0.94) {
    daemon_.signal(SIGHUP);
    ++n_.faults["daemon_reload"];
  } else if (pick < 0.97) {
    if (o_.vault_restarts) {
      restart_vault();
    }
  } else {
    restart_ecs();
  }
}

void Harness::failpoint_phase() {
  const std::vector<std::string> steps = {"read", "pending_written", "reset_sent", "committed",
                                          "rebooted"};
  for (int round = 0; round < o_.failpoint_rounds; ++round) {
    for (const auto& step : steps) {
      const long hit = static_cast<long>(uniform(1, 20));
      const std::string spec = fmt::format("{}:{}", step, hit);
      // Light faults: the steps still run, some of their calls fail.
      http("POST", vault_url_ + "/_sim/faults",
           R"({"enabled":true,"error_rate":0.03,"reset_after_write_rate":0.03})");
      http("POST", ecs_url_ + "/_sim/faults",
           R"({"enabled":true,"rates":{"server_error":0.03,"reset_after":0.03}})");
      start_daemon(spec);
      capture_proc();
      const auto deadline = Clock::now() + std::chrono::seconds{20};
      std::optional<int> status;
      while (!(status = daemon_.poll()) && Clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds{20});
      }
      if (status && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) {
        ++n_.failpoint_kills;
      } else if (!status) {
        daemon_.kill_now();
        ++n_.failpoints_missed;
        std::cerr << "failpoint " << spec << " not reached in 20 s; killed instead\n";
      } else {
        violation(fmt::format("the daemon ended with status {} instead of dying at failpoint {}",
                              *status, spec));
      }
      after_kill("failpoint " + spec);
    }
  }
}

void Harness::random_phase() {
  const auto begun = Clock::now();
  const auto phase = [&] { return std::chrono::duration<double>(Clock::now() - begun).count(); };
  while ((phase() < o_.seconds || n_.random_kills < o_.kills) && phase() < o_.max_seconds) {
    start_daemon(std::nullopt);
    // Some short lives (a kill during start-up or the metadata scan), mostly long enough to get
    // into rotations, batches and reboots.
    const double life = chance(0.4) ? uniform(0.05, 2.0) : uniform(2.0, 8.0);
    const auto until = Clock::now() + milliseconds{static_cast<long>(life * 1000)};
    bool captured = false;
    while (Clock::now() < until && !daemon_.poll()) {
      if (unseal_at_ && Clock::now() >= *unseal_at_) {
        http("POST", vault_url_ + "/_sim/unseal", "{}");
        unseal_at_.reset();
      }
      if (!captured && Clock::now() + milliseconds{300} < until) {
        std::this_thread::sleep_for(milliseconds{30});
        capture_proc();
        captured = true;
      }
      if (chance(0.25)) {
        chaos_action();
      }
      if (chance(0.1)) {
        scrape();
      }
      std::this_thread::sleep_for(milliseconds{60});
    }
    if (auto status = daemon_.poll()) {
      // Exit 1 is a refused start-up (Vault unusable after its retries: systemd restarts it);
      // anything else (a crash, an abort) is a defect.
      if (WIFEXITED(*status) && WEXITSTATUS(*status) == 1) {
        ++n_.daemon_exits;
      } else {
        violation(
            fmt::format("the daemon ended by itself with wait status {}; see daemon.log", *status));
      }
    } else {
      daemon_.kill_now();
    }
    ++n_.random_kills;
    after_kill(fmt::format("random kill {}", n_.random_kills));
  }
}

void Harness::finish_phase() {
  clear_faults();
  // The daemon is allowed to finish: nothing new becomes due, what is pending or unrotated is
  // done, and the metrics must then agree with Vault.
  write_config("1h");
  start_daemon(std::nullopt);
  capture_proc();
  const auto deadline = Clock::now() + milliseconds{static_cast<long>(o_.finish_seconds * 1000)};
  std::vector<std::string> last_problems;
  while (true) {
    std::this_thread::sleep_for(milliseconds{2000});
    if (auto status = daemon_.poll()) {
      violation(fmt::format("the daemon exited by itself with status {} while finishing", *status));
      break;
    }
    Snapshot snap = snapshot();
    std::vector<std::string> problems = check_progress(snap);
    auto metrics = http("GET", fmt::format("http://127.0.0.1:{}/metrics", metrics_port_));
    if (metrics.status == 200) {
      pending_texts_.push_back(metrics.body);
      pending_origins_.push_back("a /metrics scrape");
      ++scrapes_;
      const auto truth = state_counts(snap, policy_of_);
      const auto scraped = scraped_state_counts(metrics.body);
      if (truth != scraped) {
        std::string diff;
        std::set<std::pair<std::string, std::string>> keys;
        for (const auto& [k, v] : truth)
          keys.insert(k);
        for (const auto& [k, v] : scraped)
          keys.insert(k);
        for (const auto& k : keys) {
          const long t = truth.count(k) ? truth.at(k) : 0;
          const long s = scraped.count(k) ? scraped.at(k) : 0;
          if (t != s) {
            diff += fmt::format(" {}/{}: metrics {} vs Vault {};", k.first, k.second, s, t);
          }
        }
        problems.push_back("metrics: rotor_servers disagrees with Vault:" + diff);
      }
    } else {
      problems.push_back("metrics: no scrape");
    }
    if (problems.empty()) {
      last_problems.clear();
      break;
    }
    last_problems = std::move(problems);
    if (Clock::now() >= deadline) {
      break;
    }
  }
  for (const auto& p : last_problems) {
    violation(p + " (at the end)");
  }
  daemon_.signal(SIGTERM);
  const int status = daemon_.wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    violation(fmt::format("the daemon did not stop cleanly on SIGTERM (status {})", status));
  }
  Snapshot snap = snapshot();
  ++n_.checks;
  for (const auto& v : check_no_lockout(snap)) {
    violation(v + " (at the end)");
  }
  for (const auto& v : check_unique_and_fresh(snap, unique_ids_, policy_of_)) {
    violation(v + " (at the end)");
  }
  leaks_.add_snapshot(snap);
  scan_outputs();
  for (const auto& server : snap.servers) {
    n_.rotations_seen += server.history.size();
  }
}

int Harness::run() {
  setup();
  start_vault();
  start_ecs();
  // Who belongs to which policy, from the generated fleet (tags and OS decide).
  {
    auto listing = json::parse(http("GET", ecs_url_ + "/_sim/servers").body);
    for (const auto& server : listing.at("servers")) {
      const std::string id = server.at("id").get<std::string>();
      std::string env;
      for (const auto& tag : server.at("tags")) {
        const std::string t = tag.get<std::string>();
        if (t.starts_with("env=")) {
          env = t.substr(4);
        }
      }
      const bool windows = server.value("os_type", "") == "Windows";
      std::string policy;
      if (env == "prod") {
        policy = windows ? "prod-windows" : "prod-linux";
      } else if (env == "staging") {
        policy = windows ? "staging-windows" : "staging-linux";
      } else {
        policy = "dev";
      }
      policy_of_[id] = policy;
      if (!policy.starts_with("staging")) {
        unique_ids_.insert(id);
      }
      server_ids_.push_back(id);
    }
  }
  write_config(o_.max_age);
  failpoint_phase();
  std::cerr << fmt::format("chaos: failpoint phase done at {:.0f}s\n", elapsed());
  random_phase();
  std::cerr << fmt::format("chaos: random-kill phase done at {:.0f}s\n", elapsed());
  finish_phase();
  std::cerr << fmt::format("chaos: finish phase done at {:.0f}s\n", elapsed());

  std::size_t ecs_injected = 0;
  for (const auto& [kind, count] : ecs_faults_before_restart_) {
    ecs_injected += count;
  }
  for (const auto& [kind, count] : ecs_fault_counts()) {
    ecs_injected += count;
  }
  std::size_t controls = 0;
  std::string detail;
  for (const auto& [kind, count] : n_.faults) {
    controls += count;
    detail += fmt::format(" {}={}", kind, count);
  }
  const std::string summary = fmt::format(
      "chaos: servers={} kills={} (random={} failpoint={} failpoint_missed={}) faults={} "
      "(ecs_injected={}{}) checks={} resets_accepted={} scanned={} texts/{} bytes "
      "(proc={} scrapes={} state_files={}) passwords_known={} daemon_exit1={} duration={:.0f}s "
      "seed={} violations={}",
      server_ids_.size(), n_.random_kills + n_.failpoint_kills + n_.failpoints_missed,
      n_.random_kills, n_.failpoint_kills, n_.failpoints_missed, ecs_injected + controls,
      ecs_injected, detail, n_.checks, n_.rotations_seen, leaks_.texts_scanned(),
      leaks_.bytes_scanned(), proc_captures_, scrapes_, state_files_, leaks_.passwords(),
      n_.daemon_exits, elapsed(), o_.seed, violations_.size());
  std::cout << summary << std::endl;

  if (!violations_.empty()) {
    // The evidence, for whoever looks into it (the directory is kept).
    write_file(work_ / "final-ecs-servers.json", http("GET", ecs_url_ + "/_sim/servers").body);
    write_file(work_ / "final-vault-dump.json", http("GET", vault_url_ + "/_sim/dump").body);
  }
  vault_.signal(SIGTERM);
  ecs_.signal(SIGTERM);
  vault_.wait();
  ecs_.wait();
  if (violations_.empty() && !o_.keep) {
    fs::remove_all(work_);
  } else {
    std::cerr << "work directory kept: " << work_ << '\n';
  }
  return violations_.empty() ? 0 : 1;
}

}  // namespace
}  // namespace rotor::chaos

int main(int argc, char** argv) {
  rotor::chaos::Options options;
  CLI::App app{
      "rotor-chaos: kills rotor run at every protocol step and at random, with faults, "
      "and checks that no password is lost or leaked (docs/chaos.md)"};
  app.add_option("--rotor", options.rotor, "the rotor executable")->required();
  app.add_option("--sim", options.sim, "the rotor-sim executable")->required();
  app.add_option("--work", options.work, "work directory (default: a new one under /tmp)");
  app.add_option("--seed", options.seed, "seed of the fleet, the faults and the kills (0: random)");
  app.add_option("--servers", options.servers, "servers in the simulated fleet");
  app.add_option("--seconds", options.seconds, "minimum length of the random-kill phase");
  app.add_option("--kills", options.kills, "minimum number of random kills");
  app.add_option("--max-seconds", options.max_seconds, "upper bound of the random-kill phase");
  app.add_option("--failpoint-rounds", options.failpoint_rounds,
                 "deterministic kills per protocol step");
  app.add_option("--finish-seconds", options.finish_seconds,
                 "how long the daemon may take to finish at the end");
  app.add_option("--max-age", options.max_age, "max_age of every policy while killing");
  app.add_flag("--keep", options.keep, "keep the work directory");
  app.add_flag("!--no-vault-restarts", options.vault_restarts,
               "keep Vault in memory (faster) and never restart it");
  CLI11_PARSE(app, argc, argv);
  if (options.seed == 0) {
    options.seed = std::random_device{}();
  }
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  try {
    rotor::chaos::Harness harness(options);
    const int rc = harness.run();
    curl_global_cleanup();
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "rotor-chaos: " << e.what() << " (seed " << options.seed << ")\n";
    return 2;
  }
}
