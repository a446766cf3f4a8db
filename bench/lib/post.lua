-- wrk script: POST a fixed JSON body and print a machine-readable summary.
--
-- Environment (set by bench/run.sh):
--   BENCH_BODY_FILE   path of the request body (required)
--   BENCH_AUTH        optional Authorization header value (only for the
--                     direct target: a client talking to the provider itself)
--   BENCH_ACCEPT      Accept header (default application/json; streamed
--                     targets send text/event-stream)
--   BENCH_VERIFY      json or sse: check every reply (warm-up only, see below)
--   BENCH_EXPECT      with BENCH_VERIFY=json: text the reply must contain
--
-- No request()/response() callbacks in measured runs on purpose: with them wrk
-- calls into Lua for every request, which costs client CPU on a 2-core box and
-- skews results. run.sh sets BENCH_VERIFY for the warm-up only, so replies are
-- checked under the same load without touching the measured numbers: status
-- 200 and, for json, a chat.completion holding BENCH_EXPECT; for sse, a
-- finish_reason "stop", no "error" and `data: [DONE]` at the end (wrk hands
-- response() the de-chunked body).

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
local accept = os.getenv("BENCH_ACCEPT")
if accept == nil or accept == "" then
  accept = "application/json"
end
wrk.headers["Accept"] = accept
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local verify = os.getenv("BENCH_VERIFY")
if verify == "json" or verify == "sse" then
  local expect = os.getenv("BENCH_EXPECT") or ""
  checked, bad, first_bad = 0, 0, ""
  response = function(status, headers, rbody)
    checked = checked + 1
    local ok = status == 200
    if ok and verify == "json" then
      ok = rbody:find('"chat.completion"', 1, true) ~= nil and rbody:find(expect, 1, true) ~= nil
    elseif ok then
      ok = rbody:find("data: [DONE]", -20, true) ~= nil and rbody:find('"error"', 1, true) == nil
        and rbody:find('"finish_reason":%s*"stop"') ~= nil
    end
    if not ok then
      bad = bad + 1
      if first_bad == "" then
        first_bad = status .. " " .. rbody:sub(1, 200) .. " ... " .. rbody:sub(-400)
      end
    end
  end
end

local threads = {}
setup = function(thread)
  table.insert(threads, thread)
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
  if verify == "json" or verify == "sse" then
    local n, b, first = 0, 0, ""
    for _, t in ipairs(threads) do
      n = n + (t:get("checked") or 0)
      b = b + (t:get("bad") or 0)
      if first == "" then first = t:get("first_bad") or "" end
    end
    io.write(string.format('BENCH_VERIFY {"checked":%d,"bad":%d}\n', n, b))
    if b > 0 then
      io.write("BENCH_VERIFY_FIRST_BAD " .. first:gsub("\r", "\\r"):gsub("\n", "\\n") .. "\n")
    end
  end
end
