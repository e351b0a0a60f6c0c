-- wrk script for every throughput scenario: method, upload size and `Connection: close`
-- (BENCH_BODY_FILE, BENCH_HOST, BENCH_HEADERS: polyvoy compare's --body, --host and --header, one "name: value" a line) come from the environment; done() prints one machine-readable line for the harness.
local method = os.getenv("BENCH_METHOD") or "GET"
local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "0")

wrk.method = method
wrk.headers["User-Agent"] = "polyvoy-bench"
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/octet-stream"
elseif body_bytes > 0 then
  wrk.body = string.rep("x", body_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
local host = os.getenv("BENCH_HOST")
if host and host ~= "" then
  wrk.headers["Host"] = host
end
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
if os.getenv("BENCH_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
