#include "json/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/strings.h"

namespace sluice::json {

Value::Value(Type t) : type_(t) {
  switch (t) {
    case Type::kNumber:
    case Type::kString: new (&text_) std::string(); break;
    case Type::kArray: new (&items_) std::vector<Value>(); break;
    case Type::kObject: new (&members_) std::vector<Member>(); break;
    default: break;
  }
}

void Value::Destroy() {
  switch (type_) {
    case Type::kNumber:
    case Type::kString: text_.~basic_string(); break;
    case Type::kArray: items_.~vector(); break;
    case Type::kObject: members_.~vector(); break;
    default: break;
  }
  type_ = Type::kNull;
}

void Value::ConstructFrom(const Value& other) {
  type_ = other.type_;
  bool_ = other.bool_;
  switch (type_) {
    case Type::kNumber:
    case Type::kString: new (&text_) std::string(other.text_); break;
    case Type::kArray: new (&items_) std::vector<Value>(other.items_); break;
    case Type::kObject: new (&members_) std::vector<Member>(other.members_); break;
    default: break;
  }
}

Value::Value(const Value& other) { ConstructFrom(other); }

Value& Value::operator=(const Value& other) {
  if (this == &other) return *this;
  Value copy(other);  // `other` may live inside this value
  return *this = std::move(copy);
}

Value& Value::MoveAssign(Value&& other) noexcept {
  if (this == &other) return *this;
  if (type_ == other.type_) {
    bool_ = other.bool_;
    switch (type_) {
      case Type::kNumber:
      case Type::kString: text_ = std::move(other.text_); break;
      case Type::kArray: items_ = std::move(other.items_); break;
      case Type::kObject: members_ = std::move(other.members_); break;
      default: break;
    }
    return *this;
  }
  // `other` may live inside this value (v = std::move(v.items()[0])): take it out first.
  Value tmp(std::move(other));
  if (type_ >= Type::kNumber) Destroy();
  MoveConstruct(std::move(tmp));
  return *this;
}

const std::string& Value::EmptyString() {
  static const std::string* const empty = new std::string();
  return *empty;
}
const std::vector<Value>& Value::EmptyItems() {
  static const std::vector<Value>* const empty = new std::vector<Value>();
  return *empty;
}
const std::vector<Value::Member>& Value::EmptyMembers() {
  static const std::vector<Member>* const empty = new std::vector<Member>();
  return *empty;
}
std::vector<Value>& Value::ScratchItems() {
  thread_local std::vector<Value> scratch;
  scratch.clear();
  return scratch;
}
std::vector<Value::Member>& Value::ScratchMembers() {
  thread_local std::vector<Member> scratch;
  scratch.clear();
  return scratch;
}

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}
Value Value::Int(int64_t n) {
  Value v(Type::kNumber);
  v.text_ = std::to_string(n);
  return v;
}
Value Value::Double(double d) {
  Value v(Type::kNumber);
  if (!std::isfinite(d)) d = 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  // Prefer the shortest representation that round-trips.
  for (int prec = 1; prec <= 17; ++prec) {
    char t[32];
    std::snprintf(t, sizeof(t), "%.*g", prec, d);
    if (std::strtod(t, nullptr) == d) {
      v.text_ = t;
      return v;
    }
  }
  v.text_ = buf;
  return v;
}
Value Value::RawNumber(std::string text) {
  Value v(Type::kNumber);
  v.text_ = std::move(text);
  return v;
}
Value Value::String(std::string s) {
  Value v(Type::kString);
  v.text_ = std::move(s);
  return v;
}
Value Value::Array() { return Value(Type::kArray); }
Value Value::Object() { return Value(Type::kObject); }

double Value::as_double() const {
  return type_ == Type::kNumber ? std::strtod(text_.c_str(), nullptr) : 0.0;
}
int64_t Value::as_int() const {
  if (type_ != Type::kNumber) return 0;
  if (text_.find_first_of(".eE") == std::string::npos) return std::strtoll(text_.c_str(), nullptr, 10);
  return static_cast<int64_t>(as_double());
}

