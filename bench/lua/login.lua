-- POST /v1/login, each request with a fresh code popped from CODES (one per line, from the
-- simulator's /sim/login). Bounded in count: each thread owns every NTHREADS-th code and, once
-- its share is used up, sends only GET /healthz (flagged) until wrk's duration ends.
-- Args (after `--`): CODES NTHREADS APPID
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local codes = {}
local next_code = 1
ok = 0
failed = 0
exhausted = 0
local appid

function init(args)
  local nthreads = tonumber(args[2])
  appid = args[3]
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id and #line > 0 then codes[#codes + 1] = line end
    i = i + 1
  end
end

local pending_login = false

function request()
  if next_code <= #codes then
    local body = '{"code":"' .. codes[next_code] .. '","appid":"' .. appid .. '"}'
    next_code = next_code + 1
    return "POST /v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      .. "Content-Length: " .. #body .. "\r\n\r\n" .. body
  end
  exhausted = exhausted + 1
  return "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
end

function response(status, headers, body)
  if status == 200 and body:find('"token"', 1, true) then
    ok = ok + 1
  elseif not body:find('"status"', 1, true) and status ~= 200 then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_failed, total_exhausted = 0, 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_failed = total_failed + t:get("failed")
    total_exhausted = total_exhausted + t:get("exhausted")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT logins_ok=%d failed=%d healthz_after_exhaustion=%d seconds=%.2f logins_per_s=%.0f p50_ms=%.3f p99_ms=%.3f\n",
    total_ok, total_failed, total_exhausted, secs, total_ok / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
