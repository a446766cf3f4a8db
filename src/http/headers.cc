#include "http/headers.h"

#include <algorithm>

namespace sluice::http {

namespace {
inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
void LowerInPlace(std::string& s) {
  for (char& c : s) c = Lower(c);
}
}  // namespace

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

void HeaderMap::Add(std::string_view name, std::string_view value) {
  LowerInPlace(entries_.emplace_back(std::string(name), std::string(value)).first);
}

void HeaderMap::Set(std::string_view name, std::string_view value) {
  bool done = false;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (EqualsIgnoreCase(it->first, name)) {
      if (!done) {
        it->second.assign(value);
        done = true;
        ++it;
      } else {
        it = entries_.erase(it);
      }
    } else {
      ++it;
    }
  }
  if (!done) Add(name, value);
}

size_t HeaderMap::Remove(std::string_view name) {
  size_t before = entries_.size();
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const Entry& e) { return EqualsIgnoreCase(e.first, name); }),
                 entries_.end());
  return before - entries_.size();
}

std::optional<std::string_view> HeaderMap::Get(std::string_view name) const {
  for (const auto& e : entries_)
    if (EqualsIgnoreCase(e.first, name)) return std::string_view(e.second);
  return std::nullopt;
}

void HeaderMutation::Set(std::string_view name, std::string_view value) {
  if (set.empty()) set.reserve(8);  // a request's mutation holds a handful: grow once
  // Callers nearly always pass lower-case names: compare bytes, lower-case only when needed.
  std::string lowered;
  if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    lowered = ToLower(name);
    name = lowered;
  }
  for (auto& [n, v] : set) {
    if (n == name) {
      v.assign(value);
      return;
    }
  }
  set.emplace_back(std::string(name), std::string(value));
}

void HeaderMutation::Remove(std::string_view name) {
  if (remove.empty()) remove.reserve(16);  // the pipeline strips about a dozen names
  LowerInPlace(remove.emplace_back(name));
}

void HeaderMutation::Merge(HeaderMutation&& other) {
  for (auto& r : other.remove) {
    LowerInPlace(r);
    remove.push_back(std::move(r));
  }
  for (auto& [n, v] : other.set) {
    LowerInPlace(n);
    auto same = std::find_if(set.begin(), set.end(), [&](const auto& e) { return e.first == n; });
    if (same != set.end()) same->second = std::move(v);
    else set.emplace_back(std::move(n), std::move(v));
  }
  other.set.clear();
  other.remove.clear();
}

void HeaderMutation::ApplyTo(HeaderMap& headers) const {
  for (const auto& r : remove) headers.Remove(r);
  for (const auto& [n, v] : set) headers.Set(n, v);
}

bool IsHopByHop(std::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" ||
         n == "transfer-encoding" || n == "te" || n == "trailer" || n == "upgrade" ||
         n == "proxy-authorization" || n == "proxy-authenticate";
}

bool IsSensitiveHeader(std::string_view n) {
  if (n == "authorization" || n == "x-api-key" || n == "api-key" || n == "cookie" ||
      n == "proxy-authorization" || n == "x-goog-api-key")
    return true;
  if (n.rfind("x-aigw-", 0) == 0) return true;
  auto ends = [&](std::string_view suf) {
    return n.size() >= suf.size() && n.substr(n.size() - suf.size()) == suf;
  };
  return ends("-access-key-id") || ends("-secret-access-key") || ends("-session-token") ||
         n == "x-amz-security-token";
}

}  // namespace sluice::http
