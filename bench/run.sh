#!/usr/bin/env bash
# bench/run.sh: load harness for sluice. One command, one run, several targets.
#
# Every target is an OpenAI chat completion (POST /v1/chat/completions) sent by wrk:
#   direct                   the bench upstream (provider simulator: nginx, canned replies)
#   nginx                    nginx as a plain keep-alive reverse proxy in front of it
#   sluice                   sluice, model bench-model -> OpenAI backend (same dialect)
#   nginx-stream             stream: true through nginx (proxy_buffering off), canned SSE
#   sluice-stream            stream: true through sluice, same dialect, canned SSE
#   sluice-anthropic         sluice translating to Anthropic Messages (x-api-key)
#   sluice-anthropic-stream  the same, streamed (Anthropic SSE -> OpenAI chunks)
#   sluice-bedrock           sluice translating to Bedrock Converse, SigV4-signed
#   sluice-bedrock-stream    the same, ConverseStream (binary AWS event-stream -> SSE)
#   extproc                  `sluice extproc` (Envoy's ext_proc gRPC protocol, router-level
#                            layout) with the same resources, model bench-model, driven by
#                            bench/extproc_load (sluice-extproc-load) playing Envoy and the
#                            upstream: one gRPC stream per request, same-dialect
#   extproc-anthropic        the same, bench-claude: OpenAI -> Anthropic translated
# and prints requests/s, latency, CPU per request, RSS and ratios (gateway/plain proxy,
# translated/same-dialect, stream/non-stream). Results also go to
# bench/results/latest.json. See bench/README.md.
#
# Settings (environment):
#   BENCH_DURATION=10s BENCH_WARMUP=2s BENCH_CONNECTIONS=64 BENCH_THREADS=1
#   BENCH_TIMEOUT=5s   BENCH_QUICK=1 (2 s runs, 1 s warm-up: smoke test)
#   BENCH_ROUNDS=1 (repeat all targets, interleaved, order reversed every second round;
#   the report takes the medians, ratios are medians of the per-round ratios)
#   BENCH_TARGETS=direct,nginx,sluice,... (comma list: run a subset; default all above)
#   BENCH_RESULTS=bench/results/latest.json   BENCH_KEEP=1 (keep the temp dir)
#   BENCH_PROXY_WORKERS=2 (event loops of every proxy under test: sluice --threads, nginx
#   worker_processes)
#   SLUICE_BIN=build/sluice   SLUICE_ARGS="" (extra args for `sluice run`)
#   SLUICE_READY_TIMEOUT=30 (seconds)   SLUICE_BIN_WAIT=120 (seconds to wait for a
#   usable binary while someone rebuilds it; the run uses a private copy)
#   EXTPROC_LOAD_BIN=build/sluice-extproc-load (the ext_proc load generator, extproc* targets;
#   cmake --build build --target sluice-extproc-load)
#
# Exit status: 0 when every selected target ran cleanly or was reported as not available
# in this build (Bedrock only: the gateway answered 400/501/503 for its model, or refused
# to start with the Bedrock backend); 1 on any failure (a target not starting, a wrong
# reply, any wrk socket error, any non-2xx response, a crash).
#
# Adding a target (see main): start its server, then call
#   bench_target NAME URL [--auth V] [--pid ROOT_PID] [--body FILE] [--check json|sse]
#                [--canned FILE] [--optional] [--extproc PATH BACKEND]
# (plus a canned_route for the upstream if it needs a new provider path), and give it
# ratios in lib/report.py RATIOS (unknown sluice-* targets get ratios against sluice).

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
BENCH_PROXY_WORKERS=${BENCH_PROXY_WORKERS:-2}
ALL_TARGETS=direct,nginx,sluice,nginx-stream,sluice-stream,sluice-anthropic,sluice-anthropic-stream,sluice-bedrock,sluice-bedrock-stream,extproc,extproc-anthropic
BENCH_TARGETS=${BENCH_TARGETS:-$ALL_TARGETS}
BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results/latest.json}
BENCH_KEEP=${BENCH_KEEP:-0}
SLUICE_BIN=${SLUICE_BIN:-$REPO_DIR/build/sluice}
SLUICE_ARGS=${SLUICE_ARGS:-}
SLUICE_READY_TIMEOUT=${SLUICE_READY_TIMEOUT:-30}
SLUICE_BIN_WAIT=${SLUICE_BIN_WAIT:-120}
EXTPROC_LOAD_BIN=${EXTPROC_LOAD_BIN:-$REPO_DIR/build/sluice-extproc-load}

# Credentials the bench upstream insists on, one per provider dialect.
API_KEY=sk-bench                      # OpenAI: Authorization: Bearer sk-bench
ANTHROPIC_KEY=sk-ant-bench            # Anthropic: x-api-key: sk-ant-bench
AWS_KEY_ID=AKIDBENCHEXAMPLE           # Bedrock: SigV4 with this access key, in AWS_REGION
AWS_SECRET=bench/secret/key/EXAMPLEKEY
AWS_REGION=us-east-1

# Model names, one route rule each in the sluice resources.
MODEL=bench-model                     # OpenAI backend, canned JSON
MODEL_STREAM=bench-model-stream       # OpenAI backend on the upstream's SSE listener
CLAUDE_MODEL=bench-claude             # Anthropic backend, canned Messages JSON
CLAUDE_STREAM_MODEL=bench-claude-stream  # Anthropic backend on the SSE listener
NOVA_MODEL=bench-nova                 # Bedrock backend: /model/bench-nova/converse[-stream]

CHAT_PATH=/v1/chat/completions
PAYLOADS=$BENCH_DIR/payloads
REQUEST_BODY=$PAYLOADS/chat_request.json
CHAT_RESPONSE=$PAYLOADS/chat_response.json
CHAT_STREAM_RESPONSE=$PAYLOADS/chat_stream_response.sse
ANTHROPIC_RESPONSE=$PAYLOADS/anthropic_response.json
ANTHROPIC_STREAM_RESPONSE=$PAYLOADS/anthropic_stream_response.sse
BEDROCK_RESPONSE=$PAYLOADS/bedrock_converse_response.json
BEDROCK_STREAM_EVENTS=$PAYLOADS/bedrock_converse_stream.events.json
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

