-- GET /v1/session (or PATH) with a token drawn uniformly at random per request.
-- Args (after `--`): TOKENS.tsv [COUNT [PATH]]: the first COUNT lines (default 100000) are the
-- pool; PATH defaults to /v1/session (bench/forward-auth.sh sends an app path through nginx).
-- Requests are prebuilt so wrk (which shares the CPUs with the server) spends little per request.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local pool = {}

function init(args)
  local path = args[1]
  local want = tonumber(args[2] or "100000")
  local target = args[3] or "/v1/session"
  for line in io.lines(path) do
    local token = line:match("^([^\t]+)")
    pool[#pool + 1] = "GET " .. target .. " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
      .. token .. "\r\n\r\n"
    if #pool >= want then break end
  end
  if #pool < want then
    error("token file has " .. #pool .. " tokens, fewer than " .. want)
  end
  math.randomseed(os.time() * 1000 + id * 7919)
  for _ = 1, 10 do math.random() end
end

function request()
  return pool[math.random(#pool)]
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
