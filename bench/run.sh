#!/usr/bin/env bash
# bench/run.sh: load harness for sluice. One command, one run, several targets.
#
# Measures the same non-streamed OpenAI chat completion (POST /v1/chat/completions)
# against, in order:
#   direct  the bench upstream (provider simulator: nginx returning a canned reply)
#   nginx   nginx as a plain keep-alive reverse proxy in front of the upstream
#   sluice  `sluice run` routing model bench-model to the upstream
# and prints requests/s, p50/p99 latency, the sluice/nginx and sluice/direct ratios and
# sluice's RSS. Results also go to bench/results/latest.json. See bench/README.md.
#
# Settings (environment):
#   BENCH_DURATION=10s BENCH_WARMUP=2s BENCH_CONNECTIONS=64 BENCH_THREADS=1
#   BENCH_TIMEOUT=5s   BENCH_QUICK=1 (2 s runs, 1 s warm-up: smoke test)
#   BENCH_ROUNDS=1 (repeat all targets, interleaved; the report takes the medians)
#   BENCH_TARGETS=direct,nginx,sluice (comma list: run a subset)
#   BENCH_RESULTS=bench/results/latest.json   BENCH_KEEP=1 (keep the temp dir)
#   SLUICE_BIN=build/sluice   SLUICE_ARGS="" (extra args for `sluice run`)
#   SLUICE_READY_TIMEOUT=30 (seconds)
#
# Exit status: 0 when every selected target ran cleanly; 1 on any failure (a target
# not starting, a wrong reply, any wrk socket error, any non-2xx response, a crash).
#
# Adding a target (see main): start its server, then call
#   bench_target NAME URL [--auth 'Bearer ...'] [--pid ROOT_PID]
# (plus a canned_route for the upstream if it needs a new provider path). Targets other
# than the baselines direct and nginx automatically get ratios against both.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
  default_duration=2s default_warmup=1s
else
  default_duration=10s default_warmup=2s
fi
BENCH_DURATION=${BENCH_DURATION:-$default_duration}
BENCH_WARMUP=${BENCH_WARMUP:-$default_warmup}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_THREADS=${BENCH_THREADS:-1}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-5s}
BENCH_ROUNDS=${BENCH_ROUNDS:-1}
BENCH_TARGETS=${BENCH_TARGETS:-direct,nginx,sluice}
BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results/latest.json}
BENCH_KEEP=${BENCH_KEEP:-0}
SLUICE_BIN=${SLUICE_BIN:-$REPO_DIR/build/sluice}
SLUICE_ARGS=${SLUICE_ARGS:-}
SLUICE_READY_TIMEOUT=${SLUICE_READY_TIMEOUT:-30}

API_KEY=sk-bench
MODEL=bench-model
CHAT_PATH=/v1/chat/completions
REQUEST_BODY=$BENCH_DIR/payloads/chat_request.json
CHAT_RESPONSE=$BENCH_DIR/payloads/chat_response.json
WRK_SCRIPT=$BENCH_DIR/lib/post.lua

WORK=""            # temp dir: configs, pid files, logs, per-target results
FAILED=1           # cleared just before a successful exit
declare -A PIDS=() # role -> pid of every server this script started
SAMPLER=""         # pid of the RSS sampler subshell while a target is measured

# ---------------------------------------------------------------------------- utils

log() { printf '[bench] %s\n' "$*" >&2; }

die() {
  printf '\n[bench] FAILED: %s\n' "$*" >&2
  exit 1
}

want() { [[ ",$BENCH_TARGETS," == *",$1,"* ]]; }

# free_ports N: N distinct free TCP ports on 127.0.0.1, chosen by the kernel.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# proc_tree PID: PID and its direct children (nginx master -> workers).
proc_tree() {
  local pid=$1
  echo "$pid"
  ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ' || true
}