# box_ticks: CPU time the whole machine spent busy (all CPUs, all processes and the kernel:
# /proc/stat user+nice+system+irq+softirq+steal), in clock ticks.
box_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

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
pcre_jit on;
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

# Canned provider replies served by the upstream: "LISTENER|PATH|CONTENT_TYPE|FILE|AUTH".
# LISTENER: json or sse. The upstream has two listeners (two ports, one nginx worker) because
# a provider's streamed and non-streamed answers share a path (/v1/chat/completions,
# /v1/messages) and nginx cannot look into the body for `stream`; the gateway reaches the
# streamed ones through backends pointing at the sse listener.
# AUTH: bearer (Authorization: Bearer API_KEY), x-api-key (x-api-key: ANTHROPIC_KEY plus
# an anthropic-version header) or sigv4 (an AWS4-HMAC-SHA256 Authorization header for
# AWS_KEY_ID/AWS_REGION/bedrock and an x-amz-date: its shape only, see upstream_auth).
# FILE: a text reply is embedded in the config (`return 200 '...'`); a *.bin file (binary,
# e.g. AWS event-stream) comes with FILE.return, the same directive for nginx to include.
UPSTREAM_ROUTES=()
canned_route() { UPSTREAM_ROUTES+=("$1|$2|$3|$4|$5"); }

# nginx_quote FILE: the file as an nginx single-quoted string literal, byte for byte
# (trailing newlines included: an SSE body must end with its blank line).
nginx_quote() {
  local f=$1 q
  grep -q '\$' "$f" && die "$f contains '\$', which nginx would expand as a variable"
  q=$(sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" "$f"; echo .)
  printf "'%s'" "${q%.}"
}

# upstream_auth KIND: the nginx checks that refuse a request without the provider's
# credentials (every refusal says "bench upstream", so check_reply never mistakes it for a
# gateway that lacks a feature). nginx cannot verify a SigV4 signature (that needs the
# secret key and the canonical request): it checks the header's shape, the access key id,
# region and service; the e2e tests verify real signatures.
upstream_auth() {
  case $1 in
    bearer)
      cat <<EOF
            if (\$http_authorization != "Bearer $API_KEY") {
                return 401 '{"error":{"message":"bench upstream: missing or wrong API key","type":"invalid_request_error","code":"invalid_api_key"}}';
            }
EOF
      ;;
    x-api-key)
      cat <<EOF
            if (\$http_x_api_key != "$ANTHROPIC_KEY") {
                return 401 '{"type":"error","error":{"type":"authentication_error","message":"bench upstream: missing or wrong x-api-key"}}';
            }
            if (\$http_anthropic_version = "") {
                return 400 '{"type":"error","error":{"type":"invalid_request_error","message":"bench upstream: anthropic-version header is required"}}';
            }
EOF
      ;;
    sigv4)
      cat <<EOF
            if (\$http_authorization !~ "^AWS4-HMAC-SHA256 Credential=$AWS_KEY_ID/[0-9]{8}/$AWS_REGION/bedrock/aws4_request, *SignedHeaders=(?:[a-z0-9-]+;)*host(?:;[a-z0-9-]+)*, *Signature=[0-9a-f]{64}\$") {
                return 403 '{"message":"bench upstream: missing or malformed SigV4 Authorization header"}';
            }
            if (\$http_x_amz_date !~ "^[0-9]{8}T[0-9]{6}Z\$") {
                return 403 '{"message":"bench upstream: missing or malformed x-amz-date"}';
            }
EOF
      ;;
    *) die "upstream_auth: unknown kind $1" ;;
  esac
}

# upstream_server LISTENER PORT: one server block with that listener's canned routes.
upstream_server() {
  local listener=$1 port=$2 route where path ctype file auth
  echo "    server {"
  echo "        listen 127.0.0.1:$port;"
  for route in "${UPSTREAM_ROUTES[@]}"; do
    IFS='|' read -r where path ctype file auth <<<"$route"
    [[ $where == "$listener" ]] || continue
    # A text reply is a quoted literal here; a binary one (*.bin) is a `return` directive in
    # a file written beside it (FILE.return, see lib/eventstream.py) that nginx includes: bash
    # cannot carry its NUL bytes. Both are answered from memory. (nginx's content type is per
    # location, so a binary route's refusals carry its type too; their bodies stay JSON.)
    cat <<EOF
        location = $path {
            default_type $ctype;
            if (\$request_method != POST) { return 404 '{"message":"bench upstream: POST only"}'; }
$(upstream_auth "$auth")
EOF
    if [[ $file == *.bin ]]; then
      [[ -f $file.return ]] || die "$file.return is missing (lib/eventstream.py writes it)"
      echo "            include $file.return;"
    else
      echo "            return 200 $(nginx_quote "$file");"
    fi
    echo "        }"
  done
  cat <<EOF
        location / {
            default_type application/json;
            return 404 '{"error":{"message":"bench upstream: unknown path","type":"invalid_request_error"}}';
        }
    }
EOF
}

# The bench upstream (provider simulator): one nginx worker answering each canned route
# with a fixed body, but only when the request carries that provider's credentials, so a
# gateway that forgets to sign requests fails the run instead of looking fast.
start_upstream() {
  local json_port=$1 sse_port=$2 dir=$WORK/upstream
  mkdir -p "$dir"
  {
    nginx_common "$dir" 1
    echo "http {"
    nginx_http_common "$dir"
    echo "    etag off;"
    echo "    open_file_cache max=16 inactive=1h;"
    echo "    open_file_cache_valid 1h;"
    upstream_server json "$json_port"
    upstream_server sse "$sse_port"
    echo "}"
  } >"$dir/nginx.conf"
  start_nginx upstream "$json_port" 1
  port_open "$sse_port" || die "upstream: sse listener :$sse_port not accepting"
}

