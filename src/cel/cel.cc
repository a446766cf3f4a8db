#include "cel/cel.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"

namespace sluice::cel {
namespace {

// ---- values and types ----

enum class Kind { kNull, kBool, kInt, kUint, kDouble, kString, kList };

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kUint: return "uint";
    case Kind::kDouble: return "double";
    case Kind::kString: return "string";
    case Kind::kList: return "list";
  }
  return "?";
}

bool IsNumber(Kind k) { return k == Kind::kInt || k == Kind::kUint || k == Kind::kDouble; }

struct Type {
  Kind kind = Kind::kNull;
  Kind elem = Kind::kNull;  // kList: the elements' kind (kNull: no elements)
  bool operator==(const Type&) const = default;
};

std::string TypeName(Type t) {
  if (t.kind != Kind::kList) return std::string(KindName(t.kind));
  return StrCat("list(", t.elem == Kind::kNull ? std::string_view("dyn") : KindName(t.elem), ")");
}

struct Value {
  Kind kind = Kind::kNull;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  std::string s;
  std::vector<Value> list;

  static Value Bool(bool v) { Value x; x.kind = Kind::kBool; x.b = v; return x; }
  static Value Int(int64_t v) { Value x; x.kind = Kind::kInt; x.i = v; return x; }
  static Value Uint(uint64_t v) { Value x; x.kind = Kind::kUint; x.u = v; return x; }
  static Value Double(double v) { Value x; x.kind = Kind::kDouble; x.d = v; return x; }
  static Value String(std::string v) { Value x; x.kind = Kind::kString; x.s = std::move(v); return x; }
};

absl::Status EvalError(const std::string& what) { return absl::InvalidArgumentError(what); }

// -1, 0, 1 for numbers of any kind (CEL compares int, uint and double with each other);
// nullopt when a NaN is involved (every ordering is then false).
std::optional<int> CompareNumbers(const Value& a, const Value& b) {
  if (a.kind == Kind::kDouble || b.kind == Kind::kDouble) {
    // long double holds every int64 and uint64 exactly (x86-64's 64-bit significand).
    auto as_ld = [](const Value& v) -> long double {
      return v.kind == Kind::kDouble ? v.d : v.kind == Kind::kInt ? static_cast<long double>(v.i) : static_cast<long double>(v.u);
    };
    long double x = as_ld(a), y = as_ld(b);
    if (std::isnan(x) || std::isnan(y)) return std::nullopt;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind == b.kind) {
    if (a.kind == Kind::kInt) return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    return a.u < b.u ? -1 : a.u > b.u ? 1 : 0;
  }
  if (a.kind == Kind::kInt) {  // int vs uint
    if (a.i < 0) return -1;
    uint64_t x = static_cast<uint64_t>(a.i);
    return x < b.u ? -1 : x > b.u ? 1 : 0;
  }
  if (b.i < 0) return 1;
  uint64_t y = static_cast<uint64_t>(b.i);
  return a.u < y ? -1 : a.u > y ? 1 : 0;
}

bool Equal(const Value& a, const Value& b) {
  if (IsNumber(a.kind) && IsNumber(b.kind)) {
    auto c = CompareNumbers(a, b);
    return c.has_value() && *c == 0;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kNull: return true;
    case Kind::kBool: return a.b == b.b;
    case Kind::kString: return a.s == b.s;
    case Kind::kList:
      if (a.list.size() != b.list.size()) return false;
      for (size_t k = 0; k < a.list.size(); ++k)
        if (!Equal(a.list[k], b.list[k])) return false;
      return true;
    default: return false;
  }
}

// ---- syntax tree ----

enum class Op {
  kLiteral, kVar, kList, kNot, kNeg, kAnd, kOr, kCond,
  kAdd, kSub, kMul, kDiv, kMod, kEq, kNe, kLt, kLe, kGt, kGe, kIn,
  kToInt, kToUint, kToDouble, kToString, kSize, kStartsWith, kEndsWith, kContains,
};

enum class Var { kModel, kBackend, kRouteName, kInput, kCachedInput, kCacheCreation, kOutput, kTotal, kReasoning };

struct Node {
  Op op = Op::kLiteral;
  int depth = 1;  // of the subtree: evaluation recurses this deep
  Type type;
  Value literal;  // kLiteral
  Var var = Var::kModel;
  std::vector<std::unique_ptr<Node>> args;
};
using NodePtr = std::unique_ptr<Node>;

// ---- lexer ----

enum class Tok { kEnd, kIdent, kInt, kUint, kDouble, kString, kPunct };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifier, punctuation, literal digits, or the decoded string
  size_t col = 0;    // 1-based
};

class Parser {
 public:
  explicit Parser(std::string_view src) : src_(src) {}

  absl::StatusOr<NodePtr> ParseAll() {
    RETURN_IF_ERROR(Next());
    ASSIGN_OR_RETURN(NodePtr e, Expr());
    if (tok_.kind != Tok::kEnd) return Error(tok_.col, StrCat("unexpected `", tok_.text, "`"));
    return e;
  }

