#include "yaml/yaml.h"

#include <yaml-cpp/yaml.h>

#include "common/strings.h"

namespace sluice::yaml {

const Node* Node::Find(std::string_view key) const {
  if (kind != Kind::kMap) return nullptr;
  for (const auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

namespace {

absl::StatusOr<Node> Convert(const YAML::Node& in, int depth) {
  if (depth > 128) return absl::InvalidArgumentError("YAML nesting too deep");
  Node out;
  const YAML::Mark mark = in.Mark();
  out.line = mark.line >= 0 ? mark.line + 1 : 0;
  out.column = mark.column >= 0 ? mark.column + 1 : 0;
  switch (in.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out.kind = Node::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      out.kind = Node::Kind::kScalar;
      out.scalar = in.Scalar();
      // yaml-cpp tags quoted (non-plain) scalars with "!".
      out.quoted = in.Tag() == "!";
      break;
    case YAML::NodeType::Sequence:
      out.kind = Node::Kind::kSequence;
      for (const auto& item : in) {
        auto c = Convert(item, depth + 1);
        if (!c.ok()) return c.status();
        out.items.push_back(std::move(*c));
      }
      break;
    case YAML::NodeType::Map:
      out.kind = Node::Kind::kMap;
      for (const auto& kv : in) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(
              StrCat("line ", kv.first.Mark().line + 1, ": map keys must be scalars"));
        }
        auto c = Convert(kv.second, depth + 1);
        if (!c.ok()) return c.status();
        out.members.emplace_back(kv.first.Scalar(), std::move(*c));
      }
      break;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Node>> LoadAll(std::string_view text) {
  std::vector<Node> docs;
  try {
    std::vector<YAML::Node> raw = YAML::LoadAll(std::string(text));
    for (const auto& d : raw) {
      if (d.IsNull() || !d.IsDefined()) continue;
      auto c = Convert(d, 0);
      if (!c.ok()) return c.status();
      docs.push_back(std::move(*c));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat("line ", e.mark.line + 1, ", column ",
                                                   e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat("YAML error: ", e.what()));
  }
  return docs;
}

}  // namespace sluice::yaml
