// The YAML facade: loads multi-document YAML into a plain tree that remembers where each
// node came from (line/column), for diagnostics. The only includer of yaml-cpp.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::yaml {

struct Node {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;  // kScalar only
  bool quoted = false;  // scalar was quoted ('...' or "..."): never a number/bool/null
  std::vector<Node> items;                         // kSequence
  std::vector<std::pair<std::string, Node>> members;  // kMap; keys as written
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based

  bool is_null() const { return kind == Kind::kNull; }
  bool is_scalar() const { return kind == Kind::kScalar; }
  bool is_map() const { return kind == Kind::kMap; }
  bool is_seq() const { return kind == Kind::kSequence; }
  // Map lookup; nullptr when absent or not a map.
  const Node* Find(std::string_view key) const;
};

// Parses every document of a multi-document stream ("---" separated). Empty documents are
// skipped. InvalidArgument with "line L, column C: ..." on a syntax error.
absl::StatusOr<std::vector<Node>> LoadAll(std::string_view text);

}  // namespace sluice::yaml
