#include "translate/anthropic_to_awsanthropic/bedrock_errors.h"

#include "common/strings.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/openai_to_bedrock/bedrock_common.h"
#include "translate/translator.h"

namespace sluice::translate::anthropic_bedrock_internal {

using json::Value;

std::string AnthropicErrorBody(std::string_view type, std::string_view message) {
  Value err = Value::Object();
  err.Set("type", Value::String(std::string(type)));
  err.Set("message", Value::String(std::string(message)));
  Value root = Value::Object();
  root.Set("type", Value::String("error"));
  root.Set("error", std::move(err));
  return json::Serialize(root);
}

void ErrorToAnthropic(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out) {
  // The status and message as the Bedrock mapping reads them (x-amzn-errortype wins).
  std::string openai;
  bedrock_internal::ErrorToOpenAI(status, headers, body, client_status, &openai);
  auto doc = json::Parse(body);
  if (doc.ok() && doc->is_object() && doc->GetString("type") == "error") {
    out->append(body);
    return;
  }
  std::string message;
  if (auto parsed = json::Parse(openai); parsed.ok()) {
    if (const Value* e = parsed->Find("error"); e != nullptr && e->is_object()) {
      message = std::string(e->GetString("message"));
    }
  }
  if (message.empty()) message = StrCat("the Bedrock backend answered HTTP ", status);
  out->append(AnthropicErrorBody(translate::AnthropicErrorType(*client_status), message));
}

std::string StreamError(std::string_view message, std::string_view type) {
  return http::FormatSse("error", AnthropicErrorBody(type, message));
}

}  // namespace sluice::translate::anthropic_bedrock_internal