# status_kib FIELD PID...: sum of a /proc/PID/status field (VmRSS, VmHWM) in KiB.
status_kib() {
  local field=$1 total=0 v pid
  shift
  for pid in "$@"; do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# cpu_ticks PID...: utime+stime (all threads) summed, in clock ticks.
cpu_ticks() {
  local total=0 pid rest
  for pid in "$@"; do
    rest=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${rest##*) }   # drop "pid (comm) " (comm may hold spaces)
    total=$((total + $(awk '{ print $12 + $13 }' <<<"$rest")))
  done
  echo "$total"
}

alive() { kill -0 "$1" 2>/dev/null; }

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL. Sets STOP_STATUS to how it
# ended: exit-N (N > 128: killed by signal N-128) or killed-after-10s. Not to be run in
# a $(...) subshell: only this shell can wait for its children.
STOP_STATUS=""
stop_pid() {
  local pid=$1 i rc=0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    STOP_STATUS=killed-after-10s
    return 0
  fi
  wait "$pid" 2>/dev/null || rc=$?
  STOP_STATUS=exit-$rc
}

cleanup() {
  local rc=$? role
  trap - EXIT INT TERM
  if [[ -n $SAMPLER ]]; then
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
  fi
  for role in "${!PIDS[@]}"; do
    stop_pid "${PIDS[$role]}"
  done
  if [[ -n $WORK && -d $WORK ]]; then
    if ((FAILED)) || [[ $BENCH_KEEP == 1 ]]; then
      log "logs and configs kept in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

# ---------------------------------------------------------------------------- nginx

# Everything nginx writes goes under its own prefix dir; nothing touches /etc or /var.
nginx_common() {
  local dir=$1 workers=$2
  if [[ $(id -u) == 0 ]]; then
    # As root nginx would drop workers to "nobody", who cannot read our 0700 temp dir.
    echo "user $(id -un) $(id -gn);"
  fi
  cat <<EOF
worker_processes $workers;
worker_rlimit_nofile 8192;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_http_common() {
  local dir=$1
  cat <<EOF
    access_log off;
    server_tokens off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
EOF
}

# start_nginx ROLE PORT WORKERS: run $WORK/ROLE/nginx.conf in the foreground (daemon
# off) as a child of this script; wait for PORT to accept and the workers to exist.
start_nginx() {
  local role=$1 port=$2 workers=$3 dir=$WORK/$1 i n
  nginx -t -q -p "$dir/" -c "$dir/nginx.conf" 2>"$dir/stderr.log" ||
    die "nginx config for $role is invalid: $(cat "$dir/stderr.log")"
  nginx -p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;' 2>>"$dir/stderr.log" &
  PIDS[$role]=$!
  for ((i = 0; i < 100; i++)); do
    alive "${PIDS[$role]}" || die "nginx ($role) exited at startup: $(cat "$dir/stderr.log" "$dir/error.log" 2>/dev/null)"
    n=$(proc_tree "${PIDS[$role]}" | wc -l)
    if ((n > workers)) && port_open "$port"; then return 0; fi
    sleep 0.05
  done
  die "nginx ($role) did not start $workers worker(s) on 127.0.0.1:$port within 5 s"
}

# Canned provider replies served by the upstream: "PATH|CONTENT_TYPE|FILE".
# Streamed and translated targets add theirs here (e.g. /v1/messages, Bedrock paths).
UPSTREAM_ROUTES=()
canned_route() { UPSTREAM_ROUTES+=("$1|$2|$3"); }

# nginx_quote FILE: the file as an nginx single-quoted string literal.
nginx_quote() {
  local f=$1
  grep -q '\$' "$f" && die "$f contains '\$', which nginx would expand as a variable"
  printf "'%s'" "$(sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" "$f")"
}

# The bench upstream (provider simulator): one nginx worker answering each canned route
# with a fixed body, but only when the request carries the bench API key, so a proxy
# that forgets to sign requests fails the run instead of looking fast.
start_upstream() {
  local port=$1 dir=$WORK/upstream route path ctype file
  mkdir -p "$dir"
  {
    nginx_common "$dir" 1
    echo "http {"
    nginx_http_common "$dir"
    echo "    server {"
    echo "        listen 127.0.0.1:$port;"
    for route in "${UPSTREAM_ROUTES[@]}"; do
      IFS='|' read -r path ctype file <<<"$route"
      cat <<EOF
        location = $path {
            default_type $ctype;
            if (\$request_method != POST) { return 405; }
            if (\$http_authorization != "Bearer $API_KEY") {
                return 401 '{"error":{"message":"bench upstream: missing or wrong API key","type":"invalid_request_error","code":"invalid_api_key"}}';
            }
            return 200 $(nginx_quote "$file");
        }
EOF
    done
    cat <<EOF
        location / {
            default_type application/json;
            return 404 '{"error":{"message":"bench upstream: unknown path","type":"invalid_request_error"}}';
        }
    }
}
EOF
  } >"$dir/nginx.conf"
  start_nginx upstream "$port" 1
}

# nginx as a plain reverse proxy: 2 workers (sluice runs 2 event loops), keep-alive
# pool to the upstream, injects the API key like the gateway does. reuseport spreads
# the client connections evenly over the workers, i.e. nginx at its best.
start_nginx_proxy() {
  local port=$1 upstream_port=$2 dir=$WORK/nginx
  mkdir -p "$dir"
  {
    nginx_common "$dir" 2
    cat <<EOF
http {
$(nginx_http_common "$dir")
    upstream provider {
        server 127.0.0.1:$upstream_port;
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$port reuseport;
        location / {
            proxy_pass http://provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer $API_KEY";
        }
    }
}
EOF
  } >"$dir/nginx.conf"
  start_nginx nginx "$port" 2
}

# ---------------------------------------------------------------------------- sluice

write_sluice_resources() {
  local upstream_port=$1
  cat <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench, namespace: default}
spec:
  gatewayClassName: sluice
  listeners: [{name: http, protocol: HTTP, port: 1975}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: bench, namespace: default}
spec:
  parentRefs: [{name: bench, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: $MODEL}]}]
      backendRefs: [{name: upstream}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: upstream, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: upstream, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: upstream, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: $upstream_port}}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: upstream-key, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: upstream}]
  type: APIKey
  apiKey: {secretRef: {name: upstream-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: upstream-key, namespace: default}
stringData: {apiKey: $API_KEY}
EOF
}

