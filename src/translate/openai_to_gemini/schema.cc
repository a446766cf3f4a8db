// JSON Schema -> Gemini Schema (an OpenAPI 3.0 subset). What is kept, rewritten and dropped
// is listed in gemini_internal.h. Vertex reference:
// https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.cachedContents#Schema
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "translate/openai_to_gemini/gemini_internal.h"

namespace sluice::translate::gemini_internal {
namespace {

constexpr int kMaxSchemaDepth = 64;

// Copied verbatim when present (after type, in the input's order).
constexpr std::string_view kKeptKeywords[] = {
    "title",     "description", "minItems",      "maxItems",
    "minimum",   "maximum",   "minLength",   "maxLength",     "pattern",
    "minProperties", "maxProperties", "propertyOrdering"};

bool IsKept(std::string_view key) {
  for (std::string_view k : kKeptKeywords)
    if (k == key) return true;
  return false;
}

std::string_view GeminiType(std::string_view json_type) {
  if (json_type == "string") return "STRING";
  if (json_type == "number") return "NUMBER";
  if (json_type == "integer") return "INTEGER";
  if (json_type == "boolean") return "BOOLEAN";
  if (json_type == "array") return "ARRAY";
  if (json_type == "object") return "OBJECT";
  // Already upper-case (a client that speaks Gemini's enum): accept as is.
  if (json_type == "STRING" || json_type == "NUMBER" || json_type == "INTEGER" ||
      json_type == "BOOLEAN" || json_type == "ARRAY" || json_type == "OBJECT")
    return json_type;
  return {};
}

// Vertex rejects other formats with 400 ("only 'enum' and 'date-time' are supported for
// STRING type"), so e.g. "uri" or "email" are dropped.
bool FormatAllowed(std::string_view type, std::string_view format) {
  if (type == "STRING") return format == "enum" || format == "date-time";
  if (type == "NUMBER") return format == "float" || format == "double";
  if (type == "INTEGER") return format == "int32" || format == "int64";
  return false;
}

bool IsNullOnly(const json::Value& s) {
  if (!s.is_object()) return false;
  const json::Value* t = s.Find("type");
  if (t == nullptr) return false;
  if (t->is_string()) return t->as_string() == "null";
  if (t->is_array() && t->size() == 1 && t->items()[0].is_string())
    return t->items()[0].as_string() == "null";
  return false;
}

class Converter {
 public:
  explicit Converter(const json::Value& root) : root_(root) {}