 private:
  absl::Status Error(size_t col, std::string_view what) const {
    return absl::InvalidArgumentError(StrCat("column ", col, ": ", what));
  }

  // ---- tokens ----
  absl::Status Next() {
    size_t& p = pos_;
    for (;;) {
      while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t' || src_[p] == '\n' || src_[p] == '\r')) ++p;
      if (p + 1 < src_.size() && src_[p] == '/' && src_[p + 1] == '/') {
        while (p < src_.size() && src_[p] != '\n') ++p;
        continue;
      }
      break;
    }
    tok_ = Token{};
    tok_.col = p + 1;
    if (p >= src_.size()) return absl::OkStatus();
    char c = src_[p];
    auto ident_char = [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
    };
    if ((c == 'r' || c == 'R') && p + 1 < src_.size() && (src_[p + 1] == '\'' || src_[p + 1] == '"')) {
      ++p;
      return StringLiteral(/*raw=*/true);
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
      size_t start = p;
      while (p < src_.size() && ident_char(src_[p])) ++p;
      tok_.kind = Tok::kIdent;
      tok_.text = std::string(src_.substr(start, p - start));
      return absl::OkStatus();
    }
    if ((c >= '0' && c <= '9') || (c == '.' && p + 1 < src_.size() && src_[p + 1] >= '0' && src_[p + 1] <= '9')) {
      return NumberLiteral();
    }
    if (c == '\'' || c == '"') return StringLiteral(/*raw=*/false);
    static constexpr std::string_view kTwo[] = {"||", "&&", "==", "!=", "<=", ">="};
    for (std::string_view two : kTwo) {
      if (src_.substr(p, 2) == two) {
        tok_.kind = Tok::kPunct;
        tok_.text = std::string(two);
        p += 2;
        return absl::OkStatus();
      }
    }
    if (std::string_view("()[],.?:!<>+-*/%").find(c) != std::string_view::npos) {
      tok_.kind = Tok::kPunct;
      tok_.text = std::string(1, c);
      ++p;
      return absl::OkStatus();
    }
    return Error(tok_.col, c == '{' ? "maps are not supported in cost expressions"
                                    : StrCat("unexpected character `", std::string_view(&src_[p], 1), "`"));
  }

  absl::Status NumberLiteral() {
    size_t& p = pos_;
    size_t start = p;
    bool is_double = false;
    if (src_.substr(p, 2) == "0x" || src_.substr(p, 2) == "0X") {
      p += 2;
      while (p < src_.size() && std::isxdigit(static_cast<unsigned char>(src_[p]))) ++p;
    } else {
      while (p < src_.size() && src_[p] >= '0' && src_[p] <= '9') ++p;
      if (p + 1 < src_.size() && src_[p] == '.' && src_[p + 1] >= '0' && src_[p + 1] <= '9') {
        is_double = true;
        ++p;
        while (p < src_.size() && src_[p] >= '0' && src_[p] <= '9') ++p;
      }
      if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
        size_t q = p + 1;
        if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
        if (q < src_.size() && src_[q] >= '0' && src_[q] <= '9') {
          is_double = true;
          p = q;
          while (p < src_.size() && src_[p] >= '0' && src_[p] <= '9') ++p;
        }
      }
    }
    tok_.text = std::string(src_.substr(start, p - start));
    tok_.kind = is_double ? Tok::kDouble : Tok::kInt;
    if (!is_double && p < src_.size() && (src_[p] == 'u' || src_[p] == 'U')) {
      tok_.kind = Tok::kUint;
      ++p;
    }
    if (tok_.text == "0x" || tok_.text == "0X") return Error(tok_.col, "a hex literal needs digits");
    return absl::OkStatus();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
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

