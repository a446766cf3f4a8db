// The JSON facade: a small DOM that keeps member order and number text, a strict parser
// (RFC 8259) and a serializer. The only JSON code in sluice; nothing else parses JSON.
//
// Threading: Values are plain data (no sharing); Parse/Serialize are reentrant.
#pragma once

#include <cstdint>
#include <memory>
#include <initializer_list>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::json {

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, Value>;

  Value() : type_(Type::kNull) {}  // null
  Value(const Value& other);
  Value(Value&& other) noexcept { MoveConstruct(std::move(other)); }
  Value& operator=(const Value& other);
  Value& operator=(Value&& other) noexcept {
    // Without a payload here, `other` cannot live inside this value.
    if (type_ < Type::kNumber && this != &other) {
      MoveConstruct(std::move(other));
      return *this;
    }
    return MoveAssign(std::move(other));
  }
  ~Value() { if (type_ >= Type::kNumber) Destroy(); }
  static Value Bool(bool b);
  static Value Int(int64_t n);
  static Value Double(double d);
  // `text` must be a valid JSON number; kept verbatim so numbers round-trip exactly.
  static Value RawNumber(std::string text);
  static Value String(std::string s);
  static Value Array();
  static Value Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors REQUIRE the matching type (else return a zero value; a mutable items() or
  // members() of another type is an empty scratch vector whose contents are discarded).
  bool as_bool() const { return bool_; }
  double as_double() const;
  int64_t as_int() const;
  // String value or number text.
  const std::string& as_string() const { return HasText() ? text_ : EmptyString(); }
  const std::vector<Value>& items() const { return type_ == Type::kArray ? items_ : EmptyItems(); }
  std::vector<Value>& items() { return type_ == Type::kArray ? items_ : ScratchItems(); }
  const std::vector<Member>& members() const { return type_ == Type::kObject ? members_ : EmptyMembers(); }
  std::vector<Member>& members() { return type_ == Type::kObject ? members_ : ScratchMembers(); }

  // Object helpers. Find returns nullptr when absent or not an object.
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  // Sets (replacing in place, keeping order) or appends. Turns null into an object.
  Value& Set(std::string_view key, Value v);
  bool Erase(std::string_view key);
  // Array helper. Turns null into an array.
  Value& Append(Value v);
  size_t size() const {
    return type_ == Type::kArray ? items_.size() : type_ == Type::kObject ? members_.size() : 0;
  }

  // Convenience: string member or "" / bool member or default.
  std::string_view GetString(std::string_view key) const;
  bool GetBool(std::string_view key, bool def) const;

  friend bool operator==(const Value& a, const Value& b);

 private:
  // One payload per node (40 bytes instead of a string and two vectors): text_ for kString
  // and kNumber, items_ for kArray, members_ for kObject; nothing for kNull and kBool.
  bool HasText() const { return type_ == Type::kString || type_ == Type::kNumber; }
  explicit Value(Type t);
  void Destroy();                  // REQUIRES: type_ has a payload
  void ConstructFrom(const Value& other);
  Value& MoveAssign(Value&& other) noexcept;
  // REQUIRES: no payload constructed here.
  void MoveConstruct(Value&& other) noexcept {
    type_ = other.type_;
    bool_ = other.bool_;
    switch (type_) {
      case Type::kNumber:
      case Type::kString: new (&text_) std::string(std::move(other.text_)); break;
      case Type::kArray: new (&items_) std::vector<Value>(std::move(other.items_)); break;
      case Type::kObject: new (&members_) std::vector<Member>(std::move(other.members_)); break;
      default: break;
    }
  }
  static const std::string& EmptyString();
  static const std::vector<Value>& EmptyItems();
  static const std::vector<Member>& EmptyMembers();
  static std::vector<Value>& ScratchItems();
  static std::vector<Member>& ScratchMembers();

  Type type_;
  bool bool_ = false;
  union {
    std::string text_;
    std::vector<Value> items_;
    std::vector<Member> members_;
  };
};

// Parses one JSON document. InvalidArgument with "at offset N: ..." on malformed input.
// Depth is limited (kMaxDepth) so hostile input cannot exhaust the stack.
inline constexpr int kMaxDepth = 256;
absl::StatusOr<Value> Parse(std::string_view text);

// Compact serialization (no spaces), members in stored order.
std::string Serialize(const Value& v);
void SerializeTo(const Value& v, std::string* out);
// Appends `s` as a quoted JSON string.
void AppendQuoted(std::string* out, std::string_view s);

// Hot path helper: validates `text` as a JSON object and reports each top-level member's
// key and the byte span of its raw value, without building a DOM. Used to read `model` and
// `stream` and to splice small edits into a pass-through body without re-serialising it.
struct TopLevelMember {
  std::string key;     // decoded
  size_t value_begin;  // offsets into text
  size_t value_end;
};
absl::StatusOr<std::vector<TopLevelMember>> ScanObject(std::string_view text);

// Decodes a raw JSON string token (with quotes), e.g. a span reported by ScanObject.
absl::StatusOr<std::string> DecodeStringToken(std::string_view token);

// Validates the JSON string token that `text` begins with (as strictly as Parse): its length
// in bytes, quotes included, or 0 when `text` does not begin with a valid string token.
// `*escaped` is set when the token holds an escape (then DecodeStringToken gives its text;
// otherwise the text is the bytes between the quotes). For fast paths that match a known
// document shape byte for byte and must still validate the one string they take from it.
size_t StringTokenLength(std::string_view text, bool* escaped);