const Value* Value::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}
Value* Value::Find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->Find(key));
}
Value& Value::Set(std::string_view key, Value v) {
  if (type_ == Type::kNull) *this = Object();
  if (type_ != Type::kObject) {  // as before: stored where nothing reads it
    std::vector<Member>& scratch = ScratchMembers();
    scratch.emplace_back(std::string(key), std::move(v));
    return scratch.back().second;
  }
  if (members_.empty()) members_.reserve(4);
  for (auto& m : members_) {
    if (m.first == key) {
      m.second = std::move(v);
      return m.second;
    }
  }
  members_.emplace_back(std::string(key), std::move(v));
  return members_.back().second;
}
bool Value::Erase(std::string_view key) {
  if (type_ != Type::kObject) return false;
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    if (it->first == key) {
      members_.erase(it);
      return true;
    }
  }
  return false;
}
Value& Value::Append(Value v) {
  if (type_ == Type::kNull) *this = Array();
  std::vector<Value>& items = type_ == Type::kArray ? items_ : ScratchItems();
  items.push_back(std::move(v));
  return items.back();
}
std::string_view Value::GetString(std::string_view key) const {
  const Value* v = Find(key);
  return v && v->is_string() ? std::string_view(v->text_) : std::string_view();
}
bool Value::GetBool(std::string_view key, bool def) const {
  const Value* v = Find(key);
  return v && v->is_bool() ? v->bool_ : def;
}

bool operator==(const Value& a, const Value& b) {
  if (a.type_ != b.type_) return false;
  switch (a.type_) {
    case Value::Type::kNull: return true;
    case Value::Type::kBool: return a.bool_ == b.bool_;
    case Value::Type::kNumber: return a.text_ == b.text_ || a.as_double() == b.as_double();
    case Value::Type::kString: return a.text_ == b.text_;
    case Value::Type::kArray: return a.items_ == b.items_;
    case Value::Type::kObject: return a.members_ == b.members_;
  }
  return false;
}

