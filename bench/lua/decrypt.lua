-- POST /v1/decrypt: a (token, payload) pair drawn uniformly at random per request.
-- Args (after `--`): PAIRS.tsv (TOKEN<TAB>BODY per line). Requests are prebuilt.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local pool = {}

function init(args)
  for line in io.lines(args[1]) do
    local token, body = line:match("^([^\t]+)\t(.*)$")
    pool[#pool + 1] = "POST /v1/decrypt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " .. token
      .. "\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
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