# nginx as a plain reverse proxy: 2 workers (sluice runs 2 event loops), keep-alive
# pool to the upstream, injects the API key like the gateway does. reuseport spreads
# the client connections evenly over the workers, i.e. nginx at its best. Two servers:
# PORT proxies to the upstream's json listener (buffered, nginx's default), STREAM_PORT to
# its sse listener with proxy_buffering off, so every event is relayed as it arrives.
start_nginx_proxy() {
  local port=$1 stream_port=$2 upstream_port=$3 upstream_sse_port=$4 dir=$WORK/nginx
  mkdir -p "$dir"
  {
    nginx_common "$dir" "$BENCH_PROXY_WORKERS"
    cat <<EOF
http {
$(nginx_http_common "$dir")
    upstream provider {
        server 127.0.0.1:$upstream_port;
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }
    upstream provider_sse {
        server 127.0.0.1:$upstream_sse_port;
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
    server {
        listen 127.0.0.1:$stream_port reuseport;
        location / {
            proxy_pass http://provider_sse;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer $API_KEY";
            proxy_buffering off;
        }
    }
}
EOF
  } >"$dir/nginx.conf"
  start_nginx nginx "$port" "$BENCH_PROXY_WORKERS"
  port_open "$stream_port" || die "nginx: stream listener :$stream_port not accepting"
}

# ---------------------------------------------------------------------------- sluice

# write_sluice_resources UPSTREAM_PORT UPSTREAM_SSE_PORT WITH_BEDROCK: one resource file for
# every sluice target. One rule per model; the same-dialect model comes first. Backends:
#   upstream, upstream-sse      OpenAI schema, Authorization: Bearer (APIKey)
#   anthropic, anthropic-sse    Anthropic schema, x-api-key (AnthropicAPIKey)
#   bedrock                     AWSBedrock schema, SigV4 (AWSCredentials, credentials file)
# *-sse point at the upstream's sse listener (see canned_route). WITH_BEDROCK=0 leaves the
# Bedrock backend out (for a build that refuses to start with it).
write_sluice_resources() {
  local upstream_port=$1 sse_port=$2 with_bedrock=$3
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
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: $MODEL_STREAM}]}]
      backendRefs: [{name: upstream-sse}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: $CLAUDE_MODEL}]}]
      backendRefs: [{name: anthropic}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: $CLAUDE_STREAM_MODEL}]}]
      backendRefs: [{name: anthropic-sse}]
EOF
  if ((with_bedrock)); then
    cat <<EOF
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: $NOVA_MODEL}]}]
      backendRefs: [{name: bedrock}]
EOF
  fi
  local name schema backend
  for name in upstream:OpenAI:upstream upstream-sse:OpenAI:upstream-sse \
    anthropic:Anthropic:upstream anthropic-sse:Anthropic:upstream-sse bedrock:AWSBedrock:upstream; do
    IFS=: read -r name schema backend <<<"$name"
    [[ $name == bedrock ]] && ((!with_bedrock)) && continue
    cat <<EOF
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: $name, namespace: default}
spec:
  schema: {name: $schema}
  backendRef: {name: $backend, kind: Backend, group: gateway.envoyproxy.io}
EOF
  done
  cat <<EOF
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: upstream, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: $upstream_port}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: upstream-sse, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: $sse_port}}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: upstream-key, namespace: default}
spec:
  targetRefs:
    - {group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: upstream}
    - {group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: upstream-sse}
  type: APIKey
  apiKey: {secretRef: {name: upstream-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: upstream-key, namespace: default}
stringData: {apiKey: $API_KEY}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: anthropic-key, namespace: default}
spec:
  targetRefs:
    - {group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: anthropic}
    - {group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: anthropic-sse}
  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: anthropic-key, namespace: default}
stringData: {apiKey: $ANTHROPIC_KEY}
EOF
  if ((with_bedrock)); then
    cat <<EOF
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  type: AWSCredentials
  awsCredentials:
    region: $AWS_REGION
    credentialsFile: {secretRef: {name: aws}}
---
apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: default}
stringData:
  credentials: |
    [default]
    aws_access_key_id = $AWS_KEY_ID
    aws_secret_access_key = $AWS_SECRET
EOF
  fi
}

sluice_logs() {
  local dir=$WORK/sluice
  echo "--- sluice stdout (last 20 lines):"
  tail -n 20 "$dir/stdout.log" 2>/dev/null || true
  echo "--- sluice stderr (last 40 lines):"
  tail -n 40 "$dir/stderr.log" 2>/dev/null || true
}

# prepare_sluice_bin: copy SLUICE_BIN into the work dir and run that copy, so a rebuild of
# build/sluice during the run cannot swap or truncate the binary under test. While the
# binary is missing or does not run (someone is relinking it), retry for SLUICE_BIN_WAIT s.
SLUICE_EXE=""
SLUICE_VERSION=""
prepare_sluice_bin() {
  local deadline=$((SECONDS + SLUICE_BIN_WAIT)) copy=$WORK/sluice-bin said=0
  while :; do
    if [[ -x $SLUICE_BIN ]] && cp "$SLUICE_BIN" "$copy" 2>/dev/null &&
      SLUICE_VERSION=$("$copy" version 2>/dev/null); then
      SLUICE_EXE=$copy
      return 0
    fi
    ((SECONDS < deadline)) ||
      die "no usable sluice binary at $SLUICE_BIN after ${SLUICE_BIN_WAIT}s (build it, set SLUICE_BIN, or run BENCH_TARGETS=direct,nginx,nginx-stream)"
    if ((!said)); then
      log "$SLUICE_BIN is missing or does not run (being rebuilt?): waiting up to ${SLUICE_BIN_WAIT}s"
      said=1
    fi
    sleep 2
  done
}