  absl::Status StringLiteral(bool raw) {
    size_t& p = pos_;
    const char quote = src_[p++];
    tok_.kind = Tok::kString;
    for (;;) {
      if (p >= src_.size() || src_[p] == '\n') return Error(tok_.col, "unterminated string");
      char c = src_[p++];
      if (c == quote) return absl::OkStatus();
      if (c != '\\' || raw) {
        tok_.text.push_back(c);
        continue;
      }
      if (p >= src_.size()) return Error(tok_.col, "unterminated string");
      char e = src_[p++];
      switch (e) {
        case '\\': case '\'': case '"': case '`': case '?': tok_.text.push_back(e); break;
        case 'a': tok_.text.push_back('\a'); break;
        case 'b': tok_.text.push_back('\b'); break;
        case 'f': tok_.text.push_back('\f'); break;
        case 'n': tok_.text.push_back('\n'); break;
        case 'r': tok_.text.push_back('\r'); break;
        case 't': tok_.text.push_back('\t'); break;
        case 'v': tok_.text.push_back('\v'); break;
        case 'x': case 'u': case 'U': {
          size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + n > src_.size()) return Error(p, "bad escape");
          uint32_t cp = 0;
          auto [end, ec] = std::from_chars(src_.data() + p, src_.data() + p + n, cp, 16);
          if (ec != std::errc() || end != src_.data() + p + n || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return Error(p, "bad escape");
          }
          p += n;
          AppendUtf8(cp, &tok_.text);
          break;
        }
        default:
          if (e >= '0' && e <= '3' && p + 2 <= src_.size() && src_[p] >= '0' && src_[p] <= '7' && src_[p + 1] >= '0' &&
              src_[p + 1] <= '7') {
            tok_.text.push_back(static_cast<char>(((e - '0') << 6) | ((src_[p] - '0') << 3) | (src_[p + 1] - '0')));
            p += 2;
            break;
          }
          return Error(p - 1, StrCat("bad escape `\\", std::string_view(&e, 1), "`"));
      }
    }
  }

  bool Is(std::string_view punct) const { return tok_.kind == Tok::kPunct && tok_.text == punct; }
  bool IsWord(std::string_view word) const { return tok_.kind == Tok::kIdent && tok_.text == word; }

  absl::Status Expect(std::string_view punct) {
    if (!Is(punct)) {
      return Error(tok_.col, StrCat("expected `", punct, "`, found ",
                                    tok_.kind == Tok::kEnd ? std::string("the end") : StrCat("`", tok_.text, "`")));
    }
    return Next();
  }

  // ---- grammar (CEL's precedence) with CEL's typing ----

  static NodePtr Make(Op op, Type type, std::vector<NodePtr> args) {
    auto n = std::make_unique<Node>();
    n->op = op;
    n->type = type;
    for (const auto& a : args) n->depth = std::max(n->depth, a->depth + 1);
    n->args = std::move(args);
    return n;
  }
  // A long chain (`1 + 1 + ... + 1`) nests without parentheses: its tree depth is bounded too,
  // checked as it grows, so evaluating (or freeing) it cannot exhaust the stack.
  static constexpr int kMaxTreeDepth = 1000;
  absl::Status CheckTree(const NodePtr& n, size_t col) const {
    if (n->depth > kMaxTreeDepth) return Error(col, "expression nested too deeply");
    return absl::OkStatus();
  }
  static std::vector<NodePtr> Args(NodePtr a, NodePtr b = nullptr) {
    std::vector<NodePtr> v;
    v.push_back(std::move(a));
    if (b) v.push_back(std::move(b));
    return v;
  }

  absl::Status NoOverload(size_t col, std::string_view op, std::initializer_list<Type> types) const {
    std::string list;
    for (Type t : types) StrAppend(&list, list.empty() ? "" : ", ", TypeName(t));
    return Error(col, StrCat("no matching overload for `", op, "` applied to (", list, ")",
                             op == "*" || op == "+" || op == "-" || op == "/" || op == "%"
                                 ? "; CEL does not mix int and uint: write 2u or uint(2) next to a token count"
                                 : ""));
  }

  // Nesting is bounded (as cel-go's parser bounds it), so no expression can exhaust the stack.
  static constexpr int kMaxDepth = 250;
  struct DepthGuard {
    explicit DepthGuard(int* d) : depth(d) { ++*depth; }
    ~DepthGuard() { --*depth; }
    int* depth;
  };

  absl::StatusOr<NodePtr> Expr() {
    size_t col = tok_.col;
    DepthGuard guard(&depth_);
    if (depth_ > kMaxDepth) return Error(col, "expression nested too deeply");
    ASSIGN_OR_RETURN(NodePtr cond, Or());
    if (!Is("?")) return cond;
    RETURN_IF_ERROR(Next());
    ASSIGN_OR_RETURN(NodePtr yes, Or());
    RETURN_IF_ERROR(Expect(":"));
    ASSIGN_OR_RETURN(NodePtr no, Expr());
    if (cond->type.kind != Kind::kBool) return Error(col, StrCat("the condition of `?:` must be a bool, not ", TypeName(cond->type)));
    if (!(yes->type == no->type)) {
      return Error(col, StrCat("the branches of `?:` have different types (", TypeName(yes->type), " and ",
                               TypeName(no->type), "); convert one, e.g. uint(0)"));
    }
    Type t = yes->type;
    std::vector<NodePtr> args;
    args.push_back(std::move(cond));
    args.push_back(std::move(yes));
    args.push_back(std::move(no));
    return Make(Op::kCond, t, std::move(args));
  }

  absl::StatusOr<NodePtr> Logical(bool is_or) {
    ASSIGN_OR_RETURN(NodePtr left, is_or ? Logical(false) : Relation());
    while (Is(is_or ? "||" : "&&")) {
      size_t col = tok_.col;
      RETURN_IF_ERROR(Next());
      ASSIGN_OR_RETURN(NodePtr right, is_or ? Logical(false) : Relation());
      if (left->type.kind != Kind::kBool || right->type.kind != Kind::kBool) {
        return NoOverload(col, is_or ? "||" : "&&", {left->type, right->type});
      }
      left = Make(is_or ? Op::kOr : Op::kAnd, Type{Kind::kBool}, Args(std::move(left), std::move(right)));
      RETURN_IF_ERROR(CheckTree(left, col));
    }
    return left;
  }
  absl::StatusOr<NodePtr> Or() { return Logical(true); }

  absl::StatusOr<NodePtr> Relation() {
    ASSIGN_OR_RETURN(NodePtr left, Addition());
    for (;;) {
      Op op;
      if (Is("==")) op = Op::kEq;
      else if (Is("!=")) op = Op::kNe;
      else if (Is("<")) op = Op::kLt;
      else if (Is("<=")) op = Op::kLe;
      else if (Is(">")) op = Op::kGt;
      else if (Is(">=")) op = Op::kGe;
      else if (IsWord("in")) op = Op::kIn;
      else return left;
      size_t col = tok_.col;
      std::string sym = tok_.text;
      RETURN_IF_ERROR(Next());
      ASSIGN_OR_RETURN(NodePtr right, Addition());
      Type a = left->type, b = right->type;
      bool ok;
      if (op == Op::kIn) {
        ok = b.kind == Kind::kList &&
             (b.elem == Kind::kNull || b.elem == a.kind || (IsNumber(b.elem) && IsNumber(a.kind)));
      } else if (op == Op::kEq || op == Op::kNe) {
        ok = a == b || (IsNumber(a.kind) && IsNumber(b.kind)) ||
             (a.kind == Kind::kList && b.kind == Kind::kList && (a.elem == Kind::kNull || b.elem == Kind::kNull));
      } else {
        ok = (IsNumber(a.kind) && IsNumber(b.kind)) ||
             (a.kind == b.kind && (a.kind == Kind::kString || a.kind == Kind::kBool));
      }
      if (!ok) return NoOverload(col, sym, {a, b});
      left = Make(op, Type{Kind::kBool}, Args(std::move(left), std::move(right)));
      RETURN_IF_ERROR(CheckTree(left, col));
    }
  }

  absl::StatusOr<NodePtr> Addition() {
    ASSIGN_OR_RETURN(NodePtr left, Multiplication());
    while (Is("+") || Is("-")) {
      bool add = Is("+");
      size_t col = tok_.col;
      RETURN_IF_ERROR(Next());
      ASSIGN_OR_RETURN(NodePtr right, Multiplication());
      Type a = left->type, b = right->type;
      bool ok = a == b && (IsNumber(a.kind) || (add && a.kind == Kind::kString));
      if (!ok) return NoOverload(col, add ? "+" : "-", {a, b});
      left = Make(add ? Op::kAdd : Op::kSub, a, Args(std::move(left), std::move(right)));
      RETURN_IF_ERROR(CheckTree(left, col));
    }
    return left;
  }

  absl::StatusOr<NodePtr> Multiplication() {
    ASSIGN_OR_RETURN(NodePtr left, Unary());
    while (Is("*") || Is("/") || Is("%")) {
      std::string sym = tok_.text;
      size_t col = tok_.col;
      RETURN_IF_ERROR(Next());
      ASSIGN_OR_RETURN(NodePtr right, Unary());
      Type a = left->type, b = right->type;
      bool ok = a == b && IsNumber(a.kind) && !(sym == "%" && a.kind == Kind::kDouble);
      if (!ok) return NoOverload(col, sym, {a, b});
      Op op = sym == "*" ? Op::kMul : sym == "/" ? Op::kDiv : Op::kMod;
      left = Make(op, a, Args(std::move(left), std::move(right)));
      RETURN_IF_ERROR(CheckTree(left, col));
    }
    return left;
  }

  absl::StatusOr<NodePtr> Unary() {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxDepth) return Error(tok_.col, "expression nested too deeply");
    if (Is("!")) {
      size_t col = tok_.col;
      RETURN_IF_ERROR(Next());
      ASSIGN_OR_RETURN(NodePtr x, Unary());
      if (x->type.kind != Kind::kBool) return NoOverload(col, "!", {x->type});
      return Make(Op::kNot, Type{Kind::kBool}, Args(std::move(x)));
    }
    if (Is("-")) {
      size_t col = tok_.col;
      RETURN_IF_ERROR(Next());
      if (tok_.kind == Tok::kInt) {  // -9223372036854775808 is a literal, not a negation
        tok_.text = StrCat("-", tok_.text);
        return Member();
      }
      ASSIGN_OR_RETURN(NodePtr x, Unary());
      if (x->type.kind != Kind::kInt && x->type.kind != Kind::kDouble) return NoOverload(col, "-", {x->type});
      Type t = x->type;
      return Make(Op::kNeg, t, Args(std::move(x)));
    }
    return Member();
  }

  absl::StatusOr<NodePtr> Member() {
    ASSIGN_OR_RETURN(NodePtr x, Primary());
    while (Is(".")) {
      RETURN_IF_ERROR(Next());
      size_t col = tok_.col;
      if (tok_.kind != Tok::kIdent) return Error(col, "expected a method name after `.`");
      std::string name = tok_.text;
      RETURN_IF_ERROR(Next());
      if (!Is("(")) return Error(col, StrCat("`", name, "`: fields are not supported (the variables are plain values)"));
      ASSIGN_OR_RETURN(std::vector<NodePtr> args, CallArgs());
      args.insert(args.begin(), std::move(x));
      ASSIGN_OR_RETURN(x, Function(col, name, /*method=*/true, std::move(args)));
      RETURN_IF_ERROR(CheckTree(x, col));
    }
    return x;
  }

  absl::StatusOr<std::vector<NodePtr>> CallArgs() {  // at "("
    RETURN_IF_ERROR(Next());
    std::vector<NodePtr> args;
    if (Is(")")) {
      RETURN_IF_ERROR(Next());
      return args;
    }
    for (;;) {
      ASSIGN_OR_RETURN(NodePtr a, Expr());
      args.push_back(std::move(a));
      if (Is(",")) {
        RETURN_IF_ERROR(Next());
        continue;
      }
      RETURN_IF_ERROR(Expect(")"));
      return args;
    }
  }

  absl::StatusOr<NodePtr> Function(size_t col, const std::string& name, bool method, std::vector<NodePtr> args) {
    std::vector<Type> types;
    for (const auto& a : args) types.push_back(a->type);
    auto bad = [&]() {
      std::string list;
      for (Type t : types) StrAppend(&list, list.empty() ? "" : ", ", TypeName(t));
      return Error(col, StrCat("no matching overload for `", name, "` applied to (", list, ")"));
    };
    auto scalar = [&](Kind k) { return k == Kind::kInt || k == Kind::kUint || k == Kind::kDouble || k == Kind::kString; };
    if (!method && (name == "int" || name == "uint" || name == "double" || name == "string")) {
      if (args.size() != 1) return bad();
      Kind k = types[0].kind;
      if (!scalar(k) && !(name == "string" && k == Kind::kBool)) return bad();
      Op op = name == "int" ? Op::kToInt : name == "uint" ? Op::kToUint : name == "double" ? Op::kToDouble : Op::kToString;
      Kind out = name == "int" ? Kind::kInt : name == "uint" ? Kind::kUint : name == "double" ? Kind::kDouble : Kind::kString;
      return Make(op, Type{out}, std::move(args));
    }
    if (name == "size") {
      if (args.size() != 1 || (types[0].kind != Kind::kString && types[0].kind != Kind::kList)) return bad();
      return Make(Op::kSize, Type{Kind::kInt}, std::move(args));
    }
    if (method && (name == "startsWith" || name == "endsWith" || name == "contains")) {
      if (args.size() != 2 || types[0].kind != Kind::kString || types[1].kind != Kind::kString) return bad();
      Op op = name == "startsWith" ? Op::kStartsWith : name == "endsWith" ? Op::kEndsWith : Op::kContains;
      return Make(op, Type{Kind::kBool}, std::move(args));
    }
    return Error(col, StrCat("function `", name, "` is not supported in cost expressions (supported: int, uint, "
                             "double, string, size, startsWith, endsWith, contains)"));
  }

  absl::StatusOr<NodePtr> Primary() {
    size_t col = tok_.col;
    if (Is("(")) {
      RETURN_IF_ERROR(Next());
      ASSIGN_OR_RETURN(NodePtr e, Expr());
      RETURN_IF_ERROR(Expect(")"));
      return e;
    }
    if (Is("[")) {
      RETURN_IF_ERROR(Next());
      std::vector<NodePtr> items;
      Type t{Kind::kList, Kind::kNull};
      while (!Is("]")) {
        size_t item_col = tok_.col;
        ASSIGN_OR_RETURN(NodePtr e, Expr());
        if (e->type.kind == Kind::kList || e->type.kind == Kind::kNull) return Error(item_col, "list elements must be scalars");
        if (t.elem == Kind::kNull) t.elem = e->type.kind;
        else if (t.elem != e->type.kind) return Error(item_col, "list elements must all have the same type");
        items.push_back(std::move(e));
        if (!Is(",")) break;
        RETURN_IF_ERROR(Next());
      }
      RETURN_IF_ERROR(Expect("]"));
      return Make(Op::kList, t, std::move(items));
    }
    auto n = std::make_unique<Node>();
    switch (tok_.kind) {
      case Tok::kInt: case Tok::kUint: {
        std::string_view text = tok_.text;
        bool neg = text.starts_with('-');
        if (neg) text.remove_prefix(1);
        int base = 10;
        if (text.starts_with("0x") || text.starts_with("0X")) {
          base = 16;
          text.remove_prefix(2);
        }
        uint64_t mag = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mag, base);
        if (ec != std::errc() || end != text.data() + text.size()) return Error(col, StrCat("integer literal out of range: ", tok_.text));
        if (tok_.kind == Tok::kUint) {
          if (neg) return Error(col, "a uint literal cannot be negative");
          n->literal = Value::Uint(mag);
        } else {
          uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
          if (mag > limit) return Error(col, StrCat("integer literal out of range: ", tok_.text));
          n->literal = Value::Int(neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag));
        }
        break;
      }
      case Tok::kDouble: {
        double d = 0;
        auto [end, ec] = std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), d);
        if (ec != std::errc()) return Error(col, StrCat("bad number: ", tok_.text));
        n->literal = Value::Double(d);
        break;
      }
      case Tok::kString:
        n->literal = Value::String(tok_.text);
        break;
      case Tok::kIdent: {
        std::string name = tok_.text;
        RETURN_IF_ERROR(Next());
        if (Is("(")) {
          ASSIGN_OR_RETURN(std::vector<NodePtr> args, CallArgs());
          return Function(col, name, /*method=*/false, std::move(args));
        }
        if (name == "true" || name == "false") {
          n->literal = Value::Bool(name == "true");
          n->type = Type{Kind::kBool};
          return n;
        }
        if (name == "null") {
          n->type = Type{Kind::kNull};
          return n;
        }
        static constexpr std::pair<std::string_view, Var> kVars[] = {
            {"model", Var::kModel}, {"backend", Var::kBackend}, {"route_name", Var::kRouteName},
            {"input_tokens", Var::kInput}, {"cached_input_tokens", Var::kCachedInput},
            {"cache_creation_input_tokens", Var::kCacheCreation}, {"output_tokens", Var::kOutput},
            {"total_tokens", Var::kTotal}, {"reasoning_tokens", Var::kReasoning}};
        for (const auto& [vname, var] : kVars) {
          if (name == vname) {
            n->op = Op::kVar;
            n->var = var;
            n->type = Type{var == Var::kModel || var == Var::kBackend || var == Var::kRouteName ? Kind::kString : Kind::kUint};
            return n;
          }
        }
        return Error(col, StrCat("undeclared reference to `", name, "` (variables: model, backend, route_name, "
                                 "input_tokens, cached_input_tokens, cache_creation_input_tokens, output_tokens, "
                                 "total_tokens, reasoning_tokens)"));
      }
      case Tok::kEnd:
        return Error(col, "unexpected end of expression");
      case Tok::kPunct:
        return Error(col, StrCat("unexpected `", tok_.text, "`"));
    }
    n->type = Type{n->literal.kind};
    RETURN_IF_ERROR(Next());
    return n;
  }

  std::string_view src_;
  size_t pos_ = 0;
  Token tok_;
  int depth_ = 0;
};

