// Diagnostics: every problem found in user resources, collected rather than stopping at the
// first, each naming file, line, kind, name and field path.
#pragma once

#include <string>
#include <vector>

namespace sluice::compiler {

struct Diagnostic {
  enum class Severity {
    kNotice,       // accepted; does not shape the data plane (e.g. GatewayClass)
    kWarning,      // accepted; something the user should know
    kUnsupported,  // would change behaviour but is not implemented: refuses to start
    kError,        // invalid: refuses to start
  };
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;
  std::string kind;
  std::string name;  // namespace/name
  std::string field;  // e.g. spec.rules[0].backendRefs[1].name
  std::string message;
};

const char* SeverityName(Diagnostic::Severity s);
// "file:line: error: AIGatewayRoute default/r: spec.rules[0]: message"
std::string Format(const Diagnostic& d);

struct Diagnostics {
  std::vector<Diagnostic> items;
  bool HasErrors() const;       // any kError
  bool HasUnsupported() const;  // any kUnsupported
};

}  // namespace sluice::compiler
