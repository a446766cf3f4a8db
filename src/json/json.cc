#include "json/json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
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

namespace {
// A JSON number's text as a double: from_chars is locale-independent and needs no copy.
double ParseDouble(std::string_view text) {
  double d = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), d);
  if (r.ec == std::errc::result_out_of_range) return std::strtod(std::string(text).c_str(), nullptr);  // ±HUGE_VAL, 0
  return r.ec == std::errc() ? d : 0.0;
}
}  // namespace

double Value::as_double() const { return type_ == Type::kNumber ? ParseDouble(text_) : 0.0; }
namespace {
// A double as an int64, truncated; out of range (1e999, -1e30) or NaN: saturated (NaN: 0),
// where a plain cast is undefined behaviour.
int64_t SaturatingInt(double d) {
  if (std::isnan(d)) return 0;
  if (d >= 9223372036854775808.0) return std::numeric_limits<int64_t>::max();
  if (d <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}
}  // namespace

int64_t Value::as_int() const {
  if (type_ != Type::kNumber) return 0;
  if (text_.find_first_of(".eE") == std::string::npos) return std::strtoll(text_.c_str(), nullptr, 10);
  return SaturatingInt(as_double());
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

// The index of the first byte in [p, end) that IsSpecial, or end - p. Sixteen bytes per step
// with SSE2 (every x86-64 CPU has it): a byte is special when it equals '"' or '\\', or when
// it is below 0x20 (min_epu8(b, 0x1f) == b); then eight per step with the classic "has a
// zero / less-than byte" bit tricks, whose lowest set bit is exact (the table re-checks it).
inline size_t PlainRun(const char* p, const char* end) {
  const char* const start = p;
#if defined(__SSE2__)
  if (end - p >= 16) {
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1f);
    do {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      __m128i hits = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                  _mm_cmpeq_epi8(_mm_min_epu8(v, control), v));
      unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hits));
      if (mask != 0) return static_cast<size_t>(p - start) + static_cast<size_t>(__builtin_ctz(mask));
      p += 16;
    } while (end - p >= 16);
  }
#endif
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  while (end - p >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    uint64_t q = v ^ (kOnes * '"');
    uint64_t b = v ^ (kOnes * '\\');
    uint64_t hits = ((q - kOnes) & ~q) | ((b - kOnes) & ~b) | (v - kOnes * 0x20);
    hits &= ~v & kHigh;
    if (hits != 0) {
      const char* at = p + (__builtin_ctzll(hits) >> 3);
      while (!IsSpecial(*at)) ++at;  // never taken when the lowest bit is exact
      return static_cast<size_t>(at - start);
    }
    p += 8;
  }
  while (p < end && !IsSpecial(*p)) ++p;
  return static_cast<size_t>(p - start);
}

inline bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// One parser for both the DOM and the scanning mode: `kBuild` decides whether values are
// materialised. Offsets in errors are byte offsets into the input. The cursor is a pointer
// (p_), so the hot loops keep it in a register.
class Parser {
 public:
  explicit Parser(std::string_view s) : begin_(s.data()), p_(s.data()), end_(s.data() + s.size()) {}
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

  size_t pos() const { return static_cast<size_t>(p_ - begin_); }
  bool AtEnd() const { return p_ >= end_; }
  char Peek() const { return *p_; }

  // Records the first error (where the cursor is) and returns false; the hot paths return
  // bool and only the entry points build a Status.
  bool Fail(std::string_view what) {
    if (error_.empty()) {
      error_ = what;
      error_pos_ = pos();
    }
    return false;
  }
  absl::Status status() const {
    return absl::InvalidArgumentError(StrCat("malformed JSON at offset ", error_pos_, ": ", error_));
  }

