-- wrk script: POST a fixed JSON body and print a machine-readable summary.
--
-- Environment (set by bench/run.sh):
--   BENCH_BODY_FILE   path of the request body (required)
--   BENCH_AUTH        optional Authorization header value (only for the
--                     direct target: a client talking to the provider itself)
--
-- No request()/response() callbacks on purpose: with them wrk calls into Lua
-- for every request, which costs client CPU on a 2-core box and skews results.

local path = os.getenv("BENCH_BODY_FILE")
if path == nil or path == "" then
  error("BENCH_BODY_FILE is not set")
end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

-- One line, prefixed so run.sh can find it among wrk's own output.
-- wrk's errors.status counts responses with status > 399, the same counter
-- behind its "Non-2xx or 3xx responses" line.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
    '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