// Matches a document against one compact spelling, left to right, for fast paths over the
// events a provider sends most (a text delta): literal bytes, small indexes and strings
// (validated as Parse would). Anything unexpected makes a step return false; the caller then
// takes its general path, so a fast path never accepts what Parse would reject.
//   json::CompactMatcher m(data);
//   if (m.Literal(R"({"index":)") && m.Index(&i) && m.Literal(R"(,"text":)") && m.String(&t) &&
//       m.Literal("}") && m.AtEnd()) ...
class CompactMatcher {
 public:
  explicit CompactMatcher(std::string_view text) : rest_(text) {}
  bool Literal(std::string_view bytes);
  // A non-negative integer of at most 9 digits without leading zeros.
  bool Index(int64_t* value);
  // A string token; `*value` is its text (a view into the document, or into this matcher
  // when the token holds escapes: valid until the next String).
  bool String(std::string_view* value);
  // A string token, validated and passed over (the last String's value stays valid).
  bool SkipString();
  bool AtEnd() const { return rest_.empty(); }

 private:
  std::string_view rest_;
  std::string decoded_;
};

// ---------------------------------------------------------------------------------------
// Reading without a DOM. Reader::Parse validates a document (as strictly as Parse) without
// building anything; the Views it hands out walk the text on demand. For translators that
// read a few fields of each provider answer or stream event and write their own output:
// no allocation per node, and strings without escapes are views into the text.
//
// Lifetime: a View is valid while its text and its Reader live and until the Reader parses
// its next document.
class Reader;

class View {
 public:
  View() = default;  // absent: every query answers "no" / empty

  bool exists() const { return b_ != nullptr; }
  Value::Type type() const;
  bool is_null() const { return exists() && *b_ == 'n'; }
  bool is_bool() const { return exists() && (*b_ == 't' || *b_ == 'f'); }
  bool is_number() const { return exists() && (*b_ == '-' || (*b_ >= '0' && *b_ <= '9')); }
  bool is_string() const { return exists() && *b_ == '"'; }
  bool is_array() const { return exists() && *b_ == '['; }
  bool is_object() const { return exists() && *b_ == '{'; }

  // As Value's accessors: a zero value for another type.
  bool as_bool() const { return exists() && *b_ == 't'; }
  int64_t as_int() const;
  double as_double() const;
  // The decoded string, or a number's text.
  std::string_view as_string() const;
  // The value exactly as written.
  std::string_view raw() const;

  // Object helpers (absent / defaults when this is not an object or the key is missing).
  View Find(std::string_view key) const;
  std::string_view GetString(std::string_view key) const;
  bool GetBool(std::string_view key, bool def) const;
  // One pass over the members: each `*field.second` becomes the first member named
  // `field.first` (absent when there is none). Cheaper than several Finds on a big object.
  void FindAll(std::initializer_list<std::pair<std::string_view, View*>> fields) const;

  // Walks an array's items / an object's members:
  //   for (auto it = v.items(); it.Next(&item);) ...
  //   for (auto it = v.members(); it.Next(&key, &value);) ...
  // (nothing for other types).
  class Cursor {
   public:
    bool Next(View* item);
    bool Next(std::string_view* key, View* value);

   private:
    friend class View;
    bool Advance();  // to the next element's first byte; false at the end
    const char* p_ = nullptr;  // at the last element given out (or after the bracket)
    const char* e_ = nullptr;  // the document's end
    Reader* r_ = nullptr;
    bool started_ = false;     // p_ is at an element given out, still to be skipped
  };
  Cursor items() const { return Open('['); }
  Cursor members() const { return Open('{'); }
  size_t size() const;  // items or members

  // The same bytes Serialize(*Parse(raw())) gives (compact, canonical string escapes).
  void AppendCompact(std::string* out) const;
  std::string Compact() const {
    std::string out;
    AppendCompact(&out);
    return out;
  }
  // A DOM copy.
  Value ToValue() const;

 private:
  friend class Reader;
  View(const char* b, const char* e, Reader* r) : b_(b), e_(e), r_(r) {}
  Cursor Open(char bracket) const;
  const char* End() const;  // just past this value (found by walking it)

  const char* b_ = nullptr;  // the value's first byte
  const char* e_ = nullptr;  // the document's end: a view does not know its own end until
                             // asked, so finding a member never walks the members it returns
  Reader* r_ = nullptr;
};

// One member of a Reader's root object (internal to Reader and its parser).
struct RootMember {
  std::string_view key;  // the key token while parsing; its decoded text afterwards
  bool escaped;          // the key token holds an escape (decoded into the Reader's storage)
  size_t value_begin;    // offsets into the text
  size_t value_end;
};

class Reader {
 public:
  // Validates `text` (which must outlive the returned View); InvalidArgument with the offset
  // as Parse. Invalidates the Views of the previous document.
  absl::StatusOr<View> Parse(std::string_view text);
  // The same without validating again: `members` must be what ScanObject(text) returned (the
  // pipeline scans every request body once to route it; translators reuse that scan).
  // The View reads the keys of `members` in place: they must outlive it too.
  View Adopt(std::string_view text, const std::vector<TopLevelMember>& members);

 private:
  friend class View;
  // Decodes a string token with escapes into storage owned by this reader.
  std::string_view Decode(std::string_view token);
  // One string per decoded token, each allocated on its own so views into it stay valid
  // (std::deque would allocate even when nothing is decoded, which is the common case).
  std::vector<std::unique_ptr<std::string>> decoded_;
  // A root object's members, recorded while validating: Find on the root looks here
  // instead of walking the text (most lookups are on the root of a small event). Keys are
  // views: into the text when the key has no escape, else into decoded_ (Parse), or into
  // the members given to Adopt.
  const char* base_ = nullptr;  // the text
  const char* root_ = nullptr;  // the root value's first byte
  std::vector<RootMember> top_;
};

}  // namespace sluice::json