  void SkipWs() {
    const char* p = p_;
    // Compact JSON (what providers and sluice write) has none: one compare in the common case.
    if (p < end_ && static_cast<unsigned char>(*p) > ' ') return;
    while (p < end_ && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    p_ = p;
  }

  template <bool kBuild>
  bool ParseValue(Value* out, int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    SkipWs();
    if (p_ >= end_) return Fail("unexpected end of input");
    char c = *p_;
    switch (c) {
      case '{': return ParseObject<kBuild>(out, depth);
      case '[': return ParseArray<kBuild>(out, depth);
      case '"': {
        if constexpr (kBuild) {
          std::string str;
          bool st = ParseString(&str);
          if (st) *out = Value::String(std::move(str));
          return st;
        } else {
          return ParseString(nullptr);
        }
      }
      case 't': return Literal<kBuild>("true", Value::Bool(true), out);
      case 'f': return Literal<kBuild>("false", Value::Bool(false), out);
      case 'n': return Literal<kBuild>("null", Value(), out);
      default:
        if (c == '-' || IsDigit(c)) return ParseNumber<kBuild>(out);
        // Quoted only when printable ASCII: the message may end up in a JSON error event, and
        // a raw byte of the input (0xD5, a control character) would make that invalid.
        if (c >= 0x20 && c < 0x7F) {
          msg_ = StrCat("unexpected character '", std::string(1, c), "'");
        } else {
          static constexpr char kHex[] = "0123456789ABCDEF";
          const auto b = static_cast<unsigned char>(c);
          msg_ = StrCat("unexpected byte 0x", std::string{kHex[b >> 4], kHex[b & 15]});
        }
        return Fail(msg_);
    }
  }

  template <bool kBuild>
  bool Literal(std::string_view word, Value v, Value* out) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0)
      return Fail("invalid literal");
    p_ += word.size();
    if constexpr (kBuild) *out = std::move(v);
    return true;
  }

  template <bool kBuild>
  bool ParseNumber(Value* out) {
    const char* start = p_;
    const char* p = p_;
    auto fail = [&](std::string_view what) {
      p_ = p;
      return Fail(what);
    };
    if (*p == '-') ++p;
    if (p >= end_) return fail("invalid number");
    if (*p == '0') {
      ++p;
    } else if (*p >= '1' && *p <= '9') {
      while (p < end_ && IsDigit(*p)) ++p;
    } else {
      return fail("invalid number");
    }
    if (p < end_ && *p == '.') {
      ++p;
      const char* d = p;
      while (p < end_ && IsDigit(*p)) ++p;
      if (p == d) return fail("invalid number");
    }
    if (p < end_ && (*p == 'e' || *p == 'E')) {
      ++p;
      if (p < end_ && (*p == '+' || *p == '-')) ++p;
      const char* d = p;
      while (p < end_ && IsDigit(*p)) ++p;
      if (p == d) return fail("invalid number");
    }
    p_ = p;
    if constexpr (kBuild) *out = Value::RawNumber(std::string(start, p));
    return true;
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    char buf[4];
    size_t n;
    if (cp < 0x80) {
      buf[0] = static_cast<char>(cp);
      n = 1;
    } else if (cp < 0x800) {
      buf[0] = static_cast<char>(0xC0 | (cp >> 6));
      buf[1] = static_cast<char>(0x80 | (cp & 0x3F));
      n = 2;
    } else if (cp < 0x10000) {
      buf[0] = static_cast<char>(0xE0 | (cp >> 12));
      buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buf[2] = static_cast<char>(0x80 | (cp & 0x3F));
      n = 3;
    } else {
      buf[0] = static_cast<char>(0xF0 | (cp >> 18));
      buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buf[3] = static_cast<char>(0x80 | (cp & 0x3F));
      n = 4;
    }
    out->append(buf, n);
  }

  bool Hex4(uint32_t* cp) {
    if (end_ - p_ < 4) return Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = *p_++;
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else return Fail("invalid \\u escape");
    }
    *cp = v;
    return true;
  }

  // Parses a string token at p_ (which is '"'). `out` may be null (validate only).
  bool ParseString(std::string* out) {
    ++p_;
    while (true) {
      // The plain run, word at a time, appended in one piece.
      size_t run = PlainRun(p_, end_);
      if (out && run) out->append(p_, run);
      p_ += run;
      if (p_ >= end_) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return Fail("control character in string");
      // c == '\\'
      escaped_ = true;
      ++p_;
      if (p_ >= end_) return Fail("unterminated escape");
      char e = *p_++;
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
          bool st = Hex4(&cp);
          if (!st) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ >= 2 && p_[0] == '\\' && p_[1] == 'u') {
              p_ += 2;
              uint32_t lo = 0;
              st = Hex4(&lo);
              if (!st) return false;
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
    }
  }

  template <bool kBuild>
  bool ParseArray(Value* out, int depth) {
    ++p_;
    if constexpr (kBuild) *out = Value::Array();
    SkipWs();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    // Items gather on a stack shared by every level, then move into a vector of the
    // exact size: one allocation per array instead of one per doubling.
    const size_t base = item_stack_.size();
    while (true) {
      if constexpr (kBuild) {
        Value item;
        bool st = ParseValue<kBuild>(&item, depth + 1);
        if (!st) return false;
        item_stack_.push_back(std::move(item));
      } else {
        bool st = ParseValue<kBuild>(nullptr, depth + 1);
        if (!st) return false;
      }
      SkipWs();
      if (p_ >= end_) return Fail("unterminated array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        if constexpr (kBuild) {
          std::vector<Value>& items = out->items();
          items.reserve(item_stack_.size() - base);
          for (size_t i = base; i < item_stack_.size(); ++i) items.push_back(std::move(item_stack_[i]));
          item_stack_.resize(base);
        }
        return true;
      }
      return Fail("expected ',' or ']'");
    }
  }

  template <bool kBuild>
  // `scan`: the members, keys decoded (ScanObject). `root`: the members with their key tokens
  // (quotes included), nothing copied (Reader::Parse).
  bool ParseObject(Value* out, int depth, std::vector<TopLevelMember>* scan = nullptr,
                   std::vector<RootMember>* root = nullptr) {
    ++p_;
    if constexpr (kBuild) *out = Value::Object();
    SkipWs();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    const size_t base = member_stack_.size();  // as in ParseArray
    while (true) {
      SkipWs();
      if (p_ >= end_ || *p_ != '"') return Fail("expected string key");
      std::string key;
      const char* key_token = p_;
      escaped_ = false;
      bool st = ParseString((kBuild || scan) ? &key : nullptr);
      const size_t key_token_size = static_cast<size_t>(p_ - key_token);
      const bool key_escaped = escaped_;
      if (!st) return false;
      SkipWs();
      if (p_ >= end_ || *p_ != ':') return Fail("expected ':'");
      ++p_;
      SkipWs();
      size_t begin = pos();
      if constexpr (kBuild) {
        Value v;
        st = ParseValue<kBuild>(&v, depth + 1);
        if (!st) return false;
        member_stack_.emplace_back(std::move(key), std::move(v));
      } else {
        st = ParseValue<kBuild>(nullptr, depth + 1);
        if (!st) return false;
        if (scan) scan->push_back(TopLevelMember{std::move(key), begin, pos()});
        if (root) root->push_back(RootMember{std::string_view(key_token, key_token_size), key_escaped, begin, pos()});
      }
      SkipWs();
      if (p_ >= end_) return Fail("unterminated object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        if constexpr (kBuild) {
          std::vector<Value::Member>& members = out->members();
          members.reserve(member_stack_.size() - base);
          for (size_t i = base; i < member_stack_.size(); ++i) members.push_back(std::move(member_stack_[i]));
          member_stack_.resize(base);
        }
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }

  bool escaped() const { return escaped_; }

  bool ExpectEnd() {
    SkipWs();
    if (p_ != end_) return Fail("trailing characters after JSON value");
    return true;
  }

 private:
  const char* const begin_;
  const char* p_;
  const char* const end_;
  std::string_view error_;  // the first failure's reason (static strings or msg_)
  size_t error_pos_ = 0;
  std::string msg_;         // backs error_ when the reason is built
  bool escaped_ = false;    // the last string parsed held an escape (set, never cleared, by ParseString)
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
  if (!p.ParseValue<true>(&v, 0) || !p.ExpectEnd()) return p.status();
  return v;
}