# try_start_sluice PORT UPSTREAM_PORT UPSTREAM_SSE_PORT WITH_BEDROCK: 0 once ready (GET
# /health is 200, or it printed its "sluice listening on" line and the port accepts
# connections); 1 if it exited or did not get ready, with the reason in SLUICE_FAIL.
SLUICE_FAIL=""
try_start_sluice() {
  local port=$1 upstream_port=$2 sse_port=$3 with_bedrock=$4 dir=$WORK/sluice code rc deadline
  mkdir -p "$dir"
  write_sluice_resources "$upstream_port" "$sse_port" "$with_bedrock" >"$dir/resources.yaml"
  # shellcheck disable=SC2086  # SLUICE_ARGS is a word list on purpose
  "$SLUICE_EXE" run "$dir/resources.yaml" --address 127.0.0.1 --port "$port" --threads "$BENCH_PROXY_WORKERS" $SLUICE_ARGS \
    >"$dir/stdout.log" 2>"$dir/stderr.log" &
  PIDS[sluice]=$!
  deadline=$((SECONDS + SLUICE_READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! alive "${PIDS[sluice]}"; then
      rc=0
      wait "${PIDS[sluice]}" 2>/dev/null || rc=$?
      unset 'PIDS[sluice]'
      SLUICE_FAIL="sluice exited during startup (status $rc)
$(sluice_logs)"
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/health" || true)
    [[ $code == 200 ]] && return 0
    if grep -q 'sluice listening on' "$dir/stdout.log" 2>/dev/null && port_open "$port"; then
      return 0
    fi
    sleep 0.1
  done
  SLUICE_FAIL="sluice not ready on 127.0.0.1:$port after ${SLUICE_READY_TIMEOUT}s (no /health 200, no listening line)
$(sluice_logs)"
  stop_pid "${PIDS[sluice]}"
  unset 'PIDS[sluice]'
  return 1
}

# start_sluice PORT UPSTREAM_PORT UPSTREAM_SSE_PORT: with every backend; if this build
# refuses to start with the Bedrock backend (signer or schema not in it yet), again
# without it, and the Bedrock targets are reported as not available.
BEDROCK_UNAVAILABLE=""
start_sluice() {
  local first
  try_start_sluice "$1" "$2" "$3" 1 && return 0
  first=$SLUICE_FAIL
  cp "$WORK/sluice/stderr.log" "$WORK/sluice/stderr.with-bedrock.log" 2>/dev/null || true
  log "sluice did not start; retrying without the Bedrock backend (in case this build lacks it)"
  if ! try_start_sluice "$1" "$2" "$3" 0; then
    die "$first"
  fi
  # Its first error line (without the timestamp) says why; else its last line.
  local why
  why=$(grep -m1 -E '(^| )(error|fatal)( |:)' "$WORK/sluice/stderr.with-bedrock.log" 2>/dev/null ||
    grep -v '^[[:space:]]*$' "$WORK/sluice/stderr.with-bedrock.log" 2>/dev/null | tail -n 1 || true)
  why=$(sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z //' <<<"$why" | cut -c1-300)
  BEDROCK_UNAVAILABLE="sluice refused to start with the Bedrock backend: ${why:-no message}"
  log "$BEDROCK_UNAVAILABLE"
}

# ---------------------------------------------------------------------------- sluice extproc

extproc_logs() {
  local dir=$WORK/extproc
  echo "--- sluice extproc stdout (last 20 lines):"
  tail -n 20 "$dir/stdout.log" 2>/dev/null || true
  echo "--- sluice extproc stderr (last 40 lines):"
  tail -n 40 "$dir/stderr.log" 2>/dev/null || true
}

# prepare_extproc_load: a private copy of the load generator (bench/extproc_load), like the
# sluice binary.
EXTPROC_LOAD=""
prepare_extproc_load() {
  [[ -x $EXTPROC_LOAD_BIN ]] ||
    die "no ext_proc load generator at $EXTPROC_LOAD_BIN (cmake --build build --target sluice-extproc-load, or set EXTPROC_LOAD_BIN)"
  EXTPROC_LOAD=$WORK/sluice-extproc-load
  cp "$EXTPROC_LOAD_BIN" "$EXTPROC_LOAD"
}

# try_start_extproc RESOURCES: `sluice extproc -f RESOURCES --listen unix:$WORK/extproc/extproc.sock`;
# 0 once it printed its "listening on" line and the socket exists.
try_start_extproc() {
  local resources=$1 dir=$WORK/extproc rc deadline
  mkdir -p "$dir"
  EXTPROC_SOCK=$dir/extproc.sock
  rm -f "$EXTPROC_SOCK"
  "$SLUICE_EXE" extproc -f "$resources" --listen "unix:$EXTPROC_SOCK" \
    >"$dir/stdout.log" 2>"$dir/stderr.log" &
  PIDS[extproc]=$!
  deadline=$((SECONDS + SLUICE_READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! alive "${PIDS[extproc]}"; then
      rc=0
      wait "${PIDS[extproc]}" 2>/dev/null || rc=$?
      unset 'PIDS[extproc]'
      SLUICE_FAIL="sluice extproc exited during startup (status $rc)
$(extproc_logs)"
      return 1
    fi
    if grep -q 'sluice extproc listening on' "$dir/stdout.log" 2>/dev/null && [[ -S $EXTPROC_SOCK ]]; then
      return 0
    fi
    sleep 0.1
  done
  SLUICE_FAIL="sluice extproc not listening on $EXTPROC_SOCK after ${SLUICE_READY_TIMEOUT}s
$(extproc_logs)"
  stop_pid "${PIDS[extproc]}"
  unset 'PIDS[extproc]'
  return 1
}

# start_extproc UPSTREAM_PORT UPSTREAM_SSE_PORT: the ext_proc server with the sluice targets'
# resource file (the same one when sluice runs too). The upstream is never called: the load
# generator plays it, answering each stream's request with the canned reply.
EXTPROC_SOCK=""
start_extproc() {
  local res=$WORK/sluice/resources.yaml first
  if [[ -n ${PIDS[sluice]:-} && -e $res ]]; then
    try_start_extproc "$res" || die "$SLUICE_FAIL"
    return 0
  fi
  # No sluice target selected: write the file here, falling back without Bedrock as
  # start_sluice does (the extproc targets do not use it).
  mkdir -p "$WORK/extproc"
  res=$WORK/extproc/resources.yaml
  write_sluice_resources "$1" "$2" 1 >"$res"
  try_start_extproc "$res" && return 0
  first=$SLUICE_FAIL
  log "sluice extproc did not start; retrying without the Bedrock backend"
  write_sluice_resources "$1" "$2" 0 >"$res"
  try_start_extproc "$res" || die "$first"
}

# run_extproc_load TARGET TAG PHASE DURATION [-n N -c 1 ...]: runs the ext_proc load generator
# (bench/extproc_load: every reply of every lifecycle is checked, in every phase); prints its
# JSON summary, shaped like wrk's BENCH_JSON. Fails the run on any error.
run_extproc_load() {
  local name=$1 tag=$2 phase=$3 duration=$4 out=$WORK/$2.$3.load rc=0 json
  shift 4
  "$EXTPROC_LOAD" --server "${T_URL[$name]}" --duration "$(seconds "$duration")" \
    --concurrency "$BENCH_CONNECTIONS" --threads "$BENCH_THREADS" --timeout "$(seconds "$BENCH_TIMEOUT")" \
    --connect-timeout "$SLUICE_READY_TIMEOUT" --request-file "${T_BODY[$name]}" \
    --response-file "${T_CANNED[$name]}" --expect-text "${T_EXPECT[$name]}" \
    --expect-path "${T_XP_PATH[$name]}" --expect-backend "${T_XP_BACKEND[$name]}" "$@" \
    >"$out.json" 2>"$out.err" || rc=$?
  json=$(tail -n 1 "$out.json")
  if ((rc != 0)) || [[ -z $json ]]; then
    die "$name ($phase): ext_proc load generator failed (status $rc): $(cat "$out.err")
$json"
  fi
  echo "$json"
}

# seconds 2s|1m|500ms|3: a wrk duration in seconds (for the load generator).
seconds() {
  local d=$1
  case $d in
    *ms) awk -v v="${d%ms}" 'BEGIN { print v / 1000 }' ;;
    *s) echo "${d%s}" ;;
    *m) awk -v v="${d%m}" 'BEGIN { print v * 60 }' ;;
    *h) awk -v v="${d%h}" 'BEGIN { print v * 3600 }' ;;
    *) echo "$d" ;;
  esac
}

