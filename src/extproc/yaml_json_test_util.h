// YAML as Envoy (and Istio's patch values) read it, turned into JSON for protobuf's JSON
// parser: unquoted true/false/numbers are typed, everything else is a string. Test-only.
#pragma once

#include <cstdio>
#include <regex>
#include <string>

#include "yaml/yaml.h"

namespace sluice::extproc::test {

inline void AppendJson(const yaml::Node& n, std::string* out) {
  auto quote = [out](const std::string& s) {
    out->push_back('"');
    for (char c : s) {
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\t': *out += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            *out += buf;
          } else {
            out->push_back(c);
          }
      }
    }
    out->push_back('"');
  };
  switch (n.kind) {
    case yaml::Node::Kind::kNull: *out += "null"; return;
    case yaml::Node::Kind::kScalar: {
      static const std::regex kNumber("-?[0-9]+(\\.[0-9]+)?");
      if (!n.quoted && (n.scalar == "true" || n.scalar == "false")) *out += n.scalar;
      else if (!n.quoted && std::regex_match(n.scalar, kNumber)) *out += n.scalar;
      else quote(n.scalar);
      return;
    }
    case yaml::Node::Kind::kSequence:
      out->push_back('[');
      for (size_t i = 0; i < n.items.size(); ++i) {
        if (i) out->push_back(',');
        AppendJson(n.items[i], out);
      }
      out->push_back(']');
      return;
    case yaml::Node::Kind::kMap:
      out->push_back('{');
      for (size_t i = 0; i < n.members.size(); ++i) {
        if (i) out->push_back(',');
        quote(n.members[i].first);
        out->push_back(':');
        AppendJson(n.members[i].second, out);
      }
      out->push_back('}');
      return;
  }
}

}  // namespace sluice::extproc::test
