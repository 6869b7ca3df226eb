// libFuzzer target for the configuration loader: any byte string must be either accepted or
// refused with diagnostics; never a crash, a hang, a leak or undefined behaviour. The canonical
// summary of an accepted input must load again to an equal configuration.
// Built only with clang and -DROTOR_FUZZ=ON; run with tests/config/fuzz/run.sh SECONDS.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rotor::config;
  static const LoadOptions options = [] {
    LoadOptions result;
    result.env = fixed_env({{"CREDENTIALS_DIRECTORY", "/run/credentials/rotor.service"}});
    result.check_secrets = false;  // no file system access from fuzz input
    return result;
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const LoadResult result = parse_config(text, "fuzz.yaml", options);
  if (!result) {
    if (result.error().empty() || result.error().size() > kMaxDiagnostics + 1) {
      std::abort();  // refused without a reason, or beyond the bound
    }
    return 0;
  }
  const std::string summary = to_yaml(*result);
  const LoadResult again = parse_config(summary, "fuzz.yaml", options);
  if (!again || !(*again == *result)) {
    std::abort();  // the summary must round-trip
  }
  return 0;
}
