// Minimal leveled logging to stderr. Thread-safe (one write(2) per line).
// Never log secrets: callers pass only redacted values (see http::Redact).
#pragma once

#include <string_view>

#include "common/strings.h"

namespace sluice::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
// Parses "debug|info|warn|error"; returns false on anything else.
bool ParseLevel(std::string_view text, Level* out);
void Write(Level level, std::string_view message);

template <typename... Args>
void Debug(const Args&... args) {
  if (GetLevel() <= Level::kDebug) Write(Level::kDebug, StrCat(args...));
}
template <typename... Args>
void Info(const Args&... args) {
  if (GetLevel() <= Level::kInfo) Write(Level::kInfo, StrCat(args...));
}
template <typename... Args>
void Warn(const Args&... args) {
  if (GetLevel() <= Level::kWarn) Write(Level::kWarn, StrCat(args...));
}
template <typename... Args>
void Error(const Args&... args) {
  Write(Level::kError, StrCat(args...));
}

}  // namespace sluice::log
