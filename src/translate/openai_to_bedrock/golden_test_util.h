// Test-only helpers for the Bedrock translators' golden files: testdata/ beside the test
// source; SLUICE_UPDATE_GOLDEN=1 rewrites the expected files instead of comparing.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace sluice::translate::golden {

// The testdata directory beside `source_file` (pass __FILE__: CMake compiles absolute paths).
inline std::string TestDataDir(std::string_view source_file) {
  size_t slash = source_file.rfind('/');
  return std::string(source_file.substr(0, slash == std::string_view::npos ? 0 : slash + 1)) + "testdata/";
}

inline bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

inline std::string MustRead(const std::string& path) {
  std::string s;
  EXPECT_TRUE(ReadFile(path, &s)) << "cannot read " << path;
  return s;
}

inline bool Updating() {
  const char* v = std::getenv("SLUICE_UPDATE_GOLDEN");
  return v != nullptr && std::string_view(v) == "1";
}

inline void ExpectGolden(const std::string& path, const std::string& actual) {
  if (Updating()) {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::string expected;
  if (!ReadFile(path, &expected)) {
    ADD_FAILURE() << "missing golden " << path << " (regenerate with SLUICE_UPDATE_GOLDEN=1)";
    return;
  }
  EXPECT_EQ(expected, actual) << "golden " << path << " differs (regenerate with SLUICE_UPDATE_GOLDEN=1)";
}

}  // namespace sluice::translate::golden