  absl::StatusOr<json::Value> Convert(const json::Value& s, const std::string& field, int depth) {
    if (depth > kMaxSchemaDepth) {
      return absl::InvalidArgumentError(StrCat(field, ": schema nesting deeper than ", kMaxSchemaDepth));
    }
    if (s.is_bool()) return json::Value::Object();  // `true` = anything; Gemini: no constraint
    if (!s.is_object()) return absl::InvalidArgumentError(StrCat(field, ": schema must be an object"));

    // $ref and allOf first produce a merged JSON Schema, which is then converted.
    if (const json::Value* ref = s.Find("$ref")) {
      if (!ref->is_string()) return absl::InvalidArgumentError(StrCat(field, ".$ref: must be a string"));
      const std::string& target = ref->as_string();
      for (const auto& seen : ref_stack_) {
        if (seen == target) {
          // A recursive type has no OpenAPI-subset form: the caller sends JSON Schema.
          lossy_ = true;
          return json::Value::Object();
        }
      }
      const json::Value* resolved = Resolve(target);
      if (resolved == nullptr) {
        return absl::InvalidArgumentError(
            StrCat(field, ".$ref: cannot resolve \"", target, "\" (only local #/... references)"));
      }
      json::Value merged = *resolved;
      if (!merged.is_object()) merged = json::Value::Object();
      for (const auto& [k, v] : s.members())
        if (k != "$ref") merged.Set(k, v);  // siblings (e.g. description) refine the target
      ref_stack_.push_back(target);
      auto out = Convert(merged, field, depth + 1);
      ref_stack_.pop_back();
      return out;
    }
    if (const json::Value* all = s.Find("allOf")) {
      if (!all->is_array()) return absl::InvalidArgumentError(StrCat(field, ".allOf: must be an array"));
      json::Value merged = json::Value::Object();
      for (size_t i = 0; i < all->size(); ++i) {
        const json::Value* sub = &all->items()[i];
        // Resolve a referenced branch so its properties can be merged.
        json::Value resolved_copy;
        if (sub->is_object() && sub->Find("$ref") && sub->Find("$ref")->is_string()) {
          const json::Value* r = Resolve(sub->Find("$ref")->as_string());
          if (r == nullptr) {
            return absl::InvalidArgumentError(StrCat(field, ".allOf[", i, "].$ref: cannot resolve \"",
                                                     sub->Find("$ref")->as_string(), "\""));
          }
          resolved_copy = *r;
          sub = &resolved_copy;
        }
        if (!sub->is_object()) continue;
        MergeInto(*sub, &merged);
      }
      for (const auto& [k, v] : s.members()) {
        if (k == "allOf") continue;
        if (k == "properties" || k == "required") {
          json::Value one = json::Value::Object();
          one.Set(k, v);
          MergeInto(one, &merged);
        } else {
          merged.Set(k, v);
        }
      }
      return Convert(merged, field, depth + 1);
    }

    json::Value out = json::Value::Object();
    std::string type;
    bool nullable = false;
    json::Value any_of;  // array when set

    if (const json::Value* t = s.Find("type")) {
      if (t->is_string()) {
        if (t->as_string() == "null") {
          nullable = true;
        } else {
          type = std::string(GeminiType(t->as_string()));
          if (type.empty()) {
            return absl::InvalidArgumentError(
                StrCat(field, ".type: unsupported type \"", t->as_string(), "\""));
          }
        }
      } else if (t->is_array()) {
        std::vector<std::string> types;
        for (const auto& e : t->items()) {
          if (!e.is_string()) return absl::InvalidArgumentError(StrCat(field, ".type: must hold strings"));
          if (e.as_string() == "null") {
            nullable = true;
            continue;
          }
          std::string_view g = GeminiType(e.as_string());
          if (g.empty()) {
            return absl::InvalidArgumentError(
                StrCat(field, ".type: unsupported type \"", e.as_string(), "\""));
          }
          types.emplace_back(g);
        }
        if (types.size() == 1) {
          type = types[0];
        } else if (types.size() > 1) {
          any_of = json::Value::Array();
          for (const auto& g : types) {
            json::Value branch = json::Value::Object();
            branch.Set("type", json::Value::String(g));
            any_of.Append(std::move(branch));
          }
        }
      } else {
        return absl::InvalidArgumentError(StrCat(field, ".type: must be a string or an array"));
      }
    }

    // anyOf / oneOf: drop a null branch (-> nullable); inline a single remaining branch.
    for (std::string_view key : {"anyOf", "oneOf"}) {
      const json::Value* branches = s.Find(key);
      if (branches == nullptr) continue;
      if (!branches->is_array()) {
        return absl::InvalidArgumentError(StrCat(field, ".", key, ": must be an array"));
      }
      json::Value converted = json::Value::Array();
      for (size_t i = 0; i < branches->size(); ++i) {
        const json::Value& b = branches->items()[i];
        if (IsNullOnly(b)) {
          nullable = true;
          continue;
        }
        ASSIGN_OR_RETURN(json::Value c, Convert(b, StrCat(field, ".", key, "[", i, "]"), depth + 1));
        converted.Append(std::move(c));
      }
      if (converted.size() == 1 && type.empty() && any_of.is_null()) {
        // Optional[X]: {anyOf:[X, null]} -> X + nullable; outer keywords refine it.
        json::Value inner = std::move(converted.items()[0]);
        if (const json::Value* it = inner.Find("type"); it && it->is_string()) type = it->as_string();
        if (inner.GetBool("nullable", false)) nullable = true;
        for (auto& [k, v] : inner.members()) {
          if (k == "type" || k == "nullable") continue;
          out.Set(k, std::move(v));
        }
      } else if (converted.size() > 0) {
        if (any_of.is_null()) any_of = json::Value::Array();
        for (auto& c : converted.items()) any_of.Append(std::move(c));
      }
    }

    // enum / const: Gemini enums are strings.
    json::Value enum_values;
    if (const json::Value* c = s.Find("const"); c && c->is_string()) {
      enum_values = json::Value::Array();
      enum_values.Append(*c);
    }
    if (const json::Value* e = s.Find("enum"); e && e->is_array()) {
      bool all_strings = true;
      json::Value kept = json::Value::Array();
      for (const auto& v : e->items()) {
        if (v.is_null()) {
          nullable = true;
        } else if (v.is_string()) {
          kept.Append(v);
        } else {
          all_strings = false;
        }
      }
      if (all_strings && kept.size() > 0) enum_values = std::move(kept);
    }
    if (!enum_values.is_null() && type.empty() && any_of.is_null()) type = "STRING";

    const json::Value* props = s.Find("properties");
    const json::Value* items = s.Find("items");
    // What the subset cannot say: tuples, and a map's value schema (additionalProperties on an
    // object without properties; next to properties it only allows extras, dropped harmlessly).
    if (s.Find("prefixItems") != nullptr || (items != nullptr && items->is_array())) lossy_ = true;
    if (const json::Value* ap = s.Find("additionalProperties");
        ap != nullptr && !(ap->is_bool() && !ap->as_bool()) && (props == nullptr || props->size() == 0)) {
      lossy_ = true;
    }
    if (type.empty() && any_of.is_null()) {
      if (props != nullptr) type = "OBJECT";
      else if (items != nullptr) type = "ARRAY";
    }

    // Assemble in a stable order: type, nullable, then keywords in input order.
    json::Value result = json::Value::Object();
    if (!type.empty()) result.Set("type", json::Value::String(type));
    for (auto& [k, v] : out.members()) {
      if (k == "anyOf" && !any_of.is_null()) continue;
      result.Set(k, std::move(v));
    }
    for (const auto& [k, v] : s.members()) {
      if (k == "enum" || k == "const") {
        if (!enum_values.is_null() && result.Find("enum") == nullptr) result.Set("enum", enum_values);
      } else if (k == "properties") {
        if (!v.is_object()) return absl::InvalidArgumentError(StrCat(field, ".properties: must be an object"));
        json::Value converted = json::Value::Object();
        for (const auto& [name, sub] : v.members()) {
          ASSIGN_OR_RETURN(json::Value c, Convert(sub, StrCat(field, ".properties.", name), depth + 1));
          converted.Set(name, std::move(c));
        }
        result.Set("properties", std::move(converted));
      } else if (k == "items") {
        if (v.is_object() || v.is_bool()) {
          ASSIGN_OR_RETURN(json::Value c, Convert(v, StrCat(field, ".items"), depth + 1));
          result.Set("items", std::move(c));
        }  // tuple-form items (an array): dropped
      } else if (k == "required") {
        if (!v.is_array()) return absl::InvalidArgumentError(StrCat(field, ".required: must be an array"));
        json::Value req = json::Value::Array();
        for (const auto& r : v.items())
          if (r.is_string()) req.Append(r);
        result.Set("required", std::move(req));
      } else if (k == "format") {
        // format "enum" promises a non-empty enum (Gemini 3 rejects it otherwise).
        if (v.is_string() && FormatAllowed(type, v.as_string()) &&
            (v.as_string() != "enum" || !enum_values.is_null()))
          result.Set("format", v);
      } else if (k == "nullable") {
        if (v.is_bool() && v.as_bool()) nullable = true;
      } else if (IsKept(k)) {
        result.Set(k, v);
      }
    }
    if (!any_of.is_null()) result.Set("anyOf", std::move(any_of));
    if (nullable) result.Set("nullable", json::Value::Bool(true));
    // Vertex rejects an ARRAY without items and a nested OBJECT without properties.
    if (type == "ARRAY" && result.Find("items") == nullptr) lossy_ = true;
    if (type == "OBJECT" && depth > 0) {
      const json::Value* p = result.Find("properties");
      if (p == nullptr || p->size() == 0) lossy_ = true;
    }
    return result;
  }