namespace {

// Bytes a JSON string cannot hold as they are: '"', '\\' and control characters.
struct SpecialTable {
  bool special[256] = {};
  constexpr SpecialTable() {
    for (int c = 0; c < 0x20; ++c) special[c] = true;
    special[static_cast<unsigned char>('"')] = true;
    special[static_cast<unsigned char>('\\')] = true;
  }
};
constexpr SpecialTable kSpecial;

inline bool IsSpecial(char c) { return kSpecial.special[static_cast<unsigned char>(c)]; }

// One parser for both the DOM and the scanning mode: `kBuild` decides whether values are
// materialised. Offsets in errors are byte offsets into the input.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  ~Parser() {
    // After an error the stacks still hold this document's values.
    item_stack_.resize(item_base_);
    member_stack_.resize(member_base_);
    // A huge document must not pin its width in every thread.
    constexpr size_t kKeep = 1024;
    if (item_stack_.capacity() > kKeep && item_stack_.empty()) std::vector<Value>().swap(item_stack_);
    if (member_stack_.capacity() > kKeep && member_stack_.empty()) std::vector<Value::Member>().swap(member_stack_);
  }

  absl::Status Fail(std::string_view what) const {
    return absl::InvalidArgumentError(StrCat("malformed JSON at offset ", pos_, ": ", what));
  }

  void SkipWs() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') ++pos_;
      else break;
    }
  }

  template <bool kBuild>
  absl::Status ParseValue(Value* out, int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    SkipWs();
    if (pos_ >= s_.size()) return Fail("unexpected end of input");
    char c = s_[pos_];
    switch (c) {
      case '{': return ParseObject<kBuild>(out, depth);
      case '[': return ParseArray<kBuild>(out, depth);
      case '"': {
        std::string str;
        absl::Status st = ParseString(kBuild ? &str : nullptr);
        if (!st.ok()) return st;
        if constexpr (kBuild) *out = Value::String(std::move(str));
        return absl::OkStatus();
      }
      case 't': return Literal<kBuild>("true", Value::Bool(true), out);
      case 'f': return Literal<kBuild>("false", Value::Bool(false), out);
      case 'n': return Literal<kBuild>("null", Value(), out);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber<kBuild>(out);
        return Fail(StrCat("unexpected character '", std::string(1, c), "'"));
    }
  }

  template <bool kBuild>
  absl::Status Literal(std::string_view word, Value v, Value* out) {
    if (s_.substr(pos_, word.size()) != word) return Fail("invalid literal");
    pos_ += word.size();
    if constexpr (kBuild) *out = std::move(v);
    return absl::OkStatus();
  }

  template <bool kBuild>
  absl::Status ParseNumber(Value* out) {
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size()) return Fail("invalid number");
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      while (pos_ < s_.size() && isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    } else {
      return Fail("invalid number");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      size_t d = pos_;
      while (pos_ < s_.size() && isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (pos_ == d) return Fail("invalid number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      size_t d = pos_;
      while (pos_ < s_.size() && isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (pos_ == d) return Fail("invalid number");
    }
    if constexpr (kBuild) *out = Value::RawNumber(std::string(s_.substr(start, pos_ - start)));
    return absl::OkStatus();
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  absl::Status Hex4(uint32_t* cp) {
    if (pos_ + 4 > s_.size()) return Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else return Fail("invalid \\u escape");
    }
    *cp = v;
    return absl::OkStatus();
  }

  // Parses a string token at pos_ (which is '"'). `out` may be null (validate only).
  absl::Status ParseString(std::string* out) {
    ++pos_;
    size_t run = pos_;
    while (true) {
      // Skip the plain run in one tight loop.
      while (pos_ < s_.size() && !IsSpecial(s_[pos_])) ++pos_;
      if (pos_ >= s_.size()) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        if (out) out->append(s_.data() + run, pos_ - run);
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Fail("control character in string");
      if (c != '\\') {
        ++pos_;
        continue;
      }
      if (out) out->append(s_.data() + run, pos_ - run);
      ++pos_;
      if (pos_ >= s_.size()) return Fail("unterminated escape");
      char e = s_[pos_++];
      char lit = 0;
      switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          absl::Status st = Hex4(&cp);
          if (!st.ok()) return st;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pos_ + 2 <= s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
              pos_ += 2;
              uint32_t lo = 0;
              st = Hex4(&lo);
              if (!st.ok()) return st;
              if (lo < 0xDC00 || lo > 0xDFFF) return Fail("invalid surrogate pair");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              cp = 0xFFFD;  // lone high surrogate
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;
          }
          if (out) AppendUtf8(out, cp);
          break;
        }
        default: return Fail("invalid escape");
      }
      if (lit && out) out->push_back(lit);
      run = pos_;
    }
  }

  template <bool kBuild>
  absl::Status ParseArray(Value* out, int depth) {
    ++pos_;
    if constexpr (kBuild) *out = Value::Array();
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return absl::OkStatus();
    }
    // Items gather on a stack shared by every level, then move into a vector of the
    // exact size: one allocation per array instead of one per doubling.
    const size_t base = item_stack_.size();
    while (true) {
      Value item;
      absl::Status st = ParseValue<kBuild>(&item, depth + 1);
      if (!st.ok()) return st;
      if constexpr (kBuild) item_stack_.push_back(std::move(item));
      SkipWs();
      if (pos_ >= s_.size()) return Fail("unterminated array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        if constexpr (kBuild) {
          std::vector<Value>& items = out->items();
          items.reserve(item_stack_.size() - base);
          for (size_t i = base; i < item_stack_.size(); ++i) items.push_back(std::move(item_stack_[i]));
          item_stack_.resize(base);
        }
        return absl::OkStatus();
      }
      return Fail("expected ',' or ']'");
    }
  }

  template <bool kBuild>
  absl::Status ParseObject(Value* out, int depth, std::vector<TopLevelMember>* scan = nullptr) {
    ++pos_;
    if constexpr (kBuild) *out = Value::Object();
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return absl::OkStatus();
    }
    const size_t base = member_stack_.size();  // as in ParseArray
    while (true) {
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("expected string key");
      std::string key;
      absl::Status st = ParseString((kBuild || scan) ? &key : nullptr);
      if (!st.ok()) return st;
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      SkipWs();
      size_t begin = pos_;
      Value v;
      st = ParseValue<kBuild>(&v, depth + 1);
      if (!st.ok()) return st;
      if (scan) scan->push_back(TopLevelMember{std::move(key), begin, pos_});
      else if constexpr (kBuild) member_stack_.emplace_back(std::move(key), std::move(v));
      SkipWs();
      if (pos_ >= s_.size()) return Fail("unterminated object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        if constexpr (kBuild) {
          if (!scan) {
            std::vector<Value::Member>& members = out->members();
            members.reserve(member_stack_.size() - base);
            for (size_t i = base; i < member_stack_.size(); ++i) members.push_back(std::move(member_stack_[i]));
            member_stack_.resize(base);
          }
        }
        return absl::OkStatus();
      }
      return Fail("expected ',' or '}'");
    }
  }

  absl::Status ExpectEnd() {
    SkipWs();
    if (pos_ != s_.size()) return Fail("trailing characters after JSON value");
    return absl::OkStatus();
  }

  size_t pos() const { return pos_; }
  std::string_view s_;
  size_t pos_ = 0;
  // Values of the arrays and objects being parsed, innermost last (see ParseArray): per
  // thread, so their capacity is reused by the next document.
  struct Stacks {
    std::vector<Value> items;
    std::vector<Value::Member> members;
  };
  static Stacks& ThreadStacks() {
    thread_local Stacks stacks;
    return stacks;
  }
  Stacks& stacks_ = ThreadStacks();
  const size_t item_base_ = stacks_.items.size();
  const size_t member_base_ = stacks_.members.size();
  std::vector<Value>& item_stack_ = stacks_.items;
  std::vector<Value::Member>& member_stack_ = stacks_.members;
};