absl::StatusOr<std::vector<TopLevelMember>> ScanObject(std::string_view text) {
  Parser p(text);
  p.SkipWs();
  if (p.AtEnd() || p.Peek() != '{') {
    p.Fail("expected a JSON object");
    return p.status();
  }
  std::vector<TopLevelMember> members;
  members.reserve(16);  // request bodies have a handful of top-level members: one allocation
  if (!p.ParseObject<false>(nullptr, 0, &members) || !p.ExpectEnd()) return p.status();
  return members;
}

absl::StatusOr<std::string> DecodeStringToken(std::string_view token) {
  Parser p(token);
  if (token.empty() || token[0] != '"') {
    p.Fail("expected a string");
    return p.status();
  }
  std::string out;
  if (!p.ParseString(&out) || !p.ExpectEnd()) return p.status();
  return out;
}

size_t StringTokenLength(std::string_view text, bool* escaped) {
  if (text.empty() || text[0] != '"') return 0;
  Parser p(text);
  if (!p.ParseString(nullptr)) return 0;
  *escaped = p.escaped();
  return p.pos();
}

bool CompactMatcher::Literal(std::string_view bytes) {
  if (rest_.substr(0, bytes.size()) != bytes) return false;
  rest_.remove_prefix(bytes.size());
  return true;
}

