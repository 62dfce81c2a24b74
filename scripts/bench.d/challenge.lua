-- wrk script for the challenge path (and the JSON-RPC node's own rate): no
-- per-request Lua (the fastest wrk loop); done() prints one
-- machine-readable line for scripts/bench.  With BENCH_BODY set in the
-- environment every request is a POST of that JSON body.
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p99_us":%d,'
    .. '"status_ge400":%d,"timeouts":%d,"connect_err":%d,"read_err":%d,"write_err":%d}\n',
    summary.requests, summary.duration, summary.requests / summary.duration * 1e6,
    latency:percentile(50.0), latency:percentile(99.0),
    e.status, e.timeout, e.connect, e.read, e.write))
end
