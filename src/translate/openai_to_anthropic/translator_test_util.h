// Test-only helpers shared by the translator tests: golden files (SLUICE_UPDATE_GOLDEN=1
// rewrites them), readable JSON for goldens, and feeding a response body to fresh
// translators split at every byte offset. Header-only; include from *_test.cc only.
// (Belongs in test/testutil/ once that library exists.)
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/strings.h"
#include "gtest/gtest.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/translator.h"

namespace sluice::translate::testing {

inline bool UpdateGolden() {
  const char* v = std::getenv("SLUICE_UPDATE_GOLDEN");
  return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::filesystem::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Files in `dir` whose names end with `suffix`, sorted.
inline std::vector<std::filesystem::path> FilesEndingWith(const std::filesystem::path& dir,
                                                          std::string_view suffix) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.size() >= suffix.size() && std::string_view(name).substr(name.size() - suffix.size()) == suffix) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// "dir/name.openai.json" with suffix ".openai.json" -> "name".
inline std::string Stem(const std::filesystem::path& p, std::string_view suffix) {
  std::string name = p.filename().string();
  return name.substr(0, name.size() - suffix.size());
}

// Compares `actual` with the golden file, or rewrites it under SLUICE_UPDATE_GOLDEN=1.
inline void ExpectGolden(const std::filesystem::path& path, const std::string& actual) {
  if (UpdateGolden()) {
    WriteFile(path, actual);
    return;
  }
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << path << " is missing; run with SLUICE_UPDATE_GOLDEN=1 to create it";
    return;
  }
  EXPECT_EQ(ReadFile(path), actual) << "golden " << path << " differs (SLUICE_UPDATE_GOLDEN=1 rewrites it)";
}

// Indented JSON, one member per line, for readable goldens and diffs.
inline void PrettyTo(const json::Value& v, int indent, std::string* out) {
  std::string pad(static_cast<size_t>(indent + 2), ' ');
  if (v.is_array() && v.size() > 0) {
    out->append("[\n");
    for (size_t i = 0; i < v.items().size(); ++i) {
      out->append(pad);
      PrettyTo(v.items()[i], indent + 2, out);
      out->append(i + 1 < v.items().size() ? ",\n" : "\n");
    }
    out->append(static_cast<size_t>(indent), ' ').append("]");
  } else if (v.is_object() && v.size() > 0) {
    out->append("{\n");
    for (size_t i = 0; i < v.members().size(); ++i) {
      out->append(pad);
      json::AppendQuoted(out, v.members()[i].first);
      out->append(": ");
      PrettyTo(v.members()[i].second, indent + 2, out);
      out->append(i + 1 < v.members().size() ? ",\n" : "\n");
    }
    out->append(static_cast<size_t>(indent), ' ').append("}");
  } else {
    json::SerializeTo(v, out);
  }
}

inline std::string Pretty(const json::Value& v) {
  std::string out;
  PrettyTo(v, 0, &out);
  out.push_back('\n');
  return out;
}

// Pretty form of a JSON text; the text itself when it is not JSON.
inline std::string PrettyText(std::string_view text) {
  auto v = json::Parse(text);
  return v.ok() ? Pretty(*v) : std::string(text);
}

// Runs TranslateRequest on `body` as a client would send it. `model` empty = the body's.
inline absl::StatusOr<UpstreamRequest> TranslateBody(Translator& t, Endpoint e, std::string_view body,
                                                     const http::HeaderMap& headers = {},
                                                     std::string_view model = {}) {
  auto doc = json::Parse(body);
  if (!doc.ok()) return doc.status();
  std::string client_model(doc->GetString("model"));
  std::string m = model.empty() ? client_model : std::string(model);
  ClientRequest req{e, body, *doc, headers, m, doc->GetBool("stream", false), client_model};
  return t.TranslateRequest(req);
}

// The upstream request as readable JSON: path, header edits and the body.
inline std::string DescribeUpstream(const UpstreamRequest& up) {
  json::Value v = json::Value::Object();
  v.Set("path", json::Value::String(up.path));
  json::Value set = json::Value::Object();
  for (const auto& [n, val] : up.headers.set) set.Set(n, json::Value::String(val));
  v.Set("headers", std::move(set));
  if (!up.headers.remove.empty()) {
    json::Value rm = json::Value::Array();
    for (const auto& n : up.headers.remove) rm.Append(json::Value::String(n));
    v.Set("remove_headers", std::move(rm));
  }
  if (!up.body) {
    v.Set("body", json::Value::String("<client body unchanged>"));
  } else {
    auto body = json::Parse(*up.body);
    v.Set("body", body.ok() ? std::move(*body) : json::Value::String(*up.body));
  }
  return Pretty(v);
}

struct FeedResult {
  std::string out;  // everything appended, including by a failing call
  absl::Status status;
};

// Feeds `pieces` in order, the last with end_of_stream; stops at the first error.
inline FeedResult Feed(Translator& t, const std::vector<std::string_view>& pieces) {
  FeedResult r;
  for (size_t i = 0; i < pieces.size(); ++i) {
    r.status = t.TranslateResponseBody(pieces[i], i + 1 == pieces.size(), &r.out);
    if (!r.status.ok()) break;
  }
  return r;
}

using MakeTranslator = std::function<std::unique_ptr<Translator>()>;

// Feeds `body` to fresh translators whole, split in two at every byte offset, and in 1-byte
// pieces; every way must give the same output and status. Returns the whole-body result.
inline FeedResult FeedEverySplit(const MakeTranslator& make, std::string_view body) {
  auto whole_t = make();
  FeedResult whole = Feed(*whole_t, {body});
  for (size_t k = 0; k <= body.size(); ++k) {
    auto t = make();
    FeedResult split = Feed(*t, {body.substr(0, k), body.substr(k)});
    if (split.out != whole.out || split.status != whole.status) {
      ADD_FAILURE() << "split at byte " << k << " changes the result\n--- whole:\n"
                    << whole.out << whole.status << "\n--- split:\n" << split.out << split.status;
      return whole;
    }
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < body.size(); ++i) bytes.push_back(body.substr(i, 1));
  if (bytes.empty()) bytes.push_back(body);
  auto t = make();
  FeedResult ones = Feed(*t, bytes);
  EXPECT_EQ(ones.out, whole.out) << "1-byte pieces change the output";
  EXPECT_EQ(ones.status, whole.status) << "1-byte pieces change the status";
  return whole;
}

// True when `sse` is a sequence of complete events whose data is JSON (or [DONE]).
inline ::testing::AssertionResult WellFormedSse(std::string_view sse) {
  http::SseParser parser;
  std::vector<http::SseEvent> events;
  absl::Status st = parser.Feed(sse, &events);
  if (!st.ok()) return ::testing::AssertionFailure() << st;
  if (parser.HasPartial()) return ::testing::AssertionFailure() << "ends with a partial event";
  for (const auto& ev : events) {
    if (ev.data == "[DONE]") continue;
    auto v = json::Parse(ev.data);
    if (!v.ok()) return ::testing::AssertionFailure() << "event data is not JSON: " << ev.data;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sluice::translate::testing