// ---- evaluation ----

class Evaluator {
 public:
  explicit Evaluator(const CostInputs& in) : in_(in) {}

  absl::StatusOr<Value> Eval(const Node& n) {
    switch (n.op) {
      case Op::kLiteral: return n.literal;
      case Op::kVar: return Variable(n.var);
      case Op::kList: {
        Value v;
        v.kind = Kind::kList;
        for (const auto& a : n.args) {
          ASSIGN_OR_RETURN(Value x, Eval(*a));
          v.list.push_back(std::move(x));
        }
        return v;
      }
      case Op::kNot: {
        ASSIGN_OR_RETURN(Value x, Eval(*n.args[0]));
        return Value::Bool(!x.b);
      }
      case Op::kNeg: {
        ASSIGN_OR_RETURN(Value x, Eval(*n.args[0]));
        if (x.kind == Kind::kDouble) return Value::Double(-x.d);
        if (x.i == std::numeric_limits<int64_t>::min()) return EvalError("integer overflow");
        return Value::Int(-x.i);
      }
      case Op::kAnd: case Op::kOr: {
        // CEL's commutative logic: a decisive operand wins even when the other one fails.
        const bool decisive = n.op == Op::kOr;
        absl::StatusOr<Value> a = Eval(*n.args[0]);
        if (a.ok() && a->b == decisive) return *a;
        absl::StatusOr<Value> b = Eval(*n.args[1]);
        if (b.ok() && b->b == decisive) return *b;
        if (!a.ok()) return a.status();
        if (!b.ok()) return b.status();
        return Value::Bool(!decisive);
      }
      case Op::kCond: {
        ASSIGN_OR_RETURN(Value c, Eval(*n.args[0]));
        return Eval(*n.args[c.b ? 1 : 2]);
      }
      case Op::kAdd: case Op::kSub: case Op::kMul: case Op::kDiv: case Op::kMod: {
        ASSIGN_OR_RETURN(Value a, Eval(*n.args[0]));
        ASSIGN_OR_RETURN(Value b, Eval(*n.args[1]));
        return Arithmetic(n.op, a, b);
      }
      case Op::kEq: case Op::kNe: case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe: {
        ASSIGN_OR_RETURN(Value a, Eval(*n.args[0]));
        ASSIGN_OR_RETURN(Value b, Eval(*n.args[1]));
        if (n.op == Op::kEq) return Value::Bool(Equal(a, b));
        if (n.op == Op::kNe) return Value::Bool(!Equal(a, b));
        int c;
        if (IsNumber(a.kind)) {
          auto cmp = CompareNumbers(a, b);
          if (!cmp) return Value::Bool(false);
          c = *cmp;
        } else if (a.kind == Kind::kString) {
          c = a.s.compare(b.s) < 0 ? -1 : a.s == b.s ? 0 : 1;
        } else {
          c = a.b == b.b ? 0 : a.b ? 1 : -1;
        }
        bool r = n.op == Op::kLt ? c < 0 : n.op == Op::kLe ? c <= 0 : n.op == Op::kGt ? c > 0 : c >= 0;
        return Value::Bool(r);
      }
      case Op::kIn: {
        ASSIGN_OR_RETURN(Value a, Eval(*n.args[0]));
        ASSIGN_OR_RETURN(Value list, Eval(*n.args[1]));
        for (const Value& x : list.list)
          if (Equal(a, x)) return Value::Bool(true);
        return Value::Bool(false);
      }
      case Op::kToInt: case Op::kToUint: case Op::kToDouble: case Op::kToString: {
        ASSIGN_OR_RETURN(Value x, Eval(*n.args[0]));
        return Convert(n.op, x);
      }
      case Op::kSize: {
        ASSIGN_OR_RETURN(Value x, Eval(*n.args[0]));
        if (x.kind == Kind::kList) return Value::Int(static_cast<int64_t>(x.list.size()));
        int64_t code_points = 0;
        for (unsigned char c : x.s) code_points += (c & 0xC0) != 0x80;
        return Value::Int(code_points);
      }
      case Op::kStartsWith: case Op::kEndsWith: case Op::kContains: {
        ASSIGN_OR_RETURN(Value s, Eval(*n.args[0]));
        ASSIGN_OR_RETURN(Value t, Eval(*n.args[1]));
        std::string_view sv = s.s;
        bool r = n.op == Op::kStartsWith ? sv.starts_with(t.s)
                 : n.op == Op::kEndsWith ? sv.ends_with(t.s)
                                          : sv.find(t.s) != std::string_view::npos;
        return Value::Bool(r);
      }
    }
    return absl::InternalError("unknown CEL operation");
  }

