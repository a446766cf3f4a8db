#include "cel/cel.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice::cel {
namespace {

CostInputs Usage(std::string_view model, uint64_t input, uint64_t cached, uint64_t creation, uint64_t output,
                 uint64_t total, uint64_t reasoning = 0) {
  CostInputs in;
  in.model = model;
  in.backend = "default/bedrock";
  in.route_name = "default/chat";
  in.input_tokens = input;
  in.cached_input_tokens = cached;
  in.cache_creation_input_tokens = creation;
  in.output_tokens = output;
  in.total_tokens = total;
  in.reasoning_tokens = reasoning;
  return in;
}

uint64_t Eval(std::string_view expr, const CostInputs& in) {
  auto p = CostProgram::Compile(expr);
  EXPECT_TRUE(p.ok()) << expr << ": " << p.status();
  if (!p.ok()) return ~uint64_t{0};
  auto v = (*p)->Evaluate(in);
  EXPECT_TRUE(v.ok()) << expr << ": " << v.status();
  return v.ok() ? *v : ~uint64_t{0};
}

std::string CompileError(std::string_view expr) {
  auto p = CostProgram::Compile(expr);
  EXPECT_FALSE(p.ok()) << expr << " compiled";
  return p.ok() ? "" : std::string(p.status().message());
}

std::string EvalError(std::string_view expr, const CostInputs& in) {
  auto p = CostProgram::Compile(expr);
  EXPECT_TRUE(p.ok()) << expr << ": " << p.status();
  if (!p.ok()) return "";
  auto v = (*p)->Evaluate(in);
  EXPECT_FALSE(v.ok()) << expr << " gave " << *v;
  return v.ok() ? "" : std::string(v.status().message());
}

TEST(CelCostTest, TheExpressionsOfEnvoyAIGatewayConfigurations) {
  const CostInputs in = Usage("cool_model", 200, 100, 1, 2, 3, 50);
  EXPECT_EQ(Eval("input_tokens", in), 200u);
  EXPECT_EQ(Eval("output_tokens + reasoning_tokens", in), 52u);
  EXPECT_EQ(Eval("1 + 1", in), 2u);
  EXPECT_EQ(Eval("uint(1) + uint(1)", in), 2u);
  // A model-dependent price: (200 - 100 - 1) * 2 for the named model, the total otherwise.
  const char* priced = "model == 'cool_model' ? (input_tokens - cached_input_tokens - cache_creation_input_tokens) * output_tokens : total_tokens";
  EXPECT_EQ(Eval(priced, in), 198u);
  EXPECT_EQ(Eval(priced, Usage("other", 200, 100, 1, 2, 3)), 3u);
  // The corpus's token_ratelimit.yaml expression.
  EXPECT_EQ(Eval("input_tokens == uint(3) ? 100000000 : 0", Usage("m", 3, 0, 0, 0, 3)), 100000000u);
  EXPECT_EQ(Eval("input_tokens == uint(3) ? 100000000 : 0", Usage("m", 4, 0, 0, 0, 4)), 0u);
  // QuotaPolicy-style: input without cached input, guarded against underflow.
  const char* guarded = "input_tokens > cached_input_tokens ? input_tokens - cached_input_tokens : uint(0)";
  EXPECT_EQ(Eval(guarded, Usage("m", 200, 150, 0, 10, 210)), 50u);
  EXPECT_EQ(Eval(guarded, Usage("m", 100, 100, 0, 10, 110)), 0u);
  EXPECT_EQ(Eval("int(input_tokens) - int(cached_input_tokens)", Usage("m", 200, 50, 0, 0, 200)), 150u);
}

TEST(CelCostTest, CelSemantics) {
  const CostInputs in = Usage("gpt-4o-mini", 1000, 200, 0, 50, 1050);
  EXPECT_EQ(Eval("input_tokens * 2u + output_tokens * 8u", in), 2400u);
  EXPECT_EQ(Eval("input_tokens / 3u", in), 333u);
  EXPECT_EQ(Eval("input_tokens % 7u", in), 1000u % 7u);
  EXPECT_EQ(Eval("2 + 3 * 4", in), 14u);
  EXPECT_EQ(Eval("(2 + 3) * 4", in), 20u);
  EXPECT_EQ(Eval("10 - 2 - 3", in), 5u);  // left associative
  EXPECT_EQ(Eval("uint(double(input_tokens) * 1.5)", in), 1500u);
  EXPECT_EQ(Eval("uint(double(output_tokens) / 3.0)", in), 16u);  // truncated
  EXPECT_EQ(Eval("model.startsWith('gpt-4o') ? 2 : 1", in), 2u);
  EXPECT_EQ(Eval("model.endsWith('-mini') && model.contains('4o') ? 3 : 1", in), 3u);
  EXPECT_EQ(Eval("model in ['gpt-4o', 'gpt-4o-mini'] ? 7 : 0", in), 7u);
  EXPECT_EQ(Eval("backend == 'default/bedrock' && route_name == \"default/chat\" ? 1 : 0", in), 1u);
  EXPECT_EQ(Eval("size(model)", in), 11u);
  EXPECT_EQ(Eval("size('héllo')", in), 5u);  // code points, not bytes
  EXPECT_EQ(Eval("size([1, 2, 3])", in), 3u);
  EXPECT_EQ(Eval("int('42') + int(true ? 1 : 0)", in), 43u);
  EXPECT_EQ(Eval("uint(string(input_tokens) + '0')", in), 10000u);
  // Numbers of different kinds compare (CEL's heterogeneous comparisons); arithmetic does not mix.
  EXPECT_EQ(Eval("input_tokens > 999 && 1.5 < output_tokens && input_tokens == 1000.0 ? 1 : 0", in), 1u);
  EXPECT_EQ(Eval("-1 < input_tokens ? 1 : 0", in), 1u);
  EXPECT_EQ(Eval("0x10 + 0x1", in), 17u);
  EXPECT_EQ(Eval("!(input_tokens < 10u) ? 5u : 6u", in), 5u);
  EXPECT_EQ(Eval("-(-3)", in), 3u);
  EXPECT_EQ(Eval("// comment\n total_tokens // trailing", in), 1050u);
  EXPECT_EQ(Eval(R"('a\x41\u00e9\'' == "aAé'" ? 1 : 0)", in), 1u);
  EXPECT_EQ(Eval(R"(r'\d' == '\\d' ? 1 : 0)", in), 1u);
  // CEL's commutative && / ||: a decisive operand wins over an error on the other side.
  EXPECT_EQ(Eval("(output_tokens - input_tokens > 0u) || true ? 1 : 0", in), 1u);
  EXPECT_EQ(Eval("false && (output_tokens - input_tokens > 0u) ? 1 : 0", in), 0u);
}

TEST(CelCostTest, TypeErrorsAreCompileErrors) {
  // CEL does not mix int and uint in arithmetic: the hint says how to write it.
  std::string e = CompileError("input_tokens * 2");
  EXPECT_NE(e.find("no matching overload for `*` applied to (uint, int)"), std::string::npos) << e;
  EXPECT_NE(e.find("2u or uint(2)"), std::string::npos) << e;
  EXPECT_NE(CompileError("model == 'x' ? input_tokens : 0").find("different types (uint and int)"), std::string::npos);
  EXPECT_NE(CompileError("model + 1").find("applied to (string, int)"), std::string::npos);
  EXPECT_NE(CompileError("model").find("must return an int or uint, not string"), std::string::npos);
  EXPECT_NE(CompileError("1.5").find("not double"), std::string::npos);
  EXPECT_NE(CompileError("input_tokens > 1").find("not bool"), std::string::npos);
  EXPECT_NE(CompileError("-input_tokens").find("`-` applied to (uint)"), std::string::npos);
  EXPECT_NE(CompileError("input_tokens ? 1 : 2").find("must be a bool"), std::string::npos);
  EXPECT_NE(CompileError("output_tokens % 2.0 == 0.0 ? 1 : 0").find("`%`"), std::string::npos);
  EXPECT_NE(CompileError("model in [1, 2] ? 1 : 0").find("`in`"), std::string::npos);
  EXPECT_NE(CompileError("[1, 'a'] == [] ? 1 : 0").find("same type"), std::string::npos);
}

TEST(CelCostTest, SyntaxAndUnknownNamesSayWhere) {
  EXPECT_NE(CompileError("1 +").find("column 4: unexpected end of expression"), std::string::npos);
  EXPECT_NE(CompileError("tokens_per_second").find("column 1: undeclared reference to `tokens_per_second`"),
            std::string::npos);
  EXPECT_NE(CompileError("input_tokens + uint(").find("column"), std::string::npos);
  EXPECT_NE(CompileError("model.matches('^gpt') ? 1 : 0").find("`matches` is not supported"), std::string::npos);
  EXPECT_NE(CompileError("{'a': 1}").find("maps are not supported"), std::string::npos);
  EXPECT_NE(CompileError("request.model").find("column 1"), std::string::npos);
  EXPECT_NE(CompileError("model.size").find("fields are not supported"), std::string::npos);
  EXPECT_NE(CompileError("'unterminated").find("unterminated string"), std::string::npos);
  EXPECT_NE(CompileError("1 2").find("column 3: unexpected `2`"), std::string::npos);
  EXPECT_NE(CompileError("99999999999999999999").find("out of range"), std::string::npos);
  EXPECT_NE(CompileError("-1u").find("`-` applied to (uint)"), std::string::npos);
  EXPECT_NE(CompileError(R"('\q')").find("bad escape"), std::string::npos);
  EXPECT_NE(CompileError("1 # 2").find("unexpected character `#`"), std::string::npos);
  // Deep nesting is refused, not a stack overflow.
  EXPECT_NE(CompileError(std::string(100000, '(') + "1" + std::string(100000, ')')).find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(CompileError(std::string(100000, '!') + "true ? 1 : 0").find("nested too deeply"), std::string::npos);
  EXPECT_NE(CompileError(std::string(100000, '-') + "1").find("nested too deeply"), std::string::npos);
  EXPECT_EQ(Eval(std::string(100, '(') + "7" + std::string(100, ')'), CostInputs{}), 7u);
  std::string chain = "1";
  for (int i = 0; i < 200000; ++i) chain += " + 1";
  EXPECT_NE(CompileError(chain).find("nested too deeply"), std::string::npos);
  std::string methods = "model";
  for (int i = 0; i < 5000; ++i) methods += ".startsWith('a') == true ? model : model";
  EXPECT_FALSE(CostProgram::Compile(methods + " == '' ? 1 : 0").ok());
  std::string ok_chain = "1";
  for (int i = 0; i < 500; ++i) ok_chain += " + 1";
  EXPECT_EQ(Eval(ok_chain, CostInputs{}), 501u);
}

TEST(CelCostTest, WhatCannotWorkFailsAtLoadOnZeroUsage) {
  // Evaluated once on zero usage with the strings "dummy", as Envoy AI Gateway does.
  EXPECT_NE(CompileError("uint(1) - uint(1200)").find("unsigned integer overflow"), std::string::npos);
  EXPECT_NE(CompileError("total_tokens / output_tokens").find("division by zero"), std::string::npos);
  EXPECT_NE(CompileError("0 - 1").find("result is negative (-1)"), std::string::npos);
  EXPECT_NE(CompileError("9223372036854775807 + 1").find("integer overflow"), std::string::npos);
  // ... while what only fails on some usage compiles.
  EXPECT_TRUE(CostProgram::Compile("input_tokens - output_tokens").ok());
  EXPECT_TRUE(CostProgram::Compile("int(input_tokens) - int(output_tokens)").ok());
  EXPECT_TRUE(CostProgram::Compile("model == 'cool' ? total_tokens / output_tokens : uint(0)").ok());
}

TEST(CelCostTest, EvaluationErrors) {
  const CostInputs in = Usage("m", 100, 0, 0, 2000, 2100);
  EXPECT_NE(EvalError("input_tokens - output_tokens", in).find("unsigned integer overflow"), std::string::npos);
  EXPECT_NE(EvalError("int(input_tokens) - int(output_tokens)", in).find("result is negative (-1900)"),
            std::string::npos);
  EXPECT_NE(EvalError("model == 'm' ? total_tokens / (output_tokens - uint(2000)) : uint(0)", in)
                .find("division by zero"),
            std::string::npos);
  EXPECT_NE(EvalError("input_tokens * 184467440737095517u", in).find("unsigned integer overflow"), std::string::npos);
  EXPECT_NE(EvalError("model == 'm' ? int(model) : 0", in).find("not an integer: m"), std::string::npos);
  EXPECT_NE(EvalError("model == 'm' ? uint(-1) : uint(0)", in).find("negative"), std::string::npos);
  EXPECT_EQ(Eval("-9223372036854775808 < 0 ? 1 : 0", in), 1u);
  EXPECT_NE(EvalError("model == 'm' ? -9223372036854775808 / -1 : 0", in).find("integer overflow"), std::string::npos);
}

TEST(CelCostTest, ProgramsAreSharedAcrossThreads) {
  auto p = CostProgram::Compile("model == 'a' ? input_tokens * output_tokens : total_tokens");
  ASSERT_TRUE(p.ok()) << p.status();
  // Immutable: the same program evaluates different inputs independently.
  EXPECT_EQ(*(*p)->Evaluate(Usage("a", 100, 0, 0, 2, 3)), 200u);
  EXPECT_EQ(*(*p)->Evaluate(Usage("b", 100, 0, 0, 2, 3)), 3u);
}

}  // namespace
}  // namespace sluice::cel
