// Test helpers: encode Bedrock response streams for the tests of the Bedrock directions:
// ConverseStream events as given, and Anthropic events the way InvokeModel's response stream
// carries them (see InvokeStreamUnwrapper).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "http/eventstream.h"
#include "json/json.h"

namespace sluice::translate::bedrock_internal::testing {

// One `event` message per (":event-type", payload bytes as given).
inline std::string EncodeEventMessages(const std::vector<std::pair<std::string, std::string>>& events) {
  std::string out;
  for (const auto& [type, payload] : events) {
    out += http::EncodeEventStreamMessage({http::EventStreamHeader::String(":event-type", type),
                                           http::EventStreamHeader::String(":content-type", "application/json"),
                                           http::EventStreamHeader::String(":message-type", "event")},
                                          payload);
  }
  return out;
}

// Wraps each event of a JSON array as a `chunk` message whose payload carries the event JSON
// in base64 (plus the length-hiding "p" padding); {"exception": name, "payload": ...} entries
// become exception frames.
inline std::string EncodeChunks(std::string_view fixture) {
  auto doc = json::Parse(fixture);
  EXPECT_TRUE(doc.ok()) << doc.status();
  std::string out;
  for (const json::Value& e : doc->items()) {
    if (const json::Value* name = e.Find("exception")) {
      out += http::EncodeEventStreamMessage(
          {http::EventStreamHeader::String(":exception-type", name->as_string()),
           http::EventStreamHeader::String(":content-type", "application/json"),
           http::EventStreamHeader::String(":message-type", "exception")},
          json::Serialize(*e.Find("payload")));
      continue;
    }
    json::Value payload = json::Value::Object();
    payload.Set("bytes", json::Value::String(crypto::Base64Encode(json::Serialize(e))));
    payload.Set("p", json::Value::String("abcdefghijklmnopqrstuvwxyzABCDEF"));
    out += http::EncodeEventStreamMessage({http::EventStreamHeader::String(":event-type", "chunk"),
                                           http::EventStreamHeader::String(":content-type", "application/json"),
                                           http::EventStreamHeader::String(":message-type", "event")},
                                          json::Serialize(payload));
  }
  return out;
}

}  // namespace sluice::translate::bedrock_internal::testing
