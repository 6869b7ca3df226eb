#include "engine/verifier.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

namespace rotor::engine {
namespace {

std::string errno_text(int code) {
  char buffer[128];
  return strerror_r(code, buffer, sizeof buffer);  // GNU: returns the message
}

// The file descriptor closes when this goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
  posix_spawn_file_actions_t* get() noexcept { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
};

class SpawnAttributes {
 public:
  SpawnAttributes() { posix_spawnattr_init(&attr_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  ~SpawnAttributes() { posix_spawnattr_destroy(&attr_); }
  posix_spawnattr_t* get() noexcept { return &attr_; }

 private:
  posix_spawnattr_t attr_{};
};

// Writes all of `data`; false on an error (EPIPE: the hook exited without reading). SIGPIPE is
// blocked in this thread meanwhile, and a SIGPIPE raised by the write is consumed, so a hook that
// does not read cannot kill the daemon.
bool write_all(int fd, std::string_view data) {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  sigset_t pending_before;
  sigpending(&pending_before);
  bool ok = true;
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      ok = false;
      break;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (!ok && sigismember(&pending_before, SIGPIPE) == 0) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return ok;
}

// Waits for `pid` until `deadline`; true with its wait status when it exited in time.
bool wait_until(pid_t pid, std::chrono::steady_clock::time_point deadline, int& status) {
  // A pidfd turns "wait with a timeout" into poll(); glibc's wrapper is missing here.
  const Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      return true;
    }
    if (done < 0 && errno != EINTR) {
      status = 0;
      return true;  // not our child any more (cannot happen unless SIGCHLD is ignored)
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      return false;
    }
    const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    if (pidfd.get() >= 0) {
      pollfd watch{pidfd.get(), POLLIN, 0};
      ::poll(&watch, 1, static_cast<int>(std::min<std::int64_t>(left_ms, 1000)));
    } else {
      // No pidfd (an old kernel): look again shortly.
      std::this_thread::sleep_for(
          std::min(left, std::chrono::steady_clock::duration(std::chrono::milliseconds(10))));
    }
  }
}

std::string format_timeout(std::chrono::milliseconds timeout) {
  if (timeout.count() % 1000 == 0) {
    return fmt::format("{}s", timeout.count() / 1000);
  }
  return fmt::format("{}ms", timeout.count());
}

}  // namespace

std::vector<std::string> hook_environment(const VerifyContext& context) {
  std::string addresses;
  for (const auto& address : context.addresses) {
    addresses += (addresses.empty() ? "" : " ") + address;
  }
  return {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "LC_ALL=C",
      "ROTOR_SERVER_ID=" + context.server_id,
      "ROTOR_SERVER_NAME=" + context.server_name,
      "ROTOR_USERNAME=" + context.username,
      "ROTOR_OS_TYPE=" + context.os_type,
      "ROTOR_POLICY=" + context.policy,
      "ROTOR_ROTATION_ID=" + context.rotation_id,
      "ROTOR_ADDRESSES=" + addresses,
  };
}

Result<void> ProcessVerifier::verify(const VerifyHook& hook, const VerifyContext& context,
                                     const Secret& password) {
  if (hook.command.empty() || hook.command.front().empty() || hook.command.front()[0] != '/') {
    return fail(ErrorCode::InvalidConfig,
                "the verification hook needs an absolute program path as its first word");
  }
  const std::string& program = hook.command.front();

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return fail(ErrorCode::IoError, "cannot create a pipe for the verification hook {}: {}",
                program, errno_text(errno));
  }
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);

  SpawnActions actions;
  posix_spawn_file_actions_adddup2(actions.get(), read_end.get(), STDIN_FILENO);
  posix_spawn_file_actions_addopen(actions.get(), STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(actions.get(), STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(actions.get(), STDERR_FILENO + 1);

  // Its own process group (so a timeout kills everything it started), no blocked signals (the
  // daemon blocks SIGTERM & co. in every thread), and default dispositions.
  SpawnAttributes attributes;
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setflags(attributes.get(),
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(attributes.get(), 0);
  posix_spawnattr_setsigmask(attributes.get(), &none);
  posix_spawnattr_setsigdefault(attributes.get(), &defaults);

  std::vector<std::string> args = hook.command;
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env = hook_environment(context);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& entry : env) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int spawned =
      posix_spawn(&pid, program.c_str(), actions.get(), attributes.get(), argv.data(), envp.data());
  read_end.reset();
  if (spawned != 0) {
    return fail(ErrorCode::IoError, "cannot start the verification hook {}: {}", program,
                errno_text(spawned));
  }
  const auto deadline = std::chrono::steady_clock::now() + hook.timeout;

  // The password and a newline, then end of file. The pipe holds far more than a password, so
  // this does not block; a hook that exits without reading only makes the write fail.
  if (write_all(write_end.get(), password.reveal())) {
    write_all(write_end.get(), "\n");
  }
  write_end.reset();

  int status = 0;
  const bool exited = wait_until(pid, deadline, status);
  if (!exited) {
    ::kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // Whatever the hook left running in its group goes too.
  ::kill(-pid, SIGKILL);

  if (!exited) {
    return fail(ErrorCode::Timeout,
                "the verification hook {} did not finish within {}; its process group was killed",
                program, format_timeout(hook.timeout));
  }
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) == 0) {
      return {};
    }
    return fail(ErrorCode::PermissionDenied,
                "the verification hook {} exited with status {} (the password was not confirmed)",
                program, WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return fail(ErrorCode::Internal, "the verification hook {} was killed by signal {} (SIG{})",
                program, WTERMSIG(status), name != nullptr ? name : "?");
  }
  return fail(ErrorCode::Internal, "the verification hook {} ended with wait status {}", program,
              status);
}

}  // namespace rotor::engine
