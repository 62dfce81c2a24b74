-- wrk script for the paid path: each request carries the next pre-signed
-- PAYMENT-SIGNATURE of a pool (one header value per line), each used once.
--   wrk ... -s pool.lua URL -- POOL_FILE NTHREADS
-- Thread k takes lines k, k+N, k+2N, ...  When its share is used up the
-- thread stops (wrk then divides by the real run time).  Responses are
-- counted by status: "ok" = 200 (verified and forwarded).
local threads, nthreads_seen = {}, 0

function setup(thread)
  thread:set("tid", nthreads_seen)
  nthreads_seen = nthreads_seen + 1
  table.insert(threads, thread)
end

local reqs, idx = {}, 0
ok, other, exhausted, first_other = 0, 0, 0, ""
statuses = {}

function init(args)
  local file, n = args[1], tonumber(args[2])
  local i = 0
  for line in io.lines(file) do
    if line ~= "" then
      if i % n == tid then
        reqs[#reqs + 1] = wrk.format(nil, nil, { ["PAYMENT-SIGNATURE"] = line })
      end
      i = i + 1
    end
  end
end

function request()
  idx = idx + 1
  local r = reqs[idx]
  if r == nil then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format(nil, nil, nil)
  end
  return r
end

function response(status, headers, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
  if status == 200 then
    ok = ok + 1
  else
    other = other + 1
    if first_other == "" then
      local pr = headers["PAYMENT-RESPONSE"] or headers["payment-response"] or ""
      first_other = k .. " " .. string.sub(body or "", 1, 200) .. " " .. string.sub(pr, 1, 300)
    end
  end
end

local function jstr(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local tok, tother, tex, fo, st = 0, 0, 0, "", {}
  for _, t in ipairs(threads) do
    tok = tok + (t:get("ok") or 0)
    tother = tother + (t:get("other") or 0)
    tex = tex + (t:get("exhausted") or 0)
    if fo == "" then fo = t:get("first_other") or "" end
    for k, v in pairs(t:get("statuses") or {}) do st[k] = (st[k] or 0) + v end
  end
  local sts = {}
  for k, v in pairs(st) do sts[#sts + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"rps":%.1f,"ok":%d,"ok_rps":%.1f,"other":%d,'
    .. '"p50_us":%d,"p99_us":%d,"status_ge400":%d,"timeouts":%d,"connect_err":%d,'
    .. '"read_err":%d,"write_err":%d,"threads_exhausted":%d,"statuses":{%s},"first_other":%s}\n',
    summary.requests, summary.duration, summary.requests / summary.duration * 1e6,
    tok, tok / summary.duration * 1e6, tother,
    latency:percentile(50.0), latency:percentile(99.0),
    e.status, e.timeout, e.connect, e.read, e.write, tex, table.concat(sts, ","), jstr(fo)))
end
