// Header maps and header mutations, as plain data shared by the pipeline and both drivers.
// Names are stored lower-case (HTTP/2 style); lookups are case-insensitive.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::http {

std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

class HeaderMap {
 public:
  using Entry = std::pair<std::string, std::string>;

  // Appends (keeps existing values with the same name).
  void Add(std::string_view name, std::string_view value);
  // Replaces every value of `name` with one value.
  void Set(std::string_view name, std::string_view value);
  // Removes every value of `name`; returns how many were removed.
  size_t Remove(std::string_view name);
  // First value of `name`, if any.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }
  void reserve(size_t n) { entries_.reserve(n); }

 private:
  std::vector<Entry> entries_;
};

// A header mutation as data: applied by the standalone driver to a real request, turned into
// ext_proc HeaderMutation protos by the extproc driver.
struct HeaderMutation {
  std::vector<std::pair<std::string, std::string>> set;  // lower-case names
  std::vector<std::string> remove;                         // lower-case names

  bool empty() const { return set.empty() && remove.empty(); }
  void Set(std::string_view name, std::string_view value);
  void Remove(std::string_view name);
  // other's removals, then its sets, as Remove and Set would apply them; its strings are moved.
  void Merge(HeaderMutation&& other);
  // Applies removals first, then sets.
  void ApplyTo(HeaderMap& headers) const;
};

// True for hop-by-hop headers (RFC 9110 §7.6.1) that a proxy must not forward.
bool IsHopByHop(std::string_view lower_name);

// True for headers whose values are credentials and must never be logged.
bool IsSensitiveHeader(std::string_view lower_name);

}  // namespace sluice::http
