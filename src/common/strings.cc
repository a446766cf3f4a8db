#include "common/strings.h"

#include <cstdio>

namespace sluice {
namespace strings_internal {

Piece::Piece(double v) {
  int n = std::snprintf(buf_, sizeof(buf_), "%g", v);
  sv_ = std::string_view(buf_, n > 0 ? static_cast<size_t>(n) : 0);
}

}  // namespace strings_internal

bool ParseInt(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e;
}

}  // namespace sluice