 private:
  Value Variable(Var v) const {
    switch (v) {
      case Var::kModel: return Value::String(std::string(in_.model));
      case Var::kBackend: return Value::String(std::string(in_.backend));
      case Var::kRouteName: return Value::String(std::string(in_.route_name));
      case Var::kInput: return Value::Uint(in_.input_tokens);
      case Var::kCachedInput: return Value::Uint(in_.cached_input_tokens);
      case Var::kCacheCreation: return Value::Uint(in_.cache_creation_input_tokens);
      case Var::kOutput: return Value::Uint(in_.output_tokens);
      case Var::kTotal: return Value::Uint(in_.total_tokens);
      case Var::kReasoning: return Value::Uint(in_.reasoning_tokens);
    }
    return Value{};
  }

  static absl::StatusOr<Value> Arithmetic(Op op, const Value& a, const Value& b) {
    switch (a.kind) {
      case Kind::kString: return Value::String(a.s + b.s);
      case Kind::kDouble:
        switch (op) {
          case Op::kAdd: return Value::Double(a.d + b.d);
          case Op::kSub: return Value::Double(a.d - b.d);
          case Op::kMul: return Value::Double(a.d * b.d);
          default: return Value::Double(a.d / b.d);
        }
      case Kind::kInt: {
        int64_t r = 0;
        bool overflow = false;
        switch (op) {
          case Op::kAdd: overflow = __builtin_add_overflow(a.i, b.i, &r); break;
          case Op::kSub: overflow = __builtin_sub_overflow(a.i, b.i, &r); break;
          case Op::kMul: overflow = __builtin_mul_overflow(a.i, b.i, &r); break;
          default:
            if (b.i == 0) return EvalError(op == Op::kDiv ? "division by zero" : "modulus by zero");
            if (a.i == std::numeric_limits<int64_t>::min() && b.i == -1) {
              overflow = op == Op::kDiv;
              r = 0;
            } else {
              r = op == Op::kDiv ? a.i / b.i : a.i % b.i;
            }
        }
        if (overflow) return EvalError("integer overflow");
        return Value::Int(r);
      }
      default: {  // uint
        uint64_t r = 0;
        bool overflow = false;
        switch (op) {
          case Op::kAdd: overflow = __builtin_add_overflow(a.u, b.u, &r); break;
          case Op::kSub: overflow = __builtin_sub_overflow(a.u, b.u, &r); break;
          case Op::kMul: overflow = __builtin_mul_overflow(a.u, b.u, &r); break;
          default:
            if (b.u == 0) return EvalError(op == Op::kDiv ? "division by zero" : "modulus by zero");
            r = op == Op::kDiv ? a.u / b.u : a.u % b.u;
        }
        if (overflow) return EvalError("unsigned integer overflow");
        return Value::Uint(r);
      }
    }
  }