sluice_logs() {
  local dir=$WORK/sluice
  echo "--- sluice stdout (last 20 lines):"
  tail -n 20 "$dir/stdout.log" 2>/dev/null || true
  echo "--- sluice stderr (last 40 lines):"
  tail -n 40 "$dir/stderr.log" 2>/dev/null || true
}

# start_sluice PORT UPSTREAM_PORT: ready when GET /health is 200 or it printed its
# "sluice listening on" line and the port accepts connections.
start_sluice() {
  local port=$1 upstream_port=$2 dir=$WORK/sluice code rc deadline
  mkdir -p "$dir"
  write_sluice_resources "$upstream_port" >"$dir/resources.yaml"
  # shellcheck disable=SC2086  # SLUICE_ARGS is a word list on purpose
  "$SLUICE_BIN" run "$dir/resources.yaml" --address 127.0.0.1 --port "$port" $SLUICE_ARGS \
    >"$dir/stdout.log" 2>"$dir/stderr.log" &
  PIDS[sluice]=$!
  deadline=$((SECONDS + SLUICE_READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! alive "${PIDS[sluice]}"; then
      rc=0
      wait "${PIDS[sluice]}" 2>/dev/null || rc=$?
      unset 'PIDS[sluice]'
      die "sluice exited during startup (status $rc)
$(sluice_logs)"
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/health" || true)
    [[ $code == 200 ]] && return 0
    if grep -q 'sluice listening on' "$dir/stdout.log" 2>/dev/null && port_open "$port"; then
      return 0
    fi
    sleep 0.1
  done
  die "sluice not ready on 127.0.0.1:$port after ${SLUICE_READY_TIMEOUT}s (no /health 200, no listening line)
$(sluice_logs)"
}

# ---------------------------------------------------------------------------- measuring

# check_reply NAME URL AUTH: one request by curl; must be 200, JSON, the canned answer.
check_reply() {
  local name=$1 url=$2 auth=$3 out=$WORK/$1.check.body meta
  local -a hdr=(-H 'Content-Type: application/json')
  [[ -n $auth ]] && hdr+=(-H "Authorization: $auth")
  meta=$(curl -sS -o "$out" -w '%{http_code} %{content_type}' --max-time 10 \
    "${hdr[@]}" --data-binary "@$REQUEST_BODY" "$url" 2>&1) ||
    die "$name: request failed: $meta"
  python3 - "$name" "$meta" "$out" "$CHAT_RESPONSE" <<'EOF' || exit 1
import json, sys
name, meta, out, want = sys.argv[1:]
status, _, ctype = meta.partition(" ")
body = open(out, "rb").read()
def fail(why):
    sys.stderr.write(f"\n[bench] FAILED: {name}: {why}\n  status {status}, content-type {ctype!r}\n  body: {body[:600]!r}\n")
    sys.exit(1)
if status != "200":
    fail("expected HTTP 200")
if not ctype.lower().startswith("application/json"):
    fail("expected Content-Type application/json")
try:
    got = json.loads(body)
except ValueError as e:
    fail(f"reply is not JSON ({e})")
exp = json.load(open(want))
if got.get("object") != "chat.completion":
    fail("reply is not a chat.completion")
try:
    content = got["choices"][0]["message"]["content"]
except (KeyError, IndexError, TypeError):
    fail("reply has no choices[0].message.content")
if content != exp["choices"][0]["message"]["content"]:
    fail("reply content differs from the canned upstream answer")
EOF
}

# run_wrk NAME PHASE DURATION URL AUTH: prints wrk's BENCH_JSON summary; fails the run
# on any socket error or non-2xx/3xx response.
run_wrk() {
  local name=$1 phase=$2 duration=$3 url=$4 auth=$5 out=$WORK/$1.$2.wrk.txt rc=0 json
  BENCH_BODY_FILE=$REQUEST_BODY BENCH_AUTH=$auth \
    wrk -t "$BENCH_THREADS" -c "$BENCH_CONNECTIONS" -d "$duration" --timeout "$BENCH_TIMEOUT" \
    --latency -s "$WRK_SCRIPT" "$url" >"$out" 2>&1 || rc=$?
  json=$(sed -n 's/^BENCH_JSON //p' "$out")
  if ((rc != 0)) || [[ -z $json ]]; then
    die "$name ($phase): wrk failed (status $rc):
$(cat "$out")"
  fi
  if grep -q 'Non-2xx or 3xx responses' "$out"; then
    die "$name ($phase): error responses under load: $(grep 'Non-2xx or 3xx responses' "$out" | xargs)
$(cat "$out")"
  fi
  if grep -q 'Socket errors' "$out"; then
    die "$name ($phase): socket errors under load: $(grep 'Socket errors' "$out" | xargs)
$(cat "$out")"
  fi
  if [[ $(jq '.requests' <<<"$json") == 0 ]]; then
    die "$name ($phase): no request completed"
  fi
  echo "$json"
}

# bench_target NAME URL [--auth VALUE] [--pid ROOT_PID]
# Registers a target (its server must already be running): records its idle RSS and
# checks one reply. The rounds then measure every registered target in order.
#   --auth  Authorization header wrk sends (direct target only: proxies add the key)
#   --pid   server process (nginx master or sluice) whose process tree gets CPU/RSS
#           accounting and must still be alive after every load phase
TARGETS=()
declare -A T_URL=() T_AUTH=() T_PID=() T_IDLE=()
bench_target() {
  local name=$1 url=$2 auth="" pid=""
  shift 2
  while (($#)); do
    case $1 in
      --auth) auth=$2; shift 2 ;;
      --pid) pid=$2; shift 2 ;;
      *) die "bench_target: unknown option $1" ;;
    esac
  done
  TARGETS+=("$name")
  T_URL[$name]=$url T_AUTH[$name]=$auth T_PID[$name]=$pid T_IDLE[$name]=0
  if [[ -n $pid ]]; then
    local -a tree
    mapfile -t tree < <(proc_tree "$pid")
    T_IDLE[$name]=$(status_kib VmRSS "${tree[@]}")  # before any request
  fi
  log "$name: $url"
  check_reply "$name" "$url" "$auth"
}

# measure_target NAME ROUND: warm-up, then the measured run; writes
# $WORK/results/NAME/ROUND.json.
measure_target() {
  local name=$1 round=$2 url=${T_URL[$1]} auth=${T_AUTH[$1]} pid=${T_PID[$1]}
  local tag=$name.r$round
  run_wrk "$tag" warmup "$BENCH_WARMUP" "$url" "$auth" >/dev/null
  assert_alive "$name" "$pid" "warm-up (round $round)"

  local -a tree=()
  local cpu0=0 cpu1=0 peak_rss=0 rss_after=0 rss_hwm=0 result
  if [[ -n $pid ]]; then
    mapfile -t tree < <(proc_tree "$pid")
    cpu0=$(cpu_ticks "${tree[@]}")
    # Sample the summed VmRSS during the run (VmHWM is per process, not per tree).
    # It stops itself when the stop file appears (killing it would orphan its sleep).
    (
      peak=0
      while [[ ! -e $WORK/$tag.sampler.stop ]]; do
        sleep 0.2
        r=$(status_kib VmRSS "${tree[@]}")
        if ((r > peak)); then
          peak=$r
          echo "$peak" >"$WORK/$tag.peak_rss"
        fi
      done
    ) &
    SAMPLER=$!
  fi
  result=$(run_wrk "$tag" measure "$BENCH_DURATION" "$url" "$auth")
  if [[ -n $SAMPLER ]]; then
    touch "$WORK/$tag.sampler.stop"
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=""
  fi
  assert_alive "$name" "$pid" "load (round $round)"

  if [[ -n $pid ]]; then
    cpu1=$(cpu_ticks "${tree[@]}")
    rss_after=$(status_kib VmRSS "${tree[@]}")
    rss_hwm=$(status_kib VmHWM "${tree[@]}")
    peak_rss=$(cat "$WORK/$tag.peak_rss" 2>/dev/null || echo 0)
    if ((rss_after > peak_rss)); then peak_rss=$rss_after; fi
  fi
  mkdir -p "$WORK/results/$name"
  jq -n --arg name "$name" --arg url "$url" --argjson round "$round" --argjson wrk "$result" \
    --argjson procs "${#tree[@]}" \
    --argjson cpu_ticks "$((cpu1 - cpu0))" --argjson hz "$(getconf CLK_TCK)" \
    --argjson idle "${T_IDLE[$name]}" --argjson peak "$peak_rss" \
    --argjson after "$rss_after" --argjson hwm "$rss_hwm" '
    {name: $name, url: $url, round: $round, wrk: $wrk,
     server: {processes: $procs, cpu_s: ($cpu_ticks / $hz),
              rss_idle_kib: $idle, rss_peak_sampled_kib: $peak,
              rss_after_kib: $after, vmhwm_kib: $hwm}}' >"$WORK/results/$name/$round.json"
  log "$name (round $round): $(jq -r '"\(.wrk.requests) requests, \(.wrk.requests / .wrk.duration_us * 1e6 | floor) req/s, p99 \(.wrk.latency_us.p99 / 1000) ms"' "$WORK/results/$name/$round.json")"
}

assert_alive() {
  local name=$1 pid=$2 phase=$3 rc=0
  [[ -z $pid ]] && return 0
  alive "$pid" && return 0
  wait "$pid" 2>/dev/null || rc=$?
  local extra=""
  [[ $name == sluice ]] && extra=$(sluice_logs)
  die "$name: server process $pid died during $phase (status $rc; >128 means signal $((rc > 128 ? rc - 128 : 0)))
$extra"
}

# ---------------------------------------------------------------------------- main

main() {
  local tool
  for tool in wrk nginx curl python3 jq ps; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk nginx-light curl python3 jq procps)"
  done
  if want sluice && [[ ! -x $SLUICE_BIN ]]; then
    die "sluice binary not found at $SLUICE_BIN (build it, set SLUICE_BIN, or run BENCH_TARGETS=direct,nginx)"
  fi
  [[ $BENCH_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"

  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
  mkdir -p "$WORK/results"

  local load_before
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load_before" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }'; then
    log "WARNING: load average $load_before before the run: something else is using the CPUs; numbers will be noisy"
  fi

  local upstream_port nginx_port sluice_port
  read -r upstream_port nginx_port sluice_port < <(free_ports 3)
  log "workdir $WORK; upstream :$upstream_port, nginx :$nginx_port, sluice :$sluice_port"
  log "settings: $BENCH_ROUNDS round(s) of $BENCH_DURATION (+$BENCH_WARMUP warm-up) per target, $BENCH_CONNECTIONS connections, $BENCH_THREADS wrk thread(s), targets $BENCH_TARGETS"

  # Servers and targets. A new target: start its server, then one bench_target line.
  canned_route "$CHAT_PATH" application/json "$CHAT_RESPONSE"
  start_upstream "$upstream_port"
  if want direct; then
    bench_target direct "http://127.0.0.1:$upstream_port$CHAT_PATH" \
      --auth "Bearer $API_KEY" --pid "${PIDS[upstream]}"
  fi
  if want nginx; then
    start_nginx_proxy "$nginx_port" "$upstream_port"
    bench_target nginx "http://127.0.0.1:$nginx_port$CHAT_PATH" --pid "${PIDS[nginx]}"
  fi
  if want sluice; then
    start_sluice "$sluice_port" "$upstream_port"
    bench_target sluice "http://127.0.0.1:$sluice_port$CHAT_PATH" --pid "${PIDS[sluice]}"
  fi
  ((${#TARGETS[@]} > 0)) || die "no target selected (BENCH_TARGETS=$BENCH_TARGETS)"

  # Rounds interleave the targets, so a burst of load from elsewhere hits all of them.
  local round name
  for ((round = 1; round <= BENCH_ROUNDS; round++)); do
    for name in "${TARGETS[@]}"; do
      measure_target "$name" "$round"
    done
  done

  local load_after sluice_stop=""
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  if [[ -n ${PIDS[sluice]:-} ]]; then
    stop_pid "${PIDS[sluice]}"
    sluice_stop=$STOP_STATUS
    unset 'PIDS[sluice]'
    log "sluice: SIGTERM -> $sluice_stop"
  fi

  mkdir -p "$(dirname "$BENCH_RESULTS")"
  python3 "$BENCH_DIR/lib/report.py" \
    --results-dir "$WORK/results" --out "$BENCH_RESULTS" \
    --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --rounds "$BENCH_ROUNDS" \
    --connections "$BENCH_CONNECTIONS" --threads "$BENCH_THREADS" \
    --loadavg-before "$load_before" --loadavg-after "$load_after" \
    --sluice-bin "$SLUICE_BIN" --sluice-stop "$sluice_stop" \
    --repo "$REPO_DIR" "${TARGETS[@]}"

  if [[ -n $sluice_stop && $sluice_stop != exit-0 ]]; then
    die "sluice did not shut down cleanly on SIGTERM ($sluice_stop); results were written"
  fi
  FAILED=0
}

main "$@"
