// The CEL cost expressions of Envoy AI Gateway's LLMRequestCost (type CEL): a subset of the
// Common Expression Language (https://github.com/google/cel-spec) over fixed variables.
//
// Variables: `model`, `backend`, `route_name` (string); `input_tokens`, `cached_input_tokens`,
// `cache_creation_input_tokens`, `output_tokens`, `total_tokens`, `reasoning_tokens` (uint).
//
// The language is CEL's, typed as CEL types it: int, uint, double, string, bool and list
// literals; `?:`, `||`, `&&`, `!`, `==`, `!=`, `<`, `<=`, `>`, `>=` (numbers of any kind compare
// with each other), `in` (a value in a list literal), `+ - * / %` on two operands of the same
// type (`+` also joins strings; `input_tokens * 2` is a type error, as in CEL: write
// `input_tokens * 2u` or `input_tokens * uint(2)`); the conversions `int()`, `uint()`,
// `double()`, `string()`; `size()` and the string methods `startsWith`, `endsWith`,
// `contains`. Arithmetic that overflows or divides by zero is an evaluation error, as in CEL.
// Anything else (macros, maps, `matches`, ...) is refused when compiling, naming the column.
//
// Like Envoy AI Gateway, a program is evaluated once when compiled, on zero usage with the
// strings "dummy", so an expression that cannot work (a constant underflow, a division by
// zero tokens, a string result) fails the configuration load; and a result must be an int or
// uint that is not negative.
//
// A CostProgram is immutable after Compile and safe to evaluate from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"

namespace sluice::cel {

struct CostInputs {
  std::string_view model;
  std::string_view backend;
  std::string_view route_name;
  uint64_t input_tokens = 0;
  uint64_t cached_input_tokens = 0;
  uint64_t cache_creation_input_tokens = 0;
  uint64_t output_tokens = 0;
  uint64_t total_tokens = 0;
  uint64_t reasoning_tokens = 0;
};

class CostProgram {
 public:
  virtual ~CostProgram() = default;

  // Parses, type-checks and test-evaluates `expr`. Errors (InvalidArgument) say what is wrong
  // and at which column (1-based).
  static absl::StatusOr<std::shared_ptr<const CostProgram>> Compile(std::string_view expr);

  // The cost for one request: an int or uint result that is not negative; otherwise (or on an
  // overflow, a division by zero, ...) InvalidArgument.
  virtual absl::StatusOr<uint64_t> Evaluate(const CostInputs& in) const = 0;
};

}  // namespace sluice::cel