bool CompactMatcher::Index(int64_t* value) {
  size_t n = 0;
  int64_t v = 0;
  while (n < rest_.size() && n < 9 && IsDigit(rest_[n])) v = v * 10 + (rest_[n++] - '0');
  if (n == 0 || (n > 1 && rest_[0] == '0') || (n < rest_.size() && IsDigit(rest_[n]))) return false;
  rest_.remove_prefix(n);
  *value = v;
  return true;
}

bool CompactMatcher::SkipString() {
  bool escaped = false;
  size_t n = StringTokenLength(rest_, &escaped);
  rest_.remove_prefix(n);
  return n > 0;
}

bool CompactMatcher::String(std::string_view* value) {
  bool escaped = false;
  size_t n = StringTokenLength(rest_, &escaped);
  if (n == 0) return false;
  std::string_view token = rest_.substr(0, n);
  if (!escaped) {
    *value = token.substr(1, n - 2);
  } else {
    decoded_.clear();
    Parser p(token);
    if (!p.ParseString(&decoded_)) return false;
    *value = decoded_;
  }
  rest_.remove_prefix(n);
  return true;
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
  const char* p = s.data();
  const char* const end = p + s.size();
  while (true) {
    size_t run = PlainRun(p, end);
    out->append(p, run);
    p += run;
    if (p == end) break;
    unsigned char c = static_cast<unsigned char>(*p++);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(u, 6);
      }
    }
  }
  out->push_back('"');
}

}  // namespace sluice::json

// ---------------------------------------------------------------------------------------
// Reader / View: walks text that Reader::Parse validated, so the skipping below can trust
// the grammar (no bounds surprises, no control characters inside strings).
namespace sluice::json {
namespace {

inline const char* SkipSpace(const char* p, const char* e) {
  if (p < e && static_cast<unsigned char>(*p) > ' ') return p;
  while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  return p;
}

// The first '"' or '\\' at or after p (e when there is none), 16 bytes per step.
inline const char* NextQuoteOrBackslash(const char* p, const char* e) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (e - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    unsigned mask = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash))));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  while (p < e && *p != '"' && *p != '\\') ++p;
  return p;
}

// p at '"': just past the closing quote; `*escaped` is set when the string holds an escape.
// Validated text needs no check for control characters, so this looks only for quotes and
// backslashes, inline (most strings are short keys: no call per string).
inline const char* SkipStringToken(const char* p, const char* e, bool* escaped = nullptr) {
  ++p;
  while (true) {
    p = NextQuoteOrBackslash(p, e);
    if (p >= e) return e;  // not reached on validated text
    if (*p == '"') return p + 1;
    if (escaped != nullptr) *escaped = true;
    p += 2;  // the backslash and the byte it escapes (validated: one is there)
  }
}

// Bytes that matter when skipping a container: quotes and brackets.
struct StructuralTable {
  bool structural[256] = {};
  constexpr StructuralTable() {
    for (char c : {'"', '{', '}', '[', ']'}) structural[static_cast<unsigned char>(c)] = true;
  }
};
constexpr StructuralTable kStructural;