# ---------------------------------------------------------------------------- measuring

# make_request MODEL STREAM: the canned request body with another model and `stream`
# (true/false), written once under $WORK/requests; prints its path.
make_request() {
  local model=$1 stream=$2 out=$WORK/requests/$1.stream-$2.json
  mkdir -p "$WORK/requests"
  if [[ ! -e $out ]]; then
    jq -jc --arg m "$model" --argjson s "$stream" '.model = $m | .stream = $s' "$REQUEST_BODY" >"$out"
  fi
  echo "$out"
}

# check_reply NAME URL AUTH BODY KIND CANNED OPTIONAL: one request by curl; must be 200 and
# the canned answer (lib/check_reply.py: KIND json or sse, the text of CANNED). Returns 3
# when OPTIONAL=1 and the gateway refused the request as unsupported (reason on stdout).
check_reply() {
  local name=$1 url=$2 auth=$3 body=$4 kind=$5 canned=$6 optional=$7 out=$WORK/$1.check.body meta
  local -a hdr=(-H 'Content-Type: application/json')
  [[ -n $auth ]] && hdr+=(-H "Authorization: $auth")
  [[ $kind == sse ]] && hdr+=(-H 'Accept: text/event-stream')
  meta=$(curl -sS -o "$out" -w '%{http_code} %{content_type}' --max-time 10 \
    "${hdr[@]}" --data-binary "@$body" "$url" 2>&1) ||
    die "$name: request failed: $meta"
  local -a opt=()
  ((optional)) && opt=(--optional)
  python3 "$BENCH_DIR/lib/check_reply.py" "$name" "$meta" "$out" "$kind" "$canned" "${opt[@]}"
}

