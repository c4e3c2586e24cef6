// libFuzzer target for the YAML config loader (STYLE.md 13: fuzz every parser of outside bytes).
// Any input must end in a Config or in problems with positions; never a crash, hang or exception.
//
// Built by tests/fuzz/CMakeLists.txt with -DLINTEL_FUZZ=ON (tools/test runs a smoke). By hand,
// -fsanitize=fuzzer-no-link,address,undefined:
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/config_fuzz.cpp \
//     build-fuzz/config/liblintel_config.a build-fuzz/rules/liblintel_rules.a \
//     build-fuzz/gateway/base/liblintel_base.a -lyaml-cpp -ldate-tz -o config_fuzz
//   ./config_fuzz -dict=tests/fuzz/config.dict config/examples
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > lintel::config::kMaxConfigBytes) return 0;  // LoadConfigFile refuses these too
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<lintel::config::ConfigProblem> problems;
  lintel::Result<lintel::config::Config> config =
      lintel::config::LoadConfigText(text, "fuzz.yaml", &problems);
  if (config.ok()) {
    // A loaded config is complete: a zone and at least one door, no problems.
    if (!problems.empty() || config->zone == nullptr || config->doors.empty()) std::abort();
    (void)lintel::config::Summarize(*config);
    (void)lintel::config::MakeSite(*config);
  } else {
    // Every failure names at least one problem, each with a 1-based position.
    if (problems.empty()) std::abort();
    for (const lintel::config::ConfigProblem& p : problems) {
      if (p.line < 1 || p.column < 1 || p.message.empty()) std::abort();
    }
  }
  return 0;
}
