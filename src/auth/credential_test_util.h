// Test helpers for credential sources: a fake HTTP client that answers by URL and records
// what it was asked, a temporary directory, and a map-backed environment.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "auth/token_source.h"

namespace sluice::auth::credtest {

struct Seen {
  std::string method, url, body;
  std::map<std::string, std::string> headers;
  std::string client_cert, client_key;  // mutual TLS, when asked for
};

// Answers by URL; records what was asked.
class FakeHttp : public HttpClient {
 public:
  absl::StatusOr<HttpResponse> Send(const HttpRequest& r) override {
    Seen s{std::string(r.method), std::string(r.url), std::string(r.body), {}, std::string(r.client_cert_pem),
           std::string(r.client_key_pem)};
    for (const auto& [k, v] : r.headers) s.headers[k] = v;
    seen.push_back(s);
    if (silent.count(StrKey(r.method, r.url))) return absl::DeadlineExceededError("no answer within the timeout");
    auto it = answers.find(StrKey(r.method, r.url));
    if (it == answers.end()) return absl::UnavailableError(std::string("connection refused: ") + std::string(r.url));
    return it->second;
  }
  static std::string StrKey(std::string_view m, std::string_view u) { return std::string(m) + " " + std::string(u); }
  std::map<std::string, HttpResponse> answers;
  std::set<std::string> silent;  // requests that time out (an answer the network drops)
  std::vector<Seen> seen;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sluice-creds-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline EnvLookup Env(std::map<std::string, std::string> m) {
  // HOME points nowhere unless a case sets it: the developer's own ~/.aws or ~/.config/gcloud
  // must not leak in.
  if (!m.count("HOME")) m["HOME"] = "/nonexistent-home";
  return [m](const char* name) -> std::string {
    auto it = m.find(name);
    return it == m.end() ? std::string() : it->second;
  };
}

}  // namespace sluice::auth::credtest
