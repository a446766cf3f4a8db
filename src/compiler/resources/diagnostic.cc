#include "compiler/resources/diagnostic.h"

#include "common/strings.h"

namespace sluice::compiler {

const char* SeverityName(Diagnostic::Severity s) {
  switch (s) {
    case Diagnostic::Severity::kNotice: return "notice";
    case Diagnostic::Severity::kWarning: return "warning";
    case Diagnostic::Severity::kUnsupported: return "unsupported";
    case Diagnostic::Severity::kError: return "error";
  }
  return "?";
}

std::string Format(const Diagnostic& d) {
  std::string out = d.file.empty() ? std::string("<input>") : d.file;
  if (d.line > 0) StrAppend(&out, ":", d.line);
  StrAppend(&out, ": ", SeverityName(d.severity), ": ");
  if (!d.kind.empty()) StrAppend(&out, d.kind, " ", d.name, ": ");
  if (!d.field.empty()) StrAppend(&out, d.field, ": ");
  StrAppend(&out, d.message);
  return out;
}

bool Diagnostics::HasErrors() const {
  for (const auto& d : items)
    if (d.severity == Diagnostic::Severity::kError) return true;
  return false;
}

bool Diagnostics::HasUnsupported() const {
  for (const auto& d : items)
    if (d.severity == Diagnostic::Severity::kUnsupported) return true;
  return false;
}

}  // namespace sluice::compiler
