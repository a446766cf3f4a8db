// deps/envoy-api is a pinned copy of files from the npm package @grpc/grpc-js-xds. These
// tests keep the copy honest: every file in MANIFEST is vendored, nothing else is, and, when
// node_modules holds the package (after `npm ci`), each vendored file is byte-identical to
// the package's and the package is the version MANIFEST names.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::extproc {
namespace {

namespace fs = std::filesystem;

fs::path SourceDir() {
  const char* d = std::getenv("SLUICE_SOURCE_DIR");
  return d ? fs::path(d) : fs::path(".");
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Manifest {
  std::string version;
  std::vector<std::pair<std::string, std::string>> files;  // vendored path, package path
};

Manifest LoadManifest() {
  Manifest m;
  std::ifstream in(SourceDir() / "deps/envoy-api/MANIFEST");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# @grpc/grpc-js-xds ", 0) == 0) {
      m.version = line.substr(20, line.find(':') - 20);
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find(' ');
    m.files.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return m;
}

TEST(VendorTest, ManifestMatchesTheVendoredTree) {
  Manifest m = LoadManifest();
  ASSERT_EQ(m.version, "1.14.1");
  ASSERT_FALSE(m.files.empty());
  fs::path root = SourceDir() / "deps/envoy-api";
  std::set<std::string> listed;
  for (const auto& [dst, src] : m.files) {
    listed.insert(dst);
    EXPECT_TRUE(fs::is_regular_file(root / dst)) << dst;
  }
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".proto") continue;
    std::string rel = fs::relative(e.path(), root).generic_string();
    EXPECT_TRUE(listed.count(rel)) << rel << " is vendored but not in MANIFEST";
  }
}

TEST(VendorTest, VendoredFilesMatchTheNpmPackage) {
  fs::path pkg = SourceDir() / "node_modules/@grpc/grpc-js-xds";
  if (!fs::exists(pkg / "package.json")) GTEST_SKIP() << "node_modules has no @grpc/grpc-js-xds (run npm ci)";
  Manifest m = LoadManifest();
  std::string pkg_json = Read(pkg / "package.json");
  EXPECT_NE(pkg_json.find("\"version\": \"" + m.version + "\""), std::string::npos)
      << "node_modules holds another version than MANIFEST; run deps/envoy-api/update.sh";
  for (const auto& [dst, src] : m.files) {
    EXPECT_EQ(Read(SourceDir() / "deps/envoy-api" / dst), Read(pkg / src))
        << dst << " differs from the package's " << src << "; run deps/envoy-api/update.sh";
  }
}

}  // namespace
}  // namespace sluice::extproc