# run_wrk NAME PHASE DURATION URL AUTH BODY ACCEPT [VERIFY EXPECT]: prints wrk's BENCH_JSON
# summary; fails the run on any socket error or non-2xx/3xx response. With VERIFY (json or
# sse, used for warm-ups) lib/post.lua checks every reply and the run fails on any wrong
# one; the number checked goes to $WORK/NAME.PHASE.verified.
run_wrk() {
  local name=$1 phase=$2 duration=$3 url=$4 auth=$5 body=$6 accept=$7 verify=${8:-} expect=${9:-}
  local out=$WORK/$1.$2.wrk.txt rc=0 json
  BENCH_BODY_FILE=$body BENCH_AUTH=$auth BENCH_ACCEPT=$accept BENCH_VERIFY=$verify BENCH_EXPECT=$expect \
    wrk -t "$BENCH_THREADS" -c "$BENCH_CONNECTIONS" -d "$duration" --timeout "$BENCH_TIMEOUT" \
    --latency -s "$WRK_SCRIPT" "$url" >"$out" 2>&1 || rc=$?
  json=$(sed -n 's/^BENCH_JSON //p' "$out")
  if ((rc != 0)) || [[ -z $json ]]; then
    die "$name ($phase): wrk failed (status $rc):
$(cat "$out")"
  fi
  if [[ -n $verify ]]; then
    local v
    v=$(sed -n 's/^BENCH_VERIFY //p' "$out")
    [[ -n $v ]] || die "$name ($phase): no BENCH_VERIFY line from $WRK_SCRIPT"
    if [[ $(jq .bad <<<"$v") != 0 ]]; then
      die "$name ($phase): $(jq .bad <<<"$v") of $(jq .checked <<<"$v") replies under load were wrong (HTTP 200 but not the canned answer: see lib/post.lua for the checks); first one (status, start ... end of body):
$(sed -n 's/^BENCH_VERIFY_FIRST_BAD //p' "$out" | cut -c1-1200)"
    fi
    jq .checked <<<"$v" >"$WORK/$name.$phase.verified"
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

# bench_target NAME URL [--auth VALUE] [--pid ROOT_PID] [--body FILE] [--check json|sse]
#              [--canned FILE] [--optional]
# Registers a target (its server must already be running): records its idle RSS and
# checks one reply. The rounds then measure every registered target in order.
#   --auth     Authorization header wrk sends (direct target only: proxies add the key)
#   --pid      server process (nginx master or sluice) whose process tree gets CPU/RSS
#              accounting and must still be alive after every load phase
#   --body     request body (default payloads/chat_request.json)
#   --check    json: a chat.completion (default); sse: a chat.completion.chunk stream
#              (wrk then sends Accept: text/event-stream)
#   --canned   the upstream's canned reply for this target, whose text the reply must
#              carry (default payloads/chat_response.json)
#   --optional the gateway answering 400/501/503 (not the upstream) means "not available
#              in this build": the target is skipped and reported, the run goes on
#   --extproc PATH BACKEND  an ext_proc target: URL is the server's gRPC address (unix:PATH
#              or host:port) and bench/extproc_load plays Envoy and the upstream; PATH and
#              BACKEND are the :path and x-ai-eg-selected-backend the request_body reply must
#              set. Checked by one lifecycle instead of curl; measured by the load generator.
TARGETS=()
declare -A T_URL=() T_AUTH=() T_PID=() T_IDLE=() T_BODY=() T_CHECK=() T_CANNED=() T_EXPECT=()
declare -A T_KIND=() T_XP_PATH=() T_XP_BACKEND=()
declare -A SKIPPED=()
bench_target() {
  local name=$1 url=$2 auth="" pid="" body=$REQUEST_BODY check=json canned=$CHAT_RESPONSE optional=0
  local kind=http xp_path="" xp_backend=""
  shift 2
  while (($#)); do
    case $1 in
      --extproc) kind=extproc xp_path=$2 xp_backend=$3; shift 3 ;;
      --auth) auth=$2; shift 2 ;;
      --pid) pid=$2; shift 2 ;;
      --body) body=$2; shift 2 ;;
      --check) check=$2; shift 2 ;;
      --canned) canned=$2; shift 2 ;;
      --optional) optional=1; shift ;;
      *) die "bench_target: unknown option $1" ;;
    esac
  done
  local idle=0 rc=0 why
  if [[ -n $pid ]]; then
    local -a tree
    mapfile -t tree < <(proc_tree "$pid")
    idle=$(status_kib VmRSS "${tree[@]}")  # before this target's first request
  fi
  log "$name: $url"
  T_URL[$name]=$url T_BODY[$name]=$body T_CANNED[$name]=$canned T_KIND[$name]=$kind
  T_XP_PATH[$name]=$xp_path T_XP_BACKEND[$name]=$xp_backend T_EXPECT[$name]=""
  if [[ $check == json ]]; then
    T_EXPECT[$name]=$(python3 "$BENCH_DIR/lib/check_reply.py" --json-text "$canned")
  fi
  if [[ $kind == extproc ]]; then
    # One lifecycle, every reply checked (see bench/extproc_load).
    run_extproc_load "$name" "$name" check 1s --requests 1 --concurrency 1 >"$WORK/$name.check.json"
    TARGETS+=("$name")
    T_AUTH[$name]=$auth T_PID[$name]=$pid T_IDLE[$name]=$idle T_CHECK[$name]=$check
    return 0
  fi
  why=$(check_reply "$name" "$url" "$auth" "$body" "$check" "$canned" "$optional") || rc=$?
  if ((rc == 3)); then
    SKIPPED[$name]="not available in this build: $why"
    log "$name: ${SKIPPED[$name]} (skipped)"
    return 0
  fi
  ((rc == 0)) || exit 1
  TARGETS+=("$name")
  T_AUTH[$name]=$auth T_PID[$name]=$pid T_IDLE[$name]=$idle T_CHECK[$name]=$check
}