  static absl::StatusOr<Value> Convert(Op op, const Value& x) {
    switch (op) {
      case Op::kToInt:
        switch (x.kind) {
          case Kind::kInt: return x;
          case Kind::kUint:
            if (x.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return EvalError("int() out of range");
            return Value::Int(static_cast<int64_t>(x.u));
          case Kind::kDouble:
            if (!(x.d > -9223372036854775808.0 && x.d < 9223372036854775808.0)) return EvalError("int() out of range");
            return Value::Int(static_cast<int64_t>(x.d));
          default: {
            int64_t v = 0;
            auto [end, ec] = std::from_chars(x.s.data(), x.s.data() + x.s.size(), v);
            if (ec != std::errc() || end != x.s.data() + x.s.size()) return EvalError(StrCat("int(): not an integer: ", x.s));
            return Value::Int(v);
          }
        }
      case Op::kToUint:
        switch (x.kind) {
          case Kind::kUint: return x;
          case Kind::kInt:
            if (x.i < 0) return EvalError("uint() of a negative number");
            return Value::Uint(static_cast<uint64_t>(x.i));
          case Kind::kDouble:
            if (!(x.d > -1.0 && x.d < 18446744073709551616.0)) return EvalError("uint() out of range");
            return Value::Uint(static_cast<uint64_t>(x.d));
          default: {
            uint64_t v = 0;
            auto [end, ec] = std::from_chars(x.s.data(), x.s.data() + x.s.size(), v);
            if (ec != std::errc() || end != x.s.data() + x.s.size()) return EvalError(StrCat("uint(): not an unsigned integer: ", x.s));
            return Value::Uint(v);
          }
        }
      case Op::kToDouble:
        switch (x.kind) {
          case Kind::kDouble: return x;
          case Kind::kInt: return Value::Double(static_cast<double>(x.i));
          case Kind::kUint: return Value::Double(static_cast<double>(x.u));
          default: {
            double v = 0;
            auto [end, ec] = std::from_chars(x.s.data(), x.s.data() + x.s.size(), v);
            if (ec != std::errc() || end != x.s.data() + x.s.size()) return EvalError(StrCat("double(): not a number: ", x.s));
            return Value::Double(v);
          }
        }
      default:
        switch (x.kind) {
          case Kind::kString: return x;
          case Kind::kBool: return Value::String(x.b ? "true" : "false");
          case Kind::kInt: return Value::String(std::to_string(x.i));
          case Kind::kUint: return Value::String(std::to_string(x.u));
          default: {
            char buf[32];
            auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), x.d);
            return Value::String(std::string(buf, ec == std::errc() ? end : buf));
          }
        }
    }
  }

  const CostInputs& in_;
};

