// Passwords per second per profile, with the kernel CSPRNG (the production path).
#include <benchmark/benchmark.h>

#include "common/random.h"
#include "password/generator.h"
#include "password/validator.h"

namespace {

using rotor::password::ApiProfile;
using rotor::password::OsFamily;
using rotor::password::Policy;

void generate(benchmark::State& state, const Policy& policy) {
  rotor::SystemRandom random;
  rotor::password::Generator generator(random);
  for (auto _ : state) {
    auto password = generator.generate(policy);
    benchmark::DoNotOptimize(password->size());
  }
  state.SetItemsProcessed(state.iterations());
}

void check(benchmark::State& state) {
  const auto policy = Policy::for_os(OsFamily::Windows, 20, ApiProfile::EcsV1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(rotor::password::complies("Xk9!mPq2-Lw7=Zr4+Tn6", policy));
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK_CAPTURE(generate, linux_otc_single_24,
                  Policy::for_os(OsFamily::Linux, 24, ApiProfile::OtcSingle));
BENCHMARK_CAPTURE(generate, windows_v1_20,
                  Policy::for_os(OsFamily::Windows, 20, ApiProfile::EcsV1));
BENCHMARK_CAPTURE(generate, safe_16, Policy::for_os(OsFamily::Linux, 16, ApiProfile::Safe));
BENCHMARK_CAPTURE(generate, windows_v1_8, Policy::for_os(OsFamily::Windows, 8, ApiProfile::EcsV1));
BENCHMARK(check);
BENCHMARK_MAIN();