void SerializeImpl(const Value& v, std::string* out) {
  switch (v.type()) {
    case Value::Type::kNull: out->append("null"); break;
    case Value::Type::kBool: out->append(v.as_bool() ? "true" : "false"); break;
    case Value::Type::kNumber: out->append(v.as_string()); break;
    case Value::Type::kString: AppendQuoted(out, v.as_string()); break;
    case Value::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const auto& i : v.items()) {
        if (!first) out->push_back(',');
        first = false;
        SerializeImpl(i, out);
      }
      out->push_back(']');
      break;
    }
    case Value::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, m] : v.members()) {
        if (!first) out->push_back(',');
        first = false;
        AppendQuoted(out, k);
        out->push_back(':');
        SerializeImpl(m, out);
      }
      out->push_back('}');
      break;
    }
  }
}

}  // namespace

absl::StatusOr<Value> Parse(std::string_view text) {
  Parser p(text);
  Value v;
  absl::Status st = p.ParseValue<true>(&v, 0);
  if (!st.ok()) return st;
  st = p.ExpectEnd();
  if (!st.ok()) return st;
  return v;
}

absl::StatusOr<std::vector<TopLevelMember>> ScanObject(std::string_view text) {
  Parser p(text);
  p.SkipWs();
  if (p.pos_ >= text.size() || text[p.pos_] != '{') return p.Fail("expected a JSON object");
  std::vector<TopLevelMember> members;
  absl::Status st = p.ParseObject<false>(nullptr, 0, &members);
  if (!st.ok()) return st;
  st = p.ExpectEnd();
  if (!st.ok()) return st;
  return members;
}

absl::StatusOr<std::string> DecodeStringToken(std::string_view token) {
  Parser p(token);
  if (token.empty() || token[0] != '"') return p.Fail("expected a string");
  std::string out;
  absl::Status st = p.ParseString(&out);
  if (!st.ok()) return st;
  st = p.ExpectEnd();
  if (!st.ok()) return st;
  return out;
}

std::string Serialize(const Value& v) {
  std::string out;
  out.reserve(256);
  SerializeImpl(v, &out);
  return out;
}
void SerializeTo(const Value& v, std::string* out) { SerializeImpl(v, out); }

void AppendQuoted(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!IsSpecial(s[i])) continue;
    unsigned char c = static_cast<unsigned char>(s[i]);
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xF]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

}  // namespace sluice::json