class CostProgramImpl final : public CostProgram {
 public:
  explicit CostProgramImpl(NodePtr root) : root_(std::move(root)) {}

  absl::StatusOr<uint64_t> Evaluate(const CostInputs& in) const override {
    Evaluator ev(in);
    absl::StatusOr<Value> v = ev.Eval(*root_);
    if (!v.ok()) return absl::InvalidArgumentError(StrCat("failed to evaluate CEL expression: ", v.status().message()));
    if (v->kind == Kind::kUint) return v->u;
    if (v->kind == Kind::kInt) {
      if (v->i < 0) return absl::InvalidArgumentError(StrCat("CEL expression result is negative (", v->i, ")"));
      return static_cast<uint64_t>(v->i);
    }
    return absl::InvalidArgumentError(StrCat("CEL expression result is not an integer, got ", KindName(v->kind)));
  }

 private:
  NodePtr root_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const CostProgram>> CostProgram::Compile(std::string_view expr) {
  Parser parser(expr);
  absl::StatusOr<NodePtr> root = parser.ParseAll();
  if (!root.ok()) return absl::InvalidArgumentError(StrCat("cannot compile CEL expression: ", root.status().message()));
  Type t = (*root)->type;
  if (t.kind != Kind::kInt && t.kind != Kind::kUint) {
    return absl::InvalidArgumentError(StrCat("CEL cost expression must return an int or uint, not ", TypeName(t)));
  }
  auto program = std::make_shared<const CostProgramImpl>(std::move(*root));
  // As Envoy AI Gateway does: evaluated once on zero usage, so what cannot work fails the load.
  CostInputs dummy;
  dummy.model = dummy.backend = dummy.route_name = "dummy";
  if (auto v = program->Evaluate(dummy); !v.ok()) return v.status();
  return program;
}

}  // namespace sluice::cel
