#!/usr/bin/env bash
# bench/micro/instructions.sh: instructions per request lifecycle through gateway::Pipeline,
# counted by valgrind (callgrind), for each case of sluice-pipeline-bench. Unlike timings,
# instruction counts do not move when other work shares the machine, so two builds can be
# compared at any moment. Each case runs twice (N and 3N lifecycles); the difference divided
# by 2N removes start-up and configuration costs.
#
#   bench/micro/instructions.sh [CASE...]     (default: every lifecycle case)
#   SLUICE_PIPELINE_BENCH=build/sluice-pipeline-bench  N=300
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${SLUICE_PIPELINE_BENCH:-$REPO_DIR/build/sluice-pipeline-bench}
N=${N:-300}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
[[ -x $BIN ]] || { echo "$BIN not built (cmake --build build --target sluice-pipeline-bench)" >&2; exit 1; }
cases=("$@")
((${#cases[@]})) || cases=(openai anthropic bedrock openai_stream anthropic_stream bedrock_stream)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {  # count CASE ITERATIONS -> total instructions of the process
  SLUICE_BENCH_ITERATIONS=$2 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
    "$BIN" --payloads "$REPO_DIR/bench/payloads" --benchmark_filter="^lifecycle/$1/" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log" >&2; exit 1; }
  grep -q "lifecycle/$1/" "$tmp/log" || { echo "no benchmark lifecycle/$1" >&2; exit 1; }
  awk '/I *refs:/ { gsub(",", "", $NF); print $NF }' "$tmp/log"
}
base=""
printf '%-18s %14s %8s\n' case instructions ratio
for c in "${cases[@]}"; do
  a=$(count "$c" "$N")
  b=$(count "$c" $((3 * N)))
  per=$(((b - a) / (2 * N)))
  [[ $c == openai ]] && base=$per
  case $c in
    *_stream) ref=${stream_base:-} ;;
    *) ref=$base ;;
  esac
  [[ $c == openai_stream ]] && stream_base=$per && ref=$per
  if [[ -n $ref && $ref -gt 0 ]]; then
    printf '%-18s %14d %7.2fx\n' "$c" "$per" "$(echo "$per / $ref" | bc -l)"
  else
    printf '%-18s %14d %8s\n' "$c" "$per" -
  fi
done
echo "(ratio: against openai, or openai_stream for streamed cases: the same-dialect path)"