# measure_target NAME ROUND: warm-up, then the measured run; writes
# $WORK/results/NAME/ROUND.json.
measure_target() {
  local name=$1 round=$2 url=${T_URL[$1]} auth=${T_AUTH[$1]} pid=${T_PID[$1]}
  local body=${T_BODY[$1]} accept=application/json
  [[ ${T_CHECK[$1]} == sse ]] && accept=text/event-stream
  local tag=$name.r$round
  if [[ ${T_KIND[$name]} == extproc ]]; then
    # The load generator checks every reply in every phase, the measured one included.
    run_extproc_load "$name" "$tag" warmup "$BENCH_WARMUP" | jq .verified >"$WORK/$tag.warmup.verified"
  else
    run_wrk "$tag" warmup "$BENCH_WARMUP" "$url" "$auth" "$body" "$accept" \
      "${T_CHECK[$name]}" "${T_EXPECT[$name]}" >/dev/null
  fi
  assert_alive "$name" "$pid" "warm-up (round $round)"

  local -a tree=() up_tree=()
  local cpu0=0 cpu1=0 peak_rss=0 rss_after=0 rss_hwm=0 result up0=0 up1=0 box0 box1
  # The bench upstream's own CPU (sluice* targets: the provider simulator behind the gateway),
  # and the whole machine's, so a ratio can be split into the gateway's part and the rest's.
  if [[ $name == sluice* && -n ${PIDS[upstream]:-} ]]; then
    mapfile -t up_tree < <(proc_tree "${PIDS[upstream]}")
    up0=$(cpu_ticks "${up_tree[@]}")
  fi
  box0=$(box_ticks)
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
  if [[ ${T_KIND[$name]} == extproc ]]; then
    result=$(run_extproc_load "$name" "$tag" measure "$BENCH_DURATION")
  else
    result=$(run_wrk "$tag" measure "$BENCH_DURATION" "$url" "$auth" "$body" "$accept")
  fi
  if [[ -n $SAMPLER ]]; then
    touch "$WORK/$tag.sampler.stop"
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=""
  fi
  box1=$(box_ticks)
  ((${#up_tree[@]})) && up1=$(cpu_ticks "${up_tree[@]}")
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
    --arg body "$(basename "$body")" --arg check "${T_CHECK[$name]}" \
    --arg canned "$(basename "${T_CANNED[$name]}")" \
    --argjson verified "$(cat "$WORK/$tag.warmup.verified")" \
    --argjson procs "${#tree[@]}" \
    --argjson cpu_ticks "$((cpu1 - cpu0))" --argjson hz "$(getconf CLK_TCK)" \
    --argjson up_ticks "$((up1 - up0))" --argjson up_procs "${#up_tree[@]}" \
    --argjson box_ticks "$((box1 - box0))" \
    --argjson idle "${T_IDLE[$name]}" --argjson peak "$peak_rss" \
    --argjson after "$rss_after" --argjson hwm "$rss_hwm" '
    {name: $name, url: $url, round: $round, wrk: $wrk,
     request: {body: $body, stream: ($check == "sse"), upstream_reply: $canned},
     replies_verified_in_warmup: $verified,
     server: {processes: $procs, cpu_s: ($cpu_ticks / $hz),
              rss_idle_kib: $idle, rss_peak_sampled_kib: $peak,
              rss_after_kib: $after, vmhwm_kib: $hwm},
     upstream: (if $up_procs > 0 then {processes: $up_procs, cpu_s: ($up_ticks / $hz)} else null end),
     box: {cpu_s: ($box_ticks / $hz)}}' >"$WORK/results/$name/$round.json"
  log "$name (round $round): $(jq -r '"\(.wrk.requests) requests, \(.wrk.requests / .wrk.duration_us * 1e6 | floor) req/s, p99 \(.wrk.latency_us.p99 / 1000) ms"' "$WORK/results/$name/$round.json")"
}

assert_alive() {
  local name=$1 pid=$2 phase=$3 rc=0
  [[ -z $pid ]] && return 0
  alive "$pid" && return 0
  wait "$pid" 2>/dev/null || rc=$?
  local extra=""
  [[ $name == sluice* ]] && extra=$(sluice_logs)
  [[ $name == extproc* ]] && extra=$(extproc_logs)
  die "$name: server process $pid died during $phase (status $rc; >128 means signal $((rc > 128 ? rc - 128 : 0)))
$extra"
}

# ---------------------------------------------------------------------------- main

main() {
  local tool t
  for tool in wrk nginx curl python3 jq ps; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk nginx-light curl python3 jq procps)"
  done
  for t in ${BENCH_TARGETS//,/ }; do
    [[ ,$ALL_TARGETS, == *",$t,"* ]] || die "unknown target '$t' in BENCH_TARGETS (known: $ALL_TARGETS)"
  done
  [[ $BENCH_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
  local any_sluice=0 any_extproc=0
  [[ ,$BENCH_TARGETS, == *,sluice* ]] && any_sluice=1
  [[ ,$BENCH_TARGETS, == *,extproc* ]] && any_extproc=1

  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
  mkdir -p "$WORK/results"
  ((any_sluice || any_extproc)) && prepare_sluice_bin
  ((any_extproc)) && prepare_extproc_load

  local load_before
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load_before" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }'; then
    log "WARNING: load average $load_before before the run: something else is using the CPUs; numbers will be noisy"
  fi

  local upstream_port upstream_sse_port nginx_port nginx_stream_port sluice_port
  read -r upstream_port upstream_sse_port nginx_port nginx_stream_port sluice_port < <(free_ports 5)
  log "workdir $WORK; upstream :$upstream_port (sse :$upstream_sse_port), nginx :$nginx_port (stream :$nginx_stream_port), sluice :$sluice_port"
  log "settings: $BENCH_ROUNDS round(s) of $BENCH_DURATION (+$BENCH_WARMUP warm-up) per target, $BENCH_CONNECTIONS connections, $BENCH_THREADS wrk thread(s), targets $BENCH_TARGETS"

  # The provider simulator: every canned reply, whatever the selected targets.
  local bedrock_stream_bin=$WORK/upstream-files/bedrock_converse_stream.bin
  mkdir -p "$WORK/upstream-files"
  python3 "$BENCH_DIR/lib/eventstream.py" "$BEDROCK_STREAM_EVENTS" "$bedrock_stream_bin" "$bedrock_stream_bin.return"
  canned_route json "$CHAT_PATH" application/json "$CHAT_RESPONSE" bearer
  canned_route sse "$CHAT_PATH" text/event-stream "$CHAT_STREAM_RESPONSE" bearer
  canned_route json /v1/messages application/json "$ANTHROPIC_RESPONSE" x-api-key
  canned_route sse /v1/messages text/event-stream "$ANTHROPIC_STREAM_RESPONSE" x-api-key
  canned_route json "/model/$NOVA_MODEL/converse" application/json "$BEDROCK_RESPONSE" sigv4
  canned_route json "/model/$NOVA_MODEL/converse-stream" application/vnd.amazon.eventstream \
    "$bedrock_stream_bin" sigv4
  start_upstream "$upstream_port" "$upstream_sse_port"
  if want nginx || want nginx-stream; then
    start_nginx_proxy "$nginx_port" "$nginx_stream_port" "$upstream_port" "$upstream_sse_port"
  fi
  ((any_sluice)) && start_sluice "$sluice_port" "$upstream_port" "$upstream_sse_port"
  ((any_extproc)) && start_extproc "$upstream_port" "$upstream_sse_port"

  # Targets, in measuring order. A new target: start its server, then one bench_target line.
  local up=http://127.0.0.1:$upstream_port$CHAT_PATH sl=http://127.0.0.1:$sluice_port$CHAT_PATH
  local stream_body
  stream_body=$(make_request "$MODEL_STREAM" true)
  want direct && bench_target direct "$up" --auth "Bearer $API_KEY" --pid "${PIDS[upstream]}"
  want nginx && bench_target nginx "http://127.0.0.1:$nginx_port$CHAT_PATH" --pid "${PIDS[nginx]}"
  want sluice && bench_target sluice "$sl" --pid "${PIDS[sluice]}"
  want nginx-stream && bench_target nginx-stream "http://127.0.0.1:$nginx_stream_port$CHAT_PATH" \
    --pid "${PIDS[nginx]}" --body "$stream_body" --check sse --canned "$CHAT_STREAM_RESPONSE"
  want sluice-stream && bench_target sluice-stream "$sl" --pid "${PIDS[sluice]}" \
    --body "$stream_body" --check sse --canned "$CHAT_STREAM_RESPONSE"
  want sluice-anthropic && bench_target sluice-anthropic "$sl" --pid "${PIDS[sluice]}" \
    --body "$(make_request "$CLAUDE_MODEL" false)" --canned "$ANTHROPIC_RESPONSE"
  want sluice-anthropic-stream && bench_target sluice-anthropic-stream "$sl" --pid "${PIDS[sluice]}" \
    --body "$(make_request "$CLAUDE_STREAM_MODEL" true)" --check sse --canned "$ANTHROPIC_STREAM_RESPONSE"
  for t in sluice-bedrock sluice-bedrock-stream; do
    want "$t" || continue
    if [[ -n $BEDROCK_UNAVAILABLE ]]; then
      SKIPPED[$t]="not available in this build: $BEDROCK_UNAVAILABLE"
      log "$t: ${SKIPPED[$t]} (skipped)"
    elif [[ $t == sluice-bedrock ]]; then
      bench_target "$t" "$sl" --pid "${PIDS[sluice]}" --optional \
        --body "$(make_request "$NOVA_MODEL" false)" --canned "$BEDROCK_RESPONSE"
    else
      bench_target "$t" "$sl" --pid "${PIDS[sluice]}" --optional \
        --body "$(make_request "$NOVA_MODEL" true)" --check sse --canned "$BEDROCK_STREAM_EVENTS"
    fi
  done
  # ext_proc: the load generator plays Envoy's router-level filter and the upstream (canned
  # answer), so only sluice extproc's own work is measured.
  want extproc && bench_target extproc "unix:$EXTPROC_SOCK" --pid "${PIDS[extproc]}" \
    --body "$(make_request "$MODEL" false)" --extproc "$CHAT_PATH" default/upstream
  want extproc-anthropic && bench_target extproc-anthropic "unix:$EXTPROC_SOCK" --pid "${PIDS[extproc]}" \
    --body "$(make_request "$CLAUDE_MODEL" false)" --canned "$ANTHROPIC_RESPONSE" \
    --extproc /v1/messages default/anthropic
  ((${#TARGETS[@]} > 0)) || die "no target to measure (BENCH_TARGETS=$BENCH_TARGETS)"

  # Rounds interleave the targets, so a burst of load from elsewhere hits all of them, and
  # every second round runs them in reverse order (A B C, C B A, ...): a machine that slows
  # down or speeds up steadily over the run then favours no target (over an even number of
  # rounds, linear drift cancels out of each pair's ratio).
  local round name i
  for ((round = 1; round <= BENCH_ROUNDS; round++)); do
    for ((i = 0; i < ${#TARGETS[@]}; i++)); do
      if ((round % 2 == 1)); then name=${TARGETS[i]}; else name=${TARGETS[${#TARGETS[@]} - 1 - i]}; fi
      measure_target "$name" "$round"
    done
  done

  local load_after sluice_stop="" extproc_stop=""
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  if [[ -n ${PIDS[extproc]:-} ]]; then
    stop_pid "${PIDS[extproc]}"
    extproc_stop=$STOP_STATUS
    unset 'PIDS[extproc]'
    log "sluice extproc: SIGTERM -> $extproc_stop"
  fi
  if [[ -n ${PIDS[sluice]:-} ]]; then
    stop_pid "${PIDS[sluice]}"
    sluice_stop=$STOP_STATUS
    unset 'PIDS[sluice]'
    log "sluice: SIGTERM -> $sluice_stop"
  fi

  local -a skipped=()
  for name in "${!SKIPPED[@]}"; do
    skipped+=(--skipped "$name=${SKIPPED[$name]}")
  done
  mkdir -p "$(dirname "$BENCH_RESULTS")"
  python3 "$BENCH_DIR/lib/report.py" \
    --results-dir "$WORK/results" --out "$BENCH_RESULTS" \
    --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --rounds "$BENCH_ROUNDS" \
    --connections "$BENCH_CONNECTIONS" --threads "$BENCH_THREADS" --proxy-workers "$BENCH_PROXY_WORKERS" \
    --loadavg-before "$load_before" --loadavg-after "$load_after" \
    --sluice-bin "$SLUICE_BIN" --sluice-version "$SLUICE_VERSION" --sluice-stop "$sluice_stop" \
    --extproc-stop "$extproc_stop" \
    --repo "$REPO_DIR" "${skipped[@]}" "${TARGETS[@]}"

  if [[ -n $sluice_stop && $sluice_stop != exit-0 ]]; then
    die "sluice did not shut down cleanly on SIGTERM ($sluice_stop); results were written"
  fi
  if [[ -n $extproc_stop && $extproc_stop != exit-0 ]]; then
    die "sluice extproc did not shut down cleanly on SIGTERM ($extproc_stop); results were written"
  fi
  FAILED=0
}

main "$@"
