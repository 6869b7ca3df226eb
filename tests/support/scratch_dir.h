#pragma once
// A fresh private directory for one test, removed with everything in it when the test ends.
// mkdtemp gives a unique name (mode 0700), so tests running side by side never share one.

#include <filesystem>
#include <string_view>

namespace rotor::testing {

class ScratchDir {
 public:
  // Under the system's temporary directory, named "rotor-<prefix>-XXXXXX". Throws
  // std::system_error when it cannot be created.
  explicit ScratchDir(std::string_view prefix);
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  // path() / name
  [[nodiscard]] std::filesystem::path operator/(const std::filesystem::path& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace rotor::testing