// The first quote or bracket at or after p (validated text inside a container: there is one).
inline const char* NextStructural(const char* p, const char* e) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i open_square = _mm_set1_epi8('[');
  const __m128i close_square = _mm_set1_epi8(']');
  const __m128i open_curly = _mm_set1_epi8('{');
  const __m128i close_curly = _mm_set1_epi8('}');
  while (e - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hits = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_or_si128(_mm_cmpeq_epi8(v, open_square), _mm_cmpeq_epi8(v, close_square))),
        _mm_or_si128(_mm_cmpeq_epi8(v, open_curly), _mm_cmpeq_epi8(v, close_curly)));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hits));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  while (!kStructural.structural[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

// p at a value's first byte: just past the value.
const char* SkipValueToken(const char* p, const char* e) {
  char c = *p;
  if (c == '"') return SkipStringToken(p, e);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (true) {
      p = NextStructural(p, e);  // validated: a closing bracket comes
      c = *p;
      if (c == '"') {
        p = SkipStringToken(p, e);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      else if (--depth == 0) return p + 1;
      ++p;
    }
  }
  while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') ++p;
  return p;
}

inline bool HasEscape(std::string_view token) { return token.find('\\') != std::string_view::npos; }

}  // namespace

absl::StatusOr<View> Reader::Parse(std::string_view text) {
  decoded_.clear();
  top_.clear();
  if (top_.capacity() == 0) top_.reserve(16);  // a handful of members: one allocation
  root_ = nullptr;
  base_ = text.data();
  Parser p(text);
  p.SkipWs();
  bool object = !p.AtEnd() && p.Peek() == '{';
  // An object root is validated by the scanning parser, which also records where its
  // members are; their keys are then views (decoded only when they hold an escape).
  bool ok = object ? p.ParseObject<false>(nullptr, 0, nullptr, &top_) : p.ParseValue<false>(nullptr, 0);
  if (!ok || !p.ExpectEnd()) {
    top_.clear();
    return p.status();
  }
  for (RootMember& m : top_) m.key = m.escaped ? Decode(m.key) : m.key.substr(1, m.key.size() - 2);
  const char* b = SkipSpace(text.data(), text.data() + text.size());
  const char* e = text.data() + text.size();
  while (e > b && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\t')) --e;
  if (object) root_ = b;
  return View(b, e, this);
}

View Reader::Adopt(std::string_view text, const std::vector<TopLevelMember>& members) {
  decoded_.clear();
  top_.clear();
  top_.reserve(members.size());
  for (const TopLevelMember& m : members) top_.push_back(RootMember{m.key, false, m.value_begin, m.value_end});
  base_ = text.data();
  const char* b = SkipSpace(text.data(), text.data() + text.size());
  const char* e = text.data() + text.size();
  while (e > b && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\t')) --e;
  root_ = b;  // ScanObject accepts objects only
  return View(b, e, this);
}

std::string_view Reader::Decode(std::string_view token) {
  std::string& out = *decoded_.emplace_back(std::make_unique<std::string>());
  Parser p(token);
  (void)p.ParseString(&out);  // validated already
  return out;
}

Value::Type View::type() const {
  if (!exists()) return Value::Type::kNull;
  switch (*b_) {
    case '{': return Value::Type::kObject;
    case '[': return Value::Type::kArray;
    case '"': return Value::Type::kString;
    case 't': case 'f': return Value::Type::kBool;
    case 'n': return Value::Type::kNull;
    default: return Value::Type::kNumber;
  }
}

const char* View::End() const { return SkipValueToken(b_, e_); }

std::string_view View::raw() const {
  if (!exists()) return {};
  return {b_, static_cast<size_t>(End() - b_)};
}

std::string_view View::as_string() const {
  if (is_number()) return raw();
  if (!is_string()) return {};
  bool escaped = false;
  const char* end = SkipStringToken(b_, e_, &escaped);
  std::string_view token(b_, static_cast<size_t>(end - b_));
  if (!escaped) return token.substr(1, token.size() - 2);
  return r_->Decode(token);
}

int64_t View::as_int() const {
  if (!is_number()) return 0;
  // Small integers (token counts, indexes) in one pass over the digits, without finding the
  // token's end first or strtoll's locale work: the token ends at the first byte that is not
  // a digit, unless that byte continues it ('.', 'e', 'E': then as_double).
  const char* p = b_;
  const bool neg = *p == '-';
  if (neg) ++p;
  const char* const digits = p;
  int64_t v = 0;
  while (p < e_ && IsDigit(*p) && p - digits < 18) v = v * 10 + (*p++ - '0');
  if (p == e_ || !(IsDigit(*p) || *p == '.' || *p == 'e' || *p == 'E')) return neg ? -v : v;
  std::string_view t = raw();
  if (t.find_first_of(".eE") == std::string_view::npos) return std::strtoll(std::string(t).c_str(), nullptr, 10);
  return SaturatingInt(as_double());
}

double View::as_double() const {
  return is_number() ? ParseDouble(raw()) : 0.0;
}

View::Cursor View::Open(char bracket) const {
  Cursor c;
  if (!exists() || *b_ != bracket) return c;
  c.p_ = b_ + 1;
  c.e_ = e_;
  c.r_ = r_;
  return c;
}

bool View::Cursor::Advance() {
  if (p_ == nullptr) return false;
  const char* p = p_;
  if (started_) p = SkipValueToken(p, e_);  // the element given out last
  p = SkipSpace(p, e_);
  if (*p == ',') p = SkipSpace(p + 1, e_);
  if (*p == ']' || *p == '}') {
    p_ = nullptr;
    return false;
  }
  p_ = p;
  return true;
}

bool View::Cursor::Next(View* item) {
  if (!Advance()) return false;
  *item = View(p_, e_, r_);
  started_ = true;
  return true;
}

bool View::Cursor::Next(std::string_view* key, View* value) {
  if (!Advance()) return false;
  const char* p = p_;
  if (*p != '"') {  // not an object
    p_ = nullptr;
    return false;
  }
  bool escaped = false;
  const char* key_end = SkipStringToken(p, e_, &escaped);
  std::string_view token(p, static_cast<size_t>(key_end - p));
  *key = escaped ? r_->Decode(token) : token.substr(1, token.size() - 2);
  p = SkipSpace(SkipSpace(key_end, e_) + 1, e_);  // past ':'
  *value = View(p, e_, r_);
  p_ = p;
  started_ = true;
  return true;
}

View View::Find(std::string_view key) const {
  if (r_ != nullptr && b_ == r_->root_) {  // the root object: its members were recorded
    for (const RootMember& m : r_->top_)
      if (m.key == key) return View(r_->base_ + m.value_begin, e_, r_);
    return View();
  }
  std::string_view k;
  View v;
  for (Cursor c = members(); c.Next(&k, &v);)
    if (k == key) return v;
  return View();
}

void View::FindAll(std::initializer_list<std::pair<std::string_view, View*>> fields) const {
  for (const auto& f : fields) *f.second = View();
  if (r_ != nullptr && b_ == r_->root_) {  // the root object: its members were recorded
    for (const auto& f : fields) *f.second = Find(f.first);
    return;
  }
  size_t missing = fields.size();
  std::string_view k;
  View v;
  for (Cursor c = members(); missing > 0 && c.Next(&k, &v);) {
    for (const auto& f : fields) {
      if (k == f.first && !f.second->exists()) {
        *f.second = v;
        --missing;
      }
    }
  }
}

std::string_view View::GetString(std::string_view key) const {
  View v = Find(key);
  return v.is_string() ? v.as_string() : std::string_view();
}

bool View::GetBool(std::string_view key, bool def) const {
  View v = Find(key);
  return v.is_bool() ? v.as_bool() : def;
}

size_t View::size() const {
  size_t n = 0;
  View v;
  std::string_view k;
  if (is_array()) {
    for (Cursor c = items(); c.Next(&v);) ++n;
  } else if (is_object()) {
    for (Cursor c = members(); c.Next(&k, &v);) ++n;
  }
  return n;
}

void View::AppendCompact(std::string* out) const {
  if (!exists()) return;
  switch (*b_) {
    case '"': {
      std::string_view token = raw();
      if (!HasEscape(token)) out->append(token);  // already canonical
      else AppendQuoted(out, as_string());
      return;
    }
    case '[': {
      out->push_back('[');
      bool first = true;
      View item;
      for (Cursor c = items(); c.Next(&item);) {
        if (!first) out->push_back(',');
        first = false;
        item.AppendCompact(out);
      }
      out->push_back(']');
      return;
    }
    case '{': {
      out->push_back('{');
      bool first = true;
      std::string_view k;
      View v;
      for (Cursor c = members(); c.Next(&k, &v);) {
        if (!first) out->push_back(',');
        first = false;
        AppendQuoted(out, k);
        out->push_back(':');
        v.AppendCompact(out);
      }
      out->push_back('}');
      return;
    }
    default: out->append(raw()); return;  // number or literal, as written
  }
}

Value View::ToValue() const {
  switch (type()) {
    case Value::Type::kNull: return Value();
    case Value::Type::kBool: return Value::Bool(as_bool());
    case Value::Type::kNumber: return Value::RawNumber(std::string(raw()));
    case Value::Type::kString: return Value::String(std::string(as_string()));
    case Value::Type::kArray: {
      Value a = Value::Array();
      View item;
      for (Cursor c = items(); c.Next(&item);) a.Append(item.ToValue());
      return a;
    }
    case Value::Type::kObject: {
      Value o = Value::Object();
      std::string_view k;
      View v;
      for (Cursor c = members(); c.Next(&k, &v);) o.members().emplace_back(std::string(k), v.ToValue());
      return o;
    }
  }
  return Value();
}

}  // namespace sluice::json
