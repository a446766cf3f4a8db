// Test helpers for translator tests: testdata paths, golden files, a JSON pretty-printer for
// reviewable goldens, and feeding a body split at every byte. Tests only.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::translate::testutil {

inline std::string SourceDir() {
  const char* root = std::getenv("SLUICE_SOURCE_DIR");
  return root ? root : ".";
}

inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Files under `dir` (absolute) whose names end with `suffix`, sorted.
inline std::vector<std::string> ListFiles(const std::string& dir, std::string_view suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(name.substr(0, name.size() - suffix.size()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline void PrettyTo(const json::Value& v, int indent, std::string* out) {
  auto pad = [out](int n) { out->append(static_cast<size_t>(n) * 2, ' '); };
  switch (v.type()) {
    case json::Value::Type::kArray:
      if (v.size() == 0) {
        out->append("[]");
        return;
      }
      out->append("[\n");
      for (size_t i = 0; i < v.size(); ++i) {
        pad(indent + 1);
        PrettyTo(v.items()[i], indent + 1, out);
        out->append(i + 1 < v.size() ? ",\n" : "\n");
      }
      pad(indent);
      out->append("]");
      return;
    case json::Value::Type::kObject:
      if (v.size() == 0) {
        out->append("{}");
        return;
      }
      out->append("{\n");
      for (size_t i = 0; i < v.members().size(); ++i) {
        pad(indent + 1);
        json::AppendQuoted(out, v.members()[i].first);
        out->append(": ");
        PrettyTo(v.members()[i].second, indent + 1, out);
        out->append(i + 1 < v.members().size() ? ",\n" : "\n");
      }
      pad(indent);
      out->append("}");
      return;
    default:
      json::SerializeTo(v, out);
  }
}

inline std::string Pretty(const json::Value& v) {
  std::string out;
  PrettyTo(v, 0, &out);
  out.push_back('\n');
  return out;
}

// Compares `actual` with the golden file at `path`; SLUICE_UPDATE_GOLDEN=1 rewrites it.
inline void ExpectGolden(const std::string& path, const std::string& actual) {
  const char* update = std::getenv("SLUICE_UPDATE_GOLDEN");
  if (update != nullptr && std::string_view(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream probe(path);
  ASSERT_TRUE(probe.good()) << "missing golden " << path << " (run with SLUICE_UPDATE_GOLDEN=1)";
  EXPECT_EQ(ReadFileOrEmpty(path), actual) << "golden " << path
                                           << " differs (SLUICE_UPDATE_GOLDEN=1 regenerates)";
}

inline std::string ToCrlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

}  // namespace sluice::translate::testutil
