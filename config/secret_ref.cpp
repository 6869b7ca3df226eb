#include "config/secret_ref.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rotor::config {

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

EnvLookup fixed_env(std::vector<std::pair<std::string, std::string>> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    for (const auto& [key, value] : variables) {
      if (key == name) {
        return value;
      }
    }
    return std::nullopt;
  };
}

std::string Position::to_string() const {
  if (line <= 0) {
    return file;
  }
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

bool is_placeholder(std::string_view value) {
  std::string text;
  for (char c : value) {
    text.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  static constexpr std::array<std::string_view, 16> kWords{
      "changeme",  "change-me",  "change_me",   "changeit", "todo",    "tbd",    "fixme",
      "replaceme", "replace-me", "placeholder", "dummy",    "example", "secret", "password",
      "...",       "-"};
  for (std::string_view word : kWords) {
    if (text == word) {
      return true;
    }
  }
  if (text.find("xxx") != std::string::npos || text.find("changeme") != std::string::npos ||
      text.find("change_me") != std::string::npos || text.find("your-") == 0 ||
      text.find("your_") == 0) {
    return true;
  }
  return text.size() >= 2 && text.front() == '<' && text.back() == '>';
}

namespace {

constexpr std::size_t kMaxSecretFile = std::size_t{64} * 1024;

std::string errno_text(int error) {
  return std::strerror(error);
}  // NOLINT(concurrency-mt-unsafe)

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

Result<Secret> finish(WipingBuffer& buffer, const SecretRef& ref, std::string_view what) {
  std::string_view view = buffer.view();
  if (!view.empty() && view.back() == '\n') {
    view.remove_suffix(1);
    if (!view.empty() && view.back() == '\r') {
      view.remove_suffix(1);
    }
  }
  if (view.empty()) {
    return fail(ErrorCode::InvalidConfig, "'{}': {} is empty", ref.parameter, what);
  }
  if (is_placeholder(view)) {
    return fail(ErrorCode::InvalidConfig, "'{}': {} holds a placeholder, not a credential",
                ref.parameter, what);
  }
  return Secret::from(view);
}

}  // namespace

Result<Secret> resolve_secret(const SecretRef& ref, const EnvLookup& env) {
  if (ref.kind == SecretRef::Kind::Env) {
    std::optional<std::string> value = env ? env(ref.text) : std::nullopt;
    if (!value || value->empty()) {
      return fail(ErrorCode::InvalidConfig, "'{}': environment variable {} is not set",
                  ref.parameter, ref.text);
    }
    WipingBuffer buffer(*value);
    secure_wipe(*value);
    return finish(buffer, ref, "environment variable " + ref.text);
  }

  const std::string path = ref.path.string();
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (raw < 0) {
    const int error = errno;
    return fail(ErrorCode::IoError, "'{}': cannot open {} ({})", ref.parameter, path,
                errno_text(error));
  }
  Fd fd(raw);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    const int error = errno;
    return fail(ErrorCode::IoError, "'{}': cannot stat {} ({})", ref.parameter, path,
                errno_text(error));
  }
  if (!S_ISREG(info.st_mode)) {
    return fail(ErrorCode::InvalidConfig, "'{}': {} is not a regular file", ref.parameter, path);
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return fail(ErrorCode::InvalidConfig,
                "'{}': {} is accessible by group or others (mode {:04o}); run chmod 600 {}",
                ref.parameter, path, info.st_mode & 07777U, path);
  }
  if (static_cast<std::size_t>(info.st_size) > kMaxSecretFile) {
    return fail(ErrorCode::InvalidConfig, "'{}': {} is larger than 64 KiB", ref.parameter, path);
  }
  WipingBuffer buffer;
  buffer.reserve(static_cast<std::size_t>(info.st_size) + 1);
  std::array<char, 512> chunk{};
  while (true) {
    const ssize_t got = ::read(fd.get(), chunk.data(), chunk.size());
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int error = errno;
      secure_wipe(chunk.data(), chunk.size());
      return fail(ErrorCode::IoError, "'{}': cannot read {} ({})", ref.parameter, path,
                  errno_text(error));
    }
    if (got == 0) {
      break;
    }
    buffer.append(std::string_view(chunk.data(), static_cast<std::size_t>(got)));
    if (buffer.size() > kMaxSecretFile) {
      secure_wipe(chunk.data(), chunk.size());
      return fail(ErrorCode::InvalidConfig, "'{}': {} is larger than 64 KiB", ref.parameter, path);
    }
  }
  secure_wipe(chunk.data(), chunk.size());
  return finish(buffer, ref, path);
}

}  // namespace rotor::config
