// The malformed-config corpus: each corpus/bad/NN-name.yaml must be refused with exactly the text
// in NN-name.expected (what `rotor check-config` prints on stderr, positions included).
// Set ROTOR_UPDATE_CORPUS=1 to write missing .expected files (review them before committing).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "config/config.h"

namespace rotor::config {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

LoadOptions corpus_options() {
  LoadOptions options;
  options.env = fixed_env({{"CREDENTIALS_DIRECTORY", "/run/credentials/rotor.service"}});
  options.check_secrets = false;
  return options;
}

std::vector<fs::path> corpus(const char* kind) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(ROTOR_CONFIG_CORPUS_DIR) / kind)) {
    if (entry.path().extension() == ".yaml") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

class CorpusTest : public ::testing::Test {};

// The corpus is as large as promised: at least 40 malformed configurations.
TEST_F(CorpusTest, HasAtLeastFortyBadConfigs) {
  EXPECT_GE(corpus("bad").size(), 40U);
}

// Every malformed configuration fails with exactly the expected errors.
TEST_F(CorpusTest, BadConfigsFailWithExpectedErrors) {
  const bool update = std::getenv("ROTOR_UPDATE_CORPUS") != nullptr;  // NOLINT
  for (const fs::path& file : corpus("bad")) {
    SCOPED_TRACE(file.filename().string());
    const LoadResult result =
        parse_config(read_file(file), file.filename().string(), corpus_options());
    ASSERT_FALSE(result.has_value()) << "accepted";
    const std::string actual = to_string(result.error());
    fs::path expected_file = file;
    expected_file.replace_extension(".expected");
    if (update && !fs::exists(expected_file)) {
      std::ofstream(expected_file, std::ios::binary) << actual;
    }
    ASSERT_TRUE(fs::exists(expected_file)) << "missing " << expected_file;
    EXPECT_EQ(read_file(expected_file), actual);
  }
}

// Every good configuration loads, and its canonical summary loads back to an equal config.
TEST_F(CorpusTest, GoodConfigsRoundTrip) {
  std::vector<fs::path> files = corpus("good");
  files.push_back(fs::path(ROTOR_PACKAGING_DIR) / "rotor.yaml");
  ASSERT_GE(files.size(), 3U);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    const LoadResult first =
        parse_config(read_file(file), file.filename().string(), corpus_options());
    ASSERT_TRUE(first.has_value()) << to_string(first.error());
    const std::string summary = to_yaml(*first);
    const LoadResult second = parse_config(summary, "summary.yaml", corpus_options());
    ASSERT_TRUE(second.has_value()) << to_string(second.error()) << summary;
    EXPECT_EQ(*first, *second) << summary;
    Config again = *second;
    again.source = first->source;
    EXPECT_EQ(summary, to_yaml(again));
  }
}

}  // namespace
}  // namespace rotor::config
