// Test data of the GCP auth tests (src/auth/gcp/testdata), read from SLUICE_SOURCE_DIR (the
// source tree; the current directory when unset).
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace sluice::auth::gcptest {

inline std::string ReadTestdata(const std::string& name) {
  const char* root = std::getenv("SLUICE_SOURCE_DIR");
  std::string path = std::string(root ? root : ".") + "/src/auth/gcp/testdata/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace sluice::auth::gcptest