  bool lossy() const { return lossy_; }

 private:
  // Local JSON pointer ("#/$defs/Name", "#/definitions/Name", "#/properties/x", "#").
  const json::Value* Resolve(std::string_view ref) const {
    if (ref.empty() || ref[0] != '#') return nullptr;
    ref.remove_prefix(1);
    const json::Value* cur = &root_;
    while (!ref.empty()) {
      if (ref[0] != '/') return nullptr;
      ref.remove_prefix(1);
      size_t slash = ref.find('/');
      std::string_view token = ref.substr(0, slash);
      ref = slash == std::string_view::npos ? std::string_view() : ref.substr(slash);
      std::string key;  // RFC 6901 unescaping: ~1 -> '/', ~0 -> '~'
      for (size_t i = 0; i < token.size(); ++i) {
        if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
          key.push_back(token[i + 1] == '0' ? '~' : '/');
          ++i;
        } else {
          key.push_back(token[i]);
        }
      }
      if (cur->is_object()) {
        cur = cur->Find(key);
      } else if (cur->is_array()) {
        int64_t idx = 0;
        if (!ParseInt(key, &idx) || idx < 0 || static_cast<size_t>(idx) >= cur->size()) return nullptr;
        cur = &cur->items()[static_cast<size_t>(idx)];
      } else {
        return nullptr;
      }
      if (cur == nullptr) return nullptr;
    }
    return cur;
  }

  // Shallow merge for allOf: properties and required are unioned, other keys first-wins.
  static void MergeInto(const json::Value& from, json::Value* into) {
    for (const auto& [k, v] : from.members()) {
      if (k == "properties" && v.is_object()) {
        json::Value* p = into->Find("properties");
        if (p == nullptr || !p->is_object()) p = &into->Set("properties", json::Value::Object());
        for (const auto& [name, sub] : v.members()) p->Set(name, sub);
      } else if (k == "required" && v.is_array()) {
        json::Value* r = into->Find("required");
        if (r == nullptr || !r->is_array()) r = &into->Set("required", json::Value::Array());
        for (const auto& name : v.items()) {
          bool dup = false;
          for (const auto& have : r->items()) dup = dup || have == name;
          if (!dup) r->Append(name);
        }
      } else if (into->Find(k) == nullptr) {
        into->Set(k, v);
      }
    }
  }

  const json::Value& root_;
  std::vector<std::string> ref_stack_;
  bool lossy_ = false;
};

}  // namespace

absl::StatusOr<json::Value> ConvertSchema(const json::Value& schema, std::string_view field, bool* lossy) {
  Converter c(schema);
  auto out = c.Convert(schema, std::string(field), 0);
  if (lossy != nullptr) *lossy = c.lossy();
  return out;
}

}  // namespace sluice::translate::gemini_internal
